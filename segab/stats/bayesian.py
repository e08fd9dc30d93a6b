"""Bayesian inference: beta-binomial for binary metrics, normal approximation otherwise.

* Binary: each arm's rate gets a ``Beta(a, b)`` prior (default ``Beta(1, 1)``),
  so the posterior is ``Beta(a + x, b + n − x)``. The chance to beat control
  ``P(p_t > p_c) = ∫ f_t(p)·F_c(p) dp`` and the expected loss
  ``E[max(p_c − p_t, 0)]`` are computed by numerical integration
  (``scipy.integrate.quad``) of exact beta densities; the inner expectation is
  closed-form, ``E[(p_c − p)^+] = μ_c(1 − F_{Beta(a_c+1, b_c)}(p)) − p(1 − F_c(p))``.
  The credible intervals use the normal approximation of the difference of the
  two posteriors (mean and variance are exact).
* Means, CUPED, ratio: the estimate ``Δ̂ ~ N(Δ, V)`` with a ``Normal(μ₀, τ²)``
  prior on the absolute effect Δ (default flat, ``τ² = inf``). The posterior
  is normal with precision ``1/V + 1/τ²``; chance to win ``Φ(μ/σ)``, expected
  loss ``σφ(μ/σ) − μΦ(−μ/σ)``.

The relative lift is ``Δ/m_c`` with the delta-method variance
``V_post/m_c² + μ²·v_c/m_c⁴ + 2μ·v_c/m_c³`` (``v_c = Var(m_c)``), which reduces
to the frequentist formula under a flat prior. The expected loss is the risk
of shipping the treatment: ``E[max(−Δ, 0)]``, or ``E[max(Δ, 0)]`` when the
alternative is ``"smaller"`` (lower is better). ``p_value`` is NaN.

Example:
    >>> r = beta_binomial([1000], [100], [1000], [130])
    >>> round(float(r.chance_to_win[0]), 3)
    0.982
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from segab.errors import StatsError
from segab.stats.estimates import (
    W_EMPTY,
    W_NO_VARIANCE,
    Estimates,
    add_warning,
    as_count_array,
    proportion_estimates,
)
from segab.stats.frequentist import Alternative, check_alpha, check_alternative
from segab.stats.result import ComparisonArrays

__all__ = [
    "BetaPrior",
    "NormalPrior",
    "beta_binomial",
    "beta_chance_to_win",
    "beta_expected_loss",
    "normal_chance_to_win",
    "normal_posterior",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BetaPrior:
    """``Beta(a, b)`` prior on each arm's conversion rate (default uniform).

    Example:
        >>> BetaPrior().a, BetaPrior(2, 20).b
        (1.0, 20)
    """

    a: float = 1.0
    b: float = 1.0

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise StatsError(f"BetaPrior.{name}: found {v!r}, expected a number > 0")


@dataclass(frozen=True)
class NormalPrior:
    """``Normal(mean, variance)`` prior on the absolute effect (default flat).

    Example:
        >>> NormalPrior(0.0, 0.01).variance
        0.01
    """

    mean: float = 0.0
    variance: float = math.inf

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise StatsError(f"NormalPrior.mean: found {self.mean!r}, expected a finite number")
        if not (self.variance > 0):
            raise StatsError(f"NormalPrior.variance: found {self.variance!r}, expected > 0")


def beta_chance_to_win(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``P(p_t > p_c)`` for independent ``Beta(a_t, b_t)`` and ``Beta(a_c, b_c)``.

    Example:
        >>> round(beta_chance_to_win(1, 1, 1, 1), 9)
        0.5
    """
    from scipy import integrate, stats  # the Bayesian method only: not loaded otherwise

    lo, hi = stats.beta.ppf([1e-13, 1 - 1e-13], a_t, b_t)
    mid = float(stats.beta.mean(a_t, b_t))

    def integrand(p: float) -> float:
        return float(stats.beta.pdf(p, a_t, b_t) * special.betainc(a_c, b_c, p))

    val, _ = integrate.quad(integrand, lo, hi, points=[mid], limit=200, epsabs=1e-12)
    return float(min(1.0, max(0.0, val)))


def beta_expected_loss(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``E[max(p_c − p_t, 0)]``: the expected loss of shipping the treatment.

    Example:
        >>> round(beta_expected_loss(1, 1, 1, 1), 9)  # E[max(U1 - U2, 0)] = 1/6
        0.166666667
    """
    from scipy import integrate, stats  # the Bayesian method only: not loaded otherwise

    mu_c = a_c / (a_c + b_c)
    lo, hi = stats.beta.ppf([1e-13, 1 - 1e-13], a_t, b_t)
    mid = float(stats.beta.mean(a_t, b_t))

    def integrand(p: float) -> float:
        upper = mu_c * (1.0 - special.betainc(a_c + 1, b_c, p)) - p * (
            1.0 - special.betainc(a_c, b_c, p)
        )
        return float(stats.beta.pdf(p, a_t, b_t) * max(upper, 0.0))

    val, _ = integrate.quad(integrand, lo, hi, points=[mid], limit=200, epsabs=1e-14)
    return float(max(0.0, val))


def _normal_summary(
    mu: FloatArray, var: FloatArray, alpha: float, alternative: Alternative
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Chance to win, expected loss and credible interval of ``N(mu, var)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.where(var > 0, np.sqrt(var), np.nan)
        z = mu / sd
        ctw = special.ndtr(z)
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        loss_down = sd * pdf - mu * special.ndtr(-z)  # E[max(-Δ, 0)]
        loss = loss_down + mu if alternative == "smaller" else loss_down
        q = special.ndtri(1 - alpha / 2)
    return ctw, loss, mu - q * sd, mu + q * sd


def normal_chance_to_win(mean: float, sd: float) -> tuple[float, float]:
    """Chance to win ``P(Δ > 0)`` and expected loss ``E[max(−Δ, 0)]`` of ``Δ ~ N(mean, sd²)``.

    The closed forms of :func:`normal_posterior`'s summaries, for one effect whose
    posterior is already normal (e.g. a period-stratified estimate under a flat prior).

    Example:
        >>> ctw, loss = normal_chance_to_win(0.0, 1.0)
        >>> round(ctw, 6), round(loss, 6)     # 1/2 and φ(0) = 1/√(2π)
        (0.5, 0.398942)
    """
    ctw, loss, _, _ = _normal_summary(
        np.array([mean], dtype=np.float64), np.array([sd * sd], dtype=np.float64), 0.05, "two-sided"
    )
    return float(ctw[0]), float(loss[0])


def _result(
    est: Estimates,
    mu: FloatArray,
    var: FloatArray,
    m_c: FloatArray,
    *,
    alpha: float,
    alternative: Alternative,
    test: str,
    ctw: FloatArray | None = None,
    loss: FloatArray | None = None,
) -> ComparisonArrays:
    n_ctw, n_loss, lo, hi = _normal_summary(mu, var, alpha, alternative)
    warnings = [list(w) for w in est.warnings]
    add_warning(warnings, est.abs_var == 0, W_NO_VARIANCE)
    vc = est.var_control_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(m_c == 0, np.nan, m_c)
        rel = mu / safe
        rel_var = var / safe**2 + mu**2 * vc / safe**4 + 2 * mu * vc / safe**3
    q = special.ndtri(1 - alpha / 2)
    rel_sd = np.where(rel_var > 0, np.sqrt(rel_var), np.nan)
    return ComparisonArrays(
        control_mean=est.control_mean,
        treatment_mean=est.treatment_mean,
        n_control=est.n_control,
        n_treatment=est.n_treatment,
        abs_lift=mu,
        abs_ci_low=lo,
        abs_ci_high=hi,
        rel_lift=rel,
        rel_ci_low=rel - q * rel_sd,
        rel_ci_high=rel + q * rel_sd,
        p_value=np.full(len(est), np.nan),
        test=(test,) * len(est),
        method="bayesian",
        alpha=alpha,
        alternative=alternative,
        chance_to_win=n_ctw if ctw is None else ctw,
        expected_loss=n_loss if loss is None else loss,
        variance_reduction=est.variance_reduction,
        abs_se=np.sqrt(var),
        rel_se=rel_sd,
        warnings=tuple(tuple(w) for w in warnings),
    )


def normal_posterior(
    est: Estimates,
    *,
    prior: NormalPrior | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ComparisonArrays:
    """Normal-approximation Bayesian comparison with a normal prior on the effect.

    Example:
        >>> from segab.stats.estimates import mean_estimates
        >>> r = normal_posterior(mean_estimates([100], [100.0], [300.0], [100], [150.0], [400.0]))
        >>> bool(r.chance_to_win[0] > 0.99)
        True
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    prior = prior or NormalPrior()
    v = np.where(est.abs_var > 0, est.abs_var, np.nan)
    if math.isinf(prior.variance):
        mu, var = est.abs_lift, v
    else:
        prec = 1.0 / v + 1.0 / prior.variance
        mu = (est.abs_lift / v + prior.mean / prior.variance) / prec
        var = 1.0 / prec
    m_c = est.control_mean if est.adj_control_mean is None else est.adj_control_mean
    return _result(est, mu, var, m_c, alpha=alpha, alternative=alternative, test="normal_posterior")


def beta_binomial(
    n_c: npt.ArrayLike,
    x_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    x_t: npt.ArrayLike,
    *,
    prior: BetaPrior | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ComparisonArrays:
    """Beta-binomial comparison of conversion rates in every cell.

    Example:
        >>> r = beta_binomial([500], [50], [500], [50])
        >>> round(float(r.chance_to_win[0]), 6)
        0.5
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    prior = prior or BetaPrior()
    base = proportion_estimates(n_c, x_c, n_t, x_t)
    nc, xc = as_count_array("n_control", n_c), as_count_array("conversions_control", x_c)
    nt, xt = as_count_array("n_treatment", n_t), as_count_array("conversions_treatment", x_t)
    a_c, b_c = prior.a + xc, prior.b + nc - xc
    a_t, b_t = prior.a + xt, prior.b + nt - xt
    mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    var_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
    var_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1))
    empty = (nc == 0) | (nt == 0)
    warnings = [list(ws) for ws in base.warnings]
    add_warning(warnings, empty, W_EMPTY)
    ctw = np.full(nc.shape, np.nan)
    loss = np.full(nc.shape, np.nan)
    for i in np.flatnonzero(~empty):
        args = (float(a_c[i]), float(b_c[i]), float(a_t[i]), float(b_t[i]))
        ctw[i] = beta_chance_to_win(*args)
        down = beta_expected_loss(*args)
        loss[i] = down + (mean_t[i] - mean_c[i]) if alternative == "smaller" else down
    mu = np.where(empty, np.nan, mean_t - mean_c)
    var = np.where(empty, np.nan, var_c + var_t)
    est = Estimates(
        control_mean=base.control_mean,
        treatment_mean=base.treatment_mean,
        n_control=nc,
        n_treatment=nt,
        abs_lift=mu,
        abs_var=var,
        rel_lift=np.full(nc.shape, np.nan),
        rel_var=np.full(nc.shape, np.nan),
        var_control_mean=var_c,
        df=base.df,
        test="beta_binomial",
        warnings=warnings,
    )
    return _result(
        est,
        mu,
        var,
        np.where(empty, np.nan, mean_c),
        alpha=alpha,
        alternative=alternative,
        test="beta_binomial",
        ctw=ctw,
        loss=loss,
    )
