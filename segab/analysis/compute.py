"""From per-cell sufficient statistics to comparisons, pooled rows, checks and decisions.

:func:`compute_results` takes an :class:`~segab.sums.aggregate.Aggregates` and
the experiment and returns an :class:`~segab.analysis.results.AnalysisResult`:

- **Cells.** In each declared (segment, stage) cell, every non-control variant is
  compared with the cell's control (from the config) on every metric. With
  ``--by``, the same comparisons are repeated in each (cell, breakdown value); the
  plain cell rows sum the breakdown rows (sufficient statistics add).
- **Pooled rows** add the sufficient statistics of several cells: over all segments
  for each stage, and over everything, plus over everything per breakdown value.
  A variant is pooled only with the *same* control key, and only over the cells
  that contain both (their controls pooled over the same cells), so that a stage
  where one segment tests ``testimonial_cta`` and the others ``urgency_cta``
  gives one pooled row per (control, variant) pair, each over its own cells. A
  pooled row is emitted when it pools at least 2 cells and not exactly the cells
  of a pooled row already emitted. Pooling over stages counts a unit once per
  stage it reached, and such units are correlated, so that interval is slightly
  optimistic; pooling over segments has no such issue.
- **Multiple testing.** The config's ``correction`` is applied per metric, over
  the declared cells' rows; separately over each breakdown's rows (with several
  breakdowns, one family per breakdown); separately over the pooled rows (a
  breakdown's pooled rows with the pooled rows without one, as in a call with that
  breakdown alone; those without one with every pooled row).
- **Several breakdowns** (``Aggregates.breakdowns``): the plain cells are their own
  rows of the sums, and each breakdown's rows carry only its columns, so rows of
  different breakdowns never pool or share a family.
- **Heterogeneity.** Cochran's Q of the relative lift across segments, for each
  stage, metric and (control, variant) pair present in at least 2 segments.
- **SRM.** Per (segment, stage), the exposure counts of each variant (summed over
  breakdowns) against the configured weights scaled by coverage (the bucket
  ranges of the compiled plan). Cells that are not declared (a unit table with
  no segment/stage columns) use the weights of the configured cells holding those
  variants when they all agree, else are skipped with a note.
- **Bandit cells** (``periods``): decided on their period-stratified estimate, the
  uniform slice beside it; SRM on the slice; pooled rows through the slice sums
  (:mod:`segab.analysis.adaptive`).
- **ROI** (a ratio metric with ``cost_per_unit``): means and absolute lifts are
  ROI, ``(revenue − cost)/cost``; the relative lift is that of revenue per unit
  of cost, ``(1 + ROI_v)/(1 + ROI_c) − 1``, defined even when ROI is negative.

Example:
    >>> import pandas as pd
    >>> from segab.sums.aggregate import Aggregates
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "x"}}})
    >>> sums = pd.DataFrame({"segment": "all", "stage": "buy", "variant": ["a", "b"],
    ...     "metric": "conv", "n": [10000, 10000], "sum": [1000.0, 1100.0], "sum_sq": 0.0,
    ...     "den_sum": 0.0, "den_sum_sq": 0.0, "cross_sum": 0.0})
    >>> expo = sums[["segment", "stage", "variant", "n"]]
    >>> r = compute_results(exp, Aggregates(sums, expo, pd.DataFrame(), {}, ()))
    >>> round(r.results[0].comparison.p_value, 6), r.results[0].decision
    (0.021075, 'ship')
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from segab.allocation_types import AllocationPeriod
from segab.analysis import quantiles as qm
from segab.analysis.adaptive import Adaptive
from segab.analysis.adjustment import adjustment_block, compare_pairs
from segab.analysis.caps import caps_block
from segab.analysis.decisions import decide, guardrail_harmed
from segab.analysis.guardrails import decision_settings, guardrail_tests
from segab.analysis.pooling import (
    CellKey,
    Pair,
    cell_stats,
    control_for,
    pool_pairs,
    srm_checks,
)
from segab.analysis.results import AnalysisResult, MetricInfo, ResultRow
from segab.analysis.shrinkage import CellLift, ShrunkLift, shrink_cells
from segab.analysis.summaries import funnel_rows, heterogeneity_rows
from segab.analysis.tailoring import tailoring_block
from segab.config.models import Experiment, Metric
from segab.formatting import pct
from segab.stats import (
    Comparison,
    ComparisonArrays,
    SrmResult,
    adjust_p_values,
)
from segab.sums.aggregate import Aggregates
from segab.sums.result import dim_name

__all__ = ["compute_results", "is_roi"]


def is_roi(metric: Metric) -> bool:
    """Whether a metric is an ROI: a ratio with ``cost_per_unit`` and no denominator.

    Example:
        >>> is_roi(Metric(key="roi", kind="ratio", event="revenue", cost_per_unit=1.0))
        True
    """
    return (
        metric.kind == "ratio"
        and metric.cost_per_unit is not None
        and metric.denominator_event is None
        and metric.denominator_column is None
    )


@dataclass
class _Pending:
    """A comparison to run, and where its row goes."""

    scope: str  # "cell" | "by" | "pooled"
    segment: str | None
    stage: str | None
    dims: tuple[tuple[str, Any], ...]
    pair: Pair
    srm: SrmResult | None
    comparison: Comparison | None = None


def _run(
    pending: list[_Pending], experiment: Experiment, adaptive: Adaptive, quantiles: qm.QuantileIndex
) -> None:
    settings = experiment.analysis
    metrics = {m.key: m for m in experiment.metrics.all()}
    by_metric: dict[str, list[_Pending]] = defaultdict(list)
    for p in pending:
        by_metric[p.pair.metric].append(p)
    for key, items in by_metric.items():
        out: Sequence[Comparison] | ComparisonArrays
        if metrics[key].quantile is not None:  # its own groups' order statistics
            out = qm.compare_pending(items, key, quantiles, settings.alpha, settings.method)
        else:  # regression-adjusted pairs too (segab.analysis.adjustment)
            out = compare_pairs([p.pair for p in items], settings)
        roi = is_roi(metrics[key])
        for p, c in zip(items, out, strict=True):
            if roi:
                c = replace(c, control_mean=c.control_mean - 1, treatment_mean=c.treatment_mean - 1)
            p.comparison = adaptive.hook()(p.scope, p.segment, p.stage, p.pair, c)
    for scope in ("cell", "by", "pooled"):
        for key in metrics:
            members = [p for p in pending if p.scope == scope and p.pair.metric == key]
            for family, targets in _families(scope, members):
                adjusted = adjust_p_values(
                    [_c(p).p_value for p in family], experiment.analysis.correction
                )
                q_of = {id(p): q for p, q in zip(family, adjusted, strict=True)}
                for p in targets:
                    p.comparison = _c(p).with_adjusted(q_of[id(p)])


def _names(p: _Pending) -> tuple[str, ...]:
    """The breakdown of a comparison: its dimension columns (``()``: none)."""
    return tuple(k for k, _ in p.dims)


def _families(scope: str, members: list[_Pending]) -> list[tuple[list[_Pending], list[_Pending]]]:
    """The correction families of one scope and metric: ``(family, rows it adjusts)``.

    Breakdown rows form one family per breakdown. Pooled rows of a breakdown are
    adjusted with the pooled rows without one, as in a call with that breakdown
    alone; the pooled rows without a breakdown with every pooled row (with one
    breakdown or none: one family, as always).
    """
    if not members:
        return []
    if scope == "cell":
        return [(members, members)]
    groups: dict[tuple[str, ...], list[_Pending]] = defaultdict(list)
    for p in members:
        groups[_names(p)].append(p)
    if scope == "by":
        return [(g, g) for g in groups.values()]
    plain = groups.pop((), [])
    out = [(members, plain)] if plain else []
    return out + [(plain + g, g) for g in groups.values()]


def _where(p: _Pending) -> tuple[Any, ...]:
    return (p.scope, p.segment, p.stage, p.dims, p.pair.control, p.pair.variant)


def _c(p: _Pending) -> Comparison:
    if p.comparison is None:  # pragma: no cover - _run fills every comparison
        raise RuntimeError("comparison not computed")
    return p.comparison


def _control_std(p: _Pending) -> float | None:
    stats = p.pair.control_stats
    if p.pair.kind != "continuous" or stats.n < 2:
        return None
    var = qm.unit_variance(_c(p), stats.variance)  # type: ignore[union-attr]
    return math.sqrt(var) if math.isfinite(var) and var > 0 else None


def _shrinkage(
    pending: list[_Pending], experiment: Experiment
) -> tuple[dict[Any, ShrunkLift], dict[str, Any] | None]:
    """``analysis.shrinkage: eb``: the declared cells' shrunk lifts (by ``id``) and the block."""
    settings = experiment.analysis
    if settings.shrinkage != "eb":
        return {}, None
    items = [
        CellLift(id(p), p.pair.metric, p.pair.control, p.pair.variant, p.segment, p.stage,
                 _c(p).abs_lift, _c(p).abs_se, p.srm is not None and p.srm.flagged)
        for p in pending
        if p.scope == "cell"
    ]  # fmt: skip
    return shrink_cells(items, groups_by=settings.shrinkage_groups, alpha=settings.alpha)


def _rows(
    pending: list[_Pending],
    experiment: Experiment,
    shrunk: Mapping[Any, ShrunkLift] | None = None,
    adaptive: Adaptive | None = None,
) -> list[tuple[_Pending, ResultRow]]:
    shrunk = shrunk or {}
    metrics = {m.key: m for m in experiment.metrics.all()}
    guardrails = [m.key for m in experiment.metrics.guardrail]
    harmed: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    tests, not_ni = guardrail_tests(
        (id(p), _where(p), _c(p), metrics[p.pair.metric])
        for p in pending
        if p.pair.metric in guardrails
    )
    settings = decision_settings(experiment)  # the split power with margin guardrails
    for p in pending:
        ni = tests.get(id(p))
        if ni is not None and ni.passed:
            continue  # within its margin: not harmed, whatever its p-value
        if p.pair.metric in guardrails and guardrail_harmed(_c(p), metrics[p.pair.metric]):
            where = _where(p)
            c = _c(p)
            lift = c.rel_lift if math.isfinite(c.rel_lift) else c.abs_lift
            shown = pct(lift) if math.isfinite(c.rel_lift) else f"{lift:+.4g}"
            harmed[where].append(f"{p.pair.metric} {shown}")
    out = []
    for p in pending:
        metric = metrics[p.pair.metric]
        role = experiment.metrics.role_of(metric.key)
        where = _where(p)
        verdict = decide(
            _c(p),
            metric,
            role=role,
            settings=settings,
            srm=p.srm,
            harmed_guardrails=harmed.get(where, []),
            control_std=_control_std(p),
            shrunk=shrunk.get(id(p)),
            noninferiority=tests.get(id(p)),
            not_noninferior=not_ni.get(where, []) if role == "primary" else (),
        )
        row = ResultRow(
            segment=p.segment,
            stage=p.stage,
            dimensions=dict(p.dims),
            metric=metric.key,
            role=role,
            kind=metric.kind,
            variant=p.pair.variant,
            control=p.pair.control,
            comparison=_c(p),
            decision=verdict.decision,
            reason=verdict.reason,
            more_units=verdict.more_units,
            n_cells=p.pair.n_cells,
            shrunk=shrunk.get(id(p)),
            noninferiority=tests.get(id(p)),
            adaptive=adaptive.estimate(p.segment, p.stage, p.pair)
            if adaptive is not None and p.scope == "cell"
            else None,
            quantile=metric.quantile,
        )
        out.append((p, row))
    return out


def _metric_info(experiment: Experiment) -> tuple[MetricInfo, ...]:
    settings = experiment.analysis
    return tuple(
        MetricInfo(
            key=m.key,
            role=experiment.metrics.role_of(m.key),
            kind=m.kind,
            direction=m.direction,
            mde=m.mde if m.mde is not None else settings.mde,
            roi=is_roi(m),
            quantile=m.quantile,
        )
        for m in experiment.metrics.all()
    )


def _pending_cells(
    experiment: Experiment, cells: dict[CellKey, dict[str, dict[str, Any]]], srm: dict[Any, Any]
) -> tuple[list[_Pending], list[dict[str, Any]]]:
    """The comparisons to run, and the ones skipped (each with its scope and reason)."""
    pending: list[_Pending] = []
    skipped: list[dict[str, Any]] = []
    for (segment, stage, dims), by_metric in cells.items():
        variants = sorted({v for per in by_metric.values() for v in per})
        control = control_for(experiment, segment, stage, variants)
        where = {"segment": segment, "stage": stage, "dimensions": dict(dims)}
        if control is None:
            reason = f"no configured control among variants {variants}"
            skipped.append({**where, "metric": None, "reason": reason})
            continue
        scope = "by" if dims else "cell"
        for metric, per in by_metric.items():
            if control not in per:
                if not dims:
                    reason = f"the control {control!r} has no {metric} data"
                    skipped.append({**where, "metric": metric, "reason": reason})
                continue
            for variant, stats in per.items():
                if variant == control:
                    continue
                pair = Pair(
                    metric, _kind(experiment, metric), control, variant, per[control], stats
                )
                pending.append(
                    _Pending(scope, segment, stage, dims, pair, srm.get((segment, stage)))
                )
    return pending, skipped


def _skip_note(skip: Mapping[str, Any]) -> str:
    dims = "".join(f", {k}={v}" for k, v in skip["dimensions"].items())
    return f"cell ({skip['segment']}, {skip['stage']}{dims}): {skip['reason']}; skipped"


def _unknown_arms(aggregates: Aggregates) -> tuple[tuple[dict[str, Any], ...], list[str]]:
    arms = tuple({"label": label, "units": n} for label, n in aggregates.unknown_arms)
    if not arms:
        return arms, []
    shown = ", ".join(f"{a['label']!r} ({a['units']:,} units)" for a in arms[:10])
    more = f" and {len(arms) - 10} more" if len(arms) > 10 else ""
    return arms, [f"arms the config does not declare, kept out: {shown}{more}"]


def _kind(experiment: Experiment, key: str) -> str:
    return next(m.kind for m in experiment.metrics.all() if m.key == key)


def _order(
    experiment: Experiment, rows: list[ResultRow], breakdowns: Sequence[tuple[str, ...]] = ()
) -> tuple[ResultRow, ...]:
    seg = {s: i for i, s in enumerate(experiment.segment_keys())}
    stg = {s: i for i, s in enumerate(experiment.stages)}
    met = {m.key: i for i, m in enumerate(experiment.metrics.all())}
    brk = {b: i for i, b in enumerate(breakdowns)}
    var: dict[str, int] = {}
    for cell in experiment.cells:
        for v in cell.variants:
            var.setdefault(v.key, len(var))

    def key(r: ResultRow) -> tuple[Any, ...]:
        dims = tuple(str(v) for v in r.dimensions.values())
        names = tuple(r.dimensions)
        return (
            r.segment is None,
            seg.get(r.segment or "", len(seg)),
            r.segment or "",
            r.stage is None,
            stg.get(r.stage or "", len(stg)),
            r.stage or "",
            brk.get(names, 0) if names else -1,  # the plain rows, then each breakdown's
            dims,
            met.get(r.metric, len(met)),
            var.get(r.variant, len(var)),
            r.variant,
        )

    return tuple(sorted(rows, key=key))


def compute_results(
    experiment: Experiment,
    aggregates: Aggregates,
    *,
    notes: Sequence[str] = (),
    periods: Sequence[AllocationPeriod] = (),
) -> AnalysisResult:
    """Turn per-cell sufficient statistics into the full analysis (rules in the module doc).

    ``periods``: the allocation periods of bandit cells, whose sums per period are
    ``aggregates.periods`` (:mod:`segab.analysis.adaptive` says what changes there).

    Example:
        >>> compute_results.__name__   # see the module docstring for a full run
        'compute_results'
    """
    metric_keys = [m.key for m in experiment.metrics.all()]
    several = aggregates.breakdowns
    cells, dim_cells = cell_stats(
        aggregates.sums, aggregates.dimensions, metric_keys, experiment, several
    )
    exposures = aggregates.exposures
    if several:  # the plain cells' counts, each unit once
        exposures = exposures[exposures["breakdown"] == 0]
    srm, srm_rows, srm_notes = srm_checks(experiment, exposures, aggregates.dimensions)
    adaptive = Adaptive.of(experiment, aggregates.periods, periods)
    srm, srm_rows = adaptive.srm(srm, srm_rows)
    pending, skipped = _pending_cells(experiment, cells, srm)
    cell_notes = [_skip_note(k) for k in skipped]
    unknown_arms, arm_notes = _unknown_arms(aggregates)
    by_pending, _ = _pending_cells(experiment, dim_cells, srm)
    pooled_pending = [
        _Pending("pooled", segment, stage, dims, pair, worst)
        for segment, stage, dims, pair, worst in pool_pairs(
            adaptive.pooling(
                (p.segment, p.stage, p.dims, p.pair, p.srm) for p in pending + by_pending
            ),
            experiment.stages,
        )
    ]
    everything = pending + by_pending + pooled_pending
    if everything:
        _run(everything, experiment, adaptive, qm.aggregates_quantiles(aggregates))
    shrunk, shrinkage = _shrinkage(pending, experiment)
    rows = _rows(everything, experiment, shrunk, adaptive)
    dims = tuple(dim_name(d) for d in aggregates.dimensions)
    breakdowns = several or ((dims,) if dims else ())
    results = _order(experiment, [r for p, r in rows if p.scope != "pooled"], breakdowns)
    pooled = _order(experiment, [r for p, r in rows if p.scope == "pooled"], breakdowns)
    settings = experiment.analysis
    return AnalysisResult(
        experiment=experiment.key,
        iteration=experiment.iteration,
        method=settings.method,
        alpha=settings.alpha,
        correction=settings.correction,
        results=results,
        pooled=pooled,
        heterogeneity=heterogeneity_rows(results, experiment),
        srm=tuple(srm_rows),
        data_quality=dict(aggregates.data_quality),
        data_issues=tuple(i.to_dict() for i in aggregates.issues),
        funnel=funnel_rows(aggregates),
        name=experiment.name,
        metrics=_metric_info(experiment),
        dimensions=dims,
        breakdowns=breakdowns,
        stages=tuple(experiment.stages),
        hypothesis=experiment.hypothesis.strip(),
        notes=(*notes, *aggregates.notes, *arm_notes, *srm_notes, *cell_notes, *adaptive.notes),
        unknown_arms=unknown_arms,
        skipped=tuple(skipped),
        shrinkage=shrinkage,
        tailoring=tailoring_block(experiment, aggregates.folds)
        if settings.wants_tailoring
        else None,
        maturity=aggregates.maturity,
        caps=caps_block(aggregates.caps, experiment),
        adaptive=adaptive.block(),
        adjustment=adjustment_block(experiment, results),
    )
