"""Bad event-log values and times on SQLite, PostgreSQL and Spark (see test_event_log_values).

Oracle: the same engine's analysis of the data without the planted rows; the
counters and kinds by hand (the planted rows of :mod:`test_event_log_values`).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.sums.aggregate import aggregate_event_log
from segab.sums.sources import open_engine
from tests.robustness.test_event_log_values import (
    E_COLUMNS,
    EXP,
    EXPECTED,
    assert_same_numbers,
    clean_log,
    expected_counts,
    issues_by_kind,
    plant,
)
from tests.sql.conftest import spark  # noqa: F401  (the suite's one Spark session)

# --- SQLite, PostgreSQL, Spark ------------------------------------------------------------


def write_sqlite(path: Path, x: pd.DataFrame, e: pd.DataFrame, value_type: str) -> None:
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE exposures (user_id TEXT, segment TEXT, stage TEXT, variant TEXT, "
            "timestamp TEXT)"
        )
        con.execute(
            f"CREATE TABLE events (user_id TEXT, event TEXT, value {value_type}, timestamp TEXT)"
        )
        con.executemany("INSERT INTO exposures VALUES (?, ?, ?, ?, ?)", x.values.tolist())
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", e.values.tolist())


@pytest.mark.parametrize("value_type", ["REAL", "TEXT"])
def test_sqlite_text_in_a_real_column_is_not_zero(value_type: str, tmp_path: Path) -> None:
    """SQLite's CAST('abc' AS REAL) is 0.0; the value is read by its type instead."""
    x, e = clean_log()
    dirty_x, dirty_e, _, _ = plant(x, e)
    write_sqlite(tmp_path / "clean.db", x, e, value_type)
    write_sqlite(tmp_path / "dirty.db", dirty_x, dirty_e, value_type)
    with sqlite3.connect(tmp_path / "dirty.db") as con:
        kinds = dict(
            con.execute(
                "SELECT value, typeof(value) FROM events WHERE user_id = 'u5' AND value = 'abc'"
            ).fetchall()
        )
    assert kinds == {"abc": "text"}
    with open_engine(f"sqlite:///{tmp_path / 'clean.db'}") as eng:
        clean = aggregate_event_log(EXP, "exposures", "events", engine=eng)
    with open_engine(f"sqlite:///{tmp_path / 'dirty.db'}") as eng:
        dirty = aggregate_event_log(EXP, "exposures", "events", engine=eng)
    assert_same_numbers(dirty, clean, EXPECTED)
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == expected_counts()
    (example,) = found[("events", "value", "not_a_number")][1]
    assert example.endswith(
        "table events (unit u5, event revenue, timestamp '2024-01-03 00:00:00', value 'abc')"
    )


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, Any]]:
    url = os.environ.get("SEGAB_TEST_DATABASE_URL")
    if not url:
        pytest.skip("SEGAB_TEST_DATABASE_URL is unset (e.g. postgresql://postgres@127.0.0.1/test)")
    import sqlalchemy as sa

    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"segab_values_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, engine, schema
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def write_pg(engine: Any, table: str, df: pd.DataFrame, types: dict[str, str]) -> None:
    import sqlalchemy as sa

    cols = ", ".join(f'"{c}" {types.get(c, "TEXT")}' for c in df.columns)
    names = ", ".join(f":{c}" for c in df.columns)
    with engine.begin() as con:
        con.execute(sa.text(f"CREATE TABLE {table} ({cols})"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES ({names})"), df.to_dict("records"))


@pytest.mark.postgres
def test_postgresql_text_columns(pg_schema: tuple[str, Any, str]) -> None:
    url, engine, schema = pg_schema
    x, e = clean_log()
    dirty_x, dirty_e, _, _ = plant(x, e)
    for name, (xx, ee) in {"clean": (x, e), "dirty": (dirty_x, dirty_e)}.items():
        write_pg(engine, f'"{schema}"."{name}_x"', xx, {})
        write_pg(engine, f'"{schema}"."{name}_e"', ee, {})
    with open_engine(url) as eng:
        clean = aggregate_event_log(EXP, f"{schema}.clean_x", f"{schema}.clean_e", engine=eng)
        dirty = aggregate_event_log(EXP, f"{schema}.dirty_x", f"{schema}.dirty_e", engine=eng)
    assert_same_numbers(dirty, clean, EXPECTED)
    assert {k: v[0] for k, v in issues_by_kind(dirty).items()} == expected_counts()


@pytest.mark.postgres
def test_postgresql_nan_and_infinity_in_typed_columns(pg_schema: tuple[str, Any, str]) -> None:
    url, engine, schema = pg_schema
    x, e = clean_log()
    planted = pd.DataFrame(
        [
            ("u1", "revenue", "NaN", "2024-01-03 00:00:00"),
            ("u2", "revenue", "Infinity", "2024-01-03 00:00:00"),
            ("u3", "click", "-Infinity", "2024-01-03 00:00:00"),
            ("u4", "purchase", None, "infinity"),  # timestamptz has +-infinity too
        ],
        columns=E_COLUMNS,
    )
    types = {"value": "DOUBLE PRECISION", "timestamp": "TIMESTAMPTZ"}
    write_pg(engine, f'"{schema}"."x"', x, {"timestamp": "TIMESTAMPTZ"})
    write_pg(engine, f'"{schema}"."clean_e"', e, types)
    write_pg(engine, f'"{schema}"."dirty_e"', pd.concat([e, planted], ignore_index=True), types)
    with open_engine(url) as eng:
        clean = aggregate_event_log(EXP, f"{schema}.x", f"{schema}.clean_e", engine=eng)
        dirty = aggregate_event_log(EXP, f"{schema}.x", f"{schema}.dirty_e", engine=eng)
    assert_same_numbers(dirty, clean, {"bad_values": 3, "bad_timestamps": 1})
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == {
        ("events", "value", "nan"): 1,
        ("events", "value", "infinite"): 2,
        ("events", "timestamp", "bad_timestamp"): 1,
    }
    (example,) = found[("events", "value", "nan")][1]
    assert example.endswith(
        "dirty_e (unit u1, event revenue, timestamp '2024-01-03 00:00:00+00', value 'NaN')"
    )


@pytest.mark.spark
def test_spark_csv_bad_rows(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    x, e = clean_log()
    dirty_x, dirty_e, _, _ = plant(x, e)
    for name, df in (("x", x), ("e", e), ("dirty_x", dirty_x), ("dirty_e", dirty_e)):
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    with open_spark_engine(spark) as eng:
        clean = aggregate_event_log(
            EXP, str(tmp_path / "x.csv"), str(tmp_path / "e.csv"), engine=eng
        )
        dirty = aggregate_event_log(
            EXP, str(tmp_path / "dirty_x.csv"), str(tmp_path / "dirty_e.csv"), engine=eng
        )
    assert_same_numbers(dirty, clean, EXPECTED)
    assert {k: v[0] for k, v in issues_by_kind(dirty).items()} == expected_counts()
    duck = aggregate_event_log(EXP, tmp_path / "dirty_x.csv", tmp_path / "dirty_e.csv")
    pd.testing.assert_frame_equal(dirty.sums, duck.sums, check_dtype=False)
    assert dirty.data_quality == duck.data_quality
