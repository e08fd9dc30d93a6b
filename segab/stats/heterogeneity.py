"""Heterogeneity of an effect across segments: Cochran's Q and the pooled effect.

With per-segment estimates ``θ_i`` and variances ``v_i``, weights
``w_i = 1/v_i``, the inverse-variance pooled effect ``θ̄ = Σw_iθ_i/Σw_i``
(variance ``1/Σw_i``) and ``Q = Σw_i(θ_i − θ̄)²``, which is chi-square with
``k − 1`` df under homogeneity. ``I² = max(0, (Q − df)/Q)``.

Example:
    >>> h = heterogeneity([0.01, 0.03], [0.0001, 0.0001])
    >>> round(h.q, 6), round(h.pooled, 6)
    (2.0, 0.02)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from segab.errors import StatsError
from segab.stats.frequentist import check_alpha
from segab.stats.result import HeterogeneityResult

__all__ = ["heterogeneity"]


def heterogeneity(
    estimates: Sequence[float], variances: Sequence[float], *, alpha: float = 0.05
) -> HeterogeneityResult:
    """Cochran's Q test across segments plus the inverse-variance pooled effect and CI.

    Segments whose estimate or variance is NaN, or whose variance is not > 0,
    are left out with a warning (an undefined per-segment test has no weight).

    Example:
        >>> h = heterogeneity([0.1, 0.1, 0.1], [0.01, 0.02, 0.03])
        >>> h.q, h.i_squared
        (0.0, 0.0)
    """
    alpha = check_alpha(alpha)
    if len(estimates) != len(variances):
        raise StatsError(
            f"heterogeneity: found {len(estimates)} estimates and {len(variances)} variances, "
            "expected one variance per estimate"
        )
    est = np.asarray(estimates, dtype=np.float64)
    var = np.asarray(variances, dtype=np.float64)
    ok = np.isfinite(est) & np.isfinite(var) & (var > 0)
    warnings: list[str] = []
    if not np.all(ok):
        warnings.append(
            f"{int((~ok).sum())} segment(s) with undefined estimate or variance left out"
        )
    est, var = est[ok], var[ok]
    k = int(est.shape[0])
    nan = math.nan
    if k == 0:
        warnings.append("no segment with a defined estimate: heterogeneity undefined")
        return HeterogeneityResult(nan, 0, nan, nan, nan, nan, nan, nan, 0, tuple(warnings))
    w = 1.0 / var
    pooled = float(np.sum(w * est) / np.sum(w))
    pooled_se = float(math.sqrt(1.0 / np.sum(w)))
    z = float(special.ndtri(1 - alpha / 2))
    lo, hi = pooled - z * pooled_se, pooled + z * pooled_se
    if k < 2:
        warnings.append("fewer than 2 segments: heterogeneity test undefined")
        return HeterogeneityResult(nan, 0, nan, nan, pooled, pooled_se, lo, hi, k, tuple(warnings))
    q = float(np.sum(w * (est - pooled) ** 2))
    df = k - 1
    p = float(special.chdtrc(df, q))  # chi-square survival function, as chi2.sf(q, df)
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return HeterogeneityResult(q, df, p, i2, pooled, pooled_se, lo, hi, k, tuple(warnings))
