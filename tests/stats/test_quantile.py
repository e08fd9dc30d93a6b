"""segab.stats.quantile against its oracles.

- the rank convention: ``numpy.quantile(..., method="linear")`` (numpy's default) at the
  estimate's level and at the bound levels ``q ± z·√(q(1 − q)/n)``;
- the test of the difference: the closed form with ``scipy.stats.norm`` (z-test of
  ``t − c`` with ``se = √(se_t² + se_c²)``, delta-method relative lift);
- coverage by simulation: the per-arm order-statistic interval of a known quantile, and
  the 95% interval of the difference of two arms' medians and 90th percentiles;
- GrowthBook's 2026 engine (``QuantileStatistic`` and ``TwoSidedTTest`` of
  ``packages/stats`` of growthbook/growthbook), imported from ``$SEGAB_GBSTATS_PATH``
  and skipped when it is unset.
"""

from __future__ import annotations

import importlib
import math
import os
import sys

import numpy as np
import pytest
from scipy import stats as sps

from segab.errors import StatsError
from segab.stats.quantile import (
    Z_BOUNDS,
    QuantileStats,
    bound_levels,
    compare_quantiles,
    quantile_at,
    quantile_stats,
)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
def test_rank_convention_is_numpy_linear(n: int) -> None:
    rng = np.random.default_rng(n)
    x = np.round(rng.lognormal(1.0, 1.0, n), 1)  # rounded: ties
    ordered = sorted(x.tolist())
    for level in (0.0, 0.01, 0.1, 0.25, 0.5, 0.7, 0.9, 0.99, 1.0):
        want = float(np.quantile(x, level, method="linear"))
        assert quantile_at(ordered, level) == pytest.approx(want, rel=1e-12, abs=1e-12)
    for q in (0.1, 0.5, 0.9):
        s = quantile_stats(x.tolist(), q)
        low, high = bound_levels(n, q)
        assert s.n == n
        assert s.value == pytest.approx(float(np.quantile(x, q)), rel=1e-12)
        assert s.lower == pytest.approx(float(np.quantile(x, low)), rel=1e-12)
        assert s.upper == pytest.approx(float(np.quantile(x, high)), rel=1e-12)


def test_bound_levels_are_the_binomial_ranks() -> None:
    """Levels q ± z√(q(1−q)/n) are the ranks n·q ± z√(n·q(1−q)) divided by n."""
    n, q = 2500, 0.9
    low, high = bound_levels(n, q)
    half = sps.norm.ppf(0.975) * math.sqrt(n * q * (1 - q))
    assert (low * n, high * n) == pytest.approx((n * q - half, n * q + half), rel=1e-12)
    assert pytest.approx(sps.norm.ppf(0.975), rel=1e-12) == Z_BOUNDS


def test_compare_closed_form() -> None:
    c = QuantileStats(3000, 0.5, 20.0, 19.1, 21.3)
    t = QuantileStats(2800, 0.5, 22.5, 21.0, 23.7)
    r = compare_quantiles(c, t, alpha=0.1)
    se_c, se_t = (
        (21.3 - 19.1) / (2 * sps.norm.ppf(0.975)),
        (23.7 - 21.0) / (2 * sps.norm.ppf(0.975)),
    )
    se = math.sqrt(se_c**2 + se_t**2)
    z = sps.norm.ppf(0.95)
    assert r.abs_lift == pytest.approx(2.5)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(2.5 / se), rel=1e-9)
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((2.5 - z * se, 2.5 + z * se))
    rel_se = math.sqrt(se_t**2 / 20.0**2 + 22.5**2 * se_c**2 / 20.0**4)
    assert r.rel_lift == pytest.approx(0.125)
    assert (r.rel_ci_low, r.rel_ci_high) == pytest.approx((0.125 - z * rel_se, 0.125 + z * rel_se))
    assert (r.n_control, r.n_treatment, r.test) == (3000, 2800, "quantile_z")


def test_undefined_cases_never_a_number() -> None:
    small = QuantileStats(20, 0.95, 1.0, 0.5, 2.0)  # 20 <= 1.96² · 19: no upper rank
    r = compare_quantiles(small, small)
    assert math.isnan(r.p_value) and not r.significant and r.warnings
    flat = QuantileStats(500, 0.5, 0.0, 0.0, 0.0)  # every value 0
    r = compare_quantiles(flat, flat)
    assert math.isnan(r.p_value) and r.warnings == ("both arms' quantile intervals are empty",)
    with pytest.raises(StatsError, match="levels"):
        compare_quantiles(QuantileStats(100, 0.5, 1, 0, 2), QuantileStats(100, 0.9, 1, 0, 2))
    with pytest.raises(StatsError, match="at least 1 value"):
        quantile_stats([], 0.5)
    with pytest.raises(StatsError, match=r"in \(0, 1\)"):
        quantile_stats([1.0], 1.0)


def test_per_arm_interval_covers_the_true_quantile() -> None:
    """Exponential(1): the true q-quantile is −ln(1 − q); the interval covers it ~95%."""
    rng = np.random.default_rng(2026)
    reps, n = 2000, 400
    for q in (0.5, 0.9):
        truth = -math.log(1 - q)
        x = np.sort(rng.exponential(1.0, (reps, n)), axis=1)
        low, high = bound_levels(n, q)
        lo, hi = np.quantile(x, low, axis=1), np.quantile(x, high, axis=1)
        cover = float(np.mean((lo <= truth) & (truth <= hi)))
        assert 0.93 <= cover <= 0.97, (q, cover)
        s = quantile_stats(x[0].tolist(), q)
        assert (s.lower, s.upper) == pytest.approx((lo[0], hi[0]), rel=1e-12)


def test_difference_interval_coverage() -> None:
    """Lognormal arms with a known shift of the median and of the 90th percentile."""
    rng = np.random.default_rng(17)
    reps, n = 1500, 800
    for q in (0.5, 0.9):
        z_q = sps.norm.ppf(q)
        truth = math.exp(0.2 + z_q) - math.exp(z_q)  # lognormal(μ, 1): exp(μ + z_q)
        hits = 0
        for _ in range(reps):
            c = quantile_stats(rng.lognormal(0.0, 1.0, n).tolist(), q)
            t = quantile_stats(rng.lognormal(0.2, 1.0, n).tolist(), q)
            r = compare_quantiles(c, t)
            hits += r.abs_ci_low <= truth <= r.abs_ci_high
        assert 0.93 <= hits / reps <= 0.97, (q, hits / reps)


def _gbstats() -> tuple[object, object, object]:
    path = os.environ.get("SEGAB_GBSTATS_PATH")
    if not path:
        pytest.skip("SEGAB_GBSTATS_PATH is unset (a checkout of growthbook's packages/stats)")
    sys.path.insert(0, path)
    try:
        statistics = importlib.import_module("gbstats.models.statistics")
        tests = importlib.import_module("gbstats.frequentist.tests")
    except ImportError as exc:
        pytest.skip(f"cannot import gbstats from {path}: {exc}")
    return statistics.QuantileStatistic, tests.TwoSidedTTest, tests.FrequentistConfig


@pytest.mark.peer  # `make test-peer` with $SEGAB_GBSTATS_PATH
def test_against_growthbook() -> None:
    """GrowthBook's variance is (n*/n)(n − 1)((u − l)/2z)² per unit, so with exact order
    statistics (n* = n) its standard error is ours times √((n − 1)/n), and its test a
    Welch t-test (≈ z at these n): absolute and relative results agree to 1e-4."""
    quantile_statistic, two_sided, config = _gbstats()
    rng = np.random.default_rng(4)
    for q in (0.5, 0.9):
        x_c, x_t = rng.lognormal(0, 1, 20000), rng.lognormal(0.05, 1, 19000)
        c, t = quantile_stats(x_c.tolist(), q), quantile_stats(x_t.tolist(), q)
        ours = compare_quantiles(c, t)

        def gb(s: QuantileStats) -> object:
            return quantile_statistic(  # type: ignore[operator]
                n=s.n, n_star=s.n, nu=s.q, quantile_hat=s.value,
                quantile_lower=s.lower, quantile_upper=s.upper,
            )  # fmt: skip

        pairs = [(gb(c), gb(t))]
        absolute = two_sided(pairs, config(difference_type="absolute")).compute_result()  # type: ignore[operator]
        relative = two_sided(pairs, config(difference_type="relative")).compute_result()  # type: ignore[operator]
        assert absolute.expected == pytest.approx(ours.abs_lift, rel=1e-12)
        assert absolute.uplift.stddev == pytest.approx(ours.abs_se, rel=1e-4)
        assert absolute.pValue == pytest.approx(ours.p_value, rel=1e-3, abs=1e-6)
        assert absolute.ci == pytest.approx((ours.abs_ci_low, ours.abs_ci_high), rel=1e-3)
        assert relative.expected == pytest.approx(ours.rel_lift, rel=1e-12)
        assert relative.uplift.stddev == pytest.approx(ours.rel_se, rel=1e-4)
