"""Ratio metrics: delta method against a closed form, gbstats and a seeded bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from segab.stats import RatioStats, compare


def _arm(rng: np.random.Generator, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    sessions = rng.poisson(3, n) + 1.0
    revenue = rng.gamma(2.0, rate, n) * sessions
    return revenue, sessions


def _closed_form_var(num: np.ndarray, den: np.ndarray) -> float:
    """Var(Σa/Σb) ≈ (s_a² − 2R s_ab + R² s_b²)/(n b̄²) with sample moments."""
    n = len(num)
    r = num.sum() / den.sum()
    cov = np.cov(num, den, ddof=1)
    return float((cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * den.mean() ** 2))


def test_delta_method_closed_form() -> None:
    """Oracle: closed-form delta-method variance from numpy sample moments; z-test p."""
    rng = np.random.default_rng(11)
    a_c, b_c = _arm(rng, 2000, 5.0)
    a_t, b_t = _arm(rng, 2100, 5.4)
    c = compare(RatioStats.from_values(a_c, b_c), RatioStats.from_values(a_t, b_t))
    v = _closed_form_var(a_c, b_c) + _closed_form_var(a_t, b_t)
    delta = a_t.sum() / b_t.sum() - a_c.sum() / b_c.sum()
    assert c.abs_lift == pytest.approx(delta, rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert c.abs_ci_low == pytest.approx(delta - z * math.sqrt(v), rel=1e-9)
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(delta) / math.sqrt(v)), rel=1e-9)
    assert c.test == "delta_method_z"


def test_ratio_variance_matches_gbstats() -> None:
    """Oracle: gbstats RatioStatistic.variance (per-unit delta-method variance)."""
    gb = pytest.importorskip("gbstats.models.statistics")
    rng = np.random.default_rng(12)
    a, b = _arm(rng, 500, 4.0)
    s = RatioStats.from_values(a, b)
    g = gb.RatioStatistic(
        n=s.n,
        m_statistic=gb.SampleMeanStatistic(n=s.n, sum=s.num_sum, sum_squares=s.num_sum_sq),
        d_statistic=gb.SampleMeanStatistic(n=s.n, sum=s.den_sum, sum_squares=s.den_sum_sq),
        m_d_sum_of_products=s.num_den_sum,
    )
    assert _closed_form_var(a, b) == pytest.approx(g.variance / s.n, rel=1e-9)


def test_delta_method_against_bootstrap() -> None:
    """Oracle: bootstrap SE of the ratio difference (2,000 resamples, seed 5), within 8%."""
    rng = np.random.default_rng(5)
    a_c, b_c = _arm(rng, 1500, 5.0)
    a_t, b_t = _arm(rng, 1500, 5.2)
    c = compare(RatioStats.from_values(a_c, b_c), RatioStats.from_values(a_t, b_t))
    se = (c.abs_ci_high - c.abs_ci_low) / (2 * stats.norm.ppf(0.975))
    boot = np.empty(2000)
    for i in range(2000):
        ic, it = rng.integers(0, 1500, 1500), rng.integers(0, 1500, 1500)
        boot[i] = a_t[it].sum() / b_t[it].sum() - a_c[ic].sum() / b_c[ic].sum()
    assert se == pytest.approx(boot.std(ddof=1), rel=0.08)


def test_zero_denominator_is_defined() -> None:
    """A zero denominator sum gives NaN estimates with a warning, not a crash."""
    c = compare(RatioStats(3, 1.0, 1.0, 0.0, 0.0, 0.0), RatioStats(3, 2.0, 2.0, 3.0, 3.0, 2.0))
    assert math.isnan(c.p_value)
    assert not c.significant
    assert any("denominator" in w for w in c.warnings)
