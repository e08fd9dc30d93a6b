"""Quantile metrics: a sample quantile per arm, its order-statistic interval, and the difference.

The rank convention is numpy's default (``numpy.quantile(..., method="linear")``):
over the ``n`` sorted values ``x[0] <= ... <= x[n-1]``, the quantile at level ``L``
sits at the position ``h = (n − 1)·L`` and interpolates linearly between
``x[⌊h⌋]`` and ``x[⌊h⌋ + 1]`` (:func:`quantile_at`).

Per arm (:func:`quantile_stats`), the estimate is the quantile at level ``q`` and
its standard error comes from the distribution-free order-statistic interval: the
number of values below the true ``q``-quantile is Binomial(n, q), so the ranks
``n·q ± z·√(n·q(1 − q))`` bracket it with probability about ``1 − α``. On the
level scale those ranks are ``q ± z·√(q(1 − q)/n)`` (:func:`bound_levels`), and the
values there (same interpolation) are the interval ``[lower, upper]``; the
standard error is ``(upper − lower)/(2z)`` with ``z = z₀.₉₇₅`` (:data:`Z_BOUNDS`),
whatever ``alpha`` the comparison then uses. This is the method of GrowthBook's
quantile metrics (``QuantileStatistic`` in ``packages/stats`` of
growthbook/growthbook), there with approximate percentiles at the bound levels;
here the order statistics are exact. References: Conover, *Practical
Nonparametric Statistics* (3rd ed., 1999), section 3.2 (confidence interval for a
quantile); Price and Bonett (2001), "Estimating the variance of the sample median",
J. Statist. Comput. Simul. 68, 295-305.

Two independent arms (:func:`compare_quantiles`): the difference ``t − c`` has
``se = √(se_t² + se_c²)``, a normal interval and a two-sided z p-value; the
relative lift ``t/c − 1`` has the delta-method variance
``se_t²/c² + t²·se_c²/c⁴``.

Example:
    >>> c = quantile_stats(list(range(1, 1001)), 0.5)
    >>> c.n, c.value, round(c.se, 2)
    (1000, 500.5, 15.8)
    >>> t = QuantileStats(1000, 0.5, 540.5, c.lower + 40, c.upper + 40)
    >>> r = compare_quantiles(c, t)
    >>> round(r.abs_lift, 1), round(r.p_value, 4), r.test
    (40.0, 0.0734, 'quantile_z')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from segab.errors import StatsError
from segab.stats.result import Comparison

__all__ = [
    "Z_BOUNDS",
    "QuantileStats",
    "bound_levels",
    "compare_quantiles",
    "quantile_at",
    "quantile_stats",
]

Z_BOUNDS = NormalDist().inv_cdf(0.975)  # the order-statistic interval's z (95%), as GrowthBook


def bound_levels(n: int, q: float, z: float = Z_BOUNDS) -> tuple[float, float]:
    """The levels of the interval's bounds, ``q ± z·√(q(1 − q)/n)``, clipped to [0, 1].

    Example:
        >>> [round(x, 4) for x in bound_levels(100, 0.5)]
        [0.402, 0.598]
        >>> bound_levels(1, 0.5)
        (0.0, 1.0)
    """
    if n < 1:
        raise StatsError(f"quantile bounds: found n = {n}, expected at least 1 value")
    half = z * math.sqrt(q * (1.0 - q) / n)
    return max(0.0, q - half), min(1.0, q + half)


def quantile_at(ordered: Sequence[float], level: float) -> float:
    """The quantile of sorted values at ``level`` by linear interpolation (numpy's default).

    Example:
        >>> quantile_at([1.0, 2.0, 4.0, 8.0], 0.5), quantile_at([3.0], 0.9)
        (3.0, 3.0)
    """
    n = len(ordered)
    if n == 0:
        raise StatsError("quantile: found no values, expected at least one")
    if not 0.0 <= level <= 1.0:
        raise StatsError(f"quantile: found level {level!r}, expected a number in [0, 1]")
    h = (n - 1) * level
    i = math.floor(h)
    lo = ordered[i]
    hi = ordered[i + 1] if i + 1 < n else lo
    return float(lo + (h - i) * (hi - lo))


@dataclass(frozen=True)
class QuantileStats:
    """One arm's quantile: ``n`` values, level ``q``, the estimate and its interval's bounds.

    ``lower`` and ``upper`` are the values at :func:`bound_levels`; ``se`` is
    ``(upper − lower)/(2·Z_BOUNDS)``.

    Example:
        >>> s = QuantileStats(400, 0.5, 10.0, 9.0, 11.0)
        >>> round(s.se, 4), s.defined
        (0.5102, True)
    """

    n: int
    q: float
    value: float
    lower: float
    upper: float

    @property
    def se(self) -> float:
        """The standard error of the sample quantile, from the interval's width.

        Example:
            >>> round(QuantileStats(100, 0.9, 5.0, 4.0, 7.0).se, 4)
            0.7653
        """
        return (self.upper - self.lower) / (2.0 * Z_BOUNDS)

    @property
    def defined(self) -> bool:
        """Whether the interval's ranks fall inside the sample: ``n > z²·max(q/(1−q), (1−q)/q)``
        (GrowthBook's rule; below it an end of the interval is the sample's extreme).

        Example:
            >>> QuantileStats(30, 0.9, 1.0, 0.5, 1.5).defined
            False
            >>> QuantileStats(40, 0.9, 1.0, 0.5, 1.5).defined
            True
        """
        odds = max(self.q / (1.0 - self.q), (1.0 - self.q) / self.q)
        return self.n > Z_BOUNDS**2 * odds


def quantile_stats(values: Sequence[float], q: float) -> QuantileStats:
    """:class:`QuantileStats` of raw values (the reference the engines' results are tested on).

    Example:
        >>> s = quantile_stats([5.0, 1.0, 3.0, 2.0, 4.0], 0.5)
        >>> s.value, round(s.lower, 4), round(s.upper, 4)
        (3.0, 1.247, 4.753)
    """
    if not 0.0 < q < 1.0:
        raise StatsError(f"quantile: found q = {q!r}, expected a number in (0, 1)")
    ordered = sorted(float(v) for v in values)
    low, high = bound_levels(len(ordered), q)
    return QuantileStats(
        len(ordered),
        q,
        quantile_at(ordered, q),
        quantile_at(ordered, low),
        quantile_at(ordered, high),
    )


def _nan_comparison(c: QuantileStats, t: QuantileStats, alpha: float, why: str) -> Comparison:
    nan = math.nan
    return Comparison(
        c.value, t.value, c.n, t.n, t.value - c.value, nan, nan, nan, nan, nan, nan,
        None, "quantile_z", "frequentist", alpha, warnings=(why,),
    )  # fmt: skip


def compare_quantiles(
    control: QuantileStats, treatment: QuantileStats, alpha: float = 0.05
) -> Comparison:
    """Treatment's quantile against control's: difference, relative lift, z-test (module doc).

    Undefined (NaN p-value, with a warning) when an arm's interval is not
    (:attr:`QuantileStats.defined`) or both standard errors are 0.

    Example:
        >>> c = QuantileStats(5000, 0.5, 10.0, 9.6, 10.4)
        >>> t = QuantileStats(5000, 0.5, 10.8, 10.4, 11.2)
        >>> r = compare_quantiles(c, t)
        >>> round(r.rel_lift, 3), round(r.abs_ci_low, 3), round(r.p_value, 5)
        (0.08, 0.234, 0.00557)
    """
    if control.q != treatment.q:
        raise StatsError(f"quantiles: found levels {control.q} and {treatment.q}, expected one")
    if not (control.defined and treatment.defined):
        return _nan_comparison(
            control, treatment, alpha,
            f"too few values for the p{control.q * 100:g} interval (n = {control.n} and "
            f"{treatment.n}); no test",
        )  # fmt: skip
    se_c, se_t = control.se, treatment.se
    se = math.hypot(se_c, se_t)
    diff = treatment.value - control.value
    if se <= 0.0:
        return _nan_comparison(control, treatment, alpha, "both arms' quantile intervals are empty")
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    p = math.erfc(abs(diff / se) / math.sqrt(2.0))
    c = control.value
    if c != 0.0:
        rel = treatment.value / c - 1.0
        rel_se = math.sqrt(se_t**2 / c**2 + treatment.value**2 * se_c**2 / c**4)
    else:
        rel, rel_se = math.nan, math.nan
    return Comparison(
        control_mean=c,
        treatment_mean=treatment.value,
        n_control=control.n,
        n_treatment=treatment.n,
        abs_lift=diff,
        abs_ci_low=diff - z * se,
        abs_ci_high=diff + z * se,
        rel_lift=rel,
        rel_ci_low=rel - z * rel_se,
        rel_ci_high=rel + z * rel_se,
        p_value=p,
        p_adjusted=None,
        test="quantile_z",
        method="frequentist",
        alpha=alpha,
        abs_se=se,
        rel_se=rel_se,
    )
