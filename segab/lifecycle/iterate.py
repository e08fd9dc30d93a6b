"""The next iteration's config from this one's decisions (pure core of ``segab iterate``).

For every (segment, stage) cell, from the primary metric's decisions
(``ship``, ``rollback``, ``no_effect``, ``keep_running``, ``investigate``):

* a **shipped** winner becomes the new control (several winners: the best
  relative lift in the metric's direction); the old control and every treatment
  that was not still undecided are dropped;
* without a winner, the control stays; treatments that **lost** (``rollback``) or
  showed **no effect** at the MDE are dropped;
* undecided treatments (``keep_running``, ``investigate``, or no data) are kept;
  a cell where nothing was decided keeps its variants and weights unchanged;
* remaining variants share the traffic equally (in 1/10,000ths, the remainder to
  the control); a cell left with one variant serves it to everyone (shipped);
  coverage is kept.

A shipped cell's outcome carries ``estimate``: the winner's raw lift and the
selection-adjusted one that the history records
(:func:`segab.lifecycle.winner_estimates.winner_estimate`).

A config cell shared by several (segment, stage) pairs (``*``) keeps the outcome
most of its pairs share; pairs with another outcome get their own exact cells.
The iteration is bumped, the status reset to ``draft``, and the seed becomes
:func:`next_seed` — ``f"{key}-i{iteration}"``, deterministic and readable, so the
next round is re-randomised independently of the last one.

Example:
    >>> from segab.config import parse_experiment
    >>> raw = {"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}}
    >>> rows = [{"segment": "all", "stage": "buy", "variant": "b", "control": "a",
    ...          "decision": "ship", "rel_lift": 0.1}]
    >>> new, outcomes = next_config(raw, parse_experiment(raw), rows)
    >>> new["cells"], new["seed"], new["iteration"]
    ([{'control': 'b', 'variants': [{'key': 'b', 'weight': 1.0}]}], 'e-i2', 2)
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segab.assignment import plan_of
from segab.config.checks import resolve_cell_index, weight_basis_points
from segab.config.models import Cell, Experiment
from segab.lifecycle.winner_estimates import winner_estimate

__all__ = ["CellOutcome", "cell_outcomes", "next_config", "next_seed", "primary_rows"]

_UNDECIDED = ("keep_running", "investigate", None)
_BP = 10_000
Spec = tuple[str, tuple[tuple[str, int], ...]]


def next_seed(key: str, iteration: int) -> str:
    """The seed of an iteration: ``KEY-iN`` (the key alone hashes iteration 1 by default).

    Example:
        >>> next_seed("checkout_cta", 3)
        'checkout_cta-i3'
    """
    return f"{key}-i{iteration}"


@dataclass(frozen=True)
class CellOutcome:
    """What iterating does to one (segment, stage) cell.

    ``status``: ``shipped`` (a winner became the control), ``trimmed`` (losers
    dropped, test goes on), ``decided`` (only the control is left), ``undecided``.

    Example:
        >>> o = CellOutcome("s", "t", "a", "b", (("b", 10000),), "b", ("a",), "shipped")
        >>> o.to_dict()["variants"]
        [['b', 1.0]]
    """

    segment: str
    stage: str
    old_control: str
    control: str
    variants: tuple[tuple[str, int], ...]
    shipped: str | None
    dropped: tuple[str, ...]
    status: str
    estimate: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (weights as fractions).

        Example:
            >>> CellOutcome("s", "t", "a", "a", (("a", 10000),), None, (), "decided").to_dict()[
            ...     "status"]
            'decided'
        """
        return {
            "segment": self.segment,
            "stage": self.stage,
            "old_control": self.old_control,
            "control": self.control,
            "variants": [[k, w / _BP] for k, w in self.variants],
            "shipped": self.shipped,
            "dropped": list(self.dropped),
            "status": self.status,
            **({"estimate": dict(self.estimate)} if self.estimate is not None else {}),
        }


def primary_rows(result: Mapping[str, Any], metric: str) -> list[dict[str, Any]]:
    """The per-cell rows of ``metric`` in an analysis JSON document (no pooled, no ``--by``).

    Example:
        >>> primary_rows({"results": [{"segment": "s", "stage": "t", "metric": "m",
        ...     "dimensions": {}, "variant": "b"}]}, "m")[0]["variant"]
        'b'
    """
    return [
        dict(r)
        for r in result.get("results", [])
        if r.get("metric") == metric
        and not r.get("dimensions")
        and r.get("segment") is not None
        and r.get("stage") is not None
    ]


def _equal(keys: Sequence[str]) -> tuple[tuple[str, int], ...]:
    base, rest = divmod(_BP, len(keys))
    return tuple((k, base + (rest if i == 0 else 0)) for i, k in enumerate(keys))


def _bps(cell: Cell) -> tuple[tuple[str, int], ...]:
    """Each variant's key with its share of the cell in buckets of 1/10,000."""
    bps = weight_basis_points([v.weight for v in cell.variants]) or (0,) * len(cell.variants)
    return tuple((v.key, bp) for v, bp in zip(cell.variants, bps, strict=True))


def _score(row: Mapping[str, Any], direction: str) -> float:
    lift = row.get("rel_lift")
    if lift is None or not math.isfinite(float(lift)):
        lift = row.get("abs_lift") or 0.0
    return float(lift) if direction == "increase" else -float(lift)


def _outcome(
    seg: str, stage: str, cell: Cell, rows: Mapping[str, Mapping[str, Any]], experiment: Experiment
) -> CellOutcome:
    direction = experiment.metrics.primary.direction
    old = _bps(cell)
    treatments = [v.key for v in cell.variants if v.key != cell.control]
    decision = {t: (rows[t].get("decision") if t in rows else None) for t in treatments}
    winners = [t for t in treatments if decision[t] == "ship"]
    if winners:
        best = max(winners, key=lambda t: _score(rows[t], direction))
        keep = [best] + [t for t in treatments if t != best and decision[t] in _UNDECIDED]
        dropped = tuple(k for k, _ in old if k not in keep)
        estimate = winner_estimate(
            [rows[t] for t in treatments if t in rows],
            best,
            kind=experiment.metrics.primary.kind,
            direction=direction,
            alpha=experiment.analysis.alpha,
        )
        return CellOutcome(
            seg, stage, cell.control, best, _equal(keep), best, dropped, "shipped", estimate
        )
    keep = [cell.control] + [t for t in treatments if decision[t] in _UNDECIDED]
    dropped = tuple(k for k, _ in old if k not in keep)
    if not dropped:
        return CellOutcome(seg, stage, cell.control, cell.control, old, None, (), "undecided")
    status = "decided" if len(keep) == 1 else "trimmed"
    return CellOutcome(seg, stage, cell.control, cell.control, _equal(keep), None, dropped, status)


def cell_outcomes(experiment: Experiment, rows: Sequence[Mapping[str, Any]]) -> list[CellOutcome]:
    """One :class:`CellOutcome` per (segment, stage) cell, in plan order.

    ``rows`` are the primary metric's per-cell rows (:func:`primary_rows`), each
    with ``segment``, ``stage``, ``variant``, ``decision`` and ``rel_lift``.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5},
        ...                             {"key": "b", "weight": 0.5}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> [o.status for o in cell_outcomes(exp, [])]
        ['undecided']
    """
    by_pair: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        by_pair.setdefault((str(r["segment"]), str(r["stage"])), {})[str(r["variant"])] = r
    out = []
    for seg, stage in plan_of(experiment).cells:
        idx = resolve_cell_index(experiment.cells, seg, stage)
        if idx is None:  # pragma: no cover - plan cells always resolve
            continue
        cell = experiment.cells[idx]
        out.append(_outcome(seg, stage, cell, by_pair.get((seg, stage), {}), experiment))
    return out


def _cell_dict(
    segment: str, stage: str, control: str, variants: Sequence[tuple[str, int]], old: Cell
) -> dict[str, Any]:
    desc = {v.key: v.description for v in old.variants}
    out: dict[str, Any] = {}
    if segment != "*":
        out["segment"] = segment
    if stage != "*":
        out["stage"] = stage
    out["control"] = control
    if old.coverage != 1.0:
        out["coverage"] = old.coverage
    out["variants"] = [
        {"key": k, "weight": w / _BP, **({"description": desc[k]} if desc.get(k) else {})}
        for k, w in variants
    ]
    return out


def next_config(
    raw: Mapping[str, Any], experiment: Experiment, rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[CellOutcome]]:
    """The next iteration's raw config (as it will be written) and each cell's outcome.

    ``raw`` is the config file's mapping as read (segment ``ref``s stay refs);
    ``experiment`` the validated config that ran; ``rows`` the primary metric's
    per-cell decisions. ``forced`` ids pointing at dropped variants are removed.

    Example:
        >>> next_config.__name__   # see the module docstring for a full run
        'next_config'
    """
    outcomes = cell_outcomes(experiment, rows)
    specs: dict[tuple[str, str], Spec] = {
        (o.segment, o.stage): (o.control, o.variants) for o in outcomes
    }
    cells: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for i, cell in enumerate(experiment.cells):
        pairs = [p for p in specs if resolve_cell_index(experiment.cells, *p) == i]
        if not pairs:
            cells.append(
                _cell_dict(
                    cell.segment,
                    cell.stage,
                    cell.control,
                    list(_bps(cell)),
                    cell,
                )
            )
            continue
        counts = Counter(specs[p] for p in pairs)
        unchanged: Spec = (
            cell.control,
            _bps(cell),
        )
        top = max(counts.values())
        common = unchanged if counts.get(unchanged) == top else counts.most_common(1)[0][0]
        cells.append(_cell_dict(cell.segment, cell.stage, common[0], common[1], cell))
        for seg, stage in pairs:
            if specs[(seg, stage)] != common:
                control, variants = specs[(seg, stage)]
                extra.append(_cell_dict(seg, stage, control, variants, cell))
    new = copy.deepcopy(dict(raw))
    new["cells"] = cells + extra
    new["iteration"] = experiment.iteration + 1
    new["seed"] = next_seed(experiment.key, experiment.iteration + 1)
    new["status"] = "draft"
    live = {v["key"] for c in new["cells"] for v in c["variants"]}
    if new.get("forced"):
        new["forced"] = {u: v for u, v in new["forced"].items() if v in live}
    return new, outcomes
