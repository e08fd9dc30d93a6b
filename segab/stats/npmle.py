"""Non-parametric empirical Bayes: the NPMLE of the effect distribution, lfsr decisions.

Model: ``y_i ~ N(θ_i, σ_i²)`` with ``θ_i`` drawn from an unknown distribution ``G``.
The Kiefer-Wolfowitz non-parametric maximum likelihood estimate of ``G`` (Kiefer
and Wolfowitz 1956; with heteroscedastic errors Jiang and Zhang 2009, Koenker and
Mizera 2014, JASA 109) maximises::

    ℓ(w) = Σ_i log Σ_k w_k φ((y_i − t_k)/σ_i)/σ_i

over mixture weights ``w`` (``w_k ≥ 0``, ``Σw_k = 1``) on a fixed grid of support
points ``t_k``: ``size`` points evenly spaced from ``min y − 3 max σ`` to
``max y + 3 max σ``, plus exactly 0. The weights come from the EM fixed point
``w_k ← w_k · mean_i(L_ik/f_i)``, ``L_ik = φ((y_i − t_k)/σ_i)/σ_i``,
``f_i = Σ_k w_k L_ik``, started at equal weights; each step never lowers ``ℓ``
(EM). Koenker and Mizera solve the same convex problem by interior point; EM is
slower to converge in the weights but needs nothing beyond numpy.

The posterior of cell ``i`` puts mass ``w_k L_ik/f_i`` on ``t_k``; the posterior
mean, the equal-tailed credible interval of the discrete posterior, and the local
false sign rate ``lfsr_i = min(P(θ_i ≤ 0 | y), P(θ_i ≥ 0 | y))`` (Stephens 2017,
"False discovery rates: a new deal", Biostatistics 18) follow. Decision rule: ship
when the posterior mean is > 0 and ``P(θ_i ≤ 0 | y) < α``; roll back when it is
< 0 and ``P(θ_i ≥ 0 | y) < α``. Unlike shrinkage towards one normal mean, the
estimated ``G`` can put an atom at 0 and another far from it: a few large effects
among nulls are shrunk little, the nulls much.

:func:`npmle_arrays` fits many independent sets of cells at once (an array
``(experiments, cells)``); :func:`npmle` is the one-set form.

Example:
    >>> r = npmle([0.0, 0.1, -0.2, 4.1, 3.8, 0.05], [1.0] * 6)
    >>> r.decisions
    ('none', 'none', 'none', 'ship', 'ship', 'none')
    >>> [round(m, 1) for m in r.posterior_means]
    [-0.0, -0.0, -0.0, 3.9, 3.9, -0.0]
    >>> round(sum(r.weights), 9)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.cell_inputs import checked_cells

__all__ = [
    "NpmleArrays",
    "NpmleResult",
    "em_step",
    "mixture_log_likelihood",
    "npmle",
    "npmle_arrays",
    "npmle_support",
    "posterior_arrays",
]

FloatArray = npt.NDArray[np.float64]
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class NpmleArrays:
    """The batched fit: arrays with a leading experiments axis.

    ``support``/``weights`` ``(B, K)``; per cell ``(B, n)``: ``posterior_means``,
    ``prob_nonpositive`` = ``P(θ ≤ 0 | y)``, ``prob_nonnegative``, ``lfsr``,
    ``ci_low``/``ci_high`` (equal-tailed ``1 − ci_alpha`` credible interval),
    ``ship``/``rollback`` (booleans); per experiment ``(B,)``: ``log_likelihood``
    and ``converged``; ``iterations`` is the number of EM steps run.

    Example:
        >>> a = npmle_arrays(np.array([[0.0, 3.0, 0.1]]), np.ones((1, 3)), size=50)
        >>> a.posterior_means.shape, a.support.shape
        ((1, 3), (1, 51))
    """

    support: FloatArray
    weights: FloatArray
    log_likelihood: FloatArray
    posterior_means: FloatArray
    prob_nonpositive: FloatArray
    prob_nonnegative: FloatArray
    lfsr: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    ship: npt.NDArray[np.bool_]
    rollback: npt.NDArray[np.bool_]
    converged: npt.NDArray[np.bool_]
    iterations: int


@dataclass(frozen=True)
class NpmleResult:
    """One set of cells: the estimated ``G`` and each cell's posterior summaries.

    ``decisions``: ``"ship"``, ``"rollback"`` or ``"none"`` per cell (rule in the
    module docstring, level ``alpha``).

    Example:
        >>> r = npmle([0.0, 2.0], [1.0, 1.0], size=20)
        >>> len(r.support), r.alpha
        (21, 0.05)
    """

    support: tuple[float, ...]
    weights: tuple[float, ...]
    log_likelihood: float
    posterior_means: tuple[float, ...]
    prob_nonpositive: tuple[float, ...]
    prob_nonnegative: tuple[float, ...]
    lfsr: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    decisions: tuple[str, ...]
    alpha: float
    iterations: int
    converged: bool


def posterior_arrays(
    support: FloatArray,
    weights: FloatArray,
    log_likelihood: FloatArray,
    means: FloatArray,
    sign_probs: tuple[FloatArray, FloatArray],
    interval: tuple[FloatArray, FloatArray],
    alpha: float,
    converged: npt.NDArray[np.bool_],
    iterations: int,
) -> NpmleArrays:
    """A fit's :class:`NpmleArrays`, with the lfsr and the declared decision rule.

    ``sign_probs`` is ``(P(θ ≤ 0 | y), P(θ ≥ 0 | y))``: ship when the posterior mean
    is positive and ``P(θ ≤ 0 | y) < alpha``, roll back in the mirror case.

    Example:
        >>> one = np.array([[0.01, 0.5]])
        >>> a = posterior_arrays(one, one, one[:, 0], np.array([[1.0, -1.0]]),
        ...                      (np.array([[0.01, 0.9]]), np.array([[0.99, 0.1]])),
        ...                      (one, one), 0.05, np.array([True]), 3)
        >>> a.ship.tolist(), a.rollback.tolist(), a.lfsr.tolist()
        ([[True, False]], [[False, False]], [[0.01, 0.1]])
    """
    p_le, p_ge = sign_probs
    return NpmleArrays(
        support=support,
        weights=weights,
        log_likelihood=log_likelihood,
        posterior_means=means,
        prob_nonpositive=p_le,
        prob_nonnegative=p_ge,
        lfsr=np.minimum(p_le, p_ge),
        ci_low=interval[0],
        ci_high=interval[1],
        ship=(means > 0) & (p_le < alpha),
        rollback=(means < 0) & (p_ge < alpha),
        converged=converged,
        iterations=iterations,
    )


def npmle_support(estimates: FloatArray, std_errors: FloatArray, size: int = 300) -> FloatArray:
    """The grid: ``size`` points from ``min y − 3 max σ`` to ``max y + 3 max σ``, plus 0.

    Rows of ``(B, n)`` inputs give rows of ``(B, size + 1)`` sorted support points.

    Example:
        >>> npmle_support(np.array([1.0, 2.0]), np.array([0.5, 0.5]), size=3).tolist()
        [-0.5, 0.0, 1.5, 3.5]
    """
    y = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    se = np.atleast_2d(np.asarray(std_errors, dtype=np.float64))
    pad = 3.0 * se.max(axis=1)
    lo, hi = y.min(axis=1) - pad, y.max(axis=1) + pad
    steps = np.linspace(0.0, 1.0, size)
    grid = lo[:, None] + (hi - lo)[:, None] * steps[None, :]
    out = np.sort(np.concatenate([grid, np.zeros((grid.shape[0], 1))], axis=1), axis=1)
    return out if np.ndim(estimates) == 2 else out[0]


def _scaled_likelihood(
    y: FloatArray, se: FloatArray, support: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``L_ik`` divided by its row maximum ``exp(m_i)`` (no underflow), and ``m_i``."""
    z = (y[:, :, None] - support[:, None, :]) / se[:, :, None]
    log_l = -0.5 * z * z - np.log(se)[:, :, None] - _LOG_SQRT_2PI
    m = log_l.max(axis=2)
    return np.exp(log_l - m[:, :, None]), m


def mixture_log_likelihood(
    estimates: FloatArray, std_errors: FloatArray, support: FloatArray, weights: FloatArray
) -> float:
    """``Σ_i log Σ_k w_k φ((y_i − t_k)/σ_i)/σ_i`` for one set of cells.

    Example:
        >>> round(mixture_log_likelihood(np.array([0.0]), np.array([1.0]),
        ...                              np.array([0.0]), np.array([1.0])), 6)
        -0.918939
    """
    y, se = np.asarray(estimates, dtype=np.float64), np.asarray(std_errors, dtype=np.float64)
    lik, m = _scaled_likelihood(y[None], se[None], np.asarray(support, dtype=np.float64)[None])
    f = lik[0] @ np.asarray(weights, dtype=np.float64)
    return float(np.sum(np.log(f) + m[0]))


def em_step(lik: FloatArray, weights: FloatArray) -> FloatArray:
    """One EM step for mixture weights: ``w_k · mean_i(L_ik / Σ_j w_j L_ij)``.

    ``lik`` ``(B, n, K)`` (any positive row scaling), ``weights`` ``(B, K)``.

    Example:
        >>> lik = np.array([[[1.0, 0.0], [1.0, 1.0]]])
        >>> em_step(lik, np.array([[0.5, 0.5]])).tolist()
        [[0.75, 0.25]]
    """
    f = np.einsum("bnk,bk->bn", lik, weights)
    return np.asarray(weights * np.einsum("bnk,bn->bk", lik, 1.0 / f) / lik.shape[1])


def _check(y: FloatArray, se: FloatArray, alpha: float, size: int) -> None:
    checked_cells(y, se, "npmle", ndim=2)
    if y.shape[1] < 1:
        raise StatsError(f"npmle: found estimates of shape {y.shape}, expected a cell or more")
    if not 0 < alpha < 1:
        raise StatsError(f"alpha: found {alpha}, expected a level in (0, 1)")
    if size < 1:
        raise StatsError(f"size: found {size}, expected at least 1 grid point")


def npmle_arrays(
    estimates: FloatArray,
    std_errors: FloatArray,
    size: int = 300,
    alpha: float = 0.05,
    ci_alpha: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-7,
    support: FloatArray | None = None,
    start: FloatArray | None = None,
) -> NpmleArrays:
    """NPMLE by EM for each row of ``(B, n)`` estimates, vectorised over rows.

    EM stops when every row's log-likelihood rose by less than ``tol`` in one step
    (``converged``), or after ``max_iter`` steps. ``support`` (``(B, K)``) replaces
    the default grid of :func:`npmle_support`; ``start`` (``(B, K)``) replaces the equal
    starting weights (with ``max_iter=0`` it is the prior, and the result is the posterior
    under that known prior).

    Example:
        >>> y = np.array([[0.0, 0.1, -0.2, 4.1, 3.8], [0.0, -4.0, -3.9, 0.1, 0.2]])
        >>> a = npmle_arrays(y, np.ones((2, 5)), size=100)
        >>> a.ship.astype(int).tolist(), a.rollback.astype(int).tolist()
        ([[0, 0, 0, 1, 1], [1, 0, 0, 1, 1]], [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0]])

    In the second row the three small estimates share an atom of ``G`` near 0.1,
    above 0, so ``P(θ ≤ 0 | y)`` is small and the rule ships them: the NPMLE need
    not put its mass exactly at 0 when the truth does.
    """
    y = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    _check(y, se, alpha, size)
    t = npmle_support(y, se, size) if support is None else np.asarray(support, dtype=np.float64)
    lik, m = _scaled_likelihood(y, se, t)
    w = np.full(t.shape, 1.0 / t.shape[1]) if start is None else np.asarray(start, np.float64)
    ll = np.sum(np.log(np.einsum("bnk,bk->bn", lik, w)) + m, axis=1)
    it, done = 0, np.zeros(y.shape[0], dtype=bool)
    while it < max_iter and not done.all():
        w = em_step(lik, w)
        new = np.sum(np.log(np.einsum("bnk,bk->bn", lik, w)) + m, axis=1)
        done = new - ll < tol
        ll, it = new, it + 1
    post = lik * w[:, None, :]
    post /= post.sum(axis=2, keepdims=True)
    mean = np.einsum("bnk,bk->bn", post, t)
    p_le = np.einsum("bnk,bk->bn", post, (t <= 0).astype(np.float64))
    p_ge = np.einsum("bnk,bk->bn", post, (t >= 0).astype(np.float64))
    cdf = np.cumsum(post, axis=2)
    k = t.shape[1] - 1
    lo_i = np.minimum(np.sum(cdf < ci_alpha / 2, axis=2), k)
    hi_i = np.minimum(np.sum(cdf < 1 - ci_alpha / 2, axis=2), k)
    rows = np.arange(t.shape[0])[:, None]
    return posterior_arrays(
        t, w, ll, mean, (p_le, p_ge), (t[rows, lo_i], t[rows, hi_i]), alpha, done, it
    )


def npmle(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray,
    size: int = 300,
    alpha: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-7,
) -> NpmleResult:
    """The NPMLE of ``G`` for one set of cells and each cell's posterior and decision.

    Example:
        >>> r = npmle([0.1, -0.05, 0.0, 0.02, 0.9], [0.1] * 5)
        >>> r.decisions[-1], r.lfsr[-1] < 0.05
        ('ship', True)
    """
    y = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    if y.ndim != 1:
        raise StatsError(f"npmle: found estimates of shape {y.shape}, expected one per cell")
    a = npmle_arrays(y[None], se.reshape(1, -1), size, alpha, max_iter=max_iter, tol=tol)
    ship, back = a.ship[0], a.rollback[0]
    decisions = tuple(
        "ship" if s else "rollback" if b else "none" for s, b in zip(ship, back, strict=True)
    )

    def tup(x: FloatArray) -> tuple[float, ...]:
        return tuple(float(v) for v in x)

    return NpmleResult(
        support=tup(a.support[0]),
        weights=tup(a.weights[0]),
        log_likelihood=float(a.log_likelihood[0]),
        posterior_means=tup(a.posterior_means[0]),
        prob_nonpositive=tup(a.prob_nonpositive[0]),
        prob_nonnegative=tup(a.prob_nonnegative[0]),
        lfsr=tup(a.lfsr[0]),
        ci_low=tup(a.ci_low[0]),
        ci_high=tup(a.ci_high[0]),
        decisions=decisions,
        alpha=alpha,
        iterations=a.iterations,
        converged=bool(a.converged[0]),
    )
