"""Reduced bandit study (analysis/bandit_study.py with 8 replications of 10 periods).

The same code as the full study on three of its worlds. The assertions are the
study's qualitative claims with wide margins (a few dozen cells cannot measure
the issue's targets; the full table is in docs/statistics.md (Bandits per cell)).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tests.stats.analysis_modules import load_analysis

study = load_analysis("bandit_study.py", "segab_bandit_study")
WORLDS = {w.name: w for w in study.WORLDS}


@pytest.fixture(scope="module")
def quick() -> object:
    design = study.Design(reps=8, periods=10)
    worlds = [WORLDS[n] for n in ("variant_better", "drifting_baseline", "all_equal")]
    saved = os.environ.pop("SEGAB_GBSTATS_PATH", None)
    try:
        return study.run_study(design, worlds, log=lambda _: None)
    finally:
        if saved is not None:
            os.environ["SEGAB_GBSTATS_PATH"] = saved


def _row(result: object, world: str, strategy: str) -> object:
    return next(r for r in result.rows if r.world == world and r.strategy == strategy)


def test_every_strategy_reported_and_growthbook_skipped_without_its_path(quick: object) -> None:
    assert len(quick.rows) == 3 * len(study.STRATEGIES)
    gb = _row(quick, "all_equal", "growthbook")
    assert gb.skipped == "SEGAB_GBSTATS_PATH is unset"
    assert "skipped: SEGAB_GBSTATS_PATH is unset" in study.table(quick.rows)
    assert any(ok is None for _, ok, _ in study.targets(quick))
    assert any(ok is None for _, ok, _ in study.targets(quick, *study.CANDIDATE))


def test_bandits_lose_fewer_conversions_than_a_fixed_split(quick: object) -> None:
    fixed = _row(quick, "variant_better", "fixed").regret
    assert fixed > 0
    for s in ("global", "per_cell", "per_cell_no_slice", "per_cell_period_weighted"):
        assert _row(quick, "variant_better", s).regret < 0.8 * fixed, s
    assert all(_row(quick, "all_equal", s).regret == 0 for s in study.STRATEGIES[:-1])


def test_pooled_interval_fails_under_drift_and_the_honest_ones_do_not(quick: object) -> None:
    r = _row(quick, "drifting_baseline", "per_cell")
    assert r.cover_pooled < 0.7
    assert r.cover_stratified > 0.8 and r.cover_slice > 0.8
    assert math.isnan(_row(quick, "drifting_baseline", "fixed").cover_slice)


def test_graduation_sensitivity_is_reported(quick: object) -> None:
    worlds = {w for _, _, w, _, _ in quick.ships}
    assert worlds == {"variant_better", "drifting_baseline", "all_equal"}
    assert len(quick.ships) == 2 * len(study.SENSITIVITY) * 3
    text = study.ships_table(quick.ships)
    assert text.count("\n") == 1 + 2 * len(study.SENSITIVITY)


def test_world_rates_and_layout() -> None:
    rates = WORLDS["best_differs_by_segment"].rates(5)
    assert rates.shape == (5, 4, 2)
    assert np.argmax(rates[0], axis=1).tolist() == [1, 1, 0, 0]
    drift = WORLDS["drifting_baseline"].rates(5)
    assert drift[0, 0, 0] == pytest.approx(0.06) and drift[-1, 0, 0] == pytest.approx(0.14)
    assert study._layout(0.1).tolist() == [0.05, 0.05, 0.45, 0.45]


@pytest.mark.peer  # `make test-peer` with $SEGAB_GBSTATS_PATH
@pytest.mark.skipif(
    not os.environ.get("SEGAB_GBSTATS_PATH"),
    reason="optional peer: SEGAB_GBSTATS_PATH unset (GrowthBook's 2026 gbstats is not on PyPI)",
)
def test_growthbook_weights_on_the_domain_check_case() -> None:
    """Oracle: DOMAIN.md P(B > A) = 0.923183; GrowthBook's Gaussian Monte Carlo is close."""
    gb = study.load_gbstats()
    assert not isinstance(gb, str), gb
    n = np.array([[500, 500], [500, 500]])
    x = np.array([[50, 60], [50, 60]])
    weights, pbest = study.gb_weights(gb, n, x, [0.5, 0.5], seed=100)
    assert pbest[1] == pytest.approx(0.923183, abs=0.01)
    assert sum(weights) == pytest.approx(1.0) and min(weights) >= 0.01
