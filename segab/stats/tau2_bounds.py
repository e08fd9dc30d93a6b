"""An upper confidence bound for the between-cell variance ``τ²`` (Q-profile).

The robust EB intervals (:mod:`segab.stats.ebci`) are valid once the second
moment ``μ₂ = τ²`` of the effects is known; with a handful of cells its estimate
is noisy, and an underestimate shrinks too much for the interval's width.
``shrink(..., interval="ucb")`` replaces the estimate, for the intervals only, by
this upper bound at level ``1 − β`` and uses critical values at level ``α − β``
(a Bonferroni split).

The bound inverts the generalised Q statistic (the "Q-profile" of Viechtbauer
2007, Statistics in Medicine 26; Knapp, Biggerstaff and Hartung 2006)::

    Q(τ²) = Σ (y_i − μ̂(τ²))² / (σ_i² + τ²),   μ̂(τ²) = Σ y_i/(σ_i² + τ²) / Σ 1/(σ_i² + τ²)

which is exactly ``χ²_{k−1}`` at the true ``τ²`` when the effects are normal,
and decreasing in ``τ²``. The upper bound is the ``τ²`` where ``Q`` falls to the
``β`` quantile of ``χ²_{k−1}`` (0 when ``Q(0)`` is already below it). With the
effects held fixed (the view in which AKP's average coverage is stated), and
equal errors ``σ²`` and ``μ₂ = Σ(θ_i − θ̄)²/(k − 1)``, ``Q(μ₂)·(σ² + μ₂)/σ²`` is a
non-central ``χ²_{k−1}``, so ``Q(μ₂)`` has mean ``k − 1`` as in the normal-effects
case and a smaller variance (``2(k−1)(σ² + 2μ₂)σ²/(σ² + μ₂)²`` against
``2(k−1)``): its lower tail is lighter (approximately; no stochastic order is
claimed, the tests check the coverage with fixed sparse effects), so the bound
does not rely on the effects being normal.

Example:
    >>> round(tau2_upper_bound([0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5, beta=0.05), 6)
    0.013001
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from segab.errors import StatsError
from segab.stats.cell_inputs import checked_cells

__all__ = ["generalized_q", "tau2_upper_bound"]

FloatArray = npt.NDArray[np.float64]


def generalized_q(
    tau2: float, estimates: Sequence[float] | FloatArray, std_errors: Sequence[float] | FloatArray
) -> float:
    """The generalised Q statistic ``Σ(y_i − μ̂(τ²))²/(σ_i² + τ²)`` at ``τ²``.

    Example:
        >>> generalized_q(0.0, [1.0, -1.0], [1.0, 1.0])   # Σ(y − ȳ)²/σ²
        2.0
    """
    y = np.asarray(estimates, dtype=np.float64)
    v = np.asarray(std_errors, dtype=np.float64) ** 2 + tau2
    w = 1.0 / v
    mu = float(np.sum(w * y) / np.sum(w))
    return float(np.sum(w * (y - mu) ** 2))


def tau2_upper_bound(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray,
    beta: float = 0.005,
) -> float:
    """The level-``1 − β`` Q-profile upper confidence bound for ``τ²`` (``≥ 0``).

    Solves ``Q(τ²) = χ²_{k−1}(β)`` (the ``β`` quantile); 0 when ``Q(0)`` is
    below that quantile. NaN for fewer than 2 cells. With equal errors it is
    ``max(S/χ²_{k−1}(β) − σ², 0)``, ``S = Σ(y − ȳ)²``.

    Example:
        >>> y, se = [0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5
        >>> tau2_upper_bound(y, se, 0.005) > tau2_upper_bound(y, se, 0.05)
        True
    """
    y, se = checked_cells(estimates, std_errors, "tau2_upper_bound")
    if not 0 < beta < 1:
        raise StatsError(f"beta: found {beta}, expected a level in (0, 1)")
    k = y.size
    if k < 2:
        return math.nan
    q_beta = float(special.chdtri(k - 1, 1.0 - beta))  # the β quantile of χ²_{k−1}

    def excess(tau2: float) -> float:
        return generalized_q(tau2, y, se) - q_beta

    if excess(0.0) <= 0:
        return 0.0
    hi = max(float(np.var(y)), float(np.max(se)) ** 2, 1e-300)
    while excess(hi) > 0:
        hi *= 4.0
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-15 * hi, rtol=1e-13))
