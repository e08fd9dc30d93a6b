"""Reduced calibration of regression adjustment and post-stratification (800 simulations).

Same code as analysis/calibration_adjusted.py (run by analysis/calibration.py);
tolerances are about ±3 Monte Carlo standard errors around 0.05 and 0.95.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SIMS = 800


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "analysis" / "calibration_adjusted.py"
    spec = importlib.util.spec_from_file_location("segab_calibration_adjusted", path)
    if spec is None or spec.loader is None:
        pytest.skip(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cal = _load()


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
