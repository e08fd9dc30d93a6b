"""Reduced calibration of regression adjustment and post-stratification (800 simulations).

Same code as analysis/calibration_adjusted.py (run by analysis/calibration.py);
tolerances are about ±3 Monte Carlo standard errors around 0.05 and 0.95.
"""

from __future__ import annotations

import numpy as np

from tests.stats.analysis_modules import load_analysis

SIMS = 800


cal = load_analysis("calibration_adjusted.py", "segab_calibration_adjusted")


def test_regression_adjusted_fpr_and_coverage() -> None:
    fpr, cov, vr = cal.regression_adjusted(np.random.default_rng(11), SIMS)
    assert 0.027 <= fpr <= 0.075
    assert 0.925 <= cov <= 0.975
    assert vr > 0.3


def test_post_stratified_fpr_and_coverage() -> None:
    fpr, cov, vr = cal.post_stratified(np.random.default_rng(12), SIMS, n=1000)
    assert 0.027 <= fpr <= 0.075
    assert 0.925 <= cov <= 0.975
    assert vr > 0.3
