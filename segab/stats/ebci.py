"""Critical values of robust empirical-Bayes confidence intervals.

Armstrong, Kolesár and Plagborg-Møller, "Robust Empirical Bayes Confidence
Intervals", Econometrica 90(6), 2022 (AKP). A cell's EB estimate is
``θ̂ = μ + w(Y − μ)`` with ``w = μ₂/(μ₂ + σ²)``; then ``(θ̂ − θ)/(wσ) = Z + b``
with ``Z ~ N(0, 1)`` and the *normalised bias* ``b = −(σ/μ₂)(θ − μ)``, whose
second moment over the cells is ``m₂ = σ²/μ₂`` and whose kurtosis is the
kurtosis ``κ`` of the effects around their mean. The interval
``θ̂ ± cva_α(m₂, κ)·w·σ`` covers at least ``1 − α`` of the cells *on average*,
whatever the shape of the effects' distribution, once ``m₂`` and ``κ`` are right.

With ``t = b²`` the non-coverage of one cell is
``r(t, χ) = Φ(−χ − √t) + Φ(√t − χ)`` and

- ``ρ(m₂, κ, χ) = sup {E_F r(t, χ) : E_F t = m₂, E_F t² ≤ κ m₂²}`` is the
  maximal average non-coverage;
- ``cva_α(m₂, κ)`` solves ``ρ(m₂, κ, χ) = α``;
- ``κ = ∞`` is the "second moment only" (t-only) version: ``ρ`` is the least
  concave majorant of ``r(·, χ)`` at ``m₂`` (as AKP show): ``r`` is convex
  then concave in ``t``, the majorant is the tangent from ``(0, r(0, χ))`` up to
  the tangency point ``t₀`` and ``r`` itself after it;
- ``κ = 1`` (or ``m₂ = 0``) fixes ``b² = m₂``: the critical value of a normal
  with known bias ``√m₂``;
- the parametric interval assumes normal effects: ``b ~ N(0, m₂)``, so the
  critical value is ``z_{1−α/2}·√(1 + m₂)`` (Morris's interval).

When the kurtosis constraint binds, this module maximises over two-point
distributions of ``t`` with both moments exact (the form of the least favourable
distribution AKP derive); the tests check the value against a linear
programme over a fine grid. Own implementation; the check values come from the
authors' R package ``ebci`` (its published test values, e.g.
``cva(25, 3, 0.05) = 11.88358367``).

Example:
    >>> round(ebci_critical_value(0.0), 6)   # no bias: the normal 1.959964
    1.959964
    >>> round(ebci_critical_value(25.0, kappa=3.0), 6)
    11.883584
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from segab.errors import StatsError

__all__ = [
    "ebci_critical_value",
    "ebci_max_non_coverage",
    "ebci_parametric_critical_value",
]

_XTOL = 1e-13


def _r(t: np.ndarray | float, chi: float) -> np.ndarray:
    """Non-coverage ``P(|Z + b| > χ)`` for ``b² = t``."""
    s = np.sqrt(np.asarray(t, dtype=np.float64))
    return np.asarray(special.ndtr(-chi - s) + special.ndtr(s - chi))


def _r1(t: float, chi: float) -> float:
    """d r / d t; its limit at ``t = 0`` is ``χφ(χ)``."""
    s = math.sqrt(t)
    if s * chi < 1e-12:
        return chi * math.exp(-0.5 * chi * chi) / math.sqrt(2 * math.pi)
    phi = math.exp(-0.5 * (s - chi) ** 2) / math.sqrt(2 * math.pi)
    return phi * -math.expm1(-2.0 * s * chi) / (2.0 * s)


def _r2(t: float, chi: float) -> float:
    """d² r / d t² (only used away from 0, to bracket the inflection point)."""
    s = math.sqrt(t)
    c = 1.0 / math.sqrt(2 * math.pi)
    p_plus = c * math.exp(-0.5 * (s + chi) ** 2)
    p_minus = c * math.exp(-0.5 * (s - chi) ** 2)
    return (p_plus * (s * s + s * chi + 1.0) + p_minus * (s * chi - s * s - 1.0)) / (4.0 * s**3)


def _tangency(chi: float) -> float:
    """``t₀``: where the tangent from ``(0, r(0, χ))`` touches ``r``; 0 if ``r`` is concave."""
    if chi * chi <= 3.0:
        return 0.0
    lo, hi = chi * chi - 3.0, chi * chi
    if _r2(max(lo, 1e-12), chi) > 0 > _r2(hi, chi):
        t1 = optimize.brentq(_r2, max(lo, 1e-12), hi, args=(chi,), xtol=1e-14)
    else:  # numerically flat (huge χ): the inflection is near χ² − 3/2
        t1 = chi * chi - 1.5
    r0 = float(_r(0.0, chi))

    def gap(t: float) -> float:
        return float(_r(t, chi)) - r0 - t * _r1(t, chi)

    up = 2.0 * chi * chi
    while gap(up) < 0:
        t1, up = up, 2.0 * up
    if gap(t1) >= 0:
        return float(t1)
    return float(optimize.brentq(gap, t1, up, xtol=_XTOL, rtol=4 * np.finfo(float).eps))


def _rho_second_moment(m2: float, chi: float, t0: float) -> float:
    if m2 >= t0:
        return float(_r(m2, chi))
    r0 = float(_r(0.0, chi))
    return r0 + m2 * (float(_r(t0, chi)) - r0) / t0


def _two_point(m2: float, kappa: float, chi: float) -> float:
    """Max of ``E r(t, χ)`` over two-point ``t`` with mean ``m₂`` and ``E t² = κm₂²``.

    Low point ``a = m₂ − u`` (``0 < u ≤ m₂``), high point ``b = m₂ + V/u`` with
    ``V = (κ − 1)m₂²``; the weight on ``a`` is ``(b − m₂)/(b − a)``.
    """
    var = (kappa - 1.0) * m2 * m2

    def value(log_u: np.ndarray) -> np.ndarray:
        u = np.exp(log_u)
        a = np.maximum(m2 - u, 0.0)
        b = m2 + var / u
        return ((b - m2) * _r(a, chi) + u * _r(b, chi)) / (b - a)

    grid = np.linspace(math.log(m2) - 30.0, math.log(m2), 601)
    vals = value(grid)
    j = int(np.argmax(vals))
    best = float(vals[j])
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    if hi > lo:
        res = optimize.minimize_scalar(
            lambda x: -float(value(np.array([x]))[0]),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best = max(best, -float(res.fun))
    return best


def _check(m2: float, kappa: float) -> None:
    if not (m2 >= 0) or math.isnan(m2):
        raise StatsError(f"m2: found {m2}, expected a second moment >= 0")
    if not (kappa >= 1):
        raise StatsError(f"kappa: found {kappa}, expected a kurtosis >= 1 (or inf)")


def ebci_max_non_coverage(m2: float, kappa: float, chi: float) -> float:
    """``ρ(m₂, κ, χ)``: the largest average non-coverage of ``θ̂ ± χwσ`` (AKP).

    ``kappa=math.inf`` uses the second-moment constraint only.

    Example:
        >>> round(ebci_max_non_coverage(0.0, math.inf, 1.959964), 6)
        0.05
        >>> round(ebci_max_non_coverage(2.8**2, 8.0, 7.1324290147839279896), 8)
        0.09805099
    """
    _check(m2, kappa)
    if not chi > 0:
        raise StatsError(f"chi: found {chi}, expected a critical value > 0")
    if m2 == 0 or kappa == 1:
        return float(_r(m2, chi))
    t0 = _tangency(chi)
    if m2 >= t0 or math.isinf(kappa) or kappa * m2 >= t0:
        # the unconstrained least favourable distribution {0, t0} has E t² = m2·t0
        return _rho_second_moment(m2, chi, t0)
    return _two_point(m2, kappa, chi)


def _known_bias_cv(m2: float, alpha: float) -> float:
    """Solve ``r(m₂, χ) = α``: the critical value of ``|Z + √m₂|``."""
    lo = max(math.sqrt(m2) + float(special.ndtri(1 - alpha)) - 1.0, 1e-8)
    hi = math.sqrt(m2) + float(special.ndtri(1 - alpha / 2)) + 1.0
    return float(optimize.brentq(lambda c: float(_r(m2, c)) - alpha, lo, hi, xtol=_XTOL))


def ebci_critical_value(m2: float, kappa: float = math.inf, alpha: float = 0.05) -> float:
    """``cva_α(m₂, κ)``: the robust EBCI critical value (AKP).

    ``m2`` is the second moment of the normalised bias (``σ²/μ₂`` for EB
    shrinkage), ``kappa`` the kurtosis of the effects (``math.inf``: unknown,
    second moment only; ``1``: the bias is known to be ``√m₂``). NaN for
    ``m2 = inf`` (no signal: the interval is unbounded).

    Example:
        >>> round(ebci_critical_value(1.0, kappa=3.0, alpha=0.2), 7)
        1.8494683
        >>> round(ebci_critical_value(4.0), 4) > round(ebci_critical_value(4.0, 3.0), 4)
        True
    """
    _check(m2, kappa)
    if not 0 < alpha < 1:
        raise StatsError(f"alpha: found {alpha}, expected a level in (0, 1)")
    if math.isinf(m2):
        return math.nan
    if m2 == 0 or kappa == 1:
        return _known_bias_cv(m2, alpha)
    lo = _known_bias_cv(m2, alpha)  # ρ ≥ r(m2): non-coverage at least α here
    hi = math.sqrt((1.0 + m2) / alpha)  # Chebyshev: non-coverage at most α here
    if lo >= hi:
        return hi

    def excess(chi: float) -> float:
        return ebci_max_non_coverage(m2, kappa, chi) - alpha

    if excess(hi) >= 0:
        return hi
    return float(optimize.brentq(excess, lo, hi, xtol=1e-12, rtol=1e-14))


def ebci_parametric_critical_value(m2: float, alpha: float = 0.05) -> float:
    """The parametric (normal effects) critical value ``z_{1−α/2}·√(1 + m₂)``.

    With ``m₂ = σ²/μ₂`` the half-width ``cv·wσ`` is ``z·√w·σ``, the posterior
    standard deviation times ``z`` (Morris 1983).

    Example:
        >>> round(ebci_parametric_critical_value(0.0), 6)
        1.959964
    """
    _check(m2, math.inf)
    if not 0 < alpha < 1:
        raise StatsError(f"alpha: found {alpha}, expected a level in (0, 1)")
    return float(special.ndtri(1 - alpha / 2)) * math.sqrt(1.0 + m2)
