"""Adaptive shrinkage (Stephens 2017): an effect distribution unimodal at 0, lfsr decisions.

The unconstrained NPMLE (:mod:`segab.stats.npmle`) fitted to a handful of null cells puts
their mass on atoms near, not at, 0, and its local false sign rate then ships null cells.
Stephens ("False discovery rates: a new deal", Biostatistics 18, 2017; R package ashr)
pairs the lfsr with a prior that is unimodal at 0. Here, as ashr's
``mixcompdist = "halfuniform"``::

    G = π₀ δ₀ + Σ_k π_k⁺ U[0, a_k] + Σ_k π_k⁻ U[−a_k, 0]

with ashr's default grid of half-widths (geometric, ratio ``√2``, from ``min σ/10`` to
``2·√max(y² − σ²)``, or ``8·min σ/10`` when that is smaller) and its default
"null-biased" penalty: a Dirichlet(10, 1, …, 1) prior on ``π`` (the 10 on ``π₀``), so the
weights maximise ``Σ_i log f_i + 9 log π₀``. A uniform component convolved with
``N(0, σ²)`` has density ``(Φ((a − y)/σ) − Φ(−y/σ))/a`` on the positive side (mirror image
on the negative side). EM: ``π_k ∝ Σ_i r_ik + λ_k − 1`` with ``r_ik = π_k L_ik/f_i``.

Posterior: ``P(θ ≤ 0 | y) = r₀ + Σ r⁻``, ``P(θ ≥ 0 | y) = r₀ + Σ r⁺``; the mean of each
uniform component's posterior is that of ``N(y, σ²)`` truncated to its interval. The
decision rule is the one of :mod:`segab.stats.npmle` (ship when the posterior mean is > 0
and ``P(θ ≤ 0 | y) < α``; roll back symmetrically).

Example:
    >>> a = ash_arrays(np.array([[0.0, 0.1, -0.2, 4.1, 3.8, 0.05, 0.3, -0.4]]), np.ones((1, 8)))
    >>> a.ship.astype(int).tolist(), a.rollback.astype(int).tolist()
    ([[0, 0, 0, 1, 1, 0, 0, 0]], [[0, 0, 0, 0, 0, 0, 0, 0]])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

from segab.stats.npmle import NpmleArrays, _check, posterior_arrays

__all__ = ["ash_arrays", "ash_half_widths"]

FloatArray = npt.NDArray[np.float64]
NULL_WEIGHT = 10.0


def ash_half_widths(estimates: FloatArray, std_errors: FloatArray) -> FloatArray:
    """ashr's grid of half-widths for one set of cells (ascending).

    Example:
        >>> w = ash_half_widths(np.array([0.0, 3.0]), np.array([1.0, 1.0]))
        >>> round(float(w[0]), 3), round(float(w[-1]), 3), len(w)
        (0.088, 5.657, 13)
    """
    y, se = np.asarray(estimates, np.float64), np.asarray(std_errors, np.float64)
    amin = float(np.min(se)) / 10
    excess = float(np.max(y * y - se * se))
    amax = 2 * np.sqrt(excess) if excess > 0 else 0.0
    if amax < amin:
        amax = 8 * amin
    m = int(np.ceil(np.log(amax / amin) / np.log(np.sqrt(2.0))))
    return np.asarray(amax / np.sqrt(2.0) ** np.arange(m, -1, -1))


def _phi_diff(lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``Φ(hi) − Φ(lo)`` (hi ≥ lo) without cancellation in the upper tail."""
    upper_tail = special.ndtr(-lo) - special.ndtr(-hi)
    return np.where(lo > 0, upper_tail, special.ndtr(hi) - special.ndtr(lo))


def _truncated_mean(y: FloatArray, se: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Mean of ``N(y, σ²)`` truncated to ``[lo, hi]`` (the nearer end when the mass is 0)."""
    a, b = (lo - y) / se, (hi - y) / se
    mass = _phi_diff(a, b)
    dens = np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = y + se * dens / np.sqrt(2 * np.pi) / mass
    ok = (mass > 1e-300) & np.isfinite(m)
    return np.asarray(np.clip(np.where(ok, m, np.clip(y, lo, hi)), lo, hi))


def ash_arrays(
    estimates: FloatArray,
    std_errors: FloatArray,
    alpha: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-7,
) -> NpmleArrays:
    """The half-uniform ash fit for each row of ``(B, n)`` estimates, and its lfsr rule.

    ``support`` holds each component's signed half-width (0 for the point mass, then
    ``+a_k``, then ``−a_k``; rows padded with NaN and weight 0 to the longest grid);
    ``ci_low``/``ci_high`` are not computed (NaN); ``log_likelihood`` is the penalised one.

    Example:
        >>> a = ash_arrays(np.array([[0.0, 0.2, 0.1, -0.3, 4.5]]), np.ones((1, 5)))
        >>> float(a.weights[0, 0]) > 0.5, bool(a.ship[0, 4]), bool(a.ship[0, 1])
        (True, True, False)
    """
    y = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    _check(y, se, alpha, 1)
    grids = [ash_half_widths(y[b], se[b]) for b in range(y.shape[0])]
    m = max(g.size for g in grids)
    half = np.full((y.shape[0], m), np.nan)
    for b, g in enumerate(grids):
        half[b, : g.size] = g
    valid = np.isfinite(half)
    a = np.where(valid, half, 1.0)[:, None, :]
    ys, ss = y[:, :, None], se[:, :, None]
    z0 = y / se
    null = np.exp(-0.5 * z0 * z0) / (se * np.sqrt(2 * np.pi))
    pos = _phi_diff(-ys / ss, (a - ys) / ss) / a * valid[:, None, :]
    neg = _phi_diff((-a - ys) / ss, -ys / ss) / a * valid[:, None, :]
    lik = np.concatenate([null[:, :, None], pos, neg], axis=2)
    lam = np.r_[NULL_WEIGHT, np.ones(2 * m)]
    mask = np.concatenate([np.ones((y.shape[0], 1), bool), valid, valid], axis=1)
    w = mask / mask.sum(axis=1, keepdims=True)

    def objective(w: FloatArray) -> FloatArray:
        f = np.einsum("bnk,bk->bn", lik, w)
        with np.errstate(divide="ignore"):
            return np.asarray(np.sum(np.log(f), axis=1) + (NULL_WEIGHT - 1) * np.log(w[:, 0]))

    ll = objective(w)
    it, done = 0, np.zeros(y.shape[0], dtype=bool)
    while it < max_iter and not done.all():
        f = np.einsum("bnk,bk->bn", lik, w)
        counts = w * np.einsum("bnk,bn->bk", lik, 1.0 / f) + (lam - 1) * mask
        w = counts / counts.sum(axis=1, keepdims=True)
        new = objective(w)
        done = new - ll < tol
        ll, it = new, it + 1
    r = lik * w[:, None, :]
    r /= r.sum(axis=2, keepdims=True)
    p_neg = r[:, :, 1 + m :].sum(axis=2)
    p_pos = r[:, :, 1 : 1 + m].sum(axis=2)
    p_le, p_ge = r[:, :, 0] + p_neg, r[:, :, 0] + p_pos
    m_pos = _truncated_mean(ys, ss, np.zeros_like(a), a)
    m_neg = _truncated_mean(ys, ss, -a, np.zeros_like(a))
    mean = np.sum(r[:, :, 1 : 1 + m] * m_pos, axis=2) + np.sum(r[:, :, 1 + m :] * m_neg, axis=2)
    support = np.concatenate([np.zeros((y.shape[0], 1)), half, -half], axis=1)
    nan = np.full(y.shape, np.nan)
    return posterior_arrays(support, w, ll, mean, (p_le, p_ge), (nan, nan.copy()), alpha, done, it)
