"""Design-time power analysis: sample size per arm, minimum detectable effect, power.

Equal arms of ``n`` units (``ratio = 1``), a two-sided test at ``alpha``,
``n_eff = 1/(1/n + 1/n)``:

* binary metrics: a z-test on Cohen's effect size
  ``h = 2·asin(√p₂) − 2·asin(√p₁)``, power
  ``Φ(h·√n_eff − z) + Φ(−h·√n_eff − z)`` with ``z = Φ⁻¹(1 − alpha/2)``;
* continuous metrics: a two-sample t-test on Cohen's ``d = Δ/σ`` with
  ``df = 2n − 2`` and noncentrality ``d·√n_eff``, power
  ``1 − F_nct(t_crit) + F_nct(−t_crit)`` with ``t_crit = t⁻¹(1 − alpha/2; df)``.

The powers are closed forms over ``scipy.special`` (``ndtr``, ``ndtri``,
``stdtrit``, ``nctdtr``); the sample size and the effect size are their roots,
found by bracketing and bisection to machine precision (no ``scipy.stats`` or
``statsmodels`` import). The tests check every function against
``statsmodels`` ``NormalIndPower``/``TTestIndPower`` (with
``proportion_effectsize``), whose formulas these are.

``mde`` is relative to the baseline (``p₂ = p₁(1 + mde)``) when
``relative=True``, else absolute. Sample sizes are rounded up, and are at
least 2 per arm.

A quantile metric is sized as a mean with a larger per-unit variance
(:func:`quantile_variance_factor`): the sample ``q``-quantile of ``n`` values has
the asymptotic variance ``q(1 − q)/(n·f(ξ_q)²)`` (``f`` the density at the
quantile ``ξ_q``; Serfling, *Approximation Theorems of Mathematical Statistics*,
1980, section 2.3.3), which for a normal distribution is ``σ²·q(1 − q)/φ(z_q)²/n``
with ``z_q = Φ⁻¹(q)``: the mean's ``σ²/n`` times the factor.

Example:
    >>> sample_size_per_arm(baseline=0.10, mde=0.10)
    14745
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from scipy import special

from segab.errors import StatsError
from segab.stats.frequentist import check_alpha

__all__ = [
    "Kind",
    "achieved_power",
    "minimum_detectable_effect",
    "quantile_variance_factor",
    "sample_size_per_arm",
]

Kind = Literal["binary", "continuous"]


def _check(kind: str, baseline: float, std: float | None, power: float | None) -> None:
    if kind not in ("binary", "continuous"):
        raise StatsError(f"kind: found {kind!r}, expected 'binary' or 'continuous'")
    if not math.isfinite(baseline):
        raise StatsError(f"baseline: found {baseline!r}, expected a finite number")
    if kind == "binary" and not 0.0 < baseline < 1.0:
        raise StatsError(f"baseline: found {baseline!r}, expected a conversion rate in (0, 1)")
    if kind == "continuous" and (std is None or not (math.isfinite(std) and std > 0)):
        raise StatsError(f"std: found {std!r}, expected the metric's standard deviation > 0")
    if power is not None and not 0.0 < power < 1.0:
        raise StatsError(f"power: found {power!r}, expected a number in (0, 1)")


def _effect_size(
    kind: str, baseline: float, mde: float, relative: bool, std: float | None
) -> float:
    delta = baseline * mde if relative else mde
    if not (math.isfinite(delta) and delta != 0):
        raise StatsError(f"mde: found {mde!r}, expected a non-zero effect")
    if kind == "binary":
        p2 = baseline + delta
        if not 0.0 < p2 < 1.0:
            raise StatsError(
                f"mde: found {mde!r}, which moves the rate {baseline} to {p2}, "
                "expected a rate in (0, 1)"
            )
        # Cohen's h, as statsmodels' proportion_effectsize(p2, baseline)
        return abs(2 * (math.asin(math.sqrt(p2)) - math.asin(math.sqrt(baseline))))
    return abs(delta) / float(std) if std is not None else math.nan


def _power(kind: str, es: float, n_per_arm: float, alpha: float) -> float:
    """Power of the two-sided test (``NormalIndPower``/``TTestIndPower``, ``ratio = 1``)."""
    nobs = 1.0 / (1.0 / n_per_arm + 1.0 / (n_per_arm * 1.0))
    shift = es * math.sqrt(nobs)
    half = alpha / 2.0
    if kind == "binary":
        crit = -float(special.ndtri(half))  # Φ⁻¹(1 − α/2), as norm.isf(α/2)
        return float(special.ndtr(-(crit - shift)) + special.ndtr(-crit - shift))
    df = n_per_arm - 1 + n_per_arm * 1.0 - 1  # n₁ − 1 + n₂ − 1, in statsmodels' order
    crit = -float(special.stdtrit(df, half))  # t⁻¹(1 − α/2; df), as t.isf(α/2, df)
    if math.isnan(crit):
        return math.nan
    return (1.0 - _nct_cdf(df, shift, crit)) + _nct_cdf(df, shift, -crit)


def _nct_cdf(df: float, nc: float, x: float) -> float:
    """Noncentral t CDF; its limit (0 or 1) where ``scipy.special.nctdtr`` fails.

    ``nctdtr`` returns NaN in parts of the far tails, where the CDF is within
    1e-12 of 0 (``x < nc``) or 1 (``x > nc``); statsmodels propagates the NaN.
    """
    value = float(special.nctdtr(df, nc, x))
    if math.isnan(value):
        return 1.0 if x > nc else 0.0
    return value


def _z_sum(alpha: float, power: float) -> float:
    """``z₁₋α/₂ + z_power``: the normal approximation that starts the root search."""
    return float(special.ndtri(1.0 - alpha / 2.0) + special.ndtri(power))


def _check_power_above_alpha(power: float, alpha: float) -> None:
    if not power > alpha:
        raise StatsError(
            f"power: found {power!r}, expected more than alpha ({alpha!r}): any test "
            "rejects with probability alpha"
        )


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of an increasing ``f`` with ``f(lo) < 0 <= f(hi)``, to adjacent floats."""
    while True:
        mid = lo + (hi - lo) / 2.0
        if not lo < mid < hi:
            return hi
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid


def _grow(f: Callable[[float], float], hi: float, error: str) -> float:
    """Double ``hi`` until ``f(hi) >= 0`` (``f`` increasing, tending to a positive limit)."""
    while True:
        if not math.isfinite(hi):
            raise StatsError(error)
        if f(hi) >= 0:
            return hi
        hi *= 2.0


def _solve_n(kind: str, es: float, alpha: float, power: float, mde: float) -> float:
    """Units per arm at which the power equals ``power`` (at least 2), unrounded."""

    def gap(n: float) -> float:
        value = _power(kind, es, n, alpha) - power
        return math.inf if math.isnan(value) else value

    lo = 2.0
    if gap(lo) >= 0:
        return lo
    ratio = _z_sum(alpha, power) / es
    approx = 2.0 * ratio * ratio  # inf, not OverflowError, for a tiny effect
    too_small = f"mde: found {mde!r}, too small: the sample size overflows"
    hi = _grow(gap, max(2.0 * approx, 4.0), too_small)
    if hi / 4.0 > lo and gap(hi / 4.0) < 0:
        lo = hi / 4.0
    return _bisect(gap, lo, hi)


def _solve_effect(kind: str, n_per_arm: float, alpha: float, power: float) -> float:
    """Standardized effect (Cohen's h or d) detected with ``power``."""

    def gap(es: float) -> float:
        value = _power(kind, es, n_per_arm, alpha) - power
        return math.inf if math.isnan(value) else value

    approx = _z_sum(alpha, power) / math.sqrt(n_per_arm / 2.0)
    hi = _grow(gap, 2.0 * approx, f"n_per_arm: found {n_per_arm!r}, no detectable effect")
    lo = hi / 4.0
    while gap(lo) >= 0:
        lo /= 4.0
    return _bisect(gap, lo, hi)


def sample_size_per_arm(
    *,
    baseline: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: Kind = "binary",
    std: float | None = None,
) -> int:
    """Units per arm to detect ``mde`` with the given power (two-sided test at ``alpha``).

    Example:
        >>> sample_size_per_arm(baseline=10.0, mde=0.5, relative=False, kind="continuous", std=5.0)
        1571
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, power)
    es = _effect_size(kind, baseline, mde, relative, std)
    if es == 0:  # a change below the precision of the rate or the standard deviation
        raise StatsError(f"mde: found {mde!r}, expected a non-zero effect")
    _check_power_above_alpha(power, alpha)
    return math.ceil(_solve_n(kind, es, alpha, power, mde) - 1e-9)


def achieved_power(
    *,
    n_per_arm: float,
    baseline: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    kind: Kind = "binary",
    std: float | None = None,
) -> float:
    """Power of a two-sided test at ``alpha`` to detect ``mde`` with ``n_per_arm`` units per arm.

    Example:
        >>> round(achieved_power(n_per_arm=14745, baseline=0.10, mde=0.10), 3)
        0.8
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, None)
    if not n_per_arm >= 2:
        raise StatsError(f"n_per_arm: found {n_per_arm!r}, expected at least 2")
    es = _effect_size(kind, baseline, mde, relative, std)
    return _power(kind, es, n_per_arm, alpha)


def minimum_detectable_effect(
    *,
    n_per_arm: float,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: Kind = "binary",
    std: float | None = None,
    relative: bool = True,
) -> float:
    """Smallest upward effect detectable with ``power`` (relative to baseline by default).

    For binary metrics Cohen's ``h`` is inverted: ``p₂ = sin²(asin(√p₁) + h/2)``.

    Example:
        >>> round(minimum_detectable_effect(n_per_arm=14745, baseline=0.10), 4)
        0.1
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, power)
    if not n_per_arm >= 2:
        raise StatsError(f"n_per_arm: found {n_per_arm!r}, expected at least 2")
    _check_power_above_alpha(power, alpha)
    es = _solve_effect(kind, n_per_arm, alpha, power)
    if kind == "binary":
        angle = math.asin(math.sqrt(baseline)) + es / 2
        if angle >= math.pi / 2:
            raise StatsError(
                f"n_per_arm: found {n_per_arm!r}, too small to detect any rate below 1 "
                f"from baseline {baseline}"
            )
        delta = math.sin(angle) ** 2 - baseline
    else:
        delta = es * float(std)  # type: ignore[arg-type]
    if relative:
        if baseline == 0:
            raise StatsError("baseline: found 0, expected non-zero for a relative MDE")
        return delta / abs(baseline)
    return delta


def quantile_variance_factor(q: float) -> float:
    """Variance of the sample ``q``-quantile over the mean's, for normal data: ``q(1 − q)/φ(z_q)²``.

    ``z_q = Φ⁻¹(q)`` and ``φ`` is the standard normal density, so the sample
    quantile of ``n`` normal values has the asymptotic variance ``factor·σ²/n``
    (module doc). The median's factor is ``π/2``; the factor grows towards the tails.

    Example:
        >>> round(quantile_variance_factor(0.5), 6), round(math.pi / 2, 6)
        (1.570796, 1.570796)
        >>> round(quantile_variance_factor(0.9), 3)
        2.922
    """
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise StatsError(f"quantile: found q = {q!r}, expected a number in (0, 1)")
    z = float(special.ndtri(q))
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    squared = density * density
    factor = q * (1.0 - q) / squared if squared > 0 else math.inf
    if not math.isfinite(factor):
        raise StatsError(f"quantile: found q = {q!r}, too far in the tail for a normal model")
    return factor
