"""``segab analyze`` with a retention metric and an event filter: the ``maturity`` JSON key,
the table's note and the HTML report's marks and section (through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from click.testing import CliRunner

from segab.cli.main import cli
from tests.analyze_data.test_event_metrics import METRICS, data


def run(tmp_path: Path, *extra: str):
    (tmp_path / "experiments").mkdir(exist_ok=True)
    config = {
        "key": "ret", "unit": "user_id", "stages": ["visit"], "status": "running",
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": METRICS,
    }  # fmt: skip
    (tmp_path / "experiments" / "ret.yaml").write_text(yaml.safe_dump(config))
    x, e = data()
    x.to_csv(tmp_path / "x.csv", index=False)
    e.to_csv(tmp_path / "e.csv", index=False)
    args = ["analyze", "ret", "--exposures", str(tmp_path / "x.csv"), "--events"]
    args += [str(tmp_path / "e.csv"), "--experiments", str(tmp_path / "experiments"), *extra]
    return CliRunner().invoke(cli, args)


def test_json_reports_the_immature_units_per_arm(tmp_path: Path) -> None:
    res = run(tmp_path, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    blocks = {b["metric"]: b for b in doc["maturity"]}
    assert set(blocks) == {"d7", "d1"}
    d7 = blocks["d7"]
    assert (d7["window_start"], d7["window_end"], d7["as_of_source"]) == ("7d", "8d", "data")
    assert d7["n_immature"] == sum(a["n_immature"] for a in d7["arms"]) > 0
    row = next(r for r in doc["results"] if r["metric"] == "d7")
    arms = {a["variant"]: a for a in d7["arms"]}
    assert row["n_control"] == arms["a"]["n_mature"]
    assert row["n_variant"] == arms["b"]["n_mature"]
    assert {r["metric"] for r in doc["results"]} >= {"email_rev", "not_email", "big"}


def test_table_and_html_show_the_window(tmp_path: Path) -> None:
    res = run(tmp_path)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "window 7d–8d after first exposure" in text
    assert "(the latest time in the data); not yet mature, left out:" in text
    out = tmp_path / "r.html"
    res = run(tmp_path, "--format", "html", "--output", str(out))
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert "<h2 id='maturity'>Retention windows</h2>" in page
    assert "[7d–8d, " in page and "not yet mature]" in page


def test_no_maturity_key_without_a_window(tmp_path: Path) -> None:
    x, e = data(n=20)
    assert isinstance(x, pd.DataFrame)
    from segab.analysis import analyze  # the library entry point
    from tests.analyze_data.test_event_metrics import experiment

    exp = experiment({"primary": METRICS["secondary"][2]})
    assert "maturity" not in analyze(exp, exposures=x, events=e).to_dict()
