"""Inference on the winner: estimate and interval for the best of several arms or cells.

The largest of ``K`` noisy estimates ``X ~ N(μ, Σ)`` overstates its own ``μ``
(the winner's curse). Andrews, Kitagawa and McCloskey, "Inference on Winners",
Quarterly Journal of Economics 139(1), 2024 (AKM) condition on the selection:

- with ``k = argmax X`` and ``Z = X − Σ_{·k} X_k/Σ_kk`` (independent of ``X_k``),
  the event "``k`` wins" is ``L(Z) ≤ X_k ≤ U(Z)``, where for each ``j ≠ k`` with
  ``c_j = 1 − Σ_jk/Σ_kk`` the bound is ``Z_j/c_j`` (lower if ``c_j > 0``, upper
  if ``c_j < 0``); so ``X_k`` given the selection and ``Z`` is a normal
  ``N(μ_k, Σ_kk)`` truncated to ``[L, U]``;
- the *conditional* interval inverts that truncated normal's CDF
  (equal-tailed), and its median gives a median-unbiased estimate; it is exact
  conditionally but can be very long when the winner barely won;
- the *projection* interval ``X_k ± c_β √Σ_kk`` uses the ``1 − β`` quantile
  ``c_β`` of ``max_j |ξ_j|/√Σ_jj``, ``ξ ~ N(0, Σ)`` (valid for every arm at once);
- the *hybrid* also conditions on ``μ_k`` lying in the level-β
  projection interval — the truncation becomes
  ``[max(L, μ − c_β σ), min(U, μ + c_β σ)]`` — inverts at level
  ``(α − β)/(1 − β)``, and intersects with the projection interval. Its
  unconditional coverage is at least ``1 − α``; AKM recommend ``β = α/10``.

``c_β`` is exact for independent arms (diagonal ``Σ``) and a seeded Monte Carlo
quantile (200,000 draws) otherwise.

Example:
    >>> r = winner_inference([0.10, 0.09, 0.02], [0.03, 0.03, 0.03])
    >>> r.winner, r.hybrid_estimate < 0.10, r.hybrid_ci_low < 0.10 < r.hybrid_ci_high
    (0, True, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from segab.errors import StatsError
from segab.stats.result import json_ready

__all__ = ["WinnerResult", "projection_critical_value", "truncated_normal_cdf", "winner_inference"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WinnerResult:
    """Selection-aware inference on the arm with the largest estimate.

    ``truncation`` is ``(L, U)``, the range of the winner's estimate over which it
    stays the winner (given the others).

    Example:
        >>> winner_inference([0.3, 0.0], [0.1, 0.1]).to_dict()["winner"]
        0
    """

    winner: int
    estimate: float
    std_error: float
    truncation: tuple[float, float]
    conditional_estimate: float
    conditional_ci_low: float
    conditional_ci_high: float
    projection_ci_low: float
    projection_ci_high: float
    hybrid_estimate: float
    hybrid_ci_low: float
    hybrid_ci_high: float
    alpha: float
    beta: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (infinite truncation bounds → ``None``).

        Example:
            >>> winner_inference([0.3], [0.1]).to_dict()["truncation"]
            [None, None]
        """
        return dict(json_ready(asdict(self)))


def truncated_normal_cdf(x: float, mu: float, sigma: float, low: float, high: float) -> float:
    """``P(X ≤ x)`` for ``X ~ N(mu, sigma²)`` truncated to ``[low, high]``, stable in the tails.

    Example:
        >>> round(truncated_normal_cdf(0.0, 0.0, 1.0, -math.inf, math.inf), 6)
        0.5
        >>> round(truncated_normal_cdf(41.0, 0.0, 1.0, 40.0, math.inf), 6)  # far tail, no NaN
        1.0
    """
    x = min(max(x, low), high)
    a, b, t = (low - mu) / sigma, (high - mu) / sigma, (x - mu) / sigma
    if a > 0:  # all in the upper tail: work with log survival functions
        la, lt, lb = (float(special.log_ndtr(-v)) for v in (a, t, b))
        den = -math.expm1(lb - la)
        return -math.expm1(lt - la) / den if den > 0 else 1.0 if t > a else 0.0
    if b < 0:  # all in the lower tail
        la, lt, lb = (float(special.log_ndtr(v)) for v in (a, t, b))
        den = -math.expm1(la - lb)
        num = -math.expm1(la - lt) * math.exp(lt - lb) if t > a else 0.0
        return num / den if den > 0 else 1.0 if t >= b else 0.0
    pa, pt, pb = (float(special.ndtr(v)) for v in (a, t, b))
    return (pt - pa) / (pb - pa)


def projection_critical_value(cov: FloatArray, beta: float, *, draws: int = 200_000) -> float:
    """The ``1 − β`` quantile of ``max_j |ξ_j|/√Σ_jj`` for ``ξ ~ N(0, Σ)``.

    Exact (Šidák) for a diagonal ``Σ``; otherwise a Monte Carlo quantile with a
    fixed seed (cached per correlation matrix).

    Example:
        >>> round(projection_critical_value(np.eye(1), 0.05), 6)
        1.959964
    """
    k = cov.shape[0]
    if np.allclose(cov, np.diag(np.diag(cov))):
        return float(special.ndtri(0.5 + 0.5 * (1 - beta) ** (1.0 / k)))
    sd = np.sqrt(np.diag(cov))
    corr = np.round(cov / np.outer(sd, sd), 12)
    return _mc_quantile(corr.tobytes(), k, beta, draws)


@functools.lru_cache(maxsize=256)
def _mc_quantile(corr_bytes: bytes, k: int, beta: float, draws: int) -> float:
    corr = np.frombuffer(corr_bytes, dtype=np.float64).reshape(k, k)
    rng = np.random.default_rng(20240101)
    xi = rng.standard_normal((draws, k)) @ np.linalg.cholesky(corr + 1e-12 * np.eye(k)).T
    return float(np.quantile(np.max(np.abs(xi), axis=1), 1 - beta))


def _invert(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The ``mu`` in ``[lo, hi]`` with ``f(mu) = target`` for a decreasing ``f``; clipped."""
    if f(lo) <= target:
        return lo
    if f(hi) >= target:
        return hi
    return float(optimize.brentq(lambda m: f(m) - target, lo, hi, xtol=1e-14, rtol=1e-12))


def winner_inference(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray | None = None,
    *,
    cov: FloatArray | None = None,
    alpha: float = 0.05,
    beta: float | None = None,
) -> WinnerResult:
    """Conditional, projection and hybrid inference on the winner (AKM 2024).

    Give ``std_errors`` for independent estimates, or ``cov`` (e.g. variants
    that share a control: ``Cov(Δ_j, Δ_k) = Var(control mean)``).
    ``beta`` defaults to ``alpha/10``.

    Example:
        >>> r = winner_inference([0.5, 0.0, -0.2], [0.1, 0.1, 0.1])   # a clear winner
        >>> round(r.conditional_ci_low, 4), round(0.5 - 1.959964 * 0.1, 4)
        (0.304, 0.304)
    """
    x = np.asarray(estimates, dtype=np.float64)
    if cov is None:
        if std_errors is None:
            raise StatsError("winner_inference: found neither std_errors nor cov, expected one")
        se = np.asarray(std_errors, dtype=np.float64)
        if se.shape != x.shape:
            raise StatsError(
                f"winner_inference: found {x.size} estimates and {se.size} standard errors, "
                "expected one each"
            )
        cov = np.diag(se * se)
    cov = np.asarray(cov, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or cov.shape != (x.size, x.size):
        raise StatsError(
            f"winner_inference: found {x.size} estimates and a covariance of shape {cov.shape}, "
            "expected a K x K covariance for K >= 1 estimates"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.diag(cov) > 0)):
        raise StatsError("winner_inference: expected finite estimates and variances > 0")
    beta = alpha / 10 if beta is None else beta
    if not 0 < beta < alpha < 1:
        raise StatsError(f"alpha, beta: found {alpha}, {beta}, expected 0 < beta < alpha < 1")
    k = int(np.argmax(x))
    var_k = float(cov[k, k])
    sigma = math.sqrt(var_k)
    xk = float(x[k])
    z = x - cov[:, k] * xk / var_k
    c = 1.0 - cov[:, k] / var_k
    others = np.arange(x.size) != k
    lows = [z[j] / c[j] for j in np.flatnonzero(others & (c > 1e-12))]
    highs = [z[j] / c[j] for j in np.flatnonzero(others & (c < -1e-12))]
    low = max(lows, default=-math.inf)
    high = min(highs, default=math.inf)
    # conditional: wide search range, F(x; mu) is decreasing in mu
    span = 10.0 * sigma + (xk - low if math.isfinite(low) else 0.0)
    span += high - xk if math.isfinite(high) else 0.0

    def cond(m: float) -> float:
        return truncated_normal_cdf(xk, m, sigma, low, high)

    lo_s, hi_s = xk - 50 * span, xk + 50 * span
    cond_est = _invert(cond, 0.5, lo_s, hi_s)
    cond_lo = _invert(cond, 1 - alpha / 2, lo_s, hi_s)
    cond_hi = _invert(cond, alpha / 2, lo_s, hi_s)
    cb = projection_critical_value(cov, beta)
    p_lo, p_hi = xk - cb * sigma, xk + cb * sigma

    def hybrid(m: float) -> float:
        return truncated_normal_cdf(
            xk, m, sigma, max(low, m - cb * sigma), min(high, m + cb * sigma)
        )

    gamma = (alpha - beta) / (1 - beta)
    return WinnerResult(
        winner=k,
        estimate=xk,
        std_error=sigma,
        truncation=(low, high),
        conditional_estimate=cond_est,
        conditional_ci_low=cond_lo,
        conditional_ci_high=cond_hi,
        projection_ci_low=p_lo,
        projection_ci_high=p_hi,
        hybrid_estimate=_invert(hybrid, 0.5, p_lo, p_hi),
        hybrid_ci_low=_invert(hybrid, 1 - gamma / 2, p_lo, p_hi),
        hybrid_ci_high=_invert(hybrid, gamma / 2, p_lo, p_hi),
        alpha=alpha,
        beta=beta,
    )
