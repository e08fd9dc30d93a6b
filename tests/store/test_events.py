"""Events import from CSV, Parquet and DataFrames, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from segab.errors import DataError, MissingColumnError
from segab.store import import_events
from segab.store.models import EVENTS_TABLE
from tests.store.conftest import Target


def events(target: Target) -> list[tuple[str, str, float | None, datetime]]:
    t = EVENTS_TABLE.c
    with target.engine.connect() as conn:
        rows = conn.execute(sa.select(t.unit_id, t.event, t.value, t.timestamp).order_by(t.id))
        return [(u, e, v, ts if ts.tzinfo else ts.replace(tzinfo=UTC)) for u, e, v, ts in rows]


def test_csv_import_keeps_ids_as_text_and_times_in_utc(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "unit_id,event,value,timestamp,extra\n"
        "007,purchase,19.90,2024-05-01T10:00:00Z,x\n"
        "008,signup,,2024-05-01T12:00:00+02:00,y\n"
        "009,purchase,5,2024-05-02 08:30,z\n"
    )
    result = import_events(store.engine, path)
    assert (result.imported, result.bad_rows, result.problems) == (3, 0, ())
    assert result.summary() == f"{path}: imported 3 events, 0 bad rows"
    assert events(store) == [
        ("007", "purchase", 19.9, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("008", "signup", None, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("009", "purchase", 5.0, datetime(2024, 5, 2, 8, 30, tzinfo=UTC)),
    ]


def test_parquet_import_with_mapped_columns(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user": [1, 2],
            "name": ["buy", "buy"],
            "amount": [1.5, None],
            "at": pd.to_datetime(["2024-05-01 10:00", "2024-05-01 11:00"]),
        }
    ).to_parquet(path)
    result = import_events(
        store.engine,
        path,
        columns={"unit_id": "user", "event": "name", "value": "amount", "timestamp": "at"},
    )
    assert result.imported == 2
    assert events(store) == [
        ("1", "buy", 1.5, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2", "buy", None, datetime(2024, 5, 1, 11, tzinfo=UTC)),
    ]


def test_bad_rows_are_counted_and_reported_with_row_numbers(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "unit_id,event,value,timestamp\n"
        "u1,buy,1,2024-05-01\n"
        ",buy,1,2024-05-01\n"
        "u3,buy,abc,2024-05-01\n"
        "u4,buy,2,yesterday\n"
        "u5,,2,2024-05-01\n"
        "u6,buy,3,2024-05-01\n"
    )
    result = import_events(store.engine, path, chunk_size=2)
    assert (result.imported, result.bad_rows) == (2, 4)
    assert [str(p) for p in result.problems] == [
        "row 2: unit_id: found an empty value, expected a unit id",
        "row 3: value: found 'abc', expected a number or empty",
        "row 4: timestamp: found 'yesterday', expected an ISO-8601 time (UTC if no zone)",
        "row 5: event: found an empty value, expected a event name",
    ]
    assert [e[0] for e in events(store)] == ["u1", "u6"]


def test_strict_import_refuses_everything(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("unit_id,event,timestamp\nu1,buy,2024-05-01\nu2,buy,never\n")
    with pytest.raises(DataError, match=r"(?s)1 bad row\(s\), nothing imported.*row 2: timestamp"):
        import_events(store.engine, path, strict=True, chunk_size=1)
    assert store.count("events") == 0


def test_missing_column_names_file_found_and_expected(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,event,ts\nu1,buy,2024-05-01\n")
    with pytest.raises(MissingColumnError) as info:
        import_events(store.engine, path)
    assert str(info.value) == (
        f"{path}: missing columns unit_id, timestamp; the file has columns user, event, ts; "
        "expected columns unit_id, event, timestamp and optionally value"
    )
    with pytest.raises(MissingColumnError, match=r"expected columns user_id \(unit_id\)"):
        import_events(store.engine, path, columns={"unit_id": "user_id", "timestamp": "ts"})


def test_dataframe_import_and_unknown_format(store: Target, tmp_path: Path) -> None:
    df = pd.DataFrame({"unit_id": ["a"], "event": ["e"], "timestamp": ["2024-01-01"]})
    assert import_events(store.engine, df).imported == 1
    with pytest.raises(DataError, match=r"found suffix '.json', expected .csv or .parquet"):
        import_events(store.engine, tmp_path / "events.json")
    with pytest.raises(DataError, match="file not found"):
        import_events(store.engine, tmp_path / "nope.csv")
    with pytest.raises(DataError, match="column mapping: found target 'user'"):
        import_events(store.engine, df, columns={"user": "unit_id"})
