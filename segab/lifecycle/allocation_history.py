"""Allocation periods for ``segab status`` and ``segab history``, and graduated cells.

:func:`allocation_summary` gives an iteration's recorded periods (number, start,
each bandit cell's weights and status) and the cells that graduated;
:func:`with_allocation` adds them to :func:`segab.lifecycle.history.history_data`'s
iterations; :func:`graduated_cells` is what ``segab iterate`` ships from the
bandit phase.

Example:
    >>> from segab.store import open_store
    >>> allocation_summary(open_store("sqlite://", create=True), "e", 1)
    {'periods': [], 'graduated': []}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from segab.allocation_types import AllocationPeriod
from segab.store import allocation_periods

__all__ = ["allocation_summary", "graduated_cells", "period_rows", "with_allocation"]


def graduated_cells(periods: Sequence[AllocationPeriod]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(segment, stage) -> graduation`` (arm, reason, period) of the cells whose last
    recorded update says they graduated.

    Example:
        >>> graduated_cells([])
        {}
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for p in periods:
        cells = p.summary.get("cells", []) if isinstance(p.summary, Mapping) else []
        for c in cells:
            g = c.get("graduation") if isinstance(c, Mapping) else None
            key = (str(c.get("segment")), str(c.get("stage"))) if isinstance(c, Mapping) else None
            if key is None:
                continue
            if isinstance(g, Mapping) and g.get("graduated"):
                out.setdefault(key, {**dict(g), "period": p.number, "metric": c.get("metric")})
            else:
                out.pop(key, None)
    return out


def _period_dict(p: AllocationPeriod) -> dict[str, Any]:
    status = {}
    cells = p.summary.get("cells", []) if isinstance(p.summary, Mapping) else []
    for c in cells:
        if isinstance(c, Mapping):
            status[(c.get("segment"), c.get("stage"))] = c.get("status")
    return {
        "number": p.number,
        "started_at": p.started_at.isoformat(),
        "cells": [
            {
                "segment": c.segment,
                "stage": c.stage,
                "status": status.get((c.segment, c.stage)),
                "weights": {v: b / 10_000 for v, b in zip(c.variants, c.buckets, strict=True)},
                "slice_buckets": list(c.slice_buckets),
            }
            for c in p.cells
        ],
    }


def allocation_summary(engine: Engine, key: str, iteration: int) -> dict[str, Any]:
    """An iteration's recorded allocation periods and graduated cells (snake_case, JSON-ready).

    Example:
        >>> from segab.store import open_store
        >>> allocation_summary(open_store("sqlite://", create=True), "e", 1)["periods"]
        []
    """
    periods = allocation_periods(engine, key, iteration)
    graduated = [{"segment": s, "stage": t, **g} for (s, t), g in graduated_cells(periods).items()]
    return {"periods": [_period_dict(p) for p in periods], "graduated": graduated}


def with_allocation(data: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """History data with each iteration's ``allocation`` (:func:`allocation_summary`).

    Example:
        >>> from segab.store import open_store
        >>> engine = open_store("sqlite://", create=True)
        >>> with_allocation({"experiment": "e", "iterations": [{"iteration": 1}]}, engine)[
        ...     "iterations"][0]["allocation"]["graduated"]
        []
    """
    key = data["experiment"]
    iterations = [
        {**it, "allocation": allocation_summary(engine, key, int(it["iteration"]))}
        for it in data.get("iterations", [])
    ]
    return {**data, "iterations": iterations}


def period_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (iteration, period, bandit cell) of history data, for tables and CSV.

    Example:
        >>> period_rows({"iterations": [{"iteration": 1, "allocation": {"periods": [
        ...     {"number": 1, "started_at": "2026-01-02T00:00:00+00:00", "cells": [
        ...      {"segment": "all", "stage": "buy", "status": "updated",
        ...       "weights": {"a": 0.25, "b": 0.75}, "slice_buckets": [500, 500]}]}],
        ...     "graduated": []}}]})[0]["weights"]
        'a 0.250 b 0.750'
    """
    out = []
    for it in data.get("iterations", []):
        alloc = it.get("allocation") or {}
        grads = {(g["segment"], g["stage"]): g for g in alloc.get("graduated", [])}
        for p in alloc.get("periods", []):
            for c in p["cells"]:
                g = grads.get((c["segment"], c["stage"]))
                out.append(
                    {
                        "iteration": it["iteration"],
                        "period": p["number"],
                        "started_at": p["started_at"],
                        "segment": c["segment"],
                        "stage": c["stage"],
                        "status": c["status"],
                        "weights": " ".join(f"{v} {w:.3f}" for v, w in c["weights"].items()),
                        "graduated": "" if g is None else f"{g['arm']} (period {g['period']})",
                    }
                )
    return out
