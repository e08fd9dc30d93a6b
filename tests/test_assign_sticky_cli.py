"""``segab assign --db URL``: bulk and single assignment with the store's periods and exposures.

Oracle: ``segab.assign(..., period=<the store's latest period>, previous=<the stored
variant, when stored for the unit's segment>)`` row by row; every bulk engine
(Python, DuckDB) writes exactly those rows.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

from segab import assign, load_experiments
from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.cli import cli
from segab.store.allocations import record_allocation_period
from segab.store.engine import init_store, make_engine
from segab.store.exposures import ExposureRow, log_exposures

CONFIG = """\
key: bandit_cta
name: Bandit CTA
unit: user_id
status: running
stages: [purchase]
segments:
  - {key: young, when: {age: {$lt: 35}}}
fallback: rest
allocation: {mode: bandit, uniform_slice: 0.1}
cells:
  - control: plain
    variants: [{key: plain, weight: 0.5}, {key: urgent, weight: 0.5}]
metrics:
  primary: {key: conv, kind: binary, event: purchase}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "bandit_cta.yaml").write_text(CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init_store(make_engine(url))
    rows = [(f"u{i}", "purchase", 20 + i % 40) for i in range(3000)]
    pacsv.write_csv(
        pa.table({k: [r[j] for r in rows] for j, k in enumerate(("user_id", "stage", "age"))}),
        tmp_path / "units.csv",
    )
    return tmp_path, url


def _run(tmp_path: Path, url: str, *extra: str) -> tuple[int, str, str]:
    args = ["assign", "bandit_cta", "--experiments", str(tmp_path / "exp"), "--db", url, *extra]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def _rows(path: Path) -> dict[str, tuple[str, str]]:
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    return {r["unit_id"]: (r["variant"], r["reason"]) for r in table.to_pylist()}


def test_bulk_uses_the_latest_period_and_keeps_stored_variants(setup: tuple[Path, str]) -> None:
    tmp_path, url = setup
    engine = make_engine(url)
    exp = load_experiments(tmp_path / "exp")["bandit_cta"]
    layouts = [
        CellAllocation(seg, "purchase", ("plain", "urgent"), (500, 500), adaptive)
        for seg, adaptive in (("young", (8000, 1000)), ("rest", (1000, 8000)))
    ]
    for number, cells in ((1, tuple(layouts)), (2, (layouts[0],))):
        record_allocation_period(
            engine, AllocationPeriod("bandit_cta", 1, number, datetime(2026, 1, number), cells)
        )
    latest = AllocationPeriod("bandit_cta", 1, 2, datetime(2026, 1, 2), (layouts[0],))
    stored = {f"u{i}": "urgent" if i % 2 else "plain" for i in range(0, 3000, 7)}
    log_exposures(
        engine,
        [
            # u0, u14, ...: stored for another segment than theirs (age 20 + i % 40 decides)
            ExposureRow("bandit_cta", 1, u, "young" if int(u[1:]) % 14 else "rest", "purchase", v)
            for u, v in stored.items()
        ],
    )
    expected = {}
    for i in range(3000):
        u, age = f"u{i}", 20 + i % 40
        segment = "young" if age < 35 else "rest"
        seen = stored.get(u) if (int(u[1:]) % 14 != 0) == (segment == "young") else None
        a = assign(exp, u, {"age": age}, "purchase", period=latest, previous=seen)
        expected[u] = (a.variant, str(a.reason))
    reasons = {r for _, r in expected.values()}
    assert reasons == {"assigned", "sticky"}
    for engine_kind in ("python", "duckdb"):
        out = tmp_path / f"out_{engine_kind}.csv"
        args = ["--input", str(tmp_path / "units.csv"), "--output", str(out), "--quiet"]
        code, stdout, stderr = _run(tmp_path, url, *args, "--engine", engine_kind)
        assert code == 0, stderr
        assert "allocation period 2" in stderr and "stored exposures" in stderr
        assert _rows(out) == expected, engine_kind
        assert "sticky=" in stdout


def test_no_recorded_period_is_the_declared_one(setup: tuple[Path, str]) -> None:
    tmp_path, url = setup
    out = tmp_path / "out.csv"
    args = ["--input", str(tmp_path / "units.csv"), "--output", str(out), "--quiet"]
    code, _, stderr = _run(tmp_path, url, *args)
    assert code == 0 and "declared weights (period 0)" in stderr
    exp = load_experiments(tmp_path / "exp")["bandit_cta"]
    got = _rows(out)
    for i in range(0, 3000, 11):
        a = assign(exp, f"u{i}", {"age": 20 + i % 40}, "purchase")
        assert got[f"u{i}"] == (a.variant, "assigned")


def test_single_unit_is_sticky(setup: tuple[Path, str]) -> None:
    tmp_path, url = setup
    exp = load_experiments(tmp_path / "exp")["bandit_cta"]
    plain = assign(exp, "u5", {"age": 25}, "purchase")
    other = "urgent" if plain.variant == "plain" else "plain"
    log_exposures(
        make_engine(url), [ExposureRow("bandit_cta", 1, "u5", "young", "purchase", other)]
    )
    single = ["--unit", "u5", "--stage", "purchase", "--attr", "age=25"]
    code, stdout, _ = _run(tmp_path, url, *single)
    assert code == 0
    assert (json.loads(stdout)["variant"], json.loads(stdout)["reason"]) == (other, "sticky")


def test_a_missing_store_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "bandit_cta.yaml").write_text(CONFIG, encoding="utf-8")
    code, _, stderr = _run(
        tmp_path, f"sqlite:///{tmp_path / 'none.db'}", "--unit", "u1", "--stage", "purchase"
    )
    assert code == 1 and stderr.startswith("Error: ") and "Traceback" not in stderr


def test_sql_assign_joins_the_stores_exposures(setup: tuple[Path, str]) -> None:
    import duckdb

    tmp_path, url = setup
    engine = make_engine(url)
    exp = load_experiments(tmp_path / "exp")["bandit_cta"]
    layout = CellAllocation("young", "purchase", ("plain", "urgent"), (500, 500), (0, 9000))
    period = AllocationPeriod("bandit_cta", 1, 1, datetime(2026, 1, 1), (layout,))
    record_allocation_period(engine, period)
    log_exposures(engine, [ExposureRow("bandit_cta", 1, "u3", "young", "purchase", "plain")])
    args = ["sql", "assign", "bandit_cta", "--dialect", "duckdb", "--experiments"]
    args += [str(tmp_path / "exp"), "--exposures", "exposures", "--db", url]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    with sqlite3.connect(tmp_path / "store.db") as store:  # the store's table, copied as is
        stored = store.execute(
            "SELECT experiment, iteration, unit_id, segment, stage, variant FROM exposures"
        ).fetchall()
    con.execute(
        "CREATE TABLE exposures (experiment TEXT, iteration INTEGER, unit_id TEXT, "
        "segment TEXT, stage TEXT, variant TEXT)"
    )
    con.executemany("INSERT INTO exposures VALUES (?, ?, ?, ?, ?, ?)", stored)
    con.execute(f"CREATE TABLE units AS SELECT * FROM read_csv('{tmp_path / 'units.csv'}')")
    got = {r[0]: (r[5], r[8]) for r in con.execute(result.output.rstrip().rstrip(";")).fetchall()}
    for i in range(0, 3000, 13):
        u, age = f"u{i}", 20 + i % 40
        a = assign(exp, u, {"age": age}, "purchase", period=period)
        assert got[u] == (a.variant, "assigned"), u
    assert got["u3"] == ("plain", "sticky")
