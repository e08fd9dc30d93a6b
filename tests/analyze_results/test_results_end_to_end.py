"""End to end: simulate a population with planted effects, assign it, simulate its events,
analyze it; the analysis finds the planted effects and nothing where none was planted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segab.analysis.api import analyze
from segab.bulk import assign_file
from segab.config import load_experiments
from segab.simulate import default_effects, simulate_events, simulate_population, truth

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
UNITS = 30_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    out = tmp_path_factory.mktemp("e2e")
    simulate_population(exp, UNITS, seed=1).to_csv(out / "population.csv", index=False)
    assign_file(exp, out / "population.csv", out / "assignments.csv")
    assignments = pd.read_csv(out / "assignments.csv", dtype={"unit_id": str})
    effects = default_effects(exp)
    simulate_events(exp, assignments, effects, seed=1).to_csv(out / "events.csv", index=False)
    result = analyze(exp, exposures=out / "assignments.csv", events=out / "events.csv")
    return exp, truth(exp, effects, 1), result


def _planted(t, metric):
    return {
        (e["segment"], e["stage"], e["variant"]): e["rel_lift"]
        for e in t["effects"]
        if e["metric"] == metric
    }


def test_no_effect_found_where_none_was_planted(run):
    exp, t, result = run
    planted = _planted(t, exp.metrics.primary.key)
    nulls = [r for r in result.decisions() if (r.segment, r.stage, r.variant) not in planted]
    assert len(nulls) >= 5
    assert not [r for r in nulls if r.significant]
    assert all(r.decision in ("keep_running", "no_effect") for r in nulls)


def test_planted_effects_are_found(run):
    exp, t, result = run
    planted = _planted(t, exp.metrics.primary.key)
    rows = {(r.segment, r.stage, r.variant): r for r in result.decisions()}
    assert set(planted) <= set(rows)
    covered = [
        rows[k].comparison.rel_ci_low <= lift <= rows[k].comparison.rel_ci_high
        for k, lift in planted.items()
    ]
    assert sum(covered) >= 0.8 * len(covered)
    # the largest segment has the power to detect each planted effect, in its direction
    big = {k: v for k, v in planted.items() if k[0] == "everyone_else"}
    assert big
    for key, lift in big.items():
        row = rows[key]
        assert row.significant, (key, row.reason)
        assert row.decision == ("ship" if lift > 0 else "rollback"), (key, row.reason)
    wins = [rows[k] for k, v in planted.items() if v > 0]
    assert all(r.comparison.rel_lift > 0 for r in wins)


def test_guardrail_harm_is_flagged(run):
    _, t, result = run
    harmed = _planted(t, "unsubscribe")
    assert len(harmed) == 1
    [(segment, stage, variant)] = harmed
    [row] = [
        r
        for r in result.decisions()
        if (r.segment, r.stage, r.variant) == (segment, stage, variant)
    ]
    assert row.decision == "investigate"
    assert "guardrail is harmed: unsubscribe" in row.reason


def test_pooled_heterogeneity_srm_and_quality(run):
    _, _, result = run
    pooled_conv = [r for r in result.pooled if r.metric == "conversion"]
    assert {r.stage for r in pooled_conv} == {
        "awareness",
        "consideration",
        "purchase",
        "post_purchase",
    }
    [h] = [
        h for h in result.heterogeneity if (h["stage"], h["metric"]) == ("awareness", "conversion")
    ]
    assert h["p_value"] < 0.001  # +40%, 0, −30%, +40% across segments
    assert result.srm and not any(s["flagged"] for s in result.srm)
    assert all(v == 0 for v in result.data_quality.values())
    assert result.funnel
