"""segab analyze on the bundled demo experiment with analysis.shrinkage: eb (CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.bulk import assign_file
from segab.cli.main import cli
from segab.config import load_experiments
from segab.simulate import default_effects, simulate_events, simulate_population

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    out = tmp_path_factory.mktemp("demo_eb")
    simulate_population(exp, 6000, seed=3).to_csv(out / "population.csv", index=False)
    assign_file(exp, out / "population.csv", out / "assignments.csv")
    assignments = pd.read_csv(out / "assignments.csv", dtype={"unit_id": str})
    events = simulate_events(exp, assignments, default_effects(exp), seed=3)
    events.to_csv(out / "events.csv", index=False)
    (out / "experiments").mkdir()
    for path in EXPERIMENTS.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text("utf-8"))
        if path.stem == "journey_content":
            raw["analysis"]["shrinkage"] = "eb"
        (out / "experiments" / path.name).write_text(yaml.safe_dump(raw), "utf-8")
    return {"dir": out}


def _run(demo: dict[str, Path], *extra: str) -> str:
    d = demo["dir"]
    args = ["analyze", "journey_content", "--exposures", str(d / "assignments.csv")]
    args += ["--events", str(d / "events.csv"), "--experiments", str(d / "experiments"), *extra]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_json_has_raw_and_shrunk_estimates_and_the_tailoring_value(demo) -> None:
    doc = json.loads(_run(demo, "--format", "json"))
    assert doc["shrinkage"]["groups"] == "grid"
    conv = [f for f in doc["shrinkage"]["families"] if f["metric"] == "conversion"]
    assert conv and conv[0]["k"] == 16 and conv[0]["shrunk"]
    rows = [r for r in doc["results"] if r["metric"] == "conversion"]
    assert all(r["abs_lift"] is not None and r["shrunk_abs_lift"] is not None for r in rows)
    assert {r["decision_basis"] for r in rows} == {"eb"}
    t = doc["tailoring"]
    assert t["metric"] == "conversion" and len(t["cells"]) == 16
    assert t["ci_low_over_single"] <= t["gain_over_single"] <= t["ci_high_over_single"]


def test_table_and_html(demo, tmp_path: Path) -> None:
    text = _run(demo)
    assert "abs EB" in text and "Tailoring value: conversion" in text
    page = tmp_path / "r.html"
    _run(demo, "--format", "html", "--output", str(page))
    html = page.read_text("utf-8")
    assert "stroke-dasharray" in html and "id='tailoring'" in html
