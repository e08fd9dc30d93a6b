"""The lifecycle through the CLI on a temp store and a temp experiments dir.

Full loop on simulated data: plan -> start -> log exposures (store) -> analyze ->
iterate -> start -> log -> iterate, and the history shows both iterations.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.bulk import assign_file
from segab.cli.main import cli
from segab.config import load_experiments
from segab.simulate import simulate_events, simulate_population
from segab.store import ExposureRow, import_events, log_exposures, open_store

REPO = Path(__file__).resolve().parents[2]
KEY = "loyalty_offer"


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, str]:
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    shutil.copy(REPO / "experiments" / "segments.yaml", exp_dir)
    shutil.copy(REPO / "experiments" / f"{KEY}.yaml", exp_dir)
    return exp_dir, f"sqlite:///{tmp_path / 'segab.db'}"


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output + str(result.exception)
    return result.output


def _log(exp_dir: Path, url: str, tmp: Path, seed: int) -> None:
    exp = load_experiments(exp_dir)[KEY]
    pop = simulate_population(exp, 12_000, seed=seed)
    pop.to_csv(tmp / "pop.csv", index=False)
    assign_file(exp, tmp / "pop.csv", tmp / "asg.csv")
    asg = pd.read_csv(tmp / "asg.csv", dtype={"unit_id": str})
    rows = [
        ExposureRow(
            KEY,
            exp.iteration,
            r.unit_id,
            r.segment,
            r.stage,
            r.variant,
            first_seen=pd.Timestamp(r.timestamp).to_pydatetime(),
        )
        for r in asg[asg["in_experiment"]].itertuples()
    ]
    engine = open_store(url)
    assert log_exposures(engine, rows).inserted == len(rows)
    events = simulate_events(exp, asg, seed=seed)
    import_events(engine, events, columns={"unit_id": "customer_id"})


def test_full_loop(env: tuple[Path, str], tmp_path: Path) -> None:
    exp_dir, url = env
    plan = json.loads(
        _run(
            "plan",
            KEY,
            "--daily-units",
            "3000",
            "--experiments",
            str(exp_dir),
            "--db",
            url,
            "--format",
            "json",
        )
    )
    assert {c["segment"] for c in plan["cells"]} == {
        "loyal_members",
        "value_seekers",
        "other_customers",
    }
    assert "started loyalty_offer iteration 1" in _run(
        "start", KEY, "--experiments", str(exp_dir), "--db", url
    )
    _log(exp_dir, url, tmp_path, seed=1)
    out = json.loads(
        _run("iterate", KEY, "--experiments", str(exp_dir), "--db", url, "--format", "json")
    )
    assert out["new_iteration"] == 2
    shipped = [o for o in out["outcomes"] if o["status"] == "shipped"]
    new = yaml.safe_load((exp_dir / f"{KEY}.yaml").read_text())
    assert new["iteration"] == 2 and new["seed"] == "loyalty_offer-i2"
    assert new["status"] == "draft"
    old = yaml.safe_load((exp_dir / "history" / f"{KEY}.i1.yaml").read_text())
    assert old["iteration"] == 1 and old["status"] == "concluded"
    assert [s.get("ref") for s in new["segments"]] == ["loyal_members", "value_seekers"]
    _run("start", KEY, "--experiments", str(exp_dir), "--db", url)
    _log(exp_dir, url, tmp_path, seed=2)
    _run("conclude", KEY, "--experiments", str(exp_dir), "--db", url)
    data = json.loads(_run("history", KEY, "--db", url, "--format", "json"))
    assert [it["iteration"] for it in data["iterations"]] == [1, 2]
    # iterate recorded each shipped winner's estimate with the analysis it concluded on
    assert data["iterations"][0]["shipped"] == shipped
    assert all(it["cells"] and it["snapshot_id"] for it in data["iterations"])
    assert [it["status"] for it in data["iterations"]] == ["concluded", "concluded"]
    page = tmp_path / "h.html"
    _run("history", KEY, "--db", url, "--format", "html", "--output", str(page))
    text = page.read_text()
    assert text.count("<svg") >= 1 and "i1" in text and "i2" in text
    assert "<script" not in text
    status = json.loads(
        _run("status", "--experiments", str(exp_dir), "--db", url, "--format", "json")
    )
    assert status[0]["key"] == KEY and status[0]["iteration"] == 2
    assert status[0]["file_matches"] == "yes"
    _run("status", "--experiments", str(exp_dir), "--db", url)
    assert "loyalty_offer: history" in _run("history", KEY, "--db", url)


def test_unsafe_edit_of_a_running_experiment_is_refused(env: tuple[Path, str]) -> None:
    exp_dir, url = env
    _run("start", KEY, "--experiments", str(exp_dir), "--db", url)
    path = exp_dir / f"{KEY}.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "weight: 0.5}\n      - {key: double_points, weight: 0.5",
            "weight: 0.6}\n      - {key: double_points, weight: 0.4",
        )
    )
    result = CliRunner().invoke(cli, ["start", KEY, "--experiments", str(exp_dir), "--db", url])
    assert result.exit_code == 1
    assert "would move already-assigned units" in result.output
    assert "segab iterate" in result.output
    # raising coverage in place is accepted
    path.write_text(text.replace("coverage: 0.8", "coverage: 0.9"))
    out = CliRunner().invoke(cli, ["start", KEY, "--experiments", str(exp_dir), "--db", url])
    assert out.exit_code == 0, out.output
    assert "accepted safe: cells[1].coverage" in out.output


def test_stop_and_plan_table(env: tuple[Path, str], tmp_path: Path) -> None:
    exp_dir, url = env
    _run("start", KEY, "--experiments", str(exp_dir), "--db", url)
    assert "stopped" in _run("stop", KEY, "--experiments", str(exp_dir), "--db", url)
    assert "status: stopped" in (exp_dir / f"{KEY}.yaml").read_text()
    exp = load_experiments(exp_dir)[KEY]
    simulate_population(exp, 3000, seed=4).to_csv(tmp_path / "t.csv", index=False)
    out = _run(
        "plan",
        KEY,
        "--traffic",
        str(tmp_path / "t.csv"),
        "--daily-units",
        "300",
        "--experiments",
        str(exp_dir),
        "--db",
        url,
    )
    assert "over-segmented" in out and "merge" in out


@pytest.mark.parametrize(
    "cmd", ["plan", "start", "stop", "conclude", "iterate", "status", "history"]
)
def test_help_has_an_example(cmd: str) -> None:
    assert "Example:" in _run(cmd, "--help")


WINNERS = """
key: three_arms
name: Three arms
unit: user_id
status: draft
stages: [purchase]
segments: [{key: all, when: {}}]
cells:
  - control: a
    variants:
      - {key: a, weight: 1}
      - {key: b, weight: 1}
      - {key: c, weight: 1}
metrics:
  primary: {key: buy, kind: binary, event: buy}
analysis: {method: frequentist}
"""


def test_iterate_records_the_winners_selection_adjusted_estimate(tmp_path: Path) -> None:
    """Two treatments, both better than control: the shipped best one's recorded lift is
    the AKM hybrid estimate, below its raw lift, in iterate's output and in the history."""
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / "three_arms.yaml").write_text(WINNERS)
    url = f"sqlite:///{tmp_path / 's.db'}"
    _run("start", "three_arms", "--experiments", str(exp_dir), "--db", url)
    engine = open_store(url)
    rng = pytest.importorskip("numpy").random.default_rng(7)
    rates = {"a": 0.10, "b": 0.14, "c": 0.135}
    rows, buys = [], []
    for i in range(9000):
        arm = "abc"[i % 3]
        rows.append(ExposureRow("three_arms", 1, f"u{i}", "all", "purchase", arm))
        if rng.random() < rates[arm]:
            buys.append({"user_id": f"u{i}", "event": "buy", "timestamp": "2030-01-01 00:00"})
    log_exposures(engine, rows)
    import_events(engine, pd.DataFrame(buys), columns={"unit_id": "user_id"})
    out = json.loads(
        _run("iterate", "three_arms", "--experiments", str(exp_dir), "--db", url, "--format",
             "json")
    )  # fmt: skip
    shipped = [o for o in out["outcomes"] if o["status"] == "shipped"]
    assert len(shipped) == 1 and shipped[0]["shipped"] in ("b", "c")
    est = shipped[0]["estimate"]
    assert est["recorded"] == "hybrid" and est["treatments"] == 2
    assert est["adjusted_abs_lift"] < est["raw_abs_lift"]
    assert est["adjusted_ci_low"] < est["adjusted_abs_lift"] < est["adjusted_ci_high"]
    data = json.loads(_run("history", "three_arms", "--db", url, "--format", "json"))
    first = data["iterations"][0]
    assert first["shipped"] == shipped
    row = next(c for c in first["cells"] if c["variant"] == shipped[0]["shipped"])
    assert row["adjustment"] == "akm_hybrid"
    assert row["adjusted_abs_lift"] == est["adjusted_abs_lift"]
