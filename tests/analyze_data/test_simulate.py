"""The synthetic population hits every segment; the analysis finds the planted effects."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from segab.bulk import assign_file
from segab.config import load_experiments
from segab.simulate import default_effects, simulate_events, simulate_population, truth
from segab.sums.aggregate import aggregate_event_log

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def registry():
    return load_experiments(EXPERIMENTS)


@pytest.mark.parametrize("key", ["journey_content", "channel_tailoring", "loyalty_offer"])
def test_population_hits_every_segment(registry, key, tmp_path):
    exp = registry[key]
    pop = simulate_population(exp, 3000, seed=1)
    assert list(pop.columns[:3]) == [exp.unit, "stage", "timestamp"]
    assert set(pop["stage"]) == set(exp.stages)
    assert pop.groupby(exp.unit)["stage"].first().eq(exp.stages[0]).all()  # enter at the start
    pop.to_csv(tmp_path / "pop.csv", index=False)
    assign_file(exp, tmp_path / "pop.csv", tmp_path / "a.csv")
    segments = set(pd.read_csv(tmp_path / "a.csv")["segment"].dropna())
    assert segments == set(exp.segment_keys())


def test_simulation_is_deterministic(registry):
    exp = registry["journey_content"]
    a = simulate_population(exp, 500, seed=4)
    pd.testing.assert_frame_equal(a, simulate_population(exp, 500, seed=4))
    assert not a.equals(simulate_population(exp, 500, seed=5))


def z_stats(agg, metric: str) -> pd.DataFrame:
    s = agg.sums[agg.sums["metric"] == metric].copy()
    s["mean"] = s["sum"] / s["n"]
    s["var"] = (s["sum_sq"] - s["sum"] * s["mean"]) / (s["n"] - 1)
    return s.set_index(["segment", "stage", "variant"])


def test_analysis_finds_planted_effects_and_no_others(registry, tmp_path):
    exp = registry["journey_content"]
    pop = simulate_population(exp, 60_000, seed=11)
    pop.to_csv(tmp_path / "pop.csv", index=False)
    assign_file(exp, tmp_path / "pop.csv", tmp_path / "assignments.csv")
    assignments = pd.read_csv(tmp_path / "assignments.csv")
    effects = default_effects(exp)
    events = simulate_events(exp, assignments, effects, seed=11)
    agg = aggregate_event_log(exp, assignments, events)
    assert agg.data_quality["events_outside_window"] == 0
    assert agg.data_quality["events_unknown_units"] == 0
    facts = truth(exp, effects, 11)
    planted = {
        (e["segment"], e["stage"], e["variant"], e["metric"]): e["rel_lift"]
        for e in facts["effects"]
    }
    control = {
        (c["segment"], c["stage"], c["metric"]): (c["variant"], c["mean"])
        for c in facts["control_means"]
    }
    found, checked = 0, 0
    for (segment, stage, metric), (ctrl, mean) in control.items():
        stats = z_stats(agg, metric)
        c = stats.loc[(segment, stage, ctrl)]
        assert abs(c["mean"] - mean) < 5 * math.sqrt(c["var"] / c["n"]) + 1e-9
        for variant in stats.loc[(segment, stage)].index:
            if variant == ctrl:
                continue
            v = stats.loc[(segment, stage, variant)]
            se = math.sqrt(v["var"] / v["n"] + c["var"] / c["n"])
            lift = planted.get((segment, stage, variant, metric), 0.0)
            # the estimate agrees with the truth (planted or null) within 4.5 standard errors
            assert abs((v["mean"] - c["mean"]) - lift * mean) < 4.5 * se, (
                segment,
                stage,
                variant,
                metric,
            )
            checked += 1
            if lift and abs(lift * mean) > 4 * se:  # well-powered planted effects are significant
                assert abs(v["mean"] - c["mean"]) / se > 1.96
                found += 1
    assert checked >= 80 and found >= 5


def test_cli_population_then_events(tmp_path):
    from segab.cli.main import cli

    out = tmp_path / "demo"
    runner = CliRunner()
    base = ["--experiments", str(EXPERIMENTS)]
    r = runner.invoke(
        cli, ["simulate", "journey_content", "--units", "2000", "--out", str(out), *base]
    )
    assert r.exit_code == 0, r.output
    header = (out / "population.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["user_id", "stage", "timestamp"] and "loyalty.tier" in header
    r = runner.invoke(
        cli,
        [
            "assign",
            "journey_content",
            "--input",
            str(out / "population.csv"),
            "--output",
            str(out / "assignments.csv"),
            "--quiet",
            *base,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        [
            "simulate",
            "journey_content",
            "--events-for",
            str(out / "assignments.csv"),
            "--out",
            str(out),
            *base,
        ],
    )
    assert r.exit_code == 0, r.output
    events = pd.read_csv(out / "events.csv")
    assert list(events.columns) == ["user_id", "event", "value", "timestamp"]
    facts = json.loads((out / "truth.json").read_text())
    assert facts["experiment"] == "journey_content" and facts["effects"]
    help_text = runner.invoke(cli, ["simulate", "--help"]).output
    assert "Example" in help_text and "--events-for" in help_text
