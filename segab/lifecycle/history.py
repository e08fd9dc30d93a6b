"""``segab history``: each cell's estimates and decisions across iterations.

:func:`history_data` reads the registry and the latest analysis snapshot of every
iteration from the store; :func:`history_rows` flattens it for tables and CSV. The
HTML page is :func:`segab.report.history.history_html`.

Example:
    >>> history_rows({"iterations": [{"iteration": 2, "status": "running", "cells": []}]})
    [{'iteration': 2, 'status': 'running'}]
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from segab.analysis.results import ROW_KEYS
from segab.errors import LifecycleError
from segab.lifecycle.iterate import primary_rows
from segab.store import list_experiments, list_snapshots

__all__ = ["ADJUSTED_KEYS", "CELL_KEYS", "history_data", "history_rows"]

CELL_KEYS = tuple(  # what a snapshot's cell keeps of a result row
    k
    for k in ROW_KEYS
    if k not in {"dimensions", "metric", "significant"} and not k.startswith("abs_")
)


ADJUSTED_KEYS = ("adjusted_abs_lift", "adjusted_ci_low", "adjusted_ci_high", "adjustment")


def _with_adjusted(row: dict[str, Any], shipped: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell row of the history, with the selection-adjusted estimate if it was shipped."""
    out = {k: row.get(k) for k in CELL_KEYS}
    for o in shipped:
        estimate = o.get("estimate") or {}
        if (o.get("segment"), o.get("stage"), o.get("shipped")) == (
            row.get("segment"),
            row.get("stage"),
            row.get("variant"),
        ):
            out.update({k: estimate.get(k) for k in ADJUSTED_KEYS[:3]})
            out["adjustment"] = estimate.get("method")
            break
    else:
        out.update(dict.fromkeys(ADJUSTED_KEYS))
    return out


def history_data(engine: Engine, key: str) -> dict[str, Any]:
    """Every registered iteration of ``key`` with its latest snapshot's primary-metric rows.

    Example:
        >>> from segab.store import open_store, register_experiment
        >>> engine = open_store("sqlite://", create=True)
        >>> _ = register_experiment(engine, "e", 1, "running", {"seed": "e",
        ...     "metrics": {"primary": {"key": "m"}}})
        >>> history_data(engine, "e")["iterations"][0]["status"]
        'running'
    """
    records = [r for r in list_experiments(engine) if r.key == key]
    if not records:
        raise LifecycleError(f"{key!r} is not registered in the store: run `segab start {key}`")
    iterations = []
    for rec in records:
        snaps = list_snapshots(engine, key, rec.iteration)
        snap = snaps[-1] if snaps else None
        metric = str(rec.config.get("metrics", {}).get("primary", {}).get("key", ""))
        rows = primary_rows(snap.result, metric) if snap else []
        shipped = list(snap.result.get("shipped", [])) if snap else []
        iterations.append(
            {
                "iteration": rec.iteration,
                "status": rec.status,
                "seed": rec.config.get("seed"),
                "config_fingerprint": rec.config_fingerprint,
                "metric": metric,
                "snapshot_id": snap.id if snap else None,
                "analysed_at": snap.created_at.isoformat() if snap else None,
                "cells": [_with_adjusted(r, shipped) for r in rows],
                "shipped": shipped,
            }
        )
    return {"experiment": key, "iterations": iterations}


def history_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (iteration first) for tables and CSV.

    Example:
        >>> history_rows({"iterations": [{"iteration": 1, "status": "draft", "cells": []}]})
        [{'iteration': 1, 'status': 'draft'}]
    """
    out: list[dict[str, Any]] = []
    for it in data["iterations"]:
        head = {"iteration": it["iteration"], "status": it["status"]}
        out.extend({**head, **c} for c in it["cells"]) if it["cells"] else out.append(head)
    return out
