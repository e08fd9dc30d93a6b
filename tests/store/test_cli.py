"""segab db init/status and segab events import, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from segab.cli.main import cli
from segab.store import SCHEMA_VERSION
from tests.store.conftest import Target


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def db_args(target: Target) -> list[str]:
    return ["--db", target.url] + (["--schema", target.schema] if target.schema else [])


def test_init_then_status(empty_db: Target) -> None:
    code, out, err = run("db", "init", *db_args(empty_db))
    assert (code, err) == (0, "")
    assert out.startswith("store ready at ") and f"schema version {SCHEMA_VERSION}" in out
    code, out, _ = run("db", "status", *db_args(empty_db))
    assert code == 0
    assert f"schema version: {SCHEMA_VERSION} (this segab: {SCHEMA_VERSION})" in out
    assert "exposures" in out and "analysis_snapshots" in out
    code, out, _ = run("db", "status", *db_args(empty_db), "--json")
    status = json.loads(out)
    assert status["schema_version"] == SCHEMA_VERSION and status["tables"]["events"] == 0


def test_status_of_a_missing_store_is_an_error(empty_db: Target) -> None:
    code, out, err = run("db", "status", *db_args(empty_db))
    assert code == 1 and out == ""
    assert err.startswith("Error: no segab store at ") and "segab db init" in err


def test_store_from_the_future_is_refused(store: Target) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    for command in ("init", "status"):
        code, _, err = run("db", command, *db_args(store))
        assert code == 1
        assert f"schema version 99, newer than the version {SCHEMA_VERSION} this segab" in err


def test_db_url_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    assert run("db", "init", env={"SEGAB_DB": url})[0] == 0
    code, out, _ = run("db", "status", env={"SEGAB_DB": url})
    assert code == 0 and str(tmp_path / "env.db") in out


def test_password_is_masked(tmp_path: Path) -> None:
    code, _, err = run("db", "status", "--db", "postgresql://bob:hunter2@127.0.0.1:1/nope")
    assert code == 1
    assert "hunter2" not in err and "bob:***@" in err


def test_events_import_csv(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,event,value,ts\nu1,buy,3.5,2024-05-01\nu2,buy,oops,2024-05-01\n")
    code, out, err = run(
        "events", "import", str(path), *db_args(store),
        "--unit-column", "user", "--timestamp-column", "ts",
    )  # fmt: skip
    assert code == 0
    assert out.strip() == f"{path}: imported 1 events, 1 bad row"
    assert "row 2: value: found 'oops', expected a number or empty" in err
    assert store.count("events") == 1


def test_events_import_strict_refuses(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("unit_id,event,timestamp\nu1,buy,2024-05-01\nu2,buy,never\n")
    code, _, err = run("events", "import", str(path), *db_args(store), "--strict")
    assert code == 1 and "Error: " in err and "nothing imported" in err
    assert store.count("events") == 0


def test_events_import_missing_column_message(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,event,ts\nu1,buy,2024-05-01\n")
    code, out, err = run("events", "import", str(path), *db_args(store))
    assert (code, out) == (1, "")
    assert err == (
        f"Error: {path}: missing columns unit_id, timestamp; the file has columns user, event, "
        "ts; expected columns unit_id, event, timestamp and optionally value\n"
    )


def test_events_import_needs_an_initialised_store(empty_db: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("unit_id,event,timestamp\nu1,buy,2024-05-01\n")
    code, _, err = run("events", "import", str(path), *db_args(empty_db))
    assert code == 1 and "no segab store" in err


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["db", "--help"], "segab db init --db sqlite:///segab.db"),
        (["db", "init", "--help"], "segab db init --db"),
        (["db", "status", "--help"], "segab db status --db"),
        (["events", "--help"], "segab events import events.parquet"),
        (["events", "import", "--help"], "segab events import events.csv"),
    ],
)
def test_help_has_an_example(args: list[str], example: str) -> None:
    code, out, _ = run(*args)
    assert code == 0 and "Example:" in out and example in out
