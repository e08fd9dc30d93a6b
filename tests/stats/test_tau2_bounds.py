"""The Q-profile upper bound for tau^2 and the finite-sample corrected EB intervals.

Oracles: the equal-variance closed form ``max(S/chi2_{k-1}(beta) - sigma^2, 0)``
(scipy's chi-square quantile), the exact coverage of the bound under normal
random effects (a seeded simulation), and simulations of the average coverage
of the robust EB intervals with fixed, sparse (heavy-tailed) effects.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from segab.errors import StatsError
from segab.stats import ebci_critical_value, shrink, tau2_estimate, tau2_upper_bound
from segab.stats.tau2_bounds import generalized_q

DOMAIN_Y = [0.10, 0.02, -0.03, 0.05, 0.00]


@pytest.mark.parametrize("beta", [0.005, 0.05, 0.3])
def test_equal_variances_match_the_closed_form(beta: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        k = int(rng.integers(3, 30))
        s = float(rng.uniform(0.1, 2.0))
        y = rng.normal(0, float(rng.uniform(0.0, 3.0)) + 0.01, size=k)
        big_s = float(np.sum((y - y.mean()) ** 2))
        expected = max(big_s / stats.chi2.ppf(beta, k - 1) - s * s, 0.0)
        assert tau2_upper_bound(y, [s] * k, beta) == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_the_bound_solves_q_equal_to_the_quantile_with_unequal_errors() -> None:
    y = np.array([0.3, -0.1, 0.05, 0.2, 0.6, -0.4, 0.0])
    se = np.array([0.1, 0.2, 0.05, 0.3, 0.15, 0.25, 0.1])
    u = tau2_upper_bound(y, se, 0.01)
    assert u > 0
    assert generalized_q(u, y, se) == pytest.approx(stats.chi2.ppf(0.01, 6), rel=1e-9)
    taus = np.linspace(0.0, 2.0, 50)
    q = [generalized_q(float(t), y, se) for t in taus]
    assert all(a > b for a, b in itertools.pairwise(q))  # Q decreases in tau^2


def test_the_bound_is_monotone_in_beta_and_above_the_estimate() -> None:
    rng = np.random.default_rng(3)
    se = rng.uniform(0.5, 2.0, size=12)
    y = rng.normal(0.0, np.sqrt(se**2 + 1.0))
    bounds = [tau2_upper_bound(y, se, b) for b in (0.001, 0.005, 0.05, 0.2)]
    assert all(a > b for a, b in itertools.pairwise(bounds))
    r = shrink(y, se, interval="ucb")
    assert r.groups[0].tau2_upper >= r.groups[0].tau2 >= tau2_estimate(y, se, "reml") - 1e-15


def test_the_bound_covers_at_its_level_under_normal_effects() -> None:
    """Exact under normal random effects: P(tau2_U >= tau2) = 1 - beta."""
    rng = np.random.default_rng(11)
    se = np.linspace(0.5, 2.0, 10)
    tau2, beta, reps = 1.0, 0.1, 2000
    hits = 0
    for _ in range(reps):
        y = rng.normal(0.3, np.sqrt(se**2 + tau2))
        hits += tau2_upper_bound(y, se, beta) >= tau2
    assert 0.875 <= hits / reps <= 0.925  # 0.90 +- 3.7 standard errors


def test_the_bound_covers_the_empirical_variance_of_fixed_sparse_effects() -> None:
    """Fixed (non-normal) effects: the bound covers their variance at least 1 - beta."""
    rng = np.random.default_rng(12)
    k, beta, reps = 16, 0.1, 2000
    theta = np.zeros(k)
    theta[:2] = 4.0
    mu2 = float(np.var(theta, ddof=1))
    hits = sum(
        tau2_upper_bound(theta + rng.normal(size=k), [1.0] * k, beta) >= mu2 for _ in range(reps)
    )
    assert hits / reps >= 1 - beta - 0.02


@pytest.mark.parametrize("kappa", [1.5, 3.0, 10.0, math.inf])
def test_the_critical_value_is_monotone(kappa: float) -> None:
    """Larger m2 (less shrinkage signal) or a smaller level: a larger critical value."""
    m2s = [0.01, 0.1, 0.5, 1.0, 4.0, 25.0]
    for alpha in (0.045, 0.05):
        cvs = [ebci_critical_value(m, kappa, alpha) for m in m2s]
        assert all(a < b for a, b in itertools.pairwise(cvs))
    for m in m2s:
        assert ebci_critical_value(m, kappa, 0.045) > ebci_critical_value(m, kappa, 0.05)


def _coverage(k: int, reps: int, seed: int) -> dict[str, float]:
    """Average coverage, equal errors, two large effects among nulls (kurtosis ~ 4)."""
    rng = np.random.default_rng(seed)
    se = np.ones(k)
    theta = np.zeros(k)
    theta[:2] = 3.0
    cover = {"plugin": 0.0, "ucb": 0.0}
    for _ in range(reps):
        y = theta + rng.normal(size=k)
        for method in cover:
            r = shrink(y, se, interval=method, intervals=False)  # type: ignore[arg-type]
            cv = ebci_critical_value(r.m2[0], r.groups[0].kappa, r.interval_alpha)
            half = cv * np.array(r.ci_weights) * se
            cover[method] += float(np.mean(np.abs(np.array(r.ci_centers) - theta) <= half))
    return {m: c / reps for m, c in cover.items()}


def test_the_corrected_intervals_are_conservative_where_the_plugin_ones_are_not() -> None:
    cov = _coverage(10, 200, 1)
    assert cov["ucb"] >= 0.945
    assert cov["ucb"] >= cov["plugin"] + 0.02


def test_ucb_keeps_point_estimates_and_widens_around_its_own_centres() -> None:
    rng = np.random.default_rng(5)
    se = rng.uniform(0.02, 0.05, size=8)
    y = rng.normal(0.02, 0.04, size=8)
    plug, ucb = shrink(y, se), shrink(y, se, interval="ucb")
    assert ucb.posterior_means == plug.posterior_means
    assert ucb.interval_method == "ucb" and ucb.interval_alpha == pytest.approx(0.045)
    w, w_ci = np.array(plug.weights), np.array(ucb.ci_weights)
    assert np.all(w_ci >= w)
    lo, hi, c = np.array(ucb.ci_low), np.array(ucb.ci_high), np.array(ucb.ci_centers)
    assert np.allclose((lo + hi) / 2, c)
    assert np.all(hi - lo > np.array(plug.ci_high) - np.array(plug.ci_low))
    assert plug.ci_centers == plug.posterior_means and plug.ci_weights == plug.weights


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(StatsError, match="interval"):
        shrink(DOMAIN_Y, [0.03] * 5, interval="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="beta"):
        shrink(DOMAIN_Y, [0.03] * 5, interval="ucb", beta=0.05)
    with pytest.raises(StatsError, match="beta"):
        tau2_upper_bound(DOMAIN_Y, [0.03] * 5, 1.5)
    with pytest.raises(StatsError):
        tau2_upper_bound(DOMAIN_Y, [0.03] * 4)
    assert math.isnan(tau2_upper_bound([0.1], [0.03]))
