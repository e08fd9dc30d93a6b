"""``segab allocate`` end to end through the CLI on a SQLite store with simulated traffic.

Two bandit cells: in ``young`` arm ``b`` converts at 30% against 10% for ``a``; in
``rest`` both convert at 10%. The updates must move ``young``'s traffic to ``b``,
keep every slice bucket, refuse a second update inside the cadence, write nothing
on a dry run, and graduate ``young`` after three confident updates.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.cli.main import cli
from segab.store import (
    ExposureRow,
    allocation_periods,
    import_events,
    log_exposures,
    open_store,
)

KEY = "bandit_demo"
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
RATES = {("young", "a"): 0.10, ("young", "b"): 0.30, ("rest", "a"): 0.10, ("rest", "b"): 0.10}
CONFIG = {
    "key": KEY,
    "unit": "user_id",
    "status": "running",
    "stages": ["buy"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 30}}}],
    "fallback": "rest",
    "allocation": {"mode": "bandit", "cadence": "1d", "burn_in": 50, "floor": 0.02, "seed": 7},
    "cells": [{"control": "a", "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}],
    "metrics": {
        "primary": {"key": "conv", "kind": "binary", "event": "buy", "mde": 0.2, "baseline": 0.1}
    },
}


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, str]:
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / f"{KEY}.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    open_store(url, create=True)
    return exp_dir, url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def simulate(url: str, day: int, units: int, weights: dict[str, float], seed: int) -> None:
    """``units`` new units per segment on ``day``, split at ``weights`` (b's share), with events."""
    rng = np.random.default_rng(seed)
    exposures, events = [], []
    for segment in ("young", "rest"):
        arms = np.where(rng.random(units) < weights[segment], "b", "a")
        for i, arm in enumerate(arms):
            unit = f"{segment}-d{day}-{i}"
            seen = T0 + dt.timedelta(days=day, minutes=i % 600)
            exposures.append(ExposureRow(KEY, 1, unit, segment, "buy", str(arm), first_seen=seen))
            if rng.random() < RATES[(segment, str(arm))]:
                events.append({"unit_id": unit, "event": "buy", "timestamp": seen.isoformat()})
    engine = open_store(url)
    log_exposures(engine, exposures)
    import_events(engine, pd.DataFrame(events))


def allocate(exp_dir: Path, url: str, *extra: str) -> dict[str, object]:
    code, out, err = run("allocate", KEY, "--db", url, "--experiments", str(exp_dir), *extra)
    assert code == 0, err
    return json.loads(out) if "--format" in extra else {"text": out}


def _cell(doc: dict, segment: str) -> dict:  # type: ignore[type-arg]
    return next(c for c in doc["cells"] if c["segment"] == segment)  # type: ignore[union-attr]


def test_allocate_moves_traffic_keeps_the_slice_and_respects_the_cadence(
    env: tuple[Path, str],
) -> None:
    exp_dir, url = env
    simulate(url, 0, 600, {"young": 0.5, "rest": 0.5}, seed=1)
    at = (T0 + dt.timedelta(days=1)).isoformat()
    first = allocate(exp_dir, url, "--now", at, "--format", "json")
    assert (first["period"], first["previous_period"], first["written"]) == (1, 0, True)
    young, rest = _cell(first, "young"), _cell(first, "rest")
    assert young["status"] == "updated" and young["prob_best"][1] > 0.99
    assert young["weights"][1] > 0.85  # b gets most of the traffic
    assert young["weights"][0] >= 0.02  # the floor
    for c in (young, rest):
        assert c["slice_buckets"] == [500, 500]  # 10% uniform slice at the declared 50/50
        assert c["previous_weights"] == [0.5, 0.5]
        assert sum(c["units"]) == 600
    assert abs(rest["weights"][1] - 0.5) < 0.45  # equal arms: no certainty either way

    # a second update inside the cadence is refused, and writes nothing
    later = (T0 + dt.timedelta(days=1, hours=2)).isoformat()
    code, out, err = run(
        "allocate", KEY, "--db", url, "--experiments", str(exp_dir), "--now", later
    )
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "cadence 1d" in err and "--force" in err
    # --dry-run computes but records nothing
    dry = allocate(exp_dir, url, "--now", later, "--dry-run", "--force", "--format", "json")
    assert (dry["period"], dry["written"], dry["dry_run"]) == (2, False, True)
    engine = open_store(url)
    periods = allocation_periods(engine, KEY, 1)
    assert [p.number for p in periods] == [1]
    assert periods[0].cell("young", "buy").slice_buckets == (500, 500)  # type: ignore[union-attr]
    assert periods[0].summary["cells"][0]["seed"] == first["cells"][0]["seed"]  # type: ignore[index]


def test_burn_in_keeps_the_declared_layout_and_records_nothing(env: tuple[Path, str]) -> None:
    exp_dir, url = env
    simulate(url, 0, 40, {"young": 0.5, "rest": 0.5}, seed=2)  # about 20 units per arm < 50
    doc = allocate(
        exp_dir, url, "--now", (T0 + dt.timedelta(days=1)).isoformat(), "--format", "json"
    )
    assert doc["written"] is False
    assert {c["status"] for c in doc["cells"]} == {"burn_in"}
    assert all(c["weights"] == [0.5, 0.5] and c["prob_best"] is None for c in doc["cells"])
    assert allocation_periods(open_store(url), KEY, 1) == []


def test_graduation_after_three_confident_updates_then_table_and_csv(
    env: tuple[Path, str],
) -> None:
    exp_dir, url = env
    shares = {"young": 0.5, "rest": 0.5}
    graduated = []
    for day in range(4):
        simulate(url, day, 500, shares, seed=10 + day)
        doc = allocate(
            exp_dir, url, "--now", (T0 + dt.timedelta(days=day + 1)).isoformat(), "--format", "json"
        )
        young = _cell(doc, "young")
        shares = {"young": young["weights"][1], "rest": _cell(doc, "rest")["weights"][1]}
        graduated.append(young["status"] == "graduated")
    assert graduated == [False, False, True, True]  # 3 updates in a row with P(best) > 0.99
    assert young["graduation"]["arm"] == "b" and young["graduation"]["update"] == 2
    # a cell that graduated earlier keeps its layout
    periods = allocation_periods(open_store(url), KEY, 1)
    assert periods[-1].cell("young", "buy") == periods[-2].cell("young", "buy")
    code, out, _ = run(
        "allocate",
        KEY,
        "--db",
        url,
        "--experiments",
        str(exp_dir),
        "--now",
        (T0 + dt.timedelta(days=9)).isoformat(),
        "--dry-run",
    )
    assert code == 0 and "graduated: (young, buy) -> b" in out and "segab iterate" in out
    code, out, _ = run(
        "allocate",
        KEY,
        "--db",
        url,
        "--experiments",
        str(exp_dir),
        "--now",
        (T0 + dt.timedelta(days=9)).isoformat(),
        "--dry-run",
        "--format",
        "csv",
    )
    lines = out.splitlines()
    assert lines[0].startswith("segment,stage,status,variant,units") and len(lines) == 5


def test_errors_are_located_without_traceback(env: tuple[Path, str], tmp_path: Path) -> None:
    exp_dir, url = env
    code, _, err = run("allocate", KEY, "--db", url, "--experiments", str(exp_dir), "--now", "x")
    assert code == 1 and err.startswith("Error: --now: found 'x'")
    fixed = {**CONFIG, "key": "plain"}
    fixed.pop("allocation")
    (exp_dir / "plain.yaml").write_text(yaml.safe_dump(fixed), encoding="utf-8")
    code, _, err = run("allocate", "plain", "--db", url, "--experiments", str(exp_dir))
    assert code == 1 and "has no bandit cell" in err and "Traceback" not in err


def test_help_has_an_example() -> None:
    code, out, _ = run("allocate", "--help")
    assert code == 0 and "Example:" in out and "--dry-run" in out


def test_status_and_history_show_the_periods(env: tuple[Path, str]) -> None:
    exp_dir, url = env
    assert run("start", KEY, "--db", url, "--experiments", str(exp_dir))[0] == 0
    simulate(url, 0, 600, {"young": 0.5, "rest": 0.5}, seed=1)
    allocate(exp_dir, url, "--now", (T0 + dt.timedelta(days=1)).isoformat())
    code, out, _ = run("status", "--db", url, "--experiments", str(exp_dir), "--format", "json")
    assert code == 0
    [row] = json.loads(out)
    [period] = row["allocation"]["periods"]
    assert period["number"] == 1 and period["started_at"].startswith("2026-03-02T00:00:00")
    young = next(c for c in period["cells"] if c["segment"] == "young")
    assert set(young["weights"]) == {"a", "b"} and young["weights"]["b"] > 0.85
    assert young["status"] == "updated" and young["slice_buckets"] == [500, 500]
    code, out, _ = run("status", "--db", url, "--experiments", str(exp_dir))
    assert code == 0 and "allocation periods (latest)" in out and "young" in out
    code, out, _ = run("history", KEY, "--db", url, "--format", "json")
    it = json.loads(out)["iterations"][0]
    assert [p["number"] for p in it["allocation"]["periods"]] == [1]
    assert it["allocation"]["graduated"] == []
    code, out, _ = run("history", KEY, "--db", url)
    assert code == 0 and "allocation periods" in out
