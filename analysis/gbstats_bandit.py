"""GrowthBook's bandit weights for the bandit study, from its own ``gbstats``.

``gbstats`` (the 2026 ``packages/stats`` of growthbook/growthbook, which has
``gbstats/bayesian/bandits.py``; the PyPI release 0.8.0 has no bandits) is
imported from the directory named by ``SEGAB_GBSTATS_PATH``. None of its code
is copied here: this module only builds its inputs and calls it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import numpy as np

__all__ = ["gb_weights", "load_gbstats"]


def load_gbstats() -> tuple[Any, Any, Any] | str:
    """GrowthBook's bandit classes from ``$SEGAB_GBSTATS_PATH``, or why they are unavailable."""
    path = os.environ.get("SEGAB_GBSTATS_PATH")
    if not path:
        return "SEGAB_GBSTATS_PATH is unset"
    sys.path.insert(0, path)
    try:
        bandits = importlib.import_module("gbstats.bayesian.bandits")
        tests = importlib.import_module("gbstats.bayesian.tests")
        stats = importlib.import_module("gbstats.models.statistics")
    except ImportError as exc:
        return f"cannot import gbstats from {path}: {exc}"
    config = bandits.BanditConfig(
        prior_distribution=tests.GaussianPrior(mean=0, variance=1e4, proper=True),
        top_two=False,
        min_variation_weight=0.01,
        weight_by_period=True,
    )
    return bandits, stats.SampleMeanStatistic, config


def gb_weights(
    gb: tuple[Any, Any, Any], n: np.ndarray, x: np.ndarray, current: list[float], seed: int
):
    """GrowthBook's weights from per-period counts (periods, arms) of one cell.

    The per-arm inputs follow GrowthBook's bandit SQL (period weight = the
    period's units over all arms / all units; mean Σ w·x/n; variance of the mean
    Σ w²·s²/n with the n − 1 sample variance), encoded as sums the way that SQL
    encodes them. Returns (weights or None when not updated, P(best)).
    """
    bandits, sample_mean, base_config = gb
    w = n.sum(axis=1) / n.sum()
    stats = []
    for k in range(n.shape[1]):
        has = n[:, k] > 0
        mean = float(np.sum(w[has] * x[has, k] / n[has, k]))
        two = n[:, k] > 1
        s2 = (x[two, k] - x[two, k] ** 2 / n[two, k]) / (n[two, k] - 1)
        var = float(np.sum(w[two] ** 2 * s2 / n[two, k]))
        tot = float(n[:, k].sum())
        stats.append(
            sample_mean(n=tot, sum=tot * mean, sum_squares=tot * (var * (tot - 1) + mean**2))
        )
    config = type(base_config)(**{**base_config.__dict__, "bandit_weights_seed": seed})
    result = bandits.BanditsSimple(stats, current, config).compute_result()
    return result.bandit_weights, list(result.best_arm_probabilities)
