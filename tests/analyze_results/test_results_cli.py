"""``segab analyze`` through CliRunner: formats, --output, --by, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.cli.main import cli

CONFIG = {
    "key": "cli_exp",
    "name": "CLI experiment",
    "unit": "user_id",
    "status": "running",
    "stages": ["awareness", "purchase"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [
        {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
    ],
    "metrics": {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase", "column": "conv"},
        "secondary": [{"key": "rev", "kind": "continuous", "event": "revenue", "column": "rev"}],
    },
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "cli_exp.yaml").write_text(yaml.safe_dump(CONFIG))
    x, ev, units = [], [], []
    for i in range(400):
        seg = "young" if i % 2 else "rest"
        variant = "ab"[(i // 2) % 2]
        stage = "awareness"
        uid = f"u{i}"
        x.append((uid, "cli_exp", 1, seg, stage, variant, True, "2024-01-01 00:00:00", "email"))
        conv = (i % 7 == 0) or (variant == "b" and i % 5 == 0)
        if conv:
            ev.append((uid, "purchase", None, "2024-01-02 00:00:00"))
            ev.append((uid, "revenue", 10.0 + i % 3, "2024-01-02 00:00:00"))
        units.append((uid, seg, variant, int(conv), 10.0 * conv))
    cols = ["user_id", "experiment", "iteration", "segment", "stage", "variant"]
    cols += ["in_experiment", "timestamp", "channel"]
    pd.DataFrame(x, columns=cols).to_csv(tmp_path / "exposures.csv", index=False)
    pd.DataFrame(ev, columns=["user_id", "event", "value", "timestamp"]).to_csv(
        tmp_path / "events.csv", index=False
    )
    u = pd.DataFrame(units, columns=["user_id", "segment", "arm", "conv", "rev"])
    u.to_parquet(tmp_path / "units.parquet")
    return {
        "dir": tmp_path,
        "experiments": tmp_path / "experiments",
        "exposures": tmp_path / "exposures.csv",
        "events": tmp_path / "events.csv",
        "units": tmp_path / "units.parquet",
    }


def run(*args: str):
    return CliRunner().invoke(cli, ["analyze", *args])


def log_args(f: dict[str, Path]) -> list[str]:
    return [
        "cli_exp",
        "--exposures",
        str(f["exposures"]),
        "--events",
        str(f["events"]),
        "--experiments",
        str(f["experiments"]),
    ]


def test_table_is_the_default(files):
    res = run(*log_args(files))
    assert res.exit_code == 0, res.output
    assert "Decisions (primary metric: conv)" in res.output
    assert "young" in res.output and "Sample ratio mismatch" in res.output


def test_json_csv_html_and_output(files):
    res = run(*log_args(files), "--format", "json", "--by", "channel")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["experiment"] == "cli_exp"
    assert {tuple(r["dimensions"].items()) for r in doc["results"]} == {(), (("channel", "email"),)}
    res = run(*log_args(files), "--format", "csv")
    assert res.exit_code == 0 and res.output.startswith("scope,segment,stage")
    out = files["dir"] / "out" / "report.html"
    res = run(*log_args(files), "--format", "html", "--output", str(out))
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert f"wrote html report to {out}" in res.output


def test_units_with_variant_column(files):
    res = run(
        "cli_exp",
        "--units",
        str(files["units"]),
        "--variant-column",
        "arm",
        "--experiments",
        str(files["experiments"]),
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert {r["segment"] for r in doc["results"]} == {"young", "rest"}
    assert {r["stage"] for r in doc["results"]} == {"all"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exposures", "X"], "Error: options: missing --events"),
        (["--units", "U", "--events", "E"], "Error: options: found --units with"),
        ([], "Error: options: missing --exposures and --events"),
    ],
)
def test_bad_option_combinations(files, args, message):
    res = run("cli_exp", *args, "--experiments", str(files["experiments"]))
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output


def test_unknown_experiment_missing_file_and_missing_column(files):
    res = run("nope", *log_args(files)[1:])
    assert res.exit_code == 1 and "Error: unknown experiment 'nope'" in res.output
    res = run(*log_args(files)[:3], "--events", str(files["dir"] / "missing.csv"),
              "--experiments", str(files["experiments"]))  # fmt: skip
    assert res.exit_code == 1 and res.output.startswith("Error:")
    res = run(*log_args(files), "--by", "no_such_column")
    assert res.exit_code == 1
    assert "no_such_column" in res.output and "Traceback" not in res.output


def test_help_has_an_example():
    res = CliRunner().invoke(cli, ["analyze", "--help"])
    assert res.exit_code == 0
    assert "Example:" in res.output and "segab analyze journey_content" in res.output


def test_save_writes_a_snapshot_to_the_store(files):
    from segab.store import list_snapshots, open_store

    url = f"sqlite:///{files['dir'] / 'store.db'}"
    res = run(*log_args(files), "--format", "json", "--save", "--store", url)
    assert res.exit_code == 0, res.output
    assert "saved analysis snapshot 1" in res.stderr
    engine = open_store(url)
    try:
        snapshots = list_snapshots(engine, "cli_exp")
    finally:
        engine.dispose()
    assert len(snapshots) == 1 and snapshots[0].config_fingerprint
    assert json.loads(res.stdout)["experiment"] == "cli_exp"


def _args(files: dict[str, Path], *extra: str) -> list[str]:
    return ["analyze", *log_args(files), *extra]


def test_the_console_script_writes_everything_before_its_fast_exit(files) -> None:
    """The `segab` script ends an analysis with os._exit after flushing: the whole
    JSON reaches stdout, the --output file is complete, the exit code is 0."""
    import subprocess
    import sys

    segab = str(Path(sys.executable).with_name("segab"))
    out = subprocess.run([segab, *_args(files, "--format", "json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["experiment"] == "cli_exp"
    out = subprocess.run([segab, *_args(files)], capture_output=True, text=True)  # rich table
    assert out.returncode == 0 and "Data quality" in out.stdout, out.stderr
    report = files["dir"] / "r.html"
    out = subprocess.run(
        [segab, *_args(files, "--format", "html", "--output", str(report))],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "wrote html report" in out.stderr
    assert report.read_text().rstrip().endswith("</html>")
    out = subprocess.run(
        [segab, *_args(files, "--by", "no_such_column")], capture_output=True, text=True
    )
    assert out.returncode == 1 and out.stderr.startswith("Error: ")


@pytest.mark.parametrize(
    ("extra", "fast"),
    [(("--format", "json"), True), (("--by", "no_such_column"), False)],
)
def test_main_exits_at_once_only_after_a_successful_analysis(files, monkeypatch, extra, fast):
    import importlib
    import sys

    main_module = importlib.import_module("segab.cli.main")  # segab.cli.main is also a function
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(main_module.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["segab", *_args(files, *extra)])
    with pytest.raises(SystemExit) as info:
        main_module.main()
    assert exits == ([0] if fast else [])
    assert info.value.code == (0 if fast else 1)
    monkeypatch.setattr(sys, "argv", ["segab", "validate", str(files["experiments"])])
    with pytest.raises(SystemExit):
        main_module.main()
    assert exits == ([0] if fast else [])  # validate does not skip the teardown


@pytest.mark.parametrize("now", ["2024-01-01T12:00:00", "2024-01-01T12:00:00Z", "2024-01-03"])
def test_now_is_the_library_now(files, now):
    """Oracle: segab.analyze(now=...) on the same files (no zone: UTC)."""
    import datetime as dt

    import segab

    res = run(*log_args(files), "--now", now, "--format", "json")
    assert res.exit_code == 0, res.output
    when = dt.datetime.fromisoformat(now)
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    lib = segab.analyze(
        "cli_exp",
        exposures=str(files["exposures"]),
        events=str(files["events"]),
        experiments=str(files["experiments"]),
        now=when,
    ).to_dict()
    doc = json.loads(res.output)
    assert doc["results"] == lib["results"] and doc["data_quality"] == lib["data_quality"]
    # the events (2024-01-02) are after a now of 2024-01-01 12:00: nothing converted
    early = now.startswith("2024-01-01")
    conv = [r for r in doc["results"] if r["metric"] == "conv"]
    assert conv and all((r["variant_mean"] == 0.0) == early for r in conv)


def test_now_errors_are_located(files):
    res = run(*log_args(files), "--now", "yesterday")
    assert res.exit_code != 0 and "--now: found 'yesterday'" in res.output
    res = run("cli_exp", "--units", str(files["units"]), "--variant-column", "arm",
              "--experiments", str(files["experiments"]), "--now", "2024-01-01")  # fmt: skip
    assert res.exit_code != 0 and "--now with --units" in res.output
    assert "Traceback" not in res.output
