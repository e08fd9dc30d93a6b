"""Sequential testing (asymptotic confidence sequences) against gbstats and the formulas."""

from __future__ import annotations

import math

import pytest

from segab.errors import StatsError
from segab.stats import MeanStats, ProportionStats, compare
from segab.stats.sequential import rho

gb_tests = pytest.importorskip("gbstats.frequentist.tests")
gb_stats = pytest.importorskip("gbstats.models.statistics")


@pytest.mark.parametrize("tuning", [5000.0, 1000.0, 50000.0])
@pytest.mark.parametrize(
    ("n_c", "x_c", "n_t", "x_t"), [(10000, 1000, 10000, 1100), (3000, 300, 3100, 290)]
)
def test_sequential_proportions_match_gbstats(
    n_c: int, x_c: int, n_t: int, x_t: int, tuning: float
) -> None:
    """Oracle: gbstats SequentialTwoSidedTTest (absolute) on ProportionStatistic."""
    c = compare(
        ProportionStats(n_c, x_c),
        ProportionStats(n_t, x_t),
        method="sequential",
        sequential_tuning=tuning,
    )
    cfg = gb_tests.SequentialConfig(difference_type="absolute", sequential_tuning_parameter=tuning)
    g = gb_tests.SequentialTwoSidedTTest(
        gb_stats.ProportionStatistic(n=n_c, sum=x_c),
        gb_stats.ProportionStatistic(n=n_t, sum=x_t),
        cfg,
    ).compute_result()
    assert c.abs_ci_low == pytest.approx(g.ci[0], rel=1e-9)
    assert c.abs_ci_high == pytest.approx(g.ci[1], rel=1e-9)
    assert c.p_value == pytest.approx(g.p_value, rel=1e-9)


def test_sequential_means_match_gbstats_relative() -> None:
    """Oracle: gbstats SequentialTwoSidedTTest (relative) on SampleMeanStatistic."""
    a, b = MeanStats.from_moments(4000, 20.0, 100.0), MeanStats.from_moments(4100, 20.6, 110.0)
    c = compare(a, b, method="sequential")
    g = gb_tests.SequentialTwoSidedTTest(
        gb_stats.SampleMeanStatistic(n=a.n, sum=a.sum, sum_squares=a.sum_sq),
        gb_stats.SampleMeanStatistic(n=b.n, sum=b.sum, sum_squares=b.sum_sq),
        gb_tests.SequentialConfig(),
    ).compute_result()
    assert c.rel_lift == pytest.approx(g.expected, rel=1e-9)
    assert c.rel_ci_low == pytest.approx(g.ci[0], rel=1e-9)
    assert c.rel_ci_high == pytest.approx(g.ci[1], rel=1e-9)


def test_rho_formula() -> None:
    """Closed form (DOMAIN.md): ρ = sqrt((−2 ln α + ln(−2 ln α + 1))/N*)."""
    la = -2 * math.log(0.05)
    assert rho(0.05, 5000) == pytest.approx(math.sqrt((la + math.log(la + 1)) / 5000), rel=1e-12)


def test_sequential_is_wider_than_fixed_horizon() -> None:
    """The confidence sequence is wider than the fixed-horizon CI, and its p-value larger."""
    a, b = ProportionStats(10000, 1000), ProportionStats(10000, 1100)
    fixed, seq = compare(a, b), compare(a, b, method="sequential")
    assert seq.abs_ci_low < fixed.abs_ci_low and seq.abs_ci_high > fixed.abs_ci_high
    assert seq.p_value > fixed.p_value


def test_sequential_one_sided_is_rejected() -> None:
    with pytest.raises(StatsError, match="two-sided"):
        compare(
            ProportionStats(10, 1),
            ProportionStats(10, 2),
            method="sequential",
            alternative="larger",
        )
