"""Bandit cells: which estimate a decision uses, and how the cells enter checks and pooled rows.

A cell is a *bandit cell* when an allocation period adapts it (its weights changed
over time). Its counts pooled over periods are biased when the baseline drifts
(Simpson's paradox; docs/statistics.md, "Bandits per cell"), so for each of its
comparisons (the plain cell rows) :func:`segab.analysis.compute.compute_results`
asks :class:`Adaptive` for the estimate, from the per-period, per-slice sums of
:mod:`segab.sums.periods`:

- **period-stratified** (:func:`segab.stats.adaptive.period_stratified`): the
  within-period differences weighted by each period's share of the cell's units
  over all arms (GrowthBook's "weight by period"). The decision, the multiple-testing
  correction and the shown lift use it (``estimate_used: period_stratified``);
- **uniform slice** (:func:`segab.stats.adaptive.uniform_slice_comparison`): the
  slice's plain A/B test, reported beside it (``slice_*`` keys); the decision uses it
  when the stratified estimate is undefined (a ratio metric, or no period with 2
  units per arm), ``estimate_used: uniform_slice``;
- **naive pooled**: the counts pooled over periods (``naive_*`` keys), shown and
  never used.

Breakdown rows of a bandit cell stay pooled over periods, with a warning.
**Pooled rows** take a bandit cell through its uniform-slice sums, a fixed-split
randomised comparison like any other cell's; a bandit cell without slice units
in both arms is left out of them (a note says so). The **SRM check** of a bandit
cell tests its slice's counts against the slice's buckets.

With the Bayesian method the stratified estimate is a normal posterior (flat
prior): chance to win ``Φ(Δ/se)``, expected loss ``se·φ(Δ/se) − Δ·Φ(−Δ/se)``. The
sequential method has no stratified version: the row is the fixed-horizon test,
with a warning.

Example:
    >>> Adaptive.none().cells
    frozenset()
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scipy import special

from segab.allocation_types import AllocationPeriod
from segab.analysis.pooling import Pair, stats_of
from segab.config import bandit_cells
from segab.config.models import AnalysisSettings, Experiment
from segab.stats import Comparison, SrmResult, compare, srm_test
from segab.stats.adaptive import StratifiedEstimate, period_stratified
from segab.stats.bayesian import normal_chance_to_win
from segab.stats.result import json_ready
from segab.sums.result import SUM_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ADAPTIVE_KEYS", "Adaptive", "AdaptiveEstimate"]

ADAPTIVE_KEYS = (
    "estimate_used",
    "estimate_note",
    "period_weights",
    "slice_n_control",
    "slice_n_variant",
    "slice_abs_lift",
    "slice_abs_ci_low",
    "slice_abs_ci_high",
    "slice_rel_lift",
    "slice_p_value",
    "naive_abs_lift",
    "naive_abs_ci_low",
    "naive_abs_ci_high",
    "naive_p_value",
)
NOTES = {
    "period_stratified": "bandit cell: the weights changed over {n} allocation period(s); "
    "effects within each period, weighted by the period's share of the cell's units",
    "uniform_slice": "bandit cell: the period-stratified estimate is undefined ({why}); "
    "the uniform slice's A/B test decides",
    "none": "bandit cell: neither the period-stratified estimate ({why}) nor the uniform "
    "slice (too few units) is defined; counts pooled over periods are not used",
}
Item = tuple[str | None, str | None, tuple[tuple[str, Any], ...], Pair, SrmResult | None]


@dataclass(frozen=True)
class AdaptiveEstimate:
    """The estimates of one bandit-cell comparison: which one is used and why, and the others.

    Example:
        >>> from segab.stats import ProportionStats as P, compare
        >>> naive = compare(P(1000, 100), P(1000, 200))
        >>> e = AdaptiveEstimate("uniform_slice", "why", None, naive, naive)
        >>> e.to_dict()["estimate_used"], e.to_dict()["naive_abs_lift"]
        ('uniform_slice', 0.1)
    """

    estimate_used: str
    estimate_note: str
    stratified: StratifiedEstimate | None
    uniform_slice: Comparison | None
    naive: Comparison

    def to_dict(self) -> dict[str, Any]:
        """The row keys :data:`ADAPTIVE_KEYS` (NaN → ``None``).

        Example:
            >>> AdaptiveEstimate.to_dict.__name__   # see the class example
            'to_dict'
        """
        s, n, st = self.uniform_slice, self.naive, self.stratified
        out: dict[str, Any] = {
            "estimate_used": self.estimate_used,
            "estimate_note": self.estimate_note,
            "period_weights": list(st.weights) if st is not None else None,
        }
        for key, attr in (("n_control", "n_control"), ("n_variant", "n_treatment")):
            out[f"slice_{key}"] = getattr(s, attr) if s is not None else None
        for key in ("abs_lift", "abs_ci_low", "abs_ci_high", "rel_lift", "p_value"):
            out[f"slice_{key}"] = getattr(s, key) if s is not None else None
        for key in ("abs_lift", "abs_ci_low", "abs_ci_high", "p_value"):
            out[f"naive_{key}"] = getattr(n, key)
        return dict(json_ready(out))


def _zero(kind: str) -> Any:
    return stats_of(kind, 0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _as_comparison(
    e: StratifiedEstimate, naive: Comparison, settings: AnalysisSettings
) -> Comparison:
    """The stratified estimate in the shape the decisions and the report read."""
    z = float(special.ndtri(1 - e.alpha / 2))
    rel_se = (e.rel_ci_high - e.rel_lift) / z if math.isfinite(e.rel_ci_high) else math.nan
    warnings = list(e.warnings)
    bayes: dict[str, Any] = {"p_value": e.p_value, "method": "frequentist"}
    if settings.method == "bayesian" and e.se > 0:
        ctw, loss = normal_chance_to_win(e.estimate, e.se)
        bayes = {"p_value": math.nan, "method": "bayesian"}
        bayes.update(chance_to_win=ctw, expected_loss=loss)
    elif settings.method == "sequential":
        warnings.append("bandit cell: fixed-horizon period-stratified test (not sequential)")
    return Comparison(
        control_mean=e.control_mean,
        treatment_mean=e.treatment_mean,
        n_control=e.n_control,
        n_treatment=e.n_treatment,
        abs_lift=e.estimate,
        abs_ci_low=e.ci_low,
        abs_ci_high=e.ci_high,
        rel_lift=e.rel_lift,
        rel_ci_low=e.rel_ci_low,
        rel_ci_high=e.rel_ci_high,
        p_adjusted=None,
        test="period_stratified",
        alpha=e.alpha,
        warnings=tuple(warnings),
        abs_se=e.se,
        rel_se=rel_se,
        **bayes,
    )


def _undefined(naive: Comparison, note: str) -> Comparison:
    nan = math.nan
    return replace(
        naive,
        abs_lift=nan,
        abs_ci_low=nan,
        abs_ci_high=nan,
        rel_lift=nan,
        rel_ci_low=nan,
        rel_ci_high=nan,
        p_value=nan,
        chance_to_win=None,
        expected_loss=None,
        test="none",
        warnings=(note,),
    )


@dataclass
class Adaptive:
    """The bandit cells of one analysis and their per-period sums (see the module docstring).

    ``cells`` are the (segment, stage) of the bandit cells; ``sums`` the frame of
    :attr:`segab.sums.result.Aggregates.periods`; ``periods`` the allocation periods.

    Example:
        >>> Adaptive.none().estimate("s", "t", None) is None
        True
    """

    experiment: Experiment | None
    sums: pd.DataFrame | None
    periods: tuple[AllocationPeriod, ...]
    cells: frozenset[tuple[str, str]]
    estimates: dict[tuple[Any, ...], AdaptiveEstimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def none(cls) -> Adaptive:
        """No bandit cell: every hook leaves its input as it is.

        Example:
            >>> Adaptive.none().periods
            ()
        """
        return cls(None, None, (), frozenset())

    @classmethod
    def of(
        cls, experiment: Experiment, sums: pd.DataFrame | None, periods: Sequence[AllocationPeriod]
    ) -> Adaptive:
        """The bandit cells of ``periods`` with their sums (``Aggregates.periods``).

        Example:
            >>> Adaptive.of.__name__   # exercised by tests/analysis/test_adaptive_analysis.py
            'of'
        """
        if not periods or sums is None:
            out = cls.none()
            declared = [f"({s}, {t})" for s, t, _ in bandit_cells(experiment)]
            if declared:
                out.notes.append(
                    f"cells {', '.join(declared)} are bandits in the config, but no allocation "
                    "periods were given (--periods FILE, or --db with the store): analysed as "
                    "fixed splits at the declared weights"
                )
            return out
        cells = frozenset((c.segment, c.stage) for p in periods for c in p.cells)
        ordered = tuple(sorted(periods, key=lambda p: (_epoch(p.started_at), p.number)))
        return cls(experiment, sums, ordered, cells)

    def _arm(self, segment: str, stage: str, metric: str, kind: str) -> dict[str, Any]:
        """Per variant: the stats of each period (all units) and of the slice (pooled)."""
        assert self.sums is not None
        f = self.sums
        f = f[(f["segment"] == segment) & (f["stage"] == stage) & (f["metric"] == metric)]
        numbers = [p.number for p in self.periods]
        out: dict[str, Any] = {}
        for rec in f.to_dict("records"):
            per, sl = out.setdefault(str(rec["variant"]), ({}, _zero(kind)))
            st = stats_of(kind, *(rec[c] for c in SUM_COLUMNS))
            t = int(rec["period"])
            per[t] = per[t] + st if t in per else st
            if bool(rec["in_slice"]):
                out[str(rec["variant"])] = (per, sl + st)
        return {v: ([per.get(t, _zero(kind)) for t in numbers], sl) for v, (per, sl) in out.items()}

    def estimate(self, segment: str | None, stage: str | None, pair: Pair | None) -> Any:
        """The :class:`AdaptiveEstimate` of a plain cell comparison computed by :meth:`hook`.

        Example:
            >>> Adaptive.none().estimate(None, None, None) is None
            True
        """
        if pair is None:
            return None
        return self.estimates.get((segment, stage, pair.metric, pair.control, pair.variant))

    def hook(self) -> Callable[[str, str | None, str | None, Pair, Comparison], Comparison]:
        """The function that swaps a computed (naive) comparison for the one a bandit cell uses.

        Example:
            >>> from segab.stats import ProportionStats as P, compare
            >>> c = compare(P(100, 10), P(100, 12))
            >>> Adaptive.none().hook()("cell", "s", "t", None, c) is c
            True
        """

        def swap(
            scope: str, segment: str | None, stage: str | None, pair: Pair, naive: Comparison
        ) -> Comparison:
            if (segment, stage) not in self.cells or scope == "pooled":
                return naive
            if scope == "by":
                why = "bandit cell: breakdown rows pool the allocation periods (may be biased)"
                return replace(naive, warnings=(*naive.warnings, why))
            assert self.experiment is not None and segment is not None and stage is not None
            return self._estimate(segment, stage, pair, naive)

        return swap

    def _estimate(self, segment: str, stage: str, pair: Pair, naive: Comparison) -> Comparison:
        assert self.experiment is not None
        settings = self.experiment.analysis
        arms = self._arm(segment, stage, pair.metric, pair.kind)
        kind = pair.kind
        empty = ([_zero(kind)] * len(self.periods), _zero(kind))
        (c_per, c_sl), (v_per, v_sl) = arms.get(pair.control, empty), arms.get(pair.variant, empty)
        sl = None
        if c_sl.n >= 2 and v_sl.n >= 2:
            sl = compare(
                c_sl,
                v_sl,
                method=settings.method,
                alpha=settings.alpha,
                sequential_tuning=settings.sequential_tuning,
            )
            if pair.metric in _roi_keys(self.experiment):  # means as ROI, as compute does
                sl = replace(
                    sl, control_mean=sl.control_mean - 1, treatment_mean=sl.treatment_mean - 1
                )
        st, why = None, "a ratio metric"
        if kind != "ratio":
            totals = [
                sum(a[0][t].n for a in arms.values()) for t in range(len(self.periods))
            ]  # each period's units over all arms
            st = period_stratified(c_per, v_per, weights=totals, alpha=settings.alpha)
            why = "no period with 2 units in each arm"
        key = (segment, stage, pair.metric, pair.control, pair.variant)
        if st is not None and math.isfinite(st.estimate):
            note = NOTES["period_stratified"].format(n=len(self.periods))
            used, out = "period_stratified", _as_comparison(st, naive, settings)
        elif sl is not None:
            used, note, out = "uniform_slice", NOTES["uniform_slice"].format(why=why), sl
        else:
            note = NOTES["none"].format(why=why)
            used, out = "none", _undefined(naive, note)
        self.estimates[key] = AdaptiveEstimate(used, note, st, sl, naive)
        return out

    def pooling(self, items: Iterable[Item]) -> list[Item]:
        """Pooled-row inputs: a bandit cell's comparison by its slice sums, or left out.

        Example:
            >>> Adaptive.none().pooling([])
            []
        """
        out: list[Item] = []
        left_out: set[tuple[str, str]] = set()
        for segment, stage, dims, pair, srm in items:
            cell = (segment or "", stage or "")
            if cell not in self.cells:
                out.append((segment, stage, dims, pair, srm))
                continue
            arms = {} if dims else self._arm(cell[0], cell[1], pair.metric, pair.kind)
            c, v = arms.get(pair.control), arms.get(pair.variant)
            if c is None or v is None or c[1].n < 2 or v[1].n < 2:
                left_out.add(cell)
                continue
            out.append(
                (segment, stage, dims, replace(pair, control_stats=c[1], variant_stats=v[1]), srm)
            )
        for seg, stage in sorted(left_out):
            self.notes.append(
                f"bandit cell ({seg}, {stage}): left out of the pooled rows where it has no "
                "uniform-slice units in both arms (pooled counts of a bandit cell are biased)"
            )
        return out

    def srm(
        self, results: dict[tuple[str, str], SrmResult], rows: list[dict[str, Any]]
    ) -> tuple[dict[tuple[str, str], SrmResult], list[dict[str, Any]]]:
        """SRM of the bandit cells on their uniform slice, against the slice's buckets.

        Example:
            >>> Adaptive.none().srm({}, [])
            ({}, [])
        """
        if not self.cells or self.sums is None:
            return results, rows
        results = {k: v for k, v in results.items() if k not in self.cells}
        rows = [r for r in rows if (r["segment"], r["stage"]) not in self.cells]
        layouts = {(c.segment, c.stage): c for p in self.periods for c in p.cells}
        f = self.sums[self.sums["in_slice"]]
        for (segment, stage), layout in sorted(layouts.items()):
            if layout.slice_total == 0:
                self.notes.append(
                    f"SRM skipped for bandit cell ({segment}, {stage}): no uniform slice"
                )
                continue
            g = f[(f["segment"] == segment) & (f["stage"] == stage)]
            g = g[g["metric"] == g["metric"].iloc[0]] if len(g) else g
            counts = g.groupby("variant")["n"].sum()
            observed = [int(counts.get(v, 0)) for v in layout.variants]
            if sum(observed) == 0:
                continue
            res = srm_test(observed, [float(b) for b in layout.slice_buckets])
            results[(segment, stage)] = res
            total = sum(layout.slice_buckets)
            rows.append({
                "segment": segment, "stage": stage, "variants": list(layout.variants),
                "observed": observed, "weights": [b / total for b in layout.slice_buckets],
                "part": "uniform_slice", **res.to_dict(),
            })  # fmt: skip
        return results, rows

    def block(self) -> dict[str, Any] | None:
        """The ``adaptive`` JSON block: the periods, the bandit cells, how pooled rows use them.

        Example:
            >>> Adaptive.none().block() is None
            True
        """
        if not self.cells:
            return None
        return {
            "cells": [{"segment": s, "stage": t} for s, t in sorted(self.cells)],
            "periods": [
                {"number": p.number, "started_at": p.started_at.isoformat()} for p in self.periods
            ],
            "weights": "each period's share of the cell's units over all arms",
            "pooled_rows": "bandit cells enter through their uniform-slice sums",
        }


def _epoch(t: dt.datetime) -> float:
    return (t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)).timestamp()


def _roi_keys(experiment: Experiment) -> set[str]:
    return {
        m.key
        for m in experiment.metrics.all()
        if m.kind == "ratio" and m.cost_per_unit is not None and m.denominator_event is None
        and m.denominator_column is None
    }  # fmt: skip
