"""The heteroscedastic NPMLE of the effect distribution and its lfsr decisions.

Oracles: EM's monotone likelihood; a one-point prior (the posterior is that point);
Bayes' rule by hand for a known two-point prior; the normal random-effects model's
likelihood at its REML fit (a member of the larger family the NPMLE maximises over,
up to the grid); a seeded simulation with a sparse truth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from segab.errors import StatsError
from segab.stats import npmle, npmle_arrays, shrink
from segab.stats.npmle import (
    _scaled_likelihood,
    em_step,
    mixture_log_likelihood,
    npmle_support,
)


def _data(seed: int, k: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.3, 1.5, size=k)
    theta = np.where(rng.random(k) < 0.2, 3.0, 0.0)
    return theta + se * rng.normal(size=k), se


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_em_step_never_lowers_the_likelihood(seed: int) -> None:
    y, se = _data(seed)
    t = npmle_support(y, se, size=120)
    lik, _ = _scaled_likelihood(y[None], se[None], t[None])
    w = np.full((1, t.size), 1.0 / t.size)
    lls = [mixture_log_likelihood(y, se, t, w[0])]
    for _ in range(300):
        w = em_step(lik, w)
        lls.append(mixture_log_likelihood(y, se, t, w[0]))
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
    steps = np.diff(lls)
    assert np.all(steps >= -1e-9)
    assert lls[-1] > lls[0] + 1.0  # it does climb from equal weights


def test_the_fitted_likelihood_is_the_one_reported_and_rises_with_more_steps() -> None:
    y, se = _data(3)
    few = npmle_arrays(y[None], se[None], max_iter=10, tol=0.0)
    many = npmle_arrays(y[None], se[None], max_iter=400, tol=0.0)
    assert many.log_likelihood[0] > few.log_likelihood[0]
    direct = mixture_log_likelihood(y, se, many.support[0], many.weights[0])
    assert many.log_likelihood[0] == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("c", [-0.7, 0.0, 1.3])
def test_one_support_point_gives_a_point_mass_posterior(c: float) -> None:
    y, se = _data(4, k=12)
    a = npmle_arrays(y[None], se[None], support=np.array([[c]]))
    assert a.weights.tolist() == [[1.0]]
    np.testing.assert_allclose(a.posterior_means[0], c, atol=1e-12)
    assert np.all(a.ci_low[0] == c) and np.all(a.ci_high[0] == c)
    assert np.all(a.prob_nonpositive[0] == (1.0 if c <= 0 else 0.0))
    assert np.all(a.prob_nonnegative[0] == (1.0 if c >= 0 else 0.0))
    if c == 0:  # posterior mean 0: neither
        assert not a.ship.any() and not a.rollback.any()
    if c > 0:  # posterior mean > 0 and P(θ <= 0) = 0 < α: every cell ships
        assert a.ship.all() and not a.rollback.any()
    if c < 0:
        assert a.rollback.all() and not a.ship.any()


def test_a_known_two_point_prior_gives_bayes_rule() -> None:
    y = np.array([-1.2, 0.0, 0.4, 1.9, 3.5])
    se = np.array([0.5, 1.0, 0.8, 1.2, 0.6])
    support, prior = np.array([-1.0, 2.0]), np.array([0.3, 0.7])
    a = npmle_arrays(y[None], se[None], support=support[None], start=prior[None], max_iter=0)
    for i in range(y.size):
        lik = prior * stats.norm.pdf(y[i], loc=support, scale=se[i])
        p_pos = lik[1] / lik.sum()  # by hand
        assert a.prob_nonnegative[0, i] == pytest.approx(p_pos, rel=1e-12)
        assert a.prob_nonpositive[0, i] == pytest.approx(1 - p_pos, rel=1e-12)
        assert a.posterior_means[0, i] == pytest.approx(-1.0 * (1 - p_pos) + 2.0 * p_pos)
        assert a.lfsr[0, i] == pytest.approx(min(p_pos, 1 - p_pos))
        assert a.ship[0, i] == (a.posterior_means[0, i] > 0 and 1 - p_pos < 0.05)
        assert a.rollback[0, i] == (a.posterior_means[0, i] < 0 and p_pos < 0.05)
    assert a.weights[0].tolist() == prior.tolist()  # no EM step taken
    # by hand: y = 1.9, σ = 1.2 gives P(θ = −1 | y) = 0.3φ(2.417)/(0.3φ(2.417) + 0.7φ(0.083))
    # = 0.023 < 0.05; y = −1.2, σ = 0.5 gives P(θ = 2 | y) of order 1e−9
    assert a.ship[0].tolist() == [False, False, False, True, True]
    assert a.rollback[0].tolist() == [True, False, False, False, False]


@pytest.mark.parametrize("seed", [5, 6, 7])
@pytest.mark.parametrize("truth", ["sparse", "normal"])
def test_the_npmle_likelihood_is_at_least_the_normal_models(seed: int, truth: str) -> None:
    """Also where the effects are normal (the normal model is right, the margin is small)."""
    y, se = _data(seed)
    if truth == "normal":
        rng = np.random.default_rng(seed)
        y = 0.5 + rng.normal(size=y.size) * np.sqrt(se**2 + 0.8)
    r = shrink(y, se, fs_correction="none", intervals=False)
    g = r.groups[0]
    normal_ll = float(np.sum(stats.norm.logpdf(y, loc=g.mean, scale=np.sqrt(se**2 + g.tau2))))
    fit = npmle(y, se)
    assert fit.log_likelihood >= normal_ll
    assert math.isfinite(fit.log_likelihood)


def test_a_sparse_truth_is_recovered_roughly(sparse_cells: tuple[np.ndarray, ...]) -> None:
    theta, se, y = sparse_cells
    r = npmle(y, se)
    t, w = np.array(r.support), np.array(r.weights)
    assert w[np.abs(t) <= 0.75].sum() == pytest.approx(0.9, abs=0.06)
    assert w[np.abs(t - 4.0) <= 1.0].sum() == pytest.approx(0.1, abs=0.05)
    post = np.array(r.posterior_means)
    assert np.mean((post - theta) ** 2) < 0.5 * np.mean((y - theta) ** 2)
    shipped = np.array([d == "ship" for d in r.decisions])
    assert shipped[theta > 0].mean() >= 0.8


def test_bad_input_raises_stats_error() -> None:
    with pytest.raises(StatsError):
        npmle([0.1, 0.2], [0.1])
    with pytest.raises(StatsError):
        npmle([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(StatsError):
        npmle([0.1, math.nan], [0.1, 0.1])
    with pytest.raises(StatsError):
        npmle([0.1, 0.2], [0.1, 0.1], alpha=1.5)
