"""Which arm is best: posterior probabilities and expected losses of K arms.

Each arm's metric has an independent posterior:

* :class:`BetaArms`: binary metrics, ``Beta(a + x, b + n − x)`` from a
  ``Beta(a, b)`` prior (default ``Beta(1, 1)``);
* :class:`NormalArms`: continuous and ratio metrics, ``N(mean, var)`` with the
  arm's mean and the variance of that mean (``s²/n``, delta method for ratios),
  i.e. a flat prior on each arm's mean.

:func:`best_arm` returns, for every arm ``k``, the probability that it is the
best, ``P(θ_k = max_j θ_j)``, and the expected loss of choosing it,
``E[max_j θ_j − θ_k]`` (the conversions, or metric units, given up per unit
against the best arm). Methods:

* ``"exact"`` (two arms): normal, ``P(θ_1 > θ_0) = Φ((m_1 − m_0)/sqrt(v_0 + v_1))``
  and ``E[max(θ_1 − θ_0, 0)] = σφ(d/σ) + dΦ(d/σ)``; beta, Evan Miller's closed form
  ``P(p_B > p_A) = Σ_{i=0}^{a_B−1} B(a_A+i, b_A+b_B) / ((b_B+i) B(1+i, b_B) B(a_A, b_A))``
  (needs an integer ``a`` for one arm; summed in log space over the arm with the
  smaller integer ``a``) and the loss from the same formula with shifted
  parameters, ``E[(p_B − p_A)^+] = μ_B·P(p_B' > p_A) − μ_A·P(p_B > p_A')`` where
  ``p' ~ Beta(a + 1, b)`` (size-biasing);
* ``"quadrature"`` (any K): the one-dimensional integrals
  ``P(best_k) = ∫ f_k(x) Π_{i≠k} F_i(x) dx`` and
  ``E[max] = L + ∫_L^H (1 − Π_i F_i(x)) dx`` (``L``, ``H`` beyond every arm's
  ``10^-14`` quantiles), by ``scipy.integrate.quad``;
* ``"monte_carlo"`` (any K): ``draws`` joint posterior draws from
  ``numpy.random.default_rng(seed)`` (PCG64); the seed, the number of draws and
  the Monte Carlo standard errors are recorded in the result. A seed is required.
* ``"auto"``: exact for two arms when a closed form exists, else quadrature;
  Monte Carlo for more than two arms.

With ``lower_is_better`` the arms are compared on ``−θ`` (``1 − p`` for betas):
the best arm has the lowest metric and the loss is ``E[θ_k − min_j θ_j]``.

Example:
    >>> from segab.stats.posteriors import BetaArms
    >>> from segab.stats.sufficient import ProportionStats
    >>> r = best_arm(BetaArms.from_stats([ProportionStats(1000, 100), ProportionStats(1000, 120)]))
    >>> round(r.prob_best[1], 6), r.method
    (0.923183, 'exact')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import integrate, special

from segab.errors import StatsError
from segab.stats.posteriors import ArmPosteriors, BetaArms, NormalArms
from segab.stats.result import json_ready

__all__ = ["BestArm", "BestArmMethod", "best_arm", "beta_prob_greater"]

BestArmMethod = Literal["auto", "exact", "quadrature", "monte_carlo"]
FloatArray = npt.NDArray[np.float64]

_TAIL = 1e-14  # quantile beyond which the integrals are cut (mass below 1e-13 in all)
_NORMAL_SPAN = 8.0  # = -ndtri(1e-15): the normal quantile of the same cut
_MAX_TERMS = 5_000_000  # Evan Miller's sum beyond this many terms: quadrature instead


@dataclass(frozen=True)
class BestArm:
    """Probability that each arm is best, and the expected loss of choosing each.

    ``mc_se_*`` are the Monte Carlo standard errors (``None`` for the exact and
    quadrature methods); ``seed`` and ``draws`` are recorded for Monte Carlo.

    Example:
        >>> r = best_arm(NormalArms((0.0, 0.0), (1.0, 1.0)))
        >>> r.prob_best, round(r.expected_loss[0], 6)
        ((0.5, 0.5), 0.56419)
    """

    prob_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    posterior_mean: tuple[float, ...]
    posterior_sd: tuple[float, ...]
    family: Literal["beta", "normal"]
    method: Literal["exact", "quadrature", "monte_carlo"]
    lower_is_better: bool = False
    seed: int | None = None
    draws: int | None = None
    mc_se_prob_best: tuple[float, ...] | None = None
    mc_se_expected_loss: tuple[float, ...] | None = None

    @property
    def leader(self) -> int:
        """Index of the arm most likely to be best (the first on ties).

        Example:
            >>> best_arm(NormalArms((0.0, 1.0), (1.0, 1.0))).leader
            1
        """
        return int(np.argmax(self.prob_best))

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict (the posterior summary behind an allocation).

        Example:
            >>> best_arm(NormalArms((0.0, 1.0), (1.0, 1.0))).to_dict()["method"]
            'exact'
        """
        return dict(json_ready(asdict(self)))


def _log_beta_greater(a_a: float, b_a: float, a_b: int, b_b: float) -> float:
    """``P(p_B > p_A)`` by Evan Miller's sum over ``i < a_B`` (``a_B`` integer)."""
    i = np.arange(a_b, dtype=np.float64)
    terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1.0 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    top = float(terms.max())
    return math.exp(top) * float(np.sum(np.exp(terms - top)))


def _integer(v: float) -> bool:
    return float(v).is_integer() and v <= _MAX_TERMS


def beta_prob_greater(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """``P(p_B > p_A)`` for ``p_A ~ Beta(a_a, b_a)``, ``p_B ~ Beta(a_b, b_b)``, closed form.

    Evan Miller, "Formulas for Bayesian A/B testing" (2015): exact when ``a_b``
    (or, by symmetry, ``a_a``) is an integer; the sum runs over the smaller one.

    Example:
        >>> round(beta_prob_greater(101, 901, 121, 881), 6)
        0.923183
    """
    options = [v for v in (a_a, a_b) if _integer(v)]
    if not options:
        raise StatsError(
            f"beta_prob_greater: found a_a = {a_a!r} and a_b = {a_b!r}, expected one of them "
            f"to be an integer up to {_MAX_TERMS:,} for the closed form (use quadrature)"
        )
    if _integer(a_b) and (not _integer(a_a) or a_b <= a_a):
        p = _log_beta_greater(a_a, b_a, int(a_b), b_b)
    else:
        p = 1.0 - _log_beta_greater(a_b, b_b, int(a_a), b_a)
    return min(1.0, max(0.0, p))


def _flip(arms: ArmPosteriors, lower_is_better: bool) -> ArmPosteriors:
    if not lower_is_better:
        return arms
    if isinstance(arms, BetaArms):
        return BetaArms(arms.b, arms.a)  # 1 − p ~ Beta(b, a)
    return NormalArms(tuple(-m for m in arms.mean), arms.sd)


def _exact(arms: ArmPosteriors) -> tuple[list[float], list[float]] | None:
    if isinstance(arms, NormalArms):
        d = arms.mean[1] - arms.mean[0]
        s = math.hypot(arms.sd[0], arms.sd[1])
        p1 = float(special.ndtr(d / s))
        loss0 = s * math.exp(-0.5 * (d / s) ** 2) / math.sqrt(2 * math.pi) + d * p1
        return [1.0 - p1, p1], [loss0, loss0 - d]
    (a0, a1), (b0, b1) = arms.a, arms.b
    if not (_integer(a0) or _integer(a1)):
        return None
    m0, m1 = a0 / (a0 + b0), a1 / (a1 + b1)
    p1 = beta_prob_greater(a0, b0, a1, b1)
    # E[(p1 − p0)^+] = μ1·P(p1' > p0) − μ0·P(p1 > p0'), p' ~ Beta(a + 1, b)
    loss0 = m1 * beta_prob_greater(a0, b0, a1 + 1, b1) - m0 * beta_prob_greater(a0 + 1, b0, a1, b1)
    loss0 = max(loss0, 0.0)
    return [1.0 - p1, p1], [loss0, max(loss0 - (m1 - m0), 0.0)]


def _dists(
    arms: ArmPosteriors,
) -> tuple[list[Callable[[float], float]], list[Callable[[float], float]], FloatArray, FloatArray]:
    """Per-arm pdf and cdf, and the integration range of each arm."""
    if isinstance(arms, BetaArms):
        a, b = np.array(arms.a), np.array(arms.b)
        lo = special.betaincinv(a, b, _TAIL)
        hi = special.betaincinv(a, b, 1 - _TAIL)

        def beta_pdf(k: int) -> Callable[[float], float]:
            ak, bk, c = a[k], b[k], special.betaln(a[k], b[k])
            return lambda x: math.exp((ak - 1) * math.log(x) + (bk - 1) * math.log1p(-x) - c)

        def beta_cdf(k: int) -> Callable[[float], float]:
            return lambda x: float(special.betainc(a[k], b[k], x))

        return [beta_pdf(k) for k in range(len(a))], [beta_cdf(k) for k in range(len(a))], lo, hi
    m, s = np.array(arms.mean), np.array(arms.sd)

    def normal_pdf(k: int) -> Callable[[float], float]:
        mk, sk = m[k], s[k]
        return lambda x: math.exp(-0.5 * ((x - mk) / sk) ** 2) / (sk * math.sqrt(2 * math.pi))

    def normal_cdf(k: int) -> Callable[[float], float]:
        mk, sk = m[k], s[k]
        return lambda x: float(special.ndtr((x - mk) / sk))

    return (
        [normal_pdf(k) for k in range(len(m))],
        [normal_cdf(k) for k in range(len(m))],
        m - _NORMAL_SPAN * s,
        m + _NORMAL_SPAN * s,
    )


def _quadrature(arms: ArmPosteriors) -> tuple[list[float], list[float]]:
    pdfs, cdfs, lo, hi = _dists(arms)
    means = np.array(arms.mean)
    k_arms = len(pdfs)
    probs = []
    for k in range(k_arms):
        others = [cdfs[i] for i in range(k_arms) if i != k]
        pts = [float(x) for x in np.concatenate([means, lo, hi]) if lo[k] < x < hi[k]]

        def integrand(
            x: float, k: int = k, others: list[Callable[[float], float]] = others
        ) -> float:
            value = pdfs[k](x)
            for cdf in others:
                value *= cdf(x)
            return value

        val, _ = integrate.quad(
            integrand, lo[k], hi[k], points=pts or None, limit=500, epsabs=1e-13, epsrel=1e-11
        )
        probs.append(val)
    low, high = float(lo.min()), float(hi.max())
    pts = [float(x) for x in np.concatenate([means, lo, hi]) if low < x < high]

    def tail(x: float) -> float:
        value = 1.0
        for cdf in cdfs:
            value *= cdf(x)
        return 1.0 - value

    e_max, _ = integrate.quad(tail, low, high, points=pts or None, limit=500, epsabs=1e-14)
    e_max += low
    total = sum(probs)
    return [p / total for p in probs], [max(e_max - float(m), 0.0) for m in means]


def _monte_carlo(
    arms: ArmPosteriors, seed: int, draws: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    rng = np.random.default_rng(seed)
    k_arms = len(arms.mean)
    if isinstance(arms, BetaArms):
        theta = rng.beta(np.array(arms.a), np.array(arms.b), size=(draws, k_arms))
    else:
        theta = rng.normal(np.array(arms.mean), np.array(arms.sd), size=(draws, k_arms))
    best = theta.max(axis=1)
    p = np.bincount(np.argmax(theta, axis=1), minlength=k_arms) / draws
    loss = best[:, None] - theta
    return (
        p.tolist(),
        loss.mean(axis=0).tolist(),
        np.sqrt(p * (1 - p) / draws).tolist(),
        (loss.std(axis=0, ddof=1) / math.sqrt(draws)).tolist(),
    )


def best_arm(
    arms: ArmPosteriors,
    *,
    method: BestArmMethod = "auto",
    seed: int | None = None,
    draws: int = 100_000,
    lower_is_better: bool = False,
) -> BestArm:
    """Probability that each arm is best and the expected loss of choosing each.

    See the module docstring for the methods. ``method="exact"`` raises
    :class:`~segab.errors.StatsError` when no closed form exists (more than two
    arms, or two betas without an integer ``a``); ``"monte_carlo"`` needs an
    integer ``seed``.

    Example:
        >>> arms = BetaArms((101.0, 121.0, 111.0), (901.0, 881.0, 891.0))
        >>> q = best_arm(arms, method="quadrature")
        >>> mc = best_arm(arms, method="monte_carlo", seed=1)
        >>> abs(q.prob_best[1] - mc.prob_best[1]) < 4 * mc.mc_se_prob_best[1]
        True
    """
    if method not in ("auto", "exact", "quadrature", "monte_carlo"):
        raise StatsError(
            f"method: found {method!r}, expected 'auto', 'exact', 'quadrature' or 'monte_carlo'"
        )
    work = _flip(arms, lower_is_better)
    family: Literal["beta", "normal"] = "beta" if isinstance(arms, BetaArms) else "normal"
    k_arms = len(arms.mean)
    chosen = method
    if method == "auto":
        chosen = "exact" if k_arms == 2 else "monte_carlo"
    result = _exact(work) if chosen == "exact" and k_arms == 2 else None
    if chosen == "exact" and result is None:
        if method == "exact":
            raise StatsError(
                f"method 'exact': no closed form for {k_arms} {family} arms (two arms, and for "
                "betas an integer a); use 'quadrature' or 'monte_carlo'"
            )
        chosen = "quadrature"
    common: dict[str, Any] = {
        "posterior_mean": arms.mean,
        "posterior_sd": arms.sd,
        "family": family,
        "lower_is_better": lower_is_better,
    }
    if chosen == "monte_carlo":
        if seed is None or isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise StatsError(
                f"seed: found {seed!r}, expected an integer seed for Monte Carlo "
                "(it is recorded in the result)"
            )
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 100:
            raise StatsError(f"draws: found {draws!r}, expected an integer >= 100")
        p, loss, se_p, se_loss = _monte_carlo(work, int(seed), draws)
        return BestArm(
            tuple(p),
            tuple(loss),
            method="monte_carlo",
            seed=int(seed),
            draws=draws,
            mc_se_prob_best=tuple(se_p),
            mc_se_expected_loss=tuple(se_loss),
            **common,
        )
    if result is None:
        result = _quadrature(work)
        chosen = "quadrature"
    p, loss = result
    return BestArm(tuple(p), tuple(loss), method=chosen, **common)  # type: ignore[arg-type]
