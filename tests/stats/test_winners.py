"""Inference on winners (Andrews, Kitagawa and McCloskey 2024) against oracles and simulation.

Oracles: scipy.stats.truncnorm for the truncated normal CDF; the Sidak closed form and a
Monte Carlo quantile for the projection critical value; coverage simulations (the
conditional interval is exact given the selection, the hybrid keeps >= 1 - alpha).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from segab.errors import StatsError
from segab.stats import projection_critical_value, truncated_normal_cdf, winner_inference


@pytest.mark.parametrize(
    ("x", "mu", "low", "high"),
    [
        (0.3, 0.0, -1.0, 2.0),
        (5.0, 0.0, 4.0, math.inf),
        (12.5, 0.0, 12.0, 14.0),
        (-9.5, 0.0, -math.inf, -9.0),
        (1.0, 3.0, 0.5, 1.5),
        (2.0, -1.0, 1.0, math.inf),
    ],
)
def test_truncated_normal_cdf_matches_scipy(x: float, mu: float, low: float, high: float) -> None:
    expected = stats.truncnorm.cdf(x, low - mu, high - mu, loc=mu, scale=1.0)
    assert truncated_normal_cdf(x, mu, 1.0, low, high) == pytest.approx(expected, rel=1e-9)


def test_projection_critical_value() -> None:
    assert projection_critical_value(np.eye(1), 0.05) == pytest.approx(stats.norm.ppf(0.975))
    # Sidak for independent arms: P(max |xi| <= c) = (2 Phi(c) - 1)^K = 0.995
    c = projection_critical_value(np.eye(4) * 2.0, 0.005)
    assert (2 * stats.norm.cdf(c) - 1) ** 4 == pytest.approx(0.995, abs=1e-12)
    # correlated arms need a smaller value than independent ones
    corr = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    assert projection_critical_value(corr, 0.005) < c


def test_a_clear_winner_gets_the_normal_interval() -> None:
    r = winner_inference([8.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    z = stats.norm.ppf(0.975)
    assert r.conditional_ci_low == pytest.approx(8.0 - z, abs=1e-6)
    assert r.conditional_ci_high == pytest.approx(8.0 + z, abs=1e-6)
    assert r.conditional_estimate == pytest.approx(8.0, abs=1e-6)
    assert r.truncation == (0.0, math.inf)


def test_one_arm_is_no_selection() -> None:
    r = winner_inference([0.2], [0.1])
    assert r.conditional_ci_low == pytest.approx(0.2 - stats.norm.ppf(0.975) * 0.1, abs=1e-9)
    assert r.hybrid_estimate == pytest.approx(0.2, abs=1e-9)


def test_a_close_race_pulls_the_estimate_down_and_hybrid_stays_in_projection() -> None:
    r = winner_inference([1.0, 0.95, 0.0], [1.0, 1.0, 1.0])
    assert r.conditional_estimate < 0.5 and r.hybrid_estimate < 1.0
    assert r.projection_ci_low <= r.hybrid_ci_low < r.hybrid_ci_high <= r.projection_ci_high
    assert r.conditional_ci_low < r.hybrid_ci_low  # the conditional interval is the long one


@pytest.mark.parametrize("means", [np.zeros(5), np.array([0.5, 0.4, 0.0, 0.0, -1.0])])
def test_coverage_and_median_unbiasedness(means: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    sims = 800
    hybrid = cond = naive = above = 0
    for _ in range(sims):
        x = means + rng.normal(0, 1, means.size)
        r = winner_inference(x, np.ones(means.size))
        truth = means[r.winner]
        hybrid += r.hybrid_ci_low <= truth <= r.hybrid_ci_high
        cond += r.conditional_ci_low <= truth <= r.conditional_ci_high
        naive += abs(r.estimate - truth) <= 1.959964
        above += r.conditional_estimate > truth
    assert hybrid / sims >= 0.93 and cond / sims >= 0.93  # 0.95 less ~2.5 Monte Carlo SEs
    assert naive / sims < 0.92  # the winner's curse, for contrast
    assert abs(above / sims - 0.5) < 0.06


def test_shared_control_covariance() -> None:
    """Variants against one control: Cov(d_j, d_k) = Var(control); coverage of the hybrid."""
    rng = np.random.default_rng(9)
    cov = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    hits = 0
    for _ in range(400):
        r = winner_inference(rng.multivariate_normal(np.zeros(3), cov), cov=cov)
        hits += r.hybrid_ci_low <= 0.0 <= r.hybrid_ci_high
    assert hits / 400 >= 0.92


def test_bad_input() -> None:
    with pytest.raises(StatsError, match="neither std_errors nor cov"):
        winner_inference([0.1, 0.2])
    with pytest.raises(StatsError, match="one each"):
        winner_inference([0.1, 0.2], [0.1])
    with pytest.raises(StatsError, match="0 < beta < alpha"):
        winner_inference([0.1, 0.2], [0.1, 0.1], alpha=0.05, beta=0.1)
    with pytest.raises(StatsError, match="K x K"):
        winner_inference([0.1, 0.2], cov=np.eye(3))
