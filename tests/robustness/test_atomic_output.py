"""Outputs are atomic: after an error, a full disk, Ctrl-C or SIGTERM nothing appears at the
target and an earlier file there is untouched; Ctrl-C exits 130 with ``Aborted!``.

Covers :func:`segab.atomic.atomic_output` itself, ``segab analyze --output``,
``segab history --output`` and ``segab simulate --out`` through CliRunner (a full disk
simulated by a write that fails half-way), and ``segab analyze --output`` in a
subprocess that gets SIGINT or SIGTERM while DuckDB reads a large input.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.atomic import atomic_output
from segab.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "key": "atomic_exp",
    "name": "Atomic outputs",
    "unit": "user_id",
    "status": "running",
    "stages": ["awareness"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [
        {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
    ],
    "metrics": {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
        "secondary": [{"key": "rev", "kind": "continuous", "event": "revenue"}],
    },
}
OLD = "an earlier good output\n"


def leftovers(directory: Path, keep: set[str]) -> list[str]:
    """Files in ``directory`` other than ``keep`` (a temporary file left behind, say)."""
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# ----------------------------------------------------------------------------- the helper
def test_success_replaces_the_target_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    target.chmod(0o640)
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
        assert target.read_text() == OLD  # nothing visible until the body has finished
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path, {"out.txt"}) == []


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "sub" / "new.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "sub" / "new.txt").stat().st_mode) == 0o644


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, exc: BaseException
) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    with pytest.raises(type(exc)), atomic_output(target) as tmp:
        tmp.write_text("half of it")
        raise exc
    assert target.read_text() == OLD
    assert leftovers(tmp_path, {"out.txt"}) == []


def test_nothing_appears_when_there_was_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert leftovers(tmp_path, set()) == []


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("atomic")
    (root / "experiments").mkdir()
    (root / "experiments" / "atomic_exp.yaml").write_text(yaml.safe_dump(CONFIG))
    x = [(f"u{i}", "atomic_exp", 1, "young" if i % 2 else "rest", "awareness", "ab"[(i // 2) % 2],
          "2024-01-01 00:00:00") for i in range(200)]  # fmt: skip
    ev = [(f"u{i}", "purchase", None, "2024-01-02 00:00:00") for i in range(0, 200, 3)]
    cols = ["user_id", "experiment", "iteration", "segment", "stage", "variant", "timestamp"]
    pd.DataFrame(x, columns=cols).to_csv(root / "x.csv", index=False)
    pd.DataFrame(ev, columns=["user_id", "event", "value", "timestamp"]).to_csv(
        root / "e.csv", index=False
    )
    return {"root": root, "x": root / "x.csv", "e": root / "e.csv"}


def analyze_args(files: dict[str, Path], output: Path, events: Path | None = None) -> list[str]:
    return [
        "analyze", "atomic_exp", "--exposures", str(files["x"]),
        "--events", str(events or files["e"]), "--experiments", str(files["root"] / "experiments"),
        "--format", "json", "--output", str(output),
    ]  # fmt: skip


def half_then_full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Path.write_text writes half its text, then fails as a full disk does."""

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        with open(self, "w", encoding="utf-8") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", write_text)


def test_analyze_output_on_a_full_disk(small, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "report.json"
    out.write_text(OLD)
    half_then_full_disk(monkeypatch)
    result = CliRunner().invoke(cli, analyze_args(small, out))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Error: No space left on device" in result.stderr
    assert out.read_text() == OLD
    assert leftovers(tmp_path, {"report.json"}) == []


def test_analyze_error_leaves_no_output(small, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("user_id,event,value,timestamp\nu1,purchase\n")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, analyze_args(small, out, tmp_path / "bad.csv"))
    assert result.exit_code == 1 and "line 2" in result.stderr
    assert leftovers(tmp_path, {"bad.csv"}) == []


def test_analyze_output_replaces_an_old_file(small, tmp_path: Path) -> None:
    out = tmp_path / "deeper" / "report.json"
    result = CliRunner().invoke(cli, analyze_args(small, out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("{") and leftovers(out.parent, {"report.json"}) == []


def test_history_output_on_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    from segab.store import open_store, register_experiment

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url, create=True)
    register_experiment(engine, "h", 1, "running", {"seed": "h", "metrics": {"primary": {}}})
    engine.dispose()
    out = tmp_path / "history.json"
    out.write_text(OLD)
    half_then_full_disk(monkeypatch)
    args = ["history", "h", "--db", url, "--format", "json", "--output", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "No space left" in result.stderr
    assert out.read_text() == OLD
    assert leftovers(tmp_path, {"history.json", "store.db", "store.db-shm", "store.db-wal"}) == []


def test_simulate_on_a_full_disk_keeps_the_old_population(small, tmp_path: Path, monkeypatch):
    (tmp_path / "population.csv").write_text(OLD)

    def to_csv(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"user_id,stage\nu0,awar")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    args = ["simulate", "atomic_exp", "--units", "300", "--out", str(tmp_path), "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--experiments", str(small["root"] / "experiments")])
    assert result.exit_code == 1 and "No space left" in result.stderr
    assert (tmp_path / "population.csv").read_text() == OLD
    assert leftovers(tmp_path, {"population.csv"}) == []


def test_simulate_events_for_a_bad_file_writes_nothing(small, tmp_path: Path) -> None:
    bad = tmp_path / "assignments.csv"
    bad.write_bytes(b"unit_id,segment,variant\nu1,young,\xe9\n")
    out = tmp_path / "out"
    args = ["simulate", "atomic_exp", "--events-for", str(bad), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--experiments", str(small["root"] / "experiments")])
    assert result.exit_code == 1 and "line 2" in result.stderr and "not UTF-8" in result.stderr
    assert "Traceback" not in result.output
    assert not (out / "events.csv").exists() and not (out / "truth.json").exists()


# ----------------------------------------------------------------------------- signals
@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory, small) -> dict[str, Path]:
    """An input DuckDB needs seconds to analyze: 1.5M exposures, 3M events (Parquet)."""
    root = tmp_path_factory.mktemp("large")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'u' || i AS user_id, 'atomic_exp' AS experiment, 1 AS iteration,
        CASE WHEN i % 2 = 0 THEN 'rest' ELSE 'young' END AS segment, 'awareness' AS stage,
        CASE WHEN (i // 2) % 2 = 0 THEN 'a' ELSE 'b' END AS variant,
        TIMESTAMP '2024-01-01' AS timestamp FROM range(1500000) t(i))
        TO '{root / "x.parquet"}' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT 'u' || (i % 1500000) AS user_id,
        CASE WHEN i % 3 = 0 THEN 'purchase' ELSE 'revenue' END AS event,
        (i % 17)::DOUBLE AS value, TIMESTAMP '2024-01-02' AS timestamp FROM range(3000000) t(i))
        TO '{root / "e.parquet"}' (FORMAT parquet)""")
    con.close()
    return {"root": root, "x": root / "x.parquet", "e": root / "e.parquet", "exp": small["root"]}


def interrupted(large: dict[str, Path], tmp_path: Path, sig: int) -> tuple[int, str, Path]:
    """Run ``segab analyze --output``; send ``sig`` once DuckDB has made its spill directory."""
    spill = tmp_path / "tmp"
    spill.mkdir()
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    out.write_text(OLD)
    env = {**os.environ, "TMPDIR": str(spill), "PYTHONPATH": str(ROOT), "SEGAB_DUCKDB_THREADS": "1"}
    args = ["analyze", "atomic_exp", "--exposures", str(large["x"]), "--events", str(large["e"])]
    args += ["--experiments", str(large["exp"] / "experiments"), "--format", "json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "segab", *args, "--output", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not any(spill.glob("segab-duckdb-*")) and proc.poll() is None:
        time.sleep(0.02)  # polling for the engine to open, not a timed assertion
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    left = sorted(p.name for p in spill.iterdir())
    assert not left, f"DuckDB's spill directory was left behind: {left}"
    return proc.returncode, err, out


@pytest.mark.timeout(300)
def test_ctrl_c_during_analyze_exits_130_and_leaves_the_old_output(large, tmp_path: Path):
    code, err, out = interrupted(large, tmp_path, signal.SIGINT)
    assert code == 130, err
    assert "Aborted!" in err and "Traceback" not in err
    assert out.read_text() == OLD
    assert leftovers(out.parent, {"report.json"}) == []


@pytest.mark.timeout(300)
def test_sigterm_during_analyze_exits_143_and_leaves_the_old_output(large, tmp_path: Path):
    code, err, out = interrupted(large, tmp_path, signal.SIGTERM)
    assert code == 143, err
    assert "Traceback" not in err
    assert out.read_text() == OLD
    assert leftovers(out.parent, {"report.json"}) == []


WATCHDOG = """
import os, signal, sys, time
from pathlib import Path
import segab.cli.signals as s
from segab.atomic import atomic_output
s.GRACE = 0.5
target = Path(sys.argv[1])
got = {}
with s.interruptible(got):
    with atomic_output(target) as tmp:
        tmp.write_text("half")
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # absorbed, as a C extension might: the command does not unwind
        print("still running", flush=True)
        time.sleep(60)  # stalled: the watchdog ends the process
"""


@pytest.mark.timeout(120)
def test_the_watchdog_ends_a_stalled_command_and_removes_its_partial_output(tmp_path: Path):
    target = tmp_path / "report.json"
    target.write_text(OLD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", WATCHDOG, str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 130, proc.stderr
    assert "still running" in proc.stdout and "Aborted!" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert target.read_text() == OLD
    assert leftovers(tmp_path, {"report.json"}) == []


CANCELLED = """
import sys
from pathlib import Path
from segab.atomic import atomic_output, cancel_outputs
target = Path(sys.argv[1])
cancel_outputs()
try:
    with atomic_output(target) as tmp:
        tmp.write_text("new")
except KeyboardInterrupt:
    print("refused", flush=True)
"""


def test_after_a_signal_no_output_is_committed(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text(OLD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CANCELLED, str(target)], env=env, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "refused", proc.stderr
    assert target.read_text() == OLD and leftovers(tmp_path, {"report.json"}) == []
