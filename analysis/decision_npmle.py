"""The decision study's ``npmle_lfsr`` column (analysis/decision_study.py).

The study keeps each experiment's lifts, standard errors and true effects of a row; this
module fits the heteroscedastic NPMLE of the effect distribution
(:func:`segab.stats.npmle_arrays`, EM vectorised over experiments, in chunks) and tallies
the declared lfsr rule: ship when the posterior mean is > 0 and ``P(θ ≤ 0 | y) < 0.05``,
roll back when it is < 0 and ``P(θ ≥ 0 | y) < 0.05``; MSE of the posterior means; coverage
of the 95% equal-tailed credible interval (for information: not a robust interval). It
draws no random numbers, so the other columns are unchanged by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from segab.stats import ash_arrays, npmle_arrays

__all__ = ["CHUNK", "FITTERS", "tally_npmle"]

# the declared fits: npmle_lfsr (3ec0fbb), ash_lfsr (7183f75, after npmle_lfsr's run)
FITTERS: dict[str, Callable[..., Any]] = {"npmle_lfsr": npmle_arrays, "ash_lfsr": ash_arrays}

CHUNK = 250  # experiments per EM batch (memory: chunk x cells x 301 floats per array)


def tally_npmle(
    inputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    tally: Any,
    alpha: float,
    method: str = "npmle_lfsr",
) -> dict[str, float]:
    """Fit every experiment's cells, add to ``tally``; returns the EM's convergence figures.

    ``inputs``: per experiment ``(lift, se, truth)``, arrays over cells; ``method``: a key
    of ``FITTERS`` (ash_lfsr computes no credible interval: its coverage is NaN).
    """
    iterations, converged = [], 0
    for start in range(0, len(inputs), CHUNK):
        part = inputs[start : start + CHUNK]
        y = np.stack([p[0] for p in part])
        se = np.stack([p[1] for p in part])
        truth = np.stack([p[2] for p in part])
        a = FITTERS[method](y, se, alpha=alpha)
        iterations.append(a.iterations)
        converged += int(np.sum(a.converged))
        tally.sq_err += float(np.sum((a.posterior_means - truth) ** 2))
        cover = float(np.sum((a.ci_low <= truth) & (truth <= a.ci_high)))
        cover = cover if np.all(np.isfinite(a.ci_low)) else float("nan")
        tally.covered += cover
        tally.param_covered += cover
        tally.cells += truth.size
        tally.correct += float(np.sum(a.ship & (truth > 0)) + np.sum(a.rollback & (truth < 0)))
        tally.false_ship += float(np.sum(a.ship & (truth <= 0)))
    return {"max_iterations": float(max(iterations, default=0)), "converged": converged}
