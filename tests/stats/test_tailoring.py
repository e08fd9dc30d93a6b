"""Cross-fitted tailoring value: hand examples and a small coverage simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segab.errors import StatsError
from segab.stats import tailoring_value


def _binary(n: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = n.astype(float)
    x = x.astype(float)
    return n, x, x


def test_opposite_cells_hand_computed() -> None:
    """Cell 0 likes arm 1, cell 1 likes arm 2; both folds agree.

    Shares: cell 0 has 3x the units of cell 1 -> p = (0.75, 0.25).
    Means: cell 0 (0.10, 0.14, 0.10), cell 1 (0.10, 0.08, 0.16).
    Single best arm (fold-weighted): 0.75*0.14 + 0.25*0.08 = 0.125 vs arm 2 0.115 -> arm 1.
    Tailored: cell 0 -> arm 1, cell 1 -> arm 2: gain over arm 1 = 0.25*(0.16 - 0.08) = 0.02;
    gain over control = 0.75*0.04 + 0.25*0.06 = 0.045.
    """
    n = np.array([[[3000] * 3] * 2, [[1000] * 3] * 2])
    p = np.array([[0.10, 0.14, 0.10], [0.10, 0.08, 0.16]])
    x = np.round(n * p[:, None, :])
    r = tailoring_value(*_binary(n, x))
    assert r.tailored_arms == ((1, 2), (1, 2)) and r.single_arm == (1, 1)
    assert r.gain_over_single == pytest.approx(0.02)
    assert r.gain_over_control == pytest.approx(0.045)
    v = lambda q, m: q * (1 - q) / (m - 1)  # noqa: E731  (s^2/n for a binary mean)
    fold_var = 0.25**2 * (v(0.16, 1000) + v(0.08, 1000))
    assert r.se_over_single == pytest.approx(math.sqrt(fold_var), rel=1e-9)
    z = 1.959963984540054
    assert r.ci_low_over_single == pytest.approx(0.02 - z * r.se_over_single)
    assert not r.warnings


def test_the_choice_is_made_on_the_other_fold() -> None:
    """Fold 0 says arm 1 in cell 0, fold 1 says arm 0: each fold evaluates the other's choice."""
    n = np.full((2, 2, 2), 1000)
    x = np.array([[[100, 130], [110, 100]], [[100, 100], [100, 100]]])
    r = tailoring_value(*_binary(n, x))
    assert r.tailored_arms == ((1, 0), (0, 0))
    assert r.single_arm == (1, 0)
    # fold-0 policy equals its single arm in cell 0, differs in cell 1 (arm 0 vs 1): measured on
    # fold 1, 0.5*(0.100 - 0.100) = 0; fold-1 policy is all control = its single arm: 0
    assert r.fold_gains == (0.0, 0.0)
    # over control: fold-0 policy (arm 1 in cell 0) measured on fold 1: 0.5*(0.100 - 0.110);
    # fold-1 policy is all control: 0. The fold-0 win does not replicate: (-0.005 + 0)/2
    assert r.gain_over_control == pytest.approx(-0.0025)
    assert "not stable" in r.warnings[0]


def test_one_cell_has_nothing_to_tailor() -> None:
    n = np.full((1, 2, 3), 800)
    x = np.array([[[80, 96, 88], [80, 100, 84]]])
    r = tailoring_value(*_binary(n, x))
    assert r.gain_over_single == 0.0 and r.se_over_single == 0.0
    assert r.gain_over_control == pytest.approx((0.125 + 0.12) / 2 - 0.1)


def test_continuous_metric_uses_the_sample_variance() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(1.0, 2.0, (2, 2, 2, 50))
    y[0, :, 1] += 3.0
    y[1, :, 0] += 3.0
    n = np.full((2, 2, 2), 50.0)
    r = tailoring_value(n, y.sum(axis=3), (y**2).sum(axis=3))
    var = y.var(axis=3, ddof=1) / 50
    means = y.mean(axis=3)
    assert r.tailored_arms == ((1, 0), (1, 0))
    g0 = 0.5 * (means[0, 1, 1] - means[0, 1, r.single_arm[0]])
    g0 += 0.5 * (means[1, 1, 0] - means[1, 1, r.single_arm[0]])
    assert r.fold_gains[0] == pytest.approx(g0)
    cell = 1 - r.single_arm[0]  # the one cell whose arm differs from the single arm
    expected_var = 0.25 * (var[cell, 1, 0] + var[cell, 1, 1])
    assert r.se_over_single >= math.sqrt(expected_var) / 2


def test_coverage_simulation() -> None:
    """The interval covers the true gain of the fold-chosen policies >= 94% (n = 600 sims)."""
    rng = np.random.default_rng(11)
    cells, arms = 8, 3
    n = np.broadcast_to(rng.integers(200, 2000, (cells, 1, 1)), (cells, 2, arms)).astype(int)
    share = n.sum(axis=(1, 2)) / n.sum()
    for truth in (np.full((cells, arms), 0.1), 0.1 + rng.normal(0, 0.015, (cells, arms))):
        covered = 0
        sims = 300
        for _ in range(sims):
            x = rng.binomial(n, truth[:, None, :])
            r = tailoring_value(*_binary(n, x))
            gains = []
            for f in (0, 1):
                arms_f = np.array(r.tailored_arms[f])
                gains.append(share @ (truth[np.arange(cells), arms_f] - truth[:, r.single_arm[f]]))
            covered += r.ci_low_over_single <= np.mean(gains) <= r.ci_high_over_single
        assert covered / sims >= 0.94


def test_independent_folds_standard_error_would_under_cover() -> None:
    """Why the SE bounds the folds' correlation by 1: with sqrt(V0 + V1)/2 coverage falls short.

    Null world (all arms equal): the true gain of any policy is 0.
    """
    rng = np.random.default_rng(3)
    cells, arms, sims = 8, 2, 600
    n = np.full((cells, 2, arms), 1000)
    naive = honest = 0
    for _ in range(sims):
        r = tailoring_value(*_binary(n, rng.binomial(n, 0.1)))
        se0, se1 = r.fold_std_errors
        naive += abs(r.gain_over_single) <= 1.959964 * math.hypot(se0, se1) / 2
        honest += r.ci_low_over_single <= 0.0 <= r.ci_high_over_single
        assert r.se_over_single == pytest.approx((se0 + se1) / 2)
    assert naive / sims < 0.93
    assert honest / sims >= 0.95


@pytest.mark.parametrize(
    ("shape", "message"),
    [((3, 2), r"expected \(cells, 2 folds"), ((2, 3, 2), r"expected \(cells, 2 folds")],
)
def test_bad_shapes(shape: tuple[int, ...], message: str) -> None:
    n = np.full(shape, 10.0)
    with pytest.raises(StatsError, match=message):
        tailoring_value(n, n, n)


def test_too_few_units_names_the_cell() -> None:
    n = np.full((2, 2, 2), 10.0)
    n[1, 0, 1] = 1
    with pytest.raises(StatsError, match="cell 1, fold 0, arm 1 has 1 units"):
        tailoring_value(n, n / 2, n / 2)
    with pytest.raises(StatsError, match="same shape"):
        tailoring_value(np.full((2, 2, 2), 10.0), np.ones((2, 2, 3)), np.ones((2, 2, 2)))
