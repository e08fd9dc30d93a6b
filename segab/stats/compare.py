"""Single-cell comparison, dispatched on the statistics type, and the many-arms test.

:func:`compare` runs the vectorized path with one cell, so single-cell and
array results are identical by construction.

Example:
    >>> c = compare(ProportionStats(10000, 1000), ProportionStats(10000, 1100))
    >>> round(c.p_value, 6), c.test
    (0.021075, 'z_test')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from segab.errors import StatsError
from segab.stats.bayesian import BetaPrior, NormalPrior
from segab.stats.frequentist import Alternative
from segab.stats.result import ArmsTest, Comparison
from segab.stats.sequential import DEFAULT_TUNING
from segab.stats.sufficient import CupedStats, MeanStats, ProportionStats, RatioStats
from segab.stats.vectorized import Method, compare_cells

__all__ = ["compare", "compare_many_arms"]

Stats = ProportionStats | MeanStats | CupedStats | RatioStats


def compare(
    control: Stats,
    treatment: Stats,
    *,
    method: Method = "frequentist",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    prior: BetaPrior | NormalPrior | None = None,
    sequential_tuning: float = DEFAULT_TUNING,
    fisher_fallback: bool = True,
) -> Comparison:
    """Compare treatment against control for one metric in one cell.

    The test follows the statistics type: :class:`ProportionStats` → two-proportion
    z-test (Fisher exact when an expected count is below 5), :class:`MeanStats` →
    Welch t-test, :class:`CupedStats` → CUPED-adjusted Welch t-test,
    :class:`RatioStats` → delta-method z-test. ``method`` selects frequentist
    (fixed horizon), sequential (confidence sequences, two-sided only, tuned by
    ``sequential_tuning`` = N*) or Bayesian (``BetaPrior`` for binary metrics,
    ``NormalPrior`` on the effect otherwise).

    Example:
        >>> a, b = MeanStats.from_values([1.0, 2.0, 3.0]), MeanStats.from_values([2.0, 3.0, 4.5])
        >>> c = compare(a, b)
        >>> c.test, round(c.abs_lift, 4)
        ('welch_t', 1.1667)
    """
    if type(control) is not type(treatment):
        raise StatsError(
            f"compare: found {type(control).__name__} for control and "
            f"{type(treatment).__name__} for treatment, expected the same statistics type"
        )
    result = compare_cells(
        [control],
        [treatment],
        method=method,
        alpha=alpha,
        alternative=alternative,
        prior=prior,
        sequential_tuning=sequential_tuning,
        fisher_fallback=fisher_fallback,
    )
    return result[0]


def compare_many_arms(arms: Sequence[ProportionStats]) -> ArmsTest:
    """Chi-square test of independence of conversion across all arms (k × 2 table).

    Pearson's statistic ``Σ (O − E)²/E`` with ``E = row total · column total / total``
    and ``(k − 1)`` df, without continuity correction (as
    ``scipy.stats.chi2_contingency(correction=False)``, its test oracle). Arms
    with no units are dropped; an undefined test (fewer than two arms with
    units, or no variation) returns NaN with a warning.

    Example:
        >>> t = compare_many_arms([ProportionStats(1000, 100), ProportionStats(1000, 120),
        ...                        ProportionStats(1000, 140)])
        >>> t.df, round(t.p_value, 4)
        (2, 0.0226)
    """
    if any(not isinstance(a, ProportionStats) for a in arms):
        raise StatsError("compare_many_arms: expected ProportionStats for every arm")
    used = [a for a in arms if a.n > 0]
    warnings: list[str] = []
    if len(used) < len(arms):
        warnings.append(f"{len(arms) - len(used)} arm(s) with no units dropped")
    if len(used) < 2:
        warnings.append("fewer than 2 arms with units: test undefined")
        return ArmsTest(float("nan"), max(len(used) - 1, 0), float("nan"), tuple(warnings))
    table = np.array([[a.conversions, a.n - a.conversions] for a in used], dtype=np.float64)
    if np.any(table.sum(axis=0) == 0):
        warnings.append("no variation in the outcome across arms: test undefined")
        return ArmsTest(float("nan"), len(used) - 1, float("nan"), tuple(warnings))
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = len(used) - 1  # (rows − 1)(columns − 1) with 2 columns
    p = float(special.chdtrc(dof, stat))
    if np.min(expected) < 5:
        warnings.append("expected count below 5: chi-square approximation is poor")
    return ArmsTest(stat, dof, p, tuple(warnings))
