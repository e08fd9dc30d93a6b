"""Building blocks of :mod:`segab.analysis.compute`: cell statistics, controls, pooling, SRM.

Pure functions over the small frames of an :class:`~segab.sums.aggregate.Aggregates`
(a few rows per cell): no rows of raw data ever get here.

Example:
    >>> from segab.stats import ProportionStats
    >>> p = Pair("conv", "binary", "a", "b", ProportionStats(10, 1), ProportionStats(10, 2))
    >>> p.n_cells
    1
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from segab.analysis.adjustment import regression_stats
from segab.assignment import plan_of
from segab.config.models import Experiment
from segab.errors import DataError
from segab.stats import MeanStats, ProportionStats, RatioStats, SrmResult, srm_test
from segab.stats.regression import RegressionStats
from segab.sums.result import dim_name

__all__ = ["CellKey", "Pair", "cell_stats", "control_for", "pool_pairs", "srm_checks", "stats_of"]

Stats = ProportionStats | MeanStats | RatioStats | RegressionStats
Dims = tuple[tuple[str, Any], ...]
CellKey = tuple[str, str, Dims]
CellMap = dict[CellKey, dict[str, dict[str, Stats]]]


@dataclass(frozen=True)
class Pair:
    """A variant and its control's statistics for one metric, over ``n_cells`` cells.

    Example:
        >>> from segab.stats import MeanStats
        >>> Pair("rev", "continuous", "a", "b", MeanStats(1, 1.0, 1.0), MeanStats(1, 2.0, 4.0)).kind
        'continuous'
    """

    metric: str
    kind: str
    control: str
    variant: str
    control_stats: Stats
    variant_stats: Stats
    n_cells: int = 1
    parts: tuple[tuple[Stats, Stats], ...] = ()  # a pooled pair's cells (post-stratification)


def stats_of(kind: str, n: int, s: float, sq: float, ds: float, dsq: float, x: float) -> Stats:
    """The sufficient statistics of one row of ``Aggregates.sums`` for a metric kind.

    Example:
        >>> stats_of("binary", 10, 3.0, 3.0, 0.0, 0.0, 0.0)
        ProportionStats(n=10, conversions=3)
    """
    if kind == "binary":
        return ProportionStats(int(n), round(float(s)))
    if kind == "continuous":
        return MeanStats(int(n), float(s), float(sq))
    if kind == "ratio":
        return RatioStats(int(n), float(s), float(sq), float(ds), float(dsq), float(x))
    raise DataError(f"metric kind: found {kind!r}, expected binary, continuous or ratio")


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def cell_stats(
    sums: pd.DataFrame,
    dims: Sequence[str],
    metric_keys: Sequence[str],
    experiment: Experiment,
    breakdowns: Sequence[Sequence[str]] = (),
) -> tuple[CellMap, CellMap]:
    """Per-cell statistics ``{(segment, stage, ()): {metric: {variant: stats}}}``, and per
    (cell, breakdown value) when there are ``dims`` (the plain cells sum those).

    With several ``breakdowns`` (``sums`` has a ``breakdown`` column, see
    :class:`~segab.sums.result.Aggregates`), the plain cells are the rows of
    breakdown 0 and each other row's key holds only its own breakdown's columns.

    Example:
        >>> cell_stats.__name__
        'cell_stats'
    """
    kinds = {m.key: m.kind for m in experiment.metrics.all()}
    cells: CellMap = defaultdict(lambda: defaultdict(dict))
    by: CellMap = defaultdict(lambda: defaultdict(dict))
    if sums is None or sums.empty:
        return {}, {}
    cols = ["segment", "stage", "variant", *dims, "metric", "n", "sum", "sum_sq"]
    cols += ["den_sum", "den_sum_sq", "cross_sum"]
    missing = [c for c in cols if c not in sums.columns]
    if missing:
        raise DataError(f"aggregates: missing column(s) {missing} in sums; it has {list(sums)}")
    k = len(dims)
    names = [dim_name(d) for d in dims]  # a breakdown column named like a frame column
    several = [tuple(b) for b in breakdowns] if len(breakdowns) > 1 else []
    which = sums["breakdown"].tolist() if several else [None] * len(sums)
    adjusted = regression_stats(sums, experiment)  # metrics with covariates, else None
    rows = zip(*(sums[c].tolist() for c in cols), strict=True)
    for rec, b, reg in zip(rows, which, adjusted, strict=True):
        segment, stage, variant = (str(v) for v in rec[:3])
        dim_values: Dims = tuple(zip(names, (_clean(v) for v in rec[3 : 3 + k]), strict=True))
        metric = rec[3 + k]
        if metric not in kinds:
            continue
        st = reg if reg is not None else stats_of(kinds[metric], *rec[4 + k :])
        if b is not None and int(b) > 0:  # one of several breakdowns: its own columns only
            values = dict(dim_values)
            own: Dims = tuple((c, values[c]) for c in several[int(b) - 1])
            by[(segment, stage, own)][metric][variant] = st
            continue
        base = cells[(segment, stage, ())][metric]
        base[variant] = base[variant] + st if variant in base else st
        if k and b is None:
            by[(segment, stage, dim_values)][metric][variant] = st
    order = {m: i for i, m in enumerate(metric_keys)}

    def freeze(m: CellMap) -> CellMap:
        return {
            key: {mk: dict(per[mk]) for mk in sorted(per, key=lambda x: order.get(x, 99))}
            for key, per in m.items()
        }

    return freeze(cells), freeze(by)


def control_for(
    experiment: Experiment, segment: str, stage: str, variants: Sequence[str]
) -> str | None:
    """The control of a cell: the declared cell's, else the one configured control observed.

    A cell that is not declared arises from a unit table without segment or stage
    columns (``all``); its control is the only configured control key among the
    observed variants (``None`` when there are none or several).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "s", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> control_for(exp, "s", "awareness", ["a"]), control_for(exp, "all", "all", ["a", "b"])
        ('a', 'a')
    """
    cell = plan_of(experiment).cells.get((segment, stage))
    if cell is not None:
        return cell.control
    controls = {c.control for c in experiment.cells} & set(variants)
    return controls.pop() if len(controls) == 1 else None


def _weights(experiment: Experiment, segment: str, stage: str, observed: Sequence[str]) -> Any:
    cell = plan_of(experiment).cells.get((segment, stage))
    if cell is not None:
        return {v: float(hi - lo) for v, lo, hi in cell.ranges}
    found = []
    for c in experiment.cells:
        keys = {v.key for v in c.variants}
        if set(observed) <= keys:
            total = sum(v.weight for v in c.variants) or 1.0
            found.append({v.key: round(v.weight / total, 9) for v in c.variants})
    if found and all(f == found[0] for f in found):
        return found[0]
    return None


def srm_checks(
    experiment: Experiment, exposures: pd.DataFrame, dims: Sequence[str]
) -> tuple[dict[tuple[str, str], SrmResult], list[dict[str, Any]], list[str]]:
    """Sample-ratio checks per (segment, stage) against the configured, coverage-scaled weights.

    Returns the results by cell, JSON-ready rows and notes about skipped cells.

    Example:
        >>> srm_checks.__name__
        'srm_checks'
    """
    results: dict[tuple[str, str], SrmResult] = {}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if exposures is None or exposures.empty:
        return results, rows, notes
    counts = exposures.groupby(["segment", "stage", "variant"], dropna=False)["n"].sum()
    per_cell: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for idx, n in counts.items():
        segment, stage, variant = (str(v) for v in idx)  # type: ignore[attr-defined]
        per_cell[(segment, stage)][variant] = int(n)
    seg_order = {s: i for i, s in enumerate(experiment.segment_keys())}
    stage_order = {s: i for i, s in enumerate(experiment.stages)}

    def where(cell: tuple[str, str]) -> tuple[int, str, int, str]:
        seg, st = cell
        return (seg_order.get(seg, 999), seg, stage_order.get(st, 999), st)

    for segment, stage in sorted(per_cell, key=where):
        observed = per_cell[(segment, stage)]
        weights: Mapping[str, float] | None = _weights(experiment, segment, stage, list(observed))
        if weights is None:
            notes.append(
                f"SRM skipped for ({segment}, {stage}): the configured cells holding variants "
                f"{sorted(observed)} have different weights"
            )
            continue
        variants = list(weights) + [v for v in observed if v not in weights]
        if len(variants) < 2:
            continue
        obs = [observed.get(v, 0) for v in variants]
        w = [weights.get(v, 0.0) for v in variants]
        res = srm_test(obs, w)
        results[(segment, stage)] = res
        total_w = sum(w) or 1.0
        rows.append(
            {
                "segment": segment,
                "stage": stage,
                "variants": variants,
                "observed": obs,
                "weights": [x / total_w for x in w],
                **res.to_dict(),
            }
        )
    return results, rows, notes


def _worst(srms: Sequence[SrmResult | None]) -> SrmResult | None:
    flagged = [s for s in srms if s is not None and s.flagged]
    return min(flagged, key=lambda s: s.p_value) if flagged else None


Item = tuple[str | None, str | None, Dims, Pair, SrmResult | None]


def _sum_group(members: Sequence[Item]) -> tuple[Pair, SrmResult | None]:
    first = members[0][3]
    ctl = members[0][3].control_stats
    var = members[0][3].variant_stats
    for m in members[1:]:
        ctl = ctl + m[3].control_stats
        var = var + m[3].variant_stats
    parts = tuple((m[3].control_stats, m[3].variant_stats) for m in members)
    pair = replace(first, control_stats=ctl, variant_stats=var, n_cells=len(members), parts=parts)
    return pair, _worst([m[4] for m in members])


def pool_pairs(
    items: Sequence[Item], stages: Sequence[str]
) -> list[tuple[str | None, str | None, Dims, Pair, SrmResult | None]]:
    """Pooled pairs: per stage over segments, over everything, and over everything per
    breakdown value; same (control, variant) keys only, each over the cells holding both.

    ``items`` are per-cell ``(segment, stage, dims, pair, srm)``. A pooled pair is kept
    when it adds at least 2 cells and not exactly the cells of one already kept.

    Example:
        >>> from segab.stats import ProportionStats
        >>> p = Pair("m", "binary", "a", "b", ProportionStats(10, 1), ProportionStats(10, 2))
        >>> out = pool_pairs([("s1", "t", (), p, None), ("s2", "t", (), p, None)], ["t"])
        >>> [(seg, st, q.n_cells, q.control_stats.n) for seg, st, _, q, _ in out]
        [(None, 't', 2, 20)]
    """
    groups: dict[tuple[Any, ...], list[Item]] = defaultdict(list)
    order = {s: i for i, s in enumerate(stages)}
    for it in sorted(items, key=lambda x: order.get(x[1] or "", len(order))):
        _, stage, dims, pair, _ = it
        key = (pair.metric, pair.control, pair.variant)
        if not dims:
            groups[("stage", stage, *key)].append(it)
            groups[("all", None, *key)].append(it)
        else:
            groups[("by", dims, *key)].append(it)
    seen: set[tuple[Any, ...]] = set()
    out: list[tuple[str | None, str | None, Dims, Pair, SrmResult | None]] = []
    for (level, where, *pair_key), members in groups.items():
        cells = frozenset((m[0], m[1], m[2]) for m in members)
        if len(members) < 2 or (*pair_key, cells) in seen:
            continue
        seen.add((*pair_key, cells))
        pair, srm = _sum_group(members)
        stage = where if level == "stage" else None
        dims = where if level == "by" else ()
        out.append((None, stage, dims, pair, srm))
    return out
