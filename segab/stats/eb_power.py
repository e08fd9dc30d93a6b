"""Power and sample size when decisions use the shrunken (robust EB) interval.

With ``analysis.shrinkage: eb`` a cell's decision rests on
``θ̂ = μ + w(Y − μ)``, ``w = τ²/(τ² + σ²)``, and the robust interval
``θ̂ ± cva_α(m₂, κ)·w·σ`` with ``m₂ = σ²/τ²`` (:mod:`segab.stats.ebci`;
Armstrong, Kolesár and Plagborg-Møller 2022). ``σ² = v(1/n_C + 1/n_T)`` is the
cell's sampling variance (``v = p(1 − p)`` for a binary metric, the variance
otherwise) and ``τ`` the spread of the true cell effects around their mean.

**Planning model.** The cell's true effect ``δ`` equals the mean of the cells'
effects (every cell improves by about the same; the spread ``τ`` is the
expected heterogeneity), and the mean is estimated from ``K`` cells of the same
size: ``μ̂ ~ N(δ, (σ² + τ²)/K)``. Then ``θ̂ = (1 − w)μ̂ + wY`` has mean ``δ`` and,
treating ``μ̂`` and ``Y`` as independent, variance
``s² = w²σ² + (1 − w)²(σ² + τ²)/K``; the one-sided power of the interval to
exclude 0 is ``Φ((δ − cva·w·σ)/s)``. With ``K → ∞`` it is ``Φ(δ/(wσ) − cva)``;
as ``τ → ∞`` there is no shrinkage (``w = 1``, ``cva = z_{1−α/2}``) and it is
the usual normal power. A cell whose effect
is far from the others' is shrunk towards them and has *less* power than
without shrinkage; plan such cells without it.

Example:
    >>> n_raw = eb_sample_size_per_arm(0.02, 0.3, tau=1e9, cells=16)
    >>> n_eb = eb_sample_size_per_arm(0.02, 0.3, tau=0.005, cells=16)
    >>> n_raw, n_eb < n_raw
    (3532, True)
"""

from __future__ import annotations

import math

from scipy import special

from segab.errors import StatsError
from segab.stats.ebci import ebci_critical_value

__all__ = ["eb_power", "eb_sample_size_per_arm"]


def _phi(x: float) -> float:
    return float(special.ndtr(x))


def eb_power(
    delta: float,
    sigma: float,
    *,
    tau: float,
    cells: int,
    alpha: float = 0.05,
    kappa: float = math.inf,
) -> float:
    """Power of the robust EB interval to exclude 0 for a cell at the mean effect ``delta``.

    ``sigma`` is the cell's standard error without shrinkage, ``tau`` the spread of
    the true cell effects (same units as ``delta``), ``cells`` the number ``K`` of
    cells shrunk together, ``kappa`` the effects' kurtosis (``inf``: the
    second-moment-only interval, the most conservative).

    Example:
        >>> round(eb_power(0.02, 0.01, tau=1e9, cells=16), 4)   # no shrinkage: Φ(2 − 1.96)
        0.516
        >>> round(eb_power(0.02, 0.01, tau=0.005, cells=16), 4) > 0.516
        True
    """
    if not (math.isfinite(delta) and sigma > 0 and tau > 0 and 0 < alpha < 1 and cells >= 1):
        raise StatsError(
            f"eb_power: found delta={delta!r}, sigma={sigma!r}, tau={tau!r}, alpha={alpha!r}, "
            f"cells={cells!r}; expected a finite delta, sigma > 0, tau > 0, 0 < alpha < 1 "
            "and cells >= 1"
        )
    m2 = (sigma / tau) ** 2
    w = 1.0 / (1.0 + m2)
    cva = ebci_critical_value(m2, kappa=kappa, alpha=alpha)
    spread = math.sqrt((w * sigma) ** 2 + ((1 - w) ** 2) * (sigma**2 + tau**2) / cells)
    return _phi((abs(delta) - cva * w * sigma) / spread)


def eb_sample_size_per_arm(
    delta: float,
    std: float,
    *,
    tau: float,
    cells: int,
    alpha: float = 0.05,
    power: float = 0.8,
    kappa: float = math.inf,
    max_n: int = 10**9,
) -> int:
    """Smallest equal ``n`` per arm with :func:`eb_power` at least ``power``.

    ``delta`` is the absolute effect to detect, ``std`` the per-unit standard
    deviation (``√(p(1 − p))`` for a binary metric), so ``σ = std·√(2/n)``.
    Raises :class:`StatsError` when no ``n`` up to ``max_n`` reaches the power.
    ``power`` must be above 1/2: below it the model's power is not monotone in
    ``n`` (tiny cells borrow everything from the mean).

    Example:
        >>> eb_sample_size_per_arm(0.02, 0.3, tau=0.01, cells=16) < 3533  # 3533: no shrinkage
        True
    """
    if not (0.5 < power < 1 and std > 0 and delta != 0 and math.isfinite(delta)):
        raise StatsError(
            f"eb_sample_size_per_arm: found delta={delta!r}, std={std!r}, power={power!r}; "
            "expected delta != 0, std > 0 and 0.5 < power < 1"
        )

    def ok(n: int) -> bool:
        sigma = std * math.sqrt(2.0 / n)
        return eb_power(delta, sigma, tau=tau, cells=cells, alpha=alpha, kappa=kappa) >= power

    hi = 2
    while not ok(hi):
        if hi >= max_n:
            raise StatsError(
                f"no sample size up to {max_n:,} per arm reaches power {power:g} on shrunken "
                f"estimates for an effect of {delta:g} with a spread of cell effects of {tau:g}"
            )
        hi = min(hi * 2, max_n)
    lo = hi // 2  # ok(hi) and (hi == 2 or not ok(lo)); power rises with n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi
