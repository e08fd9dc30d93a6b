"""The tailoring value of an analysis: fold sums from the engine -> ``tailoring`` block.

The engine returns the primary metric's sums per cell × fold × arm
(:mod:`segab.sums.folds`); :func:`segab.stats.tailoring_value` chooses on one fold
and evaluates on the other. *Arms* are positions in a cell: arm 0 is the cell's
control, arm ``j`` its ``j``-th other variant in config order, so on a grid where
every cell tests one variant against its control the "best single arm" is "the
tested variant everywhere" or "control everywhere", whatever the variant of each
stage is. Cells with another number of arms than the most common, or with fewer
than 2 units in some fold and arm, are left out with a warning; ratio metrics have
no per-unit mean to tailor on (the value is not computed, with a warning). For a
metric whose ``direction`` is ``decrease`` the best arm is the lowest mean and the
gains are reported as improvements (positive: tailoring lowers the metric).

Example:
    >>> import pandas as pd
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "unit": "id", "stages": ["buy"],
    ...     "segments": [{"key": "x", "when": {"a": 1}}, {"key": "y", "when": {"a": 2}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "x"}}})
    >>> rows = [(s, v, f, 500, x) for s, v, f, x in [
    ...     ("x", "a", 0, 50), ("x", "b", 0, 80), ("x", "a", 1, 50), ("x", "b", 1, 80),
    ...     ("y", "a", 0, 60), ("y", "b", 0, 30), ("y", "a", 1, 60), ("y", "b", 1, 30)]]
    >>> folds = pd.DataFrame(rows, columns=["segment", "variant", "fold", "n", "sum"]).assign(
    ...     stage="buy", metric="conv", sum_sq=lambda f: f["sum"])
    >>> t = tailoring_block(exp, folds)
    >>> round(t["gain_over_single"], 3), t["arms"]
    (0.03, ['control', 'variant 1'])
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from segab.config.models import Experiment
from segab.errors import StatsError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["tailoring_block"]


def _arms(exp: Experiment, segment: str, stage: str, present: set[str]) -> list[str] | None:
    """The cell's arms in order (control first), from its configured cell, or None."""
    from segab.analysis.pooling import control_for

    control = control_for(exp, segment, stage, sorted(present))
    if control is None:
        return None
    order: list[str] = []
    for cell in exp.cells:
        for v in cell.variants:
            if v.key in present and v.key != control and v.key not in order:
                order.append(v.key)
    order += sorted(present - {control, *order})
    return [control, *order]


def tailoring_block(exp: Experiment, folds: pd.DataFrame | None) -> dict[str, Any]:
    """The JSON ``tailoring`` block of the primary metric (a warning without fold sums).

    Example:
        >>> tailoring_block.__name__   # see the module docstring for a full run
        'tailoring_block'
    """
    import numpy as np

    from segab.stats.tailoring import tailoring_value

    metric = exp.metrics.primary
    warnings: list[str] = []
    base: dict[str, Any] = {"metric": metric.key, "folds": 2, "fold_hash": "segab-fold|unit"}
    if folds is None:
        why = "no fold sums: the input has no unit id column to split units by"
        return {**base, "warnings": [why]}
    if metric.kind == "ratio":
        return {**base, "warnings": ["a ratio metric has no per-unit mean to tailor on"]}
    rows = folds[folds["metric"] == metric.key]
    cells: dict[tuple[str, str], dict[tuple[str, int], tuple[float, float, float]]] = {}
    for r in rows.to_dict("records"):
        cell = cells.setdefault((str(r["segment"]), str(r["stage"])), {})
        sums = (float(r["n"]), float(r["sum"]), float(r["sum_sq"]))
        cell[(str(r["variant"]), int(r["fold"]))] = sums
    arms_of = {}
    for (segment, stage), per in cells.items():
        arms = _arms(exp, segment, stage, {v for v, _ in per})
        if arms is None or len(arms) < 2:
            warnings.append(f"cell ({segment}, {stage}) left out: no control and variant")
            continue
        arms_of[(segment, stage)] = arms
    if not arms_of:
        return {**base, "warnings": [*warnings, "no cell with a control and a variant"]}
    width = Counter(len(a) for a in arms_of.values()).most_common(1)[0][0]
    kept = []
    for key, arms in arms_of.items():
        where = f"cell ({key[0]}, {key[1]})"
        per = cells[key]
        if len(arms) != width:
            warnings.append(f"{where} left out: {len(arms)} arms, the others have {width}")
        elif any(per.get((a, f), (0.0,))[0] < 2 for a in arms for f in (0, 1)):
            warnings.append(f"{where} left out: fewer than 2 units in some fold and arm")
        else:
            kept.append(key)
    if not kept:
        return {**base, "warnings": [*warnings, "no cell with 2 units in every fold and arm"]}
    shape = (len(kept), 2, width)
    n, s, q = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, key in enumerate(kept):
        for j, arm in enumerate(arms_of[key]):
            for f in (0, 1):
                n[i, f, j], s[i, f, j], q[i, f, j] = cells[key][(arm, f)]
    if metric.direction == "decrease":
        s = -s  # the best arm is the lowest mean; the squares are unchanged
    try:
        result = tailoring_value(n, s, q, alpha=exp.analysis.alpha)
    except StatsError as err:
        return {**base, "warnings": [*warnings, str(err)]}
    out = result.to_dict()
    names = ["control", *(f"variant {j}" for j in range(1, width))]
    return {
        **base,
        "arms": names,
        "cells": [f"{seg} · {stage}" for seg, stage in kept],
        "cell_arms": [arms_of[k] for k in kept],
        **out,
        "warnings": [*warnings, *out.get("warnings", [])],
    }
