"""Sizing cells for decisions on shrunken estimates (segab.stats.eb_power).

Oracles: without shrinkage (tau -> inf) the closed-form normal sample size
n = 2 v (z_{1-a/2} + z_{1-b})^2 / delta^2; the power formula against a Monte Carlo
simulation of the planning model (cells' true effects N(delta, tau^2), the mean
estimated from K other cells, the robust EB interval of segab.stats.ebci).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from segab.errors import StatsError
from segab.stats.eb_power import eb_power, eb_sample_size_per_arm
from segab.stats.ebci import ebci_critical_value


@pytest.mark.parametrize("delta, std", [(0.02, 0.3), (0.5, 4.0), (-0.01, 0.45)])
def test_no_shrinkage_is_the_normal_sample_size(delta: float, std: float) -> None:
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    closed = 2 * std**2 * z**2 / delta**2
    got = eb_sample_size_per_arm(delta, std, tau=1e12, cells=16, alpha=0.05, power=0.8)
    assert got == math.ceil(closed - 1e-9)


@pytest.mark.parametrize("tau, cells", [(0.005, 16), (0.01, 64), (0.02, 8)])
def test_smallest_n_reaching_the_power(tau: float, cells: int) -> None:
    n = eb_sample_size_per_arm(0.02, 0.3, tau=tau, cells=cells, power=0.8)
    power = lambda m: eb_power(0.02, 0.3 * math.sqrt(2 / m), tau=tau, cells=cells)  # noqa: E731
    assert power(n) >= 0.8 > power(n - 1)
    assert n < eb_sample_size_per_arm(0.02, 0.3, tau=1e12, cells=cells)


@pytest.mark.parametrize("tau, sigma, cells", [(0.01, 0.012, 16), (0.004, 0.01, 16)])
def test_power_matches_a_simulation_of_the_planning_model(tau, sigma, cells) -> None:
    rng = np.random.default_rng(19)
    delta, reps = 0.02, 40_000
    w = tau**2 / (tau**2 + sigma**2)
    cva = ebci_critical_value((sigma / tau) ** 2)
    others = delta + rng.normal(0, tau, (reps, cells)) + rng.normal(0, sigma, (reps, cells))
    mu = others.mean(axis=1)  # the mean from K other cells, independent of this one
    y = delta + rng.normal(0, sigma, reps)
    shrunk = mu + w * (y - mu)
    simulated = float(np.mean(shrunk - cva * w * sigma > 0))
    formula = eb_power(delta, sigma, tau=tau, cells=cells)
    se = math.sqrt(formula * (1 - formula) / reps)
    assert abs(simulated - formula) < 4 * se + 1e-3


def test_errors_are_stats_errors() -> None:
    with pytest.raises(StatsError, match="sigma > 0"):
        eb_power(0.02, 0.0, tau=0.01, cells=16)
    with pytest.raises(StatsError, match=r"0\.5 < power"):
        eb_sample_size_per_arm(0.02, 0.3, tau=0.01, cells=16, power=0.4)
    with pytest.raises(StatsError, match="no sample size"):
        eb_sample_size_per_arm(1e-6, 0.3, tau=0.01, cells=16, max_n=1000)
