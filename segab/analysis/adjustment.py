"""Regression adjustment and post-stratification in the analysis: from sums to comparisons.

- A metric with ``covariates`` has, in ``Aggregates.sums``, the columns of
  :mod:`segab.sums.covariates`; :func:`regression_stats` turns each of its rows
  into a :class:`~segab.stats.regression.RegressionStats` (additive: cells pool
  by ``+`` like every other statistic), compared by Lin's interacted regression
  (:func:`~segab.stats.regression.regression_estimates`).
- ``analysis.post_stratify: true``: a pooled row of a binary or continuous metric
  (adjusted or not) is the population-weighted average of the effects in the cells
  it pools (:func:`~segab.stats.poststrat.post_stratify`), its cells being the
  strata; ratio metrics keep the pooled sums.
- :func:`compare_pairs` runs every comparison of one metric, each by its
  estimator; :func:`adjustment_block` says what was adjusted, for the reports.

Example:
    >>> from segab.stats import MeanStats
    >>> from segab.analysis.pooling import Pair
    >>> from segab.config.models import AnalysisSettings
    >>> a, b = MeanStats.from_values([1.0, 2.0, 3.0]), MeanStats.from_values([2.0, 3.0, 5.0])
    >>> p = Pair("m", "continuous", "a", "b", a + a, b + b, 2, ((a, b), (a, b)))
    >>> c = compare_pairs([p], AnalysisSettings(post_stratify=True))[0]
    >>> round(c.abs_lift, 6), c.test
    (1.333333, 'post_stratified')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segab.config.models import AnalysisSettings, Experiment
from segab.errors import DataError
from segab.stats import Comparison, MeanStats, ProportionStats, compare_cells
from segab.stats.estimates import Estimates, mean_estimates, proportion_estimates
from segab.stats.poststrat import post_stratify
from segab.stats.regression import RegressionStats, pair_index, regression_estimates
from segab.stats.vectorized import infer

if TYPE_CHECKING:
    import pandas as pd

    from segab.analysis.pooling import Pair
    from segab.analysis.results import ResultRow

__all__ = ["adjustment_block", "compare_pairs", "regression_stats"]


def regression_stats(sums: pd.DataFrame, experiment: Experiment) -> list[RegressionStats | None]:
    """One :class:`RegressionStats` per row of ``sums`` whose metric has covariates, else None.

    Example:
        >>> import pandas as pd
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "y", "kind": "continuous", "column": "y",
        ...                             "covariates": ["x"]}}})
        >>> sums = pd.DataFrame({"metric": ["y"], "n": [3], "sum": [6.0], "sum_sq": [14.0],
        ...     "x_sum_0": [6.0], "xy_sum_0": [14.0], "xx_sum_0_0": [14.0]})
        >>> regression_stats(sums, exp)[0].xy_sum
        (14.0,)
    """
    ks = {m.key: len(m.covariates) for m in experiment.metrics.all() if m.covariates}
    if not ks or sums is None or sums.empty:
        return [None] * (0 if sums is None else len(sums))
    need = max(ks.values())
    names = [f"x_sum_{j}" for j in range(need)]
    missing = [c for c in names if c not in sums.columns]
    if missing:
        raise DataError(
            f"aggregates: metrics {sorted(ks)} have covariates but the sums lack {missing}; "
            "expected the covariate sums of segab.sums.covariates (a unit table)"
        )
    out: list[RegressionStats | None] = []
    for rec in sums.to_dict("records"):
        k = ks.get(rec["metric"])
        if k is None:
            out.append(None)
            continue
        out.append(
            RegressionStats(
                int(rec["n"]),
                float(rec["sum"]),
                float(rec["sum_sq"]),
                tuple(float(rec[f"x_sum_{j}"]) for j in range(k)),
                tuple(float(rec[f"xy_sum_{j}"]) for j in range(k)),
                tuple(float(rec[f"xx_sum_{j}_{m}"]) for j, m in pair_index(k)),
            )
        )
    return out


def _estimates(controls: Sequence[Any], treatments: Sequence[Any]) -> Estimates:
    """The estimates of same-typed (control, treatment) statistics, one per pair."""
    first = controls[0]
    if isinstance(first, RegressionStats):
        return regression_estimates(controls, treatments)
    if isinstance(first, ProportionStats):
        return proportion_estimates(
            [c.n for c in controls], [c.conversions for c in controls],
            [t.n for t in treatments], [t.conversions for t in treatments],
        )  # fmt: skip
    if isinstance(first, MeanStats):
        return mean_estimates(
            [c.n for c in controls], [c.sum for c in controls], [c.sum_sq for c in controls],
            [t.n for t in treatments], [t.sum for t in treatments], [t.sum_sq for t in treatments],
        )  # fmt: skip
    raise DataError(f"post-stratification: found {type(first).__name__} statistics, "
                    "expected a binary or continuous metric")  # fmt: skip


def _raw_var(pair: Pair) -> float:
    """The pooled row's variance without any adjustment (Welch / Wald on the pooled sums)."""
    c, t = pair.control_stats, pair.variant_stats
    if c.n < 2 or t.n < 2:
        return math.nan
    return float(c.variance / c.n + t.variance / t.n)  # type: ignore[union-attr]


def _stratified(pair: Pair, settings: AnalysisSettings) -> bool:
    return settings.post_stratify and len(pair.parts) >= 2 and pair.kind != "ratio"


def compare_pairs(pairs: Sequence[Pair], settings: AnalysisSettings) -> list[Comparison]:
    """The comparison of every pair (one metric), each by its estimator, in order.

    Plain pairs go to :func:`segab.stats.compare_cells` together; pairs of
    :class:`RegressionStats` to Lin's regression; pooled pairs, with
    ``post_stratify``, to post-stratification over their cells.

    Example:
        >>> from segab.stats import ProportionStats
        >>> from segab.analysis.pooling import Pair
        >>> p = Pair("c", "binary", "a", "b", ProportionStats(100, 10), ProportionStats(100, 20))
        >>> compare_pairs([p], AnalysisSettings())[0].test
        'z_test'
    """
    out: list[Comparison | None] = [None] * len(pairs)
    strat = [i for i, p in enumerate(pairs) if _stratified(p, settings)]
    rest = [i for i in range(len(pairs)) if i not in set(strat)]
    reg = [i for i in rest if isinstance(pairs[i].control_stats, RegressionStats)]
    plain = [i for i in rest if not isinstance(pairs[i].control_stats, RegressionStats)]
    how: dict[str, Any] = {
        "method": settings.method,
        "alpha": settings.alpha,
        "sequential_tuning": settings.sequential_tuning,
    }
    if plain:
        found = compare_cells(
            [pairs[i].control_stats for i in plain],  # type: ignore[misc]
            [pairs[i].variant_stats for i in plain],  # type: ignore[misc]
            **how,
        )
        for i, c in zip(plain, found, strict=True):
            out[i] = c
    if reg:
        est = _estimates(
            [pairs[i].control_stats for i in reg], [pairs[i].variant_stats for i in reg]
        )
        for i, c in zip(reg, infer(est, **how), strict=True):
            out[i] = c
    if strat:
        strata = [
            _estimates([c for c, _ in pairs[i].parts], [t for _, t in pairs[i].parts])
            for i in strat
        ]
        est = post_stratify(strata, raw_var=[_raw_var(pairs[i]) for i in strat])
        for i, c in zip(strat, infer(est, **how), strict=True):
            out[i] = c
    return [c for c in out if c is not None]


def adjustment_block(
    experiment: Experiment, rows: Sequence[ResultRow]
) -> tuple[dict[str, Any], ...]:
    """What was adjusted: per metric with covariates, and post-stratification of pooled rows.

    Each entry: ``metric``, ``covariates``, ``estimator``, ``standard_error``,
    ``post_stratified`` and ``mean_variance_reduction`` (over the declared cells'
    rows; ``None`` when no row has one).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "y", "kind": "continuous", "column": "y",
        ...                             "covariates": ["x"]}}})
        >>> adjustment_block(exp, ())[0]["covariates"]
        ['x']
    """
    out = []
    ps = experiment.analysis.post_stratify
    for m in experiment.metrics.all():
        if not m.covariates and not (ps and m.kind != "ratio"):
            continue
        reductions = [
            r.comparison.variance_reduction
            for r in rows
            if r.metric == m.key
            and r.comparison.variance_reduction is not None
            and math.isfinite(r.comparison.variance_reduction)
        ]
        out.append(
            {
                "metric": m.key,
                "covariates": list(m.covariates or ()),
                "estimator": "lin_2013_interacted_ols" if m.covariates else None,
                "standard_error": "classical_per_arm" if m.covariates else None,
                "post_stratified": ps and m.kind != "ratio",
                "mean_variance_reduction": (
                    sum(reductions) / len(reductions) if reductions else None
                ),
            }
        )
    return tuple(out)
