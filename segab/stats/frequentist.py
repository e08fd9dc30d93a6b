"""Frequentist inference on :class:`~segab.stats.estimates.Estimates` (fixed-horizon).

* Binary metrics: two-proportion z-test with the pooled SE
  ``sqrt(p̂(1−p̂)(1/n_t + 1/n_c))`` (as ``statsmodels`` ``proportions_ztest``) and
  the unpooled Wald CI (as ``confint_proportions_2indep(method="wald")``). When
  any expected count of the 2×2 table is below 5 the p-value comes from
  ``scipy.stats.fisher_exact`` instead (the Wald CI is kept, flagged as
  approximate).
* Continuous, CUPED-adjusted metrics: Welch t-test with Welch–Satterthwaite df.
* Ratio metrics: delta-method z-test.

One-sided alternatives (``"larger"``: treatment > control, ``"smaller"``)
give one-sided p-values and one-sided intervals with an infinite end.

Example:
    >>> from segab.stats.estimates import proportion_estimates
    >>> r = frequentist(proportion_estimates([10000], [1000], [10000], [1100]), alpha=0.05)
    >>> round(float(r.p_value[0]), 6)
    0.021075
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from segab.errors import StatsError
from segab.stats.estimates import W_NO_VARIANCE, Estimates, add_warning
from segab.stats.result import ComparisonArrays

__all__ = [
    "W_FISHER",
    "Alternative",
    "check_alpha",
    "check_alternative",
    "frequentist",
    "quantile",
    "tail_p",
]

Alternative = Literal["two-sided", "larger", "smaller"]
FloatArray = npt.NDArray[np.float64]

W_FISHER = "expected count below 5: Fisher exact p-value used; the Wald interval is approximate"
W_CI_UNDEFINED = "no variance in either arm: interval undefined"


def check_alpha(alpha: float) -> float:
    """Validate a significance level in (0, 1).

    Example:
        >>> check_alpha(0.05)
        0.05
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise StatsError(f"alpha: found {alpha!r}, expected a number in (0, 1)") from None
    if not 0.0 < value < 1.0:
        raise StatsError(f"alpha: found {alpha!r}, expected a number in (0, 1)")
    return value


def check_alternative(alternative: str) -> Alternative:
    """Validate the alternative hypothesis name.

    Example:
        >>> check_alternative("larger")
        'larger'
    """
    if alternative not in ("two-sided", "larger", "smaller"):
        raise StatsError(
            f"alternative: found {alternative!r}, expected 'two-sided', 'larger' or 'smaller'"
        )
    return alternative  # type: ignore[return-value]


def _cdf(stat: FloatArray, df: FloatArray) -> FloatArray:
    if np.all(np.isinf(df)):
        return np.asarray(special.ndtr(stat), dtype=np.float64)
    return np.asarray(
        np.where(np.isinf(df), special.ndtr(stat), special.stdtr(df, stat)), dtype=np.float64
    )


def tail_p(stat: FloatArray, df: FloatArray, alternative: Alternative) -> FloatArray:
    """P-value of a z (``df = inf``) or t statistic.

    Example:
        >>> import numpy as np
        >>> p = tail_p(np.array([1.959963984540054]), np.array([np.inf]), "two-sided")
        >>> round(float(p[0]), 9)
        0.05
    """
    if alternative == "two-sided":
        return np.minimum(1.0, 2.0 * _cdf(-np.abs(stat), df))
    if alternative == "larger":
        return _cdf(-stat, df)
    return _cdf(stat, df)


def quantile(prob: float, df: FloatArray) -> FloatArray:
    """Quantile of the standard normal (``df = inf``) or Student t.

    Example:
        >>> import numpy as np
        >>> round(float(quantile(0.975, np.array([np.inf]))[0]), 6)
        1.959964
    """
    if np.all(np.isinf(df)):
        return np.full(df.shape, special.ndtri(prob))
    return np.asarray(
        np.where(np.isinf(df), special.ndtri(prob), special.stdtrit(df, prob)), dtype=np.float64
    )


def interval(
    est: FloatArray, se: FloatArray, q: FloatArray, alternative: Alternative
) -> tuple[FloatArray, FloatArray]:
    """Two- or one-sided interval ``est ± q·se`` (NaN where ``se`` is 0 or NaN).

    Example:
        >>> import numpy as np
        >>> lo, hi = interval(np.array([1.0]), np.array([0.5]), np.array([2.0]), "two-sided")
        >>> float(lo[0]), float(hi[0])
        (0.0, 2.0)
    """
    se = np.where(se > 0, se, np.nan)
    half = q * se
    lo, hi = est - half, est + half
    if alternative == "larger":
        hi = np.where(np.isnan(half), np.nan, np.inf)
    elif alternative == "smaller":
        lo = np.where(np.isnan(half), np.nan, -np.inf)
    return lo, hi


def _fisher(
    counts: tuple[npt.NDArray[np.int64], ...], idx: npt.NDArray[np.intp], alternative: Alternative
) -> FloatArray:
    from scipy.stats import fisher_exact  # small counts only: scipy.stats loads on first use

    nc, xc, nt, xt = counts
    alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    out = np.empty(idx.shape[0])
    for j, i in enumerate(idx):
        table = [[int(xt[i]), int(nt[i] - xt[i])], [int(xc[i]), int(nc[i] - xc[i])]]
        out[j] = fisher_exact(table, alternative=alt).pvalue
    return out


def frequentist(
    est: Estimates,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    counts: tuple[npt.NDArray[np.int64], ...] | None = None,
    fisher_fallback: bool = True,
) -> ComparisonArrays:
    """Fixed-horizon p-values and confidence intervals for every cell.

    ``counts`` = ``(n_c, x_c, n_t, x_t)`` enables the Fisher exact fallback for
    binary metrics.

    Example:
        >>> from segab.stats.estimates import mean_estimates
        >>> r = frequentist(mean_estimates([3], [6.0], [14.0], [3], [9.0], [29.0]))
        >>> r.test
        ('welch_t',)
    """
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    warnings = [list(w) for w in est.warnings]
    se = np.sqrt(est.abs_var)
    test_se = se if est.test_se is None else est.test_se
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(test_se > 0, est.abs_lift / test_se, np.nan)
    p = tail_p(stat, est.df, alternative)
    tests = [est.test] * len(est)
    if counts is not None and fisher_fallback:
        nc, xc, nt, xt = counts
        total = nc + nt
        conv = xc + xt
        with np.errstate(divide="ignore", invalid="ignore"):
            exp_min = np.minimum(np.minimum(nc, nt) * conv, np.minimum(nc, nt) * (total - conv))
            small = (nc > 0) & (nt > 0) & (exp_min < 5.0 * total)
        if np.any(small):
            idx = np.flatnonzero(small)
            p = p.copy()
            p[idx] = _fisher(counts, idx, alternative)
            for i in idx:
                tests[i] = "fisher_exact"
            add_warning(warnings, small, W_FISHER)
    one_sided = alternative != "two-sided"
    q = quantile(1 - alpha if one_sided else 1 - alpha / 2, est.df)
    abs_lo, abs_hi = interval(est.abs_lift, se, q, alternative)
    rel_lo, rel_hi = interval(est.rel_lift, np.sqrt(est.rel_var), q, alternative)
    no_var = est.abs_var == 0
    add_warning(warnings, np.isnan(p) & no_var, W_NO_VARIANCE)
    add_warning(warnings, np.isfinite(p) & no_var, W_CI_UNDEFINED)
    return ComparisonArrays(
        control_mean=est.control_mean,
        treatment_mean=est.treatment_mean,
        n_control=est.n_control,
        n_treatment=est.n_treatment,
        abs_lift=est.abs_lift,
        abs_ci_low=abs_lo,
        abs_ci_high=abs_hi,
        rel_lift=est.rel_lift,
        rel_ci_low=rel_lo,
        rel_ci_high=rel_hi,
        p_value=p,
        test=tuple(tests),
        method="frequentist",
        alpha=alpha,
        alternative=alternative,
        variance_reduction=est.variance_reduction,
        abs_se=se,
        rel_se=np.sqrt(est.rel_var),
        warnings=tuple(tuple(w) for w in warnings),
    )
