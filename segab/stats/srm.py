"""Sample ratio mismatch: observed counts per arm against the configured weights.

A chi-square goodness-of-fit test of the counts against ``total · w_i / Σw``:
``χ² = Σ (o_i − e_i)²/e_i`` with ``k − 1`` df over the ``k`` arms of weight > 0
(as ``scipy.stats.chisquare``, its test oracle), flagged at ``p < threshold``
(0.001 by default, as GrowthBook and Eppo do).

Example:
    >>> r = srm_test([5000, 5200], [0.5, 0.5])
    >>> round(r.p_value, 4), r.flagged
    (0.0477, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from segab.errors import StatsError
from segab.stats.result import SrmResult

__all__ = ["srm_test"]


def srm_test(
    counts: Sequence[int], weights: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Chi-square goodness-of-fit of ``counts`` against ``weights`` (any positive scale).

    Arms with weight 0 and count 0 are ignored; a count in an arm of weight 0
    is a certain mismatch (``chi2 = inf``, ``p = 0``, flagged). No units at all
    gives an undefined (NaN, not flagged) result with a warning.

    Example:
        >>> srm_test([1000, 1000, 2000], [1, 1, 2]).chi2
        0.0
    """
    if len(counts) != len(weights):
        raise StatsError(
            f"srm_test: found {len(counts)} counts and {len(weights)} weights, expected one each"
        )
    if len(counts) < 2:
        raise StatsError(f"srm_test: found {len(counts)} arm(s), expected at least 2")
    if not 0.0 < threshold < 1.0:
        raise StatsError(f"threshold: found {threshold!r}, expected a number in (0, 1)")
    obs = np.asarray(counts)
    if obs.dtype.kind not in "iu" or np.any(obs < 0):
        raise StatsError(f"counts: found {list(counts)!r}, expected integer counts >= 0")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise StatsError(f"weights: found {list(weights)!r}, expected weights >= 0 with a sum > 0")
    total = int(obs.sum())
    expected = total * w / w.sum()
    exp_t = tuple(float(e) for e in expected)
    if total == 0:
        return SrmResult(math.nan, math.nan, False, exp_t, threshold, ("no units: SRM undefined",))
    if np.any((w == 0) & (obs > 0)):
        warning = "units observed in an arm with weight 0"
        return SrmResult(math.inf, 0.0, True, exp_t, threshold, (warning,))
    keep = w > 0
    if keep.sum() < 2:
        return SrmResult(0.0, 1.0, False, exp_t, threshold, ("only one arm has weight > 0",))
    obs_k, exp_k = obs[keep].astype(np.float64), expected[keep]
    chi2 = float(np.sum((obs_k - exp_k) ** 2 / exp_k))
    p = float(special.chdtrc(obs_k.shape[0] - 1, chi2))
    warnings = (
        ("expected count below 5: chi-square approximation is poor",)
        if np.min(expected[keep]) < 5
        else ()
    )
    return SrmResult(chi2, p, p < threshold, exp_t, threshold, warnings)
