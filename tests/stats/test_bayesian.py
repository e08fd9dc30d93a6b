"""Bayesian comparisons checked against Monte Carlo estimates with a fixed seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segab.stats import BetaPrior, MeanStats, NormalPrior, ProportionStats, compare
from segab.stats.bayesian import beta_chance_to_win, beta_expected_loss

DRAWS = 400_000

BETA_CASES = [
    (1000, 100, 1000, 120, BetaPrior()),
    (10000, 1000, 10000, 1100, BetaPrior()),
    (50, 3, 60, 9, BetaPrior()),
    (2000, 1500, 2100, 1540, BetaPrior(2.0, 5.0)),
    (400, 40, 400, 30, BetaPrior(10.0, 90.0)),
]


@pytest.mark.parametrize(("n_c", "x_c", "n_t", "x_t", "prior"), BETA_CASES)
def test_beta_binomial_against_monte_carlo(
    n_c: int, x_c: int, n_t: int, x_t: int, prior: BetaPrior
) -> None:
    """Oracle: Monte Carlo (seed 2024, 400k draws) of the Beta posteriors; within 4 MC SEs."""
    c = compare(
        ProportionStats(n_c, x_c), ProportionStats(n_t, x_t), method="bayesian", prior=prior
    )
    rng = np.random.default_rng(2024)
    pc = rng.beta(prior.a + x_c, prior.b + n_c - x_c, DRAWS)
    pt = rng.beta(prior.a + x_t, prior.b + n_t - x_t, DRAWS)
    win = pt > pc
    mc_ctw = win.mean()
    assert c.chance_to_win is not None and c.expected_loss is not None
    assert c.chance_to_win == pytest.approx(
        mc_ctw, abs=4 * math.sqrt(mc_ctw * (1 - mc_ctw) / DRAWS) + 1e-6
    )
    loss = np.maximum(pc - pt, 0)
    assert c.expected_loss == pytest.approx(
        loss.mean(), abs=4 * loss.std() / math.sqrt(DRAWS) + 1e-9
    )
    # credible interval: the normal approximation is close to the MC quantiles
    lo, hi = np.quantile(pt - pc, [0.025, 0.975])
    sd = (pt - pc).std()
    assert c.abs_ci_low == pytest.approx(lo, abs=0.1 * sd)
    assert c.abs_ci_high == pytest.approx(hi, abs=0.1 * sd)
    assert math.isnan(c.p_value) and c.method == "bayesian" and c.test == "beta_binomial"


def test_beta_closed_forms() -> None:
    """Closed forms: P(U₂ > U₁) = 1/2 and E[max(U₁ − U₂, 0)] = 1/6 for uniforms."""
    assert beta_chance_to_win(1, 1, 1, 1) == pytest.approx(0.5, abs=1e-10)
    assert beta_expected_loss(1, 1, 1, 1) == pytest.approx(1 / 6, abs=1e-10)
    # Beta(2,1) vs Beta(1,1): P(max of two uniforms > uniform) = 2/3
    assert beta_chance_to_win(1, 1, 2, 1) == pytest.approx(2 / 3, abs=1e-10)


def test_normal_posterior_against_monte_carlo() -> None:
    """Oracle: Monte Carlo of N(Δ̂, V) with a flat prior (seed 7)."""
    c_stats = MeanStats.from_moments(500, 10.0, 16.0)
    t_stats = MeanStats.from_moments(500, 10.4, 18.0)
    c = compare(c_stats, t_stats, method="bayesian")
    v = 16.0 / 500 + 18.0 / 500
    draws = np.random.default_rng(7).normal(0.4, math.sqrt(v), DRAWS)
    assert c.chance_to_win == pytest.approx((draws > 0).mean(), abs=3e-3)
    assert c.expected_loss == pytest.approx(np.maximum(-draws, 0).mean(), abs=3e-4)
    assert c.abs_ci_low == pytest.approx(0.4 - 1.959963985 * math.sqrt(v), rel=1e-8)


def test_normal_prior_shrinks() -> None:
    """Closed form: posterior mean (Δ̂/V + μ₀/τ²)/(1/V + 1/τ²)."""
    c_stats = MeanStats.from_moments(100, 10.0, 16.0)
    t_stats = MeanStats.from_moments(100, 11.0, 16.0)
    v = 0.32
    tau2 = 0.1
    c = compare(c_stats, t_stats, method="bayesian", prior=NormalPrior(0.0, tau2))
    assert c.abs_lift == pytest.approx((1.0 / v) / (1 / v + 1 / tau2), rel=1e-9)
    flat = compare(c_stats, t_stats, method="bayesian")
    assert flat.abs_lift == pytest.approx(1.0, rel=1e-12)
    assert flat.rel_lift == pytest.approx(0.1, rel=1e-9)


def test_significance_uses_chance_to_win() -> None:
    """A Bayesian result is a finding when the chance to win passes 1 − α/2 (or α/2)."""
    strong = compare(ProportionStats(5000, 500), ProportionStats(5000, 650), method="bayesian")
    weak = compare(ProportionStats(5000, 500), ProportionStats(5000, 510), method="bayesian")
    assert strong.significant and not weak.significant
    assert strong.to_dict()["p_value"] is None
