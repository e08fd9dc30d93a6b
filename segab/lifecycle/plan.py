"""Per-cell power plan with an over-segmentation guard (pure core of ``segab plan``).

For every (segment, stage) cell of an experiment, :func:`plan_experiment` takes

* the cell's expected units per day: ``daily_units`` times the cell's *share*
  (units reaching that segment and stage per unit entering; see
  :func:`traffic_mix`), times the share that is in the experiment
  (``coverage × (1 − holdout) × namespace width``) and each arm's weight;
* the baseline of the primary metric: a previous iteration's measured mean for
  the cell's control when given, else the metric's ``baseline``/``std``;
* the MDE (the metric's ``mde``, else ``analysis.mde``, relative), ``analysis.power``
  and ``analysis.alpha``; with guardrails that declare a non-inferiority margin,
  the power is split and the size is at least each guardrail's
  (:mod:`segab.lifecycle.guardrail_plan`);

and computes the sample size per arm with :func:`segab.stats.sample_size_per_arm`
(statsmodels' ``NormalIndPower``, Cohen's h, for binary metrics, ``TTestIndPower``,
Cohen's d, for continuous ones; quantiles: :mod:`segab.lifecycle.quantile_plan`) and
the days needed: the size over the daily units of the smallest arm of the comparison,
rounded up. Alpha is per comparison: the analysis' Holm/BH correction over many cells
makes the real power somewhat lower, so treat the days as a lower bound.

A cell is *over-segmented* when it needs more days than planned. Remedies, each
recomputed: merge the segment into its nearest sibling at the same stage (the
segment whose baseline is closest, relative to this cell's; ties go to the larger
sibling), adding the next nearest until the merged cell is adequate; the MDE
reachable within the planned days; the days needed; dropping the cell from the
test (control only).

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
    ...     "stages": ["purchase"], "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy",
    ...                             "baseline": 0.1, "mde": 0.1}}})
    >>> p = plan_experiment(exp, {("all", "purchase"): 1.0}, daily_units=1000, days=28)
    >>> p.cells[0].n_per_arm, p.cells[0].days_needed, p.cells[0].adequate
    (14745, 30, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from segab.assignment import plan_of
from segab.config.checks import resolve_cell_index, weight_basis_points
from segab.config.models import Cell, Experiment, Metric
from segab.errors import LifecycleError, StatsError
from segab.lifecycle.guardrail_plan import (
    GuardrailSize,
    decision_power,
    guardrail_floor,
    guardrail_sizes,
)
from segab.lifecycle.quantile_plan import quantile_sizing, sizing_std
from segab.lifecycle.traffic import CellKey, TrafficMix, equal_mix, traffic_mix
from segab.stats import minimum_detectable_effect, sample_size_per_arm
from segab.stats.power import Kind

__all__ = [
    "Baseline",
    "CellPower",
    "PowerPlan",
    "Remedy",
    "TrafficMix",
    "equal_mix",
    "plan_experiment",
    "traffic_mix",
]


@dataclass(frozen=True)
class Baseline:
    """A cell's primary-metric baseline: mean, standard deviation and where it came from.

    ``quantile_sd``: a quantile metric's measured per-unit standard deviation of the
    sample quantile (:func:`segab.lifecycle.quantile_plan.measured_quantile_sd`).

    Example:
        >>> Baseline(0.1, None, "config").mean
        0.1
    """

    mean: float
    std: float | None
    source: str
    quantile_sd: float | None = None


@dataclass(frozen=True)
class Remedy:
    """One way out of an under-powered cell, recomputed.

    ``kind`` is ``merge`` (``segments`` merged in, ``days_needed`` and ``adequate``
    of the merged cell), ``reachable_mde``, ``extend`` or ``drop``.

    Example:
        >>> Remedy("extend", "run 40 days", days_needed=40).kind
        'extend'
    """

    kind: str
    text: str
    segments: tuple[str, ...] = ()
    days_needed: int | None = None
    n_per_arm: int | None = None
    adequate: bool | None = None
    mde: float | None = None


@dataclass(frozen=True)
class CellPower:
    """The power plan of one (segment, stage) cell.

    ``status``: ``ok``, ``over_segmented``, ``no_test`` (one variant only),
    ``no_baseline`` or ``no_traffic``.

    Example:
        >>> c = CellPower("all", "buy", "ok", 0.5, 500.0, "a", ("b",), 0.1, None, "config",
        ...               0.1, 100, 1, True)
        >>> c.to_dict()["status"]
        'ok'
    """

    segment: str
    stage: str
    status: str
    share: float
    daily_units: float
    control: str
    treatments: tuple[str, ...]
    baseline: float | None
    std: float | None
    baseline_source: str
    mde: float
    n_per_arm: int | None
    days_needed: int | None
    adequate: bool
    smallest_arm_daily: float = 0.0
    remedies: tuple[Remedy, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (snake_case keys, remedies as dicts).

        Example:
            >>> CellPower("s", "t", "no_test", 0.1, 1.0, "a", (), None, None, "config",
            ...           0.05, None, None, True).to_dict()["treatments"]
            []
        """
        out = asdict(self)
        out["treatments"] = list(self.treatments)
        out["remedies"] = [{**asdict(r), "segments": list(r.segments)} for r in self.remedies]
        return out


@dataclass(frozen=True)
class PowerPlan:
    """The plan of a whole experiment: settings, one :class:`CellPower` per cell, notes.

    Example:
        >>> PowerPlan("e", 1, "conv", "binary", 0.05, 0.8, 1000.0, 28, ()).flagged()
        []
    """

    experiment: str
    iteration: int
    metric: str
    kind: str
    alpha: float
    power: float
    daily_units: float
    days: int
    cells: tuple[CellPower, ...]
    notes: tuple[str, ...] = field(default=())
    guardrails: tuple[GuardrailSize, ...] = ()  # margin guardrails (lifecycle/guardrail_plan)
    shrinkage: Mapping[str, Any] | None = None  # ``--tau`` (lifecycle/shrinkage_plan)
    sizing: Mapping[str, Any] | None = None  # a quantile metric's (lifecycle/quantile_plan)

    def flagged(self) -> list[CellPower]:
        """The over-segmented cells.

        Example:
            >>> PowerPlan("e", 1, "m", "binary", 0.05, 0.8, 1.0, 28, ()).flagged()
            []
        """
        return [c for c in self.cells if c.status == "over_segmented"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``segab plan --format json``.

        Example:
            >>> sorted(PowerPlan("e", 1, "m", "binary", 0.05, 0.8, 1.0, 28, ()).to_dict())[:3]
            ['alpha', 'cells', 'daily_units']
        """
        return {
            "experiment": self.experiment,
            "iteration": self.iteration,
            "metric": self.metric,
            "kind": self.kind,
            "alpha": self.alpha,
            "power": self.power,
            "daily_units": self.daily_units,
            "days": self.days,
            "cells": [c.to_dict() for c in self.cells],
            "over_segmented": [[c.segment, c.stage] for c in self.flagged()],
            "notes": list(self.notes),
            **(_guardrail_keys(self) if self.guardrails else {}),
            **({"shrinkage": dict(self.shrinkage)} if self.shrinkage is not None else {}),
            **({"sizing": dict(self.sizing)} if self.sizing is not None else {}),
        }


def _guardrail_keys(plan: PowerPlan) -> dict[str, Any]:
    """``power_per_test`` (``1 − β/(G + 1)``) and each margin guardrail's size."""
    per_test = 1.0 - (1.0 - plan.power) / (len(plan.guardrails) + 1)
    return {"power_per_test": per_test, "guardrails": [asdict(g) for g in plan.guardrails]}


def _in_experiment(exp: Experiment) -> float:
    lo, hi = exp.namespace.range if exp.namespace is not None else (0.0, 1.0)
    return (1.0 - exp.holdout) * (hi - lo)


@dataclass(frozen=True)
class _Need:
    n_per_arm: int
    smallest_arm_daily: float
    days_needed: int | None


def _need(
    metric: Metric, base: Baseline, mde: float, exp: Experiment, cell: Cell, daily: float
) -> _Need:
    kind: Kind = "binary" if metric.kind == "binary" else "continuous"
    n = sample_size_per_arm(
        baseline=base.mean,
        mde=mde,
        alpha=exp.analysis.alpha,
        power=decision_power(exp),  # 1 − β/(G + 1) with G margin guardrails
        kind=kind,
        std=sizing_std(metric, base.std, base.quantile_sd),  # quantile_plan
    )
    n = max(n, guardrail_floor(exp))  # each non-inferiority test powered too
    bps = weight_basis_points([v.weight for v in cell.variants]) or (0,) * len(cell.variants)
    weights = {v.key: bp / 10_000 for v, bp in zip(cell.variants, bps, strict=True)}
    treated = [w for k, w in weights.items() if k != cell.control and w > 0]
    arm = min([weights[cell.control], *treated]) if treated else 0.0
    rate = daily * cell.coverage * _in_experiment(exp) * arm
    days = math.ceil(n / rate - 1e-9) if rate > 0 else None
    return _Need(n, rate, days)


def _baseline(
    metric: Metric, key: CellKey, control: str, measured: Mapping[CellKey, Baseline]
) -> Baseline | None:
    if key in measured:
        b = measured[key]
        if metric.kind == "binary" or b.std is not None:
            return b
        if metric.std is not None or b.quantile_sd is not None:
            return Baseline(b.mean, metric.std, b.source, b.quantile_sd)
    if metric.baseline is None:
        return None
    if metric.kind != "binary" and metric.std is None:
        return None
    if metric.kind == "binary" and not 0 < metric.baseline < 1:
        return None
    return Baseline(metric.baseline, metric.std, "config")


def _pool(parts: Sequence[tuple[float, Baseline]]) -> Baseline:
    total = sum(w for w, _ in parts)
    mean = sum(w * b.mean for w, b in parts) / total
    if any(b.std is None for _, b in parts):
        return Baseline(mean, None, "merged")
    var = sum(w * ((b.std or 0.0) ** 2 + (b.mean - mean) ** 2) for w, b in parts) / total
    return Baseline(mean, math.sqrt(var), "merged")


def _remedies(
    exp: Experiment,
    metric: Metric,
    row: CellPower,
    cell: Cell,
    rows: Sequence[CellPower],
    cells: Mapping[CellKey, Cell],
    days: int,
    quantile_sd: float | None = None,  # measured (quantile_plan); merged cells: normal model
) -> tuple[Remedy, ...]:
    out: list[Remedy] = []
    if row.baseline is None:
        return ()
    base = Baseline(row.baseline, row.std, row.baseline_source, quantile_sd)
    scale = max(abs(base.mean), 1e-12)
    siblings = sorted(
        (
            r
            for r in rows
            if r.stage == row.stage
            and r.segment != row.segment
            and r.baseline is not None
            and r.treatments
        ),
        key=lambda r: (abs((r.baseline or 0.0) - base.mean) / scale, -r.daily_units),
    )
    merged: list[CellPower] = []
    for sib in siblings:
        merged.append(sib)
        parts = [(row.daily_units, base)] + [
            (m.daily_units, Baseline(m.baseline or 0.0, m.std, "")) for m in merged
        ]
        pooled = _pool(parts)
        if pooled.std is None and metric.kind != "binary":
            break  # no std for a merged cell (a quantile's measured sd is per cell)
        target = cells[(merged[0].segment, row.stage)]
        daily = row.daily_units + sum(m.daily_units for m in merged)
        need = _need(metric, pooled, row.mde, exp, target, daily)
        ok = need.days_needed is not None and need.days_needed <= days
        if ok or len(merged) == len(siblings):
            names = ", ".join(m.segment for m in merged)
            out.append(
                Remedy(
                    "merge",
                    f"merge {row.segment!r} into {names} at stage {row.stage!r} "
                    f"(nearest baseline): {need.n_per_arm} per arm in "
                    f"{need.days_needed} days — {'adequate' if ok else 'still too small'}",
                    segments=tuple(m.segment for m in merged),
                    days_needed=need.days_needed,
                    n_per_arm=need.n_per_arm,
                    adequate=ok,
                )
            )
            break
    available = row.smallest_arm_daily * days
    kind: Kind = "binary" if metric.kind == "binary" else "continuous"
    try:
        mde = minimum_detectable_effect(
            n_per_arm=available,
            baseline=base.mean,
            alpha=exp.analysis.alpha,
            power=decision_power(exp),
            kind=kind,
            std=sizing_std(metric, base.std, base.quantile_sd),  # quantile_plan
        )
        out.append(
            Remedy(
                "reachable_mde",
                f"raise the MDE to {mde:.1%} (reachable with {int(available)} per arm "
                f"in {days} days)",
                mde=mde,
            )
        )
    except StatsError:
        pass
    out.append(
        Remedy(
            "extend",
            f"run {row.days_needed} days instead of {days}",
            days_needed=row.days_needed,
            n_per_arm=row.n_per_arm,
            adequate=True,
        )
    )
    out.append(
        Remedy(
            "drop",
            f"drop the cell: add {{segment: {row.segment}, stage: {row.stage}, "
            f"control: {cell.control}, variants: [{{key: {cell.control}, weight: 1.0}}]}} "
            "so it serves the control only",
        )
    )
    return tuple(out)


def plan_experiment(
    experiment: Experiment,
    shares: Mapping[CellKey, float],
    *,
    daily_units: float,
    days: int = 28,
    measured: Mapping[CellKey, Baseline] | None = None,
    notes: Sequence[str] = (),
) -> PowerPlan:
    """Plan every (segment, stage) cell: size per arm, days needed, over-segmentation remedies.

    ``shares`` maps cells to units reaching them per unit entering (a
    :class:`TrafficMix`'s ``shares``); ``measured`` maps cells to baselines measured
    in a previous iteration (for the cell's current control).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x",
        ...                             "baseline": 0.2}}})
        >>> plan_experiment(exp, {("all", "buy"): 1.0}, daily_units=5000).cells[0].status
        'ok'
    """
    if not (math.isfinite(daily_units) and daily_units > 0):
        raise LifecycleError(f"daily units: found {daily_units!r}, expected a number > 0")
    if days < 1:
        raise LifecycleError(f"days: found {days!r}, expected at least 1")
    metric = experiment.metrics.primary
    mde = metric.mde if metric.mde is not None else experiment.analysis.mde
    measured = measured or {}
    cells: dict[CellKey, Cell] = {}
    rows: list[CellPower] = []
    for seg, stage in plan_of(experiment).cells:
        idx = resolve_cell_index(experiment.cells, seg, stage)
        if idx is None:  # pragma: no cover - plan cells always resolve
            continue
        cell = cells[(seg, stage)] = experiment.cells[idx]
        share = float(shares.get((seg, stage), 0.0))
        daily = daily_units * share
        treatments = tuple(v.key for v in cell.variants if v.key != cell.control and v.weight > 0)
        base = _baseline(metric, (seg, stage), cell.control, measured)
        common: dict[str, Any] = {
            "segment": seg,
            "stage": stage,
            "share": share,
            "daily_units": daily,
            "control": cell.control,
            "treatments": treatments,
            "baseline": base.mean if base else None,
            "std": base.std if base else None,
            "baseline_source": base.source if base else "none",
            "mde": mde,
        }
        if not treatments:
            rows.append(
                CellPower(
                    status="no_test",
                    n_per_arm=None,
                    days_needed=None,
                    adequate=True,
                    note="control only: nothing to compare",
                    **common,
                )
            )
            continue
        if base is None:
            rows.append(
                CellPower(
                    status="no_baseline",
                    n_per_arm=None,
                    days_needed=None,
                    adequate=False,
                    note=f"set metrics.primary.baseline"
                    f"{'' if metric.kind == 'binary' else ' and std'} in the config",
                    **common,
                )
            )
            continue
        try:
            need = _need(metric, base, mde, experiment, cell, daily)
        except StatsError as exc:
            raise LifecycleError(f"cell ({seg}, {stage}): {exc}") from exc
        ok = need.days_needed is not None and need.days_needed <= days
        status = "ok" if ok else ("no_traffic" if need.days_needed is None else "over_segmented")
        rows.append(
            CellPower(
                status=status,
                n_per_arm=need.n_per_arm,
                days_needed=need.days_needed,
                adequate=ok,
                smallest_arm_daily=need.smallest_arm_daily,
                note="no units reach this cell in the traffic" if status == "no_traffic" else "",
                **common,
            )
        )
    final = []
    for row in rows:
        if row.status == "over_segmented":
            sd = getattr(measured.get((row.segment, row.stage)), "quantile_sd", None)
            cell = cells[(row.segment, row.stage)]
            fixes = _remedies(experiment, metric, row, cell, rows, cells, days, sd)
            row = CellPower(**{**row.__dict__, "remedies": fixes})
        final.append(row)
    return PowerPlan(
        experiment=experiment.key,
        iteration=experiment.iteration,
        metric=metric.key,
        kind=metric.kind,
        alpha=experiment.analysis.alpha,
        power=experiment.analysis.power,
        daily_units=float(daily_units),
        days=days,
        cells=tuple(final),
        notes=(*notes, *(g.note for g in guardrail_sizes(experiment) if g.note)),
        guardrails=guardrail_sizes(experiment),
        sizing=quantile_sizing(metric, sum(b.quantile_sd is not None for b in measured.values())),
    )
