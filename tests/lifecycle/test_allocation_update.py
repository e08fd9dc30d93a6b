"""The pure update of one bandit cell: burn-in, slice, floor, top-two, direction, graduation."""

from __future__ import annotations

import pytest
from scipy import stats as sps

from segab.allocation_types import CellAllocation
from segab.config import AllocationSettings
from segab.errors import LifecycleError
from segab.lifecycle.allocation import update_cell
from segab.stats.sufficient import MeanStats
from segab.stats.sufficient import ProportionStats as P

CELL = CellAllocation("all", "buy", ("a", "b"), (500, 500), (4500, 4500))
BANDIT = AllocationSettings(mode="bandit", burn_in=10, floor=0.05)


def test_two_arm_probability_is_the_normal_closed_form_of_the_period_weighted_means() -> None:
    # one period: each arm's posterior is N(p, p(1-p)/(n-1)); P(b > a) = Phi(diff / sd)
    u = update_cell(CELL, [[P(200, 20)], [P(200, 30)]], BANDIT, (0.5, 0.5), seed=1, history=())
    va, vb = 0.1 * 0.9 / 199, 0.15 * 0.85 / 199
    expected = sps.norm.cdf(0.05 / (va + vb) ** 0.5)
    assert u.best is not None and u.best.prob_best[1] == pytest.approx(expected, abs=1e-9)
    # weights: slice at 50/50, the rest at the Thompson weights after the 5% floor
    assert u.layout.slice_buckets == (500, 500)
    share_b = 0.1 * 0.5 + 0.9 * (max(0.0, (0.05 - 0.05) / 0.9) + expected)
    assert abs(u.layout.buckets[1] - share_b * 10_000) <= 2


def test_burn_in_and_an_empty_arm_keep_the_layout() -> None:
    for stats in ([[P(9, 1)], [P(300, 30)]], [[P(0, 0)], [P(300, 30)]]):
        u = update_cell(CELL, stats, BANDIT, (0.5, 0.5), seed=1, history=())
        assert (u.status, u.layout, u.best) == ("burn_in", CELL, None)
    # enough units overall, but no period with 2 units in both arms
    u = update_cell(
        CELL, [[P(20, 2), P(1, 0)], [P(1, 1), P(20, 5)]], BANDIT, (0.5, 0.5), seed=1, history=()
    )
    assert u.status == "burn_in"


def test_top_two_with_two_arms_splits_the_adaptive_part_evenly() -> None:
    settings = AllocationSettings(mode="bandit", burn_in=10, top_two=True)
    u = update_cell(CELL, [[P(500, 20)], [P(500, 80)]], settings, (0.5, 0.5), seed=1, history=())
    assert u.sampling_weights == pytest.approx((0.5, 0.5))
    assert u.layout.buckets == (5000, 5000)


def test_a_decrease_metric_favours_the_lower_arm() -> None:
    stats = [[MeanStats(300, 300.0, 700.0)], [MeanStats(300, 600.0, 1500.0)]]
    up = update_cell(CELL, stats, BANDIT, (0.5, 0.5), seed=1, history=())
    down = update_cell(CELL, stats, BANDIT, (0.5, 0.5), seed=1, history=(), lower_is_better=True)
    assert up.layout.buckets[1] > 9000 and down.layout.buckets[0] > 9000


def test_graduation_after_the_configured_updates_then_the_layout_is_frozen() -> None:
    settings = AllocationSettings(mode="bandit", burn_in=10, graduation={"updates": 2})
    stats = [[P(1000, 50)], [P(1000, 150)]]
    first = update_cell(CELL, stats, settings, (0.5, 0.5), seed=1, history=())
    assert first.status == "updated" and first.graduation is not None
    assert first.best is not None
    second = update_cell(first.layout, stats, settings, (0.5, 0.5), seed=2, history=(first.best,))
    assert second.status == "graduated" and second.graduation == {
        "graduated": True,
        "arm": "b",
        "update": 1,
        "reason": "probability",
        "updates": 2,
    }
    assert second.best is not None
    third = update_cell(
        second.layout,
        [[P(2000, 300)], [P(2000, 100)]],  # even if the data turn: frozen until iterate
        settings,
        (0.5, 0.5),
        seed=3,
        history=(first.best, second.best),
    )
    assert (third.status, third.layout, third.best) == ("graduated", second.layout, None)


def test_a_changed_uniform_slice_is_refused() -> None:
    settings = AllocationSettings(mode="bandit", burn_in=10, uniform_slice=0.2)
    with pytest.raises(LifecycleError, match="uniform slice"):
        update_cell(CELL, [[P(500, 50)], [P(500, 60)]], settings, (0.5, 0.5), seed=1, history=())
