"""Sequential (always-valid) inference: asymptotic confidence sequences.

segab uses the asymptotic confidence sequences of Waudby-Smith, Arnold, Wu,
Wang and Ramdas (arXiv:2103.06476, eq. 9, as GrowthBook does), so a team can
look at the results as often as it likes and keep the error rate. With
``N = n_c + n_t`` units, ``s² = Var(Δ̂)·N`` and the tuning ``N*`` (the sample
size at which the sequence is tightest, default 5000):

* ``ρ = sqrt((−2·ln α + ln(−2·ln α + 1)) / N*)``;
* half-width ``sqrt(s²)·sqrt(2(Nρ²+1)/(N²ρ²)·ln(sqrt(Nρ²+1)/α))``;
* always-valid p-value ``min(1, 1/E)`` with the e-value
  ``E = exp(ρ²·S/(2(Nρ²+1))) / sqrt(Nρ²+1)``, ``S = Δ̂²·N/Var(Δ̂)`` (eq. 155).

The p-value here is the one at the current look; the running minimum over
looks is also valid. Only two-sided tests are supported.

Example:
    >>> from segab.stats.estimates import proportion_estimates
    >>> r = sequential(proportion_estimates([10000], [1000], [10000], [1100]))
    >>> r.test, r.method
    (('confidence_sequence',), 'sequential')
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.estimates import W_NO_VARIANCE, Estimates, add_warning
from segab.stats.frequentist import check_alpha
from segab.stats.result import ComparisonArrays

__all__ = ["DEFAULT_TUNING", "confidence_sequence_half_width", "rho", "sequential"]

FloatArray = npt.NDArray[np.float64]

#: GrowthBook's default ``N*``.
DEFAULT_TUNING = 5000.0


def rho(alpha: float, tuning: float) -> float:
    """The mixing parameter ρ that makes the sequence tightest at ``N* = tuning``.

    Example:
        >>> round(rho(0.05, 5000), 6)
        0.03984
    """
    alpha = check_alpha(alpha)
    if not (math.isfinite(tuning) and tuning > 0):
        raise StatsError(f"sequential_tuning: found {tuning!r}, expected a number > 0")
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / tuning)


def confidence_sequence_half_width(
    variance: FloatArray, n_total: npt.NDArray[np.int64], alpha: float, tuning: float
) -> FloatArray:
    """Half-width of the asymptotic confidence sequence for an estimate of variance ``variance``.

    Example:
        >>> import numpy as np
        >>> hw = confidence_sequence_half_width(np.array([1e-5]), np.array([20000]), 0.05, 5000)
        >>> bool(hw[0] > 1.96 * np.sqrt(1e-5))
        True
    """
    r2 = rho(alpha, tuning) ** 2
    n = n_total.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = variance * n
        tr = n * r2 + 1.0
        hw = np.sqrt(s2) * np.sqrt(2.0 * tr / (n * n * r2) * np.log(np.sqrt(tr) / alpha))
    return np.asarray(np.where(variance > 0, hw, np.nan), dtype=np.float64)


def sequential(
    est: Estimates, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> ComparisonArrays:
    """Always-valid p-values and confidence sequences for every cell.

    Example:
        >>> from segab.stats.estimates import mean_estimates
        >>> r = sequential(mean_estimates([100], [100.0], [300.0], [100], [150.0], [400.0]))
        >>> 0.0 <= float(r.p_value[0]) <= 1.0
        True
    """
    alpha = check_alpha(alpha)
    r2 = rho(alpha, tuning) ** 2
    n_total = est.n_control + est.n_treatment
    n = n_total.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        st2 = est.abs_lift**2 * n / est.abs_var
        tr = n * r2 + 1.0
        log_e = r2 * st2 / (2.0 * tr) - 0.5 * np.log(tr)
        p = np.where(est.abs_var > 0, np.minimum(1.0, np.exp(-log_e)), np.nan)
    warnings = [list(w) for w in est.warnings]
    add_warning(warnings, est.abs_var == 0, W_NO_VARIANCE)
    abs_hw = confidence_sequence_half_width(est.abs_var, n_total, alpha, tuning)
    rel_hw = confidence_sequence_half_width(est.rel_var, n_total, alpha, tuning)
    return ComparisonArrays(
        control_mean=est.control_mean,
        treatment_mean=est.treatment_mean,
        n_control=est.n_control,
        n_treatment=est.n_treatment,
        abs_lift=est.abs_lift,
        abs_ci_low=est.abs_lift - abs_hw,
        abs_ci_high=est.abs_lift + abs_hw,
        rel_lift=est.rel_lift,
        rel_ci_low=est.rel_lift - rel_hw,
        rel_ci_high=est.rel_lift + rel_hw,
        p_value=np.asarray(p, dtype=np.float64),
        test=("confidence_sequence",) * len(est),
        method="sequential",
        alpha=alpha,
        variance_reduction=est.variance_reduction,
        abs_se=np.sqrt(est.abs_var),
        rel_se=np.sqrt(est.rel_var),
        warnings=tuple(tuple(w) for w in warnings),
    )
