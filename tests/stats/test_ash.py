"""The half-uniform adaptive-shrinkage prior (unimodal at 0) and its lfsr decisions.

Oracles: the component densities against numerical integration (scipy.integrate.quad of
the uniform times the normal density); the posterior mean against scipy's truncnorm; the
penalised EM objective never decreasing; ashr's grid rule; a seeded sparse simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from segab.errors import StatsError
from segab.stats.ash import NULL_WEIGHT, _phi_diff, _truncated_mean, ash_arrays, ash_half_widths


@pytest.mark.parametrize(("y", "s", "a"), [(0.3, 1.0, 2.0), (-1.5, 0.5, 0.7), (9.0, 1.0, 1.0)])
def test_uniform_component_density_is_the_convolution(y: float, s: float, a: float) -> None:
    exact = integrate.quad(lambda t: stats.norm.pdf(y, t, s) / a, 0.0, a)[0]
    assert _phi_diff(np.array(-y / s), np.array((a - y) / s)) / a == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize(("y", "s", "lo", "hi"), [(0.3, 1.0, 0.0, 2.0), (-2.0, 0.5, 0.0, 1.0)])
def test_truncated_mean_matches_scipy(y: float, s: float, lo: float, hi: float) -> None:
    expected = stats.truncnorm.mean((lo - y) / s, (hi - y) / s, loc=y, scale=s)
    got = _truncated_mean(np.array(y), np.array(s), np.array(lo), np.array(hi))
    assert float(got) == pytest.approx(expected, rel=1e-9)


def test_grid_follows_ashr_default() -> None:
    se = np.array([0.5, 1.0, 2.0])
    y = np.array([0.0, 3.0, -5.0])
    g = ash_half_widths(y, se)
    assert g[-1] == pytest.approx(2 * np.sqrt(25.0 - 4.0))
    np.testing.assert_allclose(g[1:] / g[:-1], np.sqrt(2.0))
    assert g[0] <= 0.05 < g[1]


def test_penalised_objective_rises_with_steps_and_null_mass_dominates_for_nulls() -> None:
    rng = np.random.default_rng(2)
    se = rng.uniform(0.5, 1.5, size=(1, 40))
    y = se * rng.normal(size=se.shape)
    few = ash_arrays(y, se, max_iter=3, tol=0.0)
    many = ash_arrays(y, se, max_iter=200, tol=0.0)
    assert many.log_likelihood[0] >= few.log_likelihood[0]
    assert many.weights[0, 0] > 0.8  # all nulls: the point mass at 0 takes most weight
    assert not many.ship.any() and not many.rollback.any()
    assert NULL_WEIGHT == 10.0


def test_sparse_truth_few_false_ships(sparse_cells: tuple[np.ndarray, ...]) -> None:
    theta, se, y = sparse_cells
    a = ash_arrays(y[None], se[None])
    assert a.weights[0, 0] == pytest.approx(0.9, abs=0.06)
    assert np.mean((a.posterior_means[0] - theta) ** 2) < 0.5 * np.mean((y - theta) ** 2)
    assert a.ship[0][theta > 0].mean() >= 0.8
    assert a.ship[0][theta == 0].mean() <= 0.02
    np.testing.assert_allclose(a.lfsr, np.minimum(a.prob_nonpositive, a.prob_nonnegative))


def test_bad_input() -> None:
    with pytest.raises(StatsError):
        ash_arrays(np.zeros((1, 3)), np.zeros((1, 3)))
