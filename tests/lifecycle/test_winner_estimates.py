"""The selection-adjusted estimate `segab iterate` records for a shipped winner.

Oracles: segab.stats.winner_inference (AKM 2024 hybrid, itself checked against the
paper in tests/stats) on the covariance built by hand from the rows; and a
simulation in which the raw lift of the best of three equal treatments is biased
upwards while the recorded (hybrid) one is not, and the hybrid interval covers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from segab.lifecycle.winner_estimates import winner_estimate
from segab.stats import winner_inference

Z = float(sps.norm.ppf(0.975))


def _row(variant: str, lift: float, se: float, n_c: int = 1000, n_v: int = 1000, p: float = 0.1):
    return {
        "variant": variant,
        "n_control": n_c,
        "n_variant": n_v,
        "control_mean": p,
        "abs_lift": lift,
        "abs_ci_low": lift - Z * se,
        "abs_ci_high": lift + Z * se,
    }


def test_binary_matches_winner_inference_with_the_shared_control_covariance() -> None:
    rows = [_row("b", 0.03, 0.014), _row("c", 0.02, 0.015)]
    got = winner_estimate(rows, "b", kind="binary", direction="increase", alpha=0.05)
    v_c = 0.1 * 0.9 / 1000
    cov = np.array([[0.014**2, v_c], [v_c, 0.015**2]])
    want = winner_inference([0.03, 0.02], cov=cov, alpha=0.05)
    assert got["recorded"] == "hybrid" and got["method"] == "akm_hybrid"
    assert got["adjusted_abs_lift"] == pytest.approx(want.hybrid_estimate, abs=1e-12)
    assert got["adjusted_ci_low"] == pytest.approx(want.hybrid_ci_low, abs=1e-12)
    assert got["adjusted_ci_high"] == pytest.approx(want.hybrid_ci_high, abs=1e-12)
    assert got["raw_abs_lift"] == 0.03 and got["adjusted_abs_lift"] < 0.03


def test_continuous_covariance_from_equal_variances() -> None:
    # se_j^2 = s^2 (1/n_c + 1/n_j): the control's share of it is (1/n_c)/(1/n_c + 1/n_j)
    s2, n_c, n = 4.0, 400, (400, 800)
    ses = [np.sqrt(s2 * (1 / n_c + 1 / m)) for m in n]
    rows = [
        _row("b", 0.5, ses[0], n_c, n[0], p=10.0),
        _row("c", 0.1, ses[1], n_c, n[1], p=10.0),
    ]
    got = winner_estimate(rows, "b", kind="continuous", direction="increase", alpha=0.05)
    v_c = s2 / n_c
    cov = np.array([[ses[0] ** 2, v_c], [v_c, ses[1] ** 2]])
    want = winner_inference([0.5, 0.1], cov=cov, alpha=0.05)
    assert got["adjusted_abs_lift"] == pytest.approx(want.hybrid_estimate, rel=1e-9)


def test_decrease_direction_selects_the_smallest_lift() -> None:
    rows = [_row("b", -0.03, 0.01, n_c=5000), _row("c", -0.025, 0.01, n_c=5000)]
    got = winner_estimate(rows, "b", kind="binary", direction="decrease", alpha=0.05)
    assert got["recorded"] == "hybrid"
    # mirrored: the adjusted lift is pulled back towards zero, above the raw -0.03
    assert -0.03 < got["adjusted_abs_lift"] < 0
    assert got["adjusted_ci_low"] < got["adjusted_ci_high"]
    mirror = winner_estimate(
        [_row("b", 0.03, 0.01, n_c=5000), _row("c", 0.025, 0.01, n_c=5000)],
        "b",
        kind="binary",
        direction="increase",
        alpha=0.05,
    )
    assert got["adjusted_abs_lift"] == pytest.approx(-mirror["adjusted_abs_lift"], abs=1e-12)


def test_no_adjustment_when_shipped_is_not_the_largest_or_alone() -> None:
    rows = [_row("b", 0.02, 0.01), _row("c", 0.03, 0.01)]
    got = winner_estimate(rows, "b", kind="binary", direction="increase", alpha=0.05)
    assert got["recorded"] == "raw" and "not the largest" in got["note"]
    alone = winner_estimate([rows[0]], "b", kind="binary", direction="increase", alpha=0.05)
    assert alone["recorded"] == "raw" and alone["adjusted_abs_lift"] == 0.02
    shrunk = {**rows[0], "shrunk_abs_lift": 0.012, "shrunk_ci_low": 0.0, "shrunk_ci_high": 0.03}
    eb = winner_estimate([shrunk], "b", kind="binary", direction="increase", alpha=0.05)
    assert eb["recorded"] == "eb" and eb["adjusted_abs_lift"] == 0.012


def test_simulation_removes_the_winners_curse() -> None:
    """Three treatments with the same true lift 0: the best raw lift is biased upwards."""
    rng = np.random.default_rng(20261205)
    se, reps, truth = 0.01, 600, 0.0
    v_c = se**2 / 2  # equal arms: half of each lift's variance is the shared control's
    raw, adjusted, covered = [], [], 0
    for _ in range(reps):
        control = rng.normal(0, np.sqrt(v_c))
        lifts = truth + rng.normal(0, np.sqrt(se**2 - v_c), 3) - control
        rows = [_row(v, float(x), se, p=0.5) for v, x in zip("bcd", lifts, strict=True)]
        best = "bcd"[int(np.argmax(lifts))]
        e = winner_estimate(rows, best, kind="continuous", direction="increase", alpha=0.05)
        raw.append(e["raw_abs_lift"])
        adjusted.append(e["adjusted_abs_lift"])
        covered += e["adjusted_ci_low"] <= truth <= e["adjusted_ci_high"]
    raw_bias, adj_bias = np.mean(raw) - truth, np.mean(adjusted) - truth
    assert raw_bias > 0.5 * se  # E[max of 3 correlated normals] is well above 0
    assert abs(adj_bias) < 0.4 * raw_bias
    assert covered / reps >= 0.93
