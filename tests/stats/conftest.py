"""Shared data of the stats tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def sparse_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 cells, a tenth with a true effect of 4 and the rest 0; standard errors 0.6 to
    1.2: ``(theta, se, y)`` with ``y = theta + se·ε`` (seed 11)."""
    rng = np.random.default_rng(11)
    k = 300
    theta = np.zeros(k)
    theta[rng.choice(k, 30, replace=False)] = 4.0
    se = rng.uniform(0.6, 1.2, size=k)
    return theta, se, theta + se * rng.normal(size=k)
