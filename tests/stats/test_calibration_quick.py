"""Reduced calibration run (analysis/calibration.py with fewer simulations, wider tolerance).

Same code as the full study; 800 simulations instead of 4,000, so the
tolerances are about ±3 Monte Carlo standard errors around the targets.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.stats.analysis_modules import load_analysis

SIMS = 800


cal = load_analysis("calibration.py", "segab_calibration")


def test_binary_aa_fpr_and_coverage() -> None:
    fpr, cov = cal.binary_aa(np.random.default_rng(1), SIMS)
    assert 0.027 <= fpr.value <= 0.075
    assert 0.925 <= cov.value <= 0.975


def test_binary_power_matches_prediction() -> None:
    power, cov, rel_cov = cal.binary_ab(np.random.default_rng(2), SIMS)
    assert abs(power.value - 0.80) <= 0.045
    assert 0.925 <= cov.value <= 0.975 and 0.925 <= rel_cov.value <= 0.975


def test_continuous_fpr_coverage_power() -> None:
    fpr, cov, power, cov_ab = cal.continuous(np.random.default_rng(3), SIMS, n=400)
    assert 0.027 <= fpr.value <= 0.075
    assert 0.925 <= cov.value <= 0.975 and 0.925 <= cov_ab.value <= 0.975
    assert abs(power.value - 0.80) <= 0.045


def test_peeking_sequential_controls_error_naive_does_not() -> None:
    naive, seq, coverage = cal.peeking(np.random.default_rng(4), SIMS)
    assert naive.value > 0.10
    assert seq.value <= 0.05
    assert coverage.value >= 0.95


def test_retention_with_maturity_fpr_and_coverage() -> None:
    fpr, cov, cov_ab = cal.retention(np.random.default_rng(5), SIMS, n=2000)
    assert 0.027 <= fpr.value <= 0.075
    assert 0.925 <= cov.value <= 0.975 and 0.925 <= cov_ab.value <= 0.975


def test_capped_means_fpr_and_coverage() -> None:
    fpr, cov, cov_ab = cal.capped_means(np.random.default_rng(5), SIMS, n=500)
    assert 0.027 <= fpr.value <= 0.075
    assert 0.925 <= cov.value <= 0.975 and 0.925 <= cov_ab.value <= 0.975


def test_noninferiority_type_one_error_at_the_margin() -> None:
    rows = cal.noninferiority_at_margin(np.random.default_rng(6), SIMS, n=4000)
    for row in rows:  # at most alpha, within 3 Monte Carlo standard errors of 800 runs
        assert row.value <= 0.05 + 3 * (0.05 * 0.95 / SIMS) ** 0.5


@pytest.mark.slow
def test_full_rows_for_caps_and_noninferiority() -> None:
    """The full study's rows (4,000 simulations each) land in their targets."""
    rows = cal.capped_means(np.random.default_rng(20240501), 4000)
    rows += cal.noninferiority_at_margin(np.random.default_rng(20240502), 4000)
    assert all(r.ok for r in rows), cal.format_table(rows)


def test_quantiles_fpr_and_coverage() -> None:
    rows = cal.quantiles(np.random.default_rng(7), SIMS, n=500)
    for fpr, cov, cov_ab in (rows[:3], rows[3:]):  # the median, then the 90th percentile
        assert 0.027 <= fpr.value <= 0.075
        assert 0.925 <= cov.value <= 0.975 and 0.925 <= cov_ab.value <= 0.975
