"""``segab events import``: bad values are counted and left out, and imports are idempotent.

Issue 15, items 1 and 4. Before, ``inf`` and ``1e400`` were stored as numbers
(after which every ``analyze --db`` failed), a lone surrogate in a unit id
aborted the import with a traceback, and importing a file twice doubled
every event. The policy (docs/data-quality-store.md): a row with a value
segab cannot use is left out, counted by column and kind, and located by
its row number (1 = the first data row); the good rows are stored exactly
as if the bad ones had not been in the file.
"""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab.cli.main import cli
from segab.errors import DataError
from segab.store import import_events, init_store, make_engine
from segab.store.event_rows import PROBLEM_KINDS
from segab.store.models import EVENTS_TABLE
from tests.store.conftest import Target
from tests.store.conftest import store as store  # the fixture

SURROGATE = json.loads('"\\ud800"')
HEADER = "unit_id,event,value,timestamp\n"


def stored(target: Target | sa.Engine) -> list[tuple[str, str, float | None, datetime]]:
    engine = target.engine if isinstance(target, Target) else target
    t = EVENTS_TABLE.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.unit_id, t.event, t.value, t.timestamp).order_by(t.id))
        return [(u, e, v, ts if ts.tzinfo else ts.replace(tzinfo=UTC)) for u, e, v, ts in rows]


def at(day: int) -> datetime:
    return datetime(2024, 5, day, tzinfo=UTC)


# (token in the value column, kind it is counted as)
BAD_VALUES = [
    ("NaN", "nan"), ("nan", "nan"), ("-NaN", "nan"),
    ("inf", "infinite"), ("-inf", "infinite"), ("Infinity", "infinite"), ("+INF", "infinite"),
    ("1e400", "overflow"), ("-1e400", "overflow"), ("1" + "0" * 400, "overflow"),
    ("abc", "text"), ("1,5", "text"), ("0x10", "text"), ("12abc", "text"), ("true", "text"),
]  # fmt: skip


@pytest.mark.parametrize(("token", "kind"), BAD_VALUES, ids=[t for t, _ in BAD_VALUES])
def test_a_value_that_is_not_a_finite_number_is_counted_and_left_out(
    store: Target, tmp_path: Path, token: str, kind: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + f'u1,buy,2.5,2024-05-01\nu2,buy,"{token}",2024-05-02\nu3,buy,,2024-05-03\n'
    )
    result = import_events(store.engine, path)
    assert (result.imported, result.bad_rows, result.already_present) == (2, 1, 0)
    assert result.bad_counts == {"value": {kind: 1}}
    (problem,) = result.problems
    assert (problem.row, problem.column, problem.kind) == (2, "value", kind)
    assert str(problem).startswith(f"row 2: value: found {token!r}, expected a ")
    assert stored(store) == [("u1", "buy", 2.5, at(1)), ("u3", "buy", None, at(3))]


BAD_TIMES = [
    ("yesterday", "unparseable"), ("2024-13-01", "unparseable"), ("10000-01-01", "unparseable"),
    ("1714557600", "unparseable"), ("", "empty"), ("   ", "empty"),
]  # fmt: skip


@pytest.mark.parametrize(("token", "kind"), BAD_TIMES, ids=[t or "empty" for t, _ in BAD_TIMES])
def test_an_unparseable_time_is_counted_and_left_out(
    store: Target, tmp_path: Path, token: str, kind: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + f"u1,buy,1,2024-05-01\nu2,buy,1,{token}\n")
    result = import_events(store.engine, path)
    assert (result.imported, result.bad_rows) == (1, 1)
    assert result.bad_counts == {"timestamp": {kind: 1}}
    assert str(result.problems[0]).startswith("row 2: timestamp: found ")
    assert stored(store) == [("u1", "buy", 1.0, at(1))]


def test_unencodable_and_nul_ids_are_counted_not_a_crash(store: Target) -> None:
    df = pd.DataFrame(
        {
            "unit_id": ["u1", "u" + SURROGATE, "u\x003", "u4", "u5", "u6"],
            "event": ["buy", "buy", "buy", "b" + SURROGATE, "buy", "buy"],
            "value": ["1", "1", "1", "1", "2" + SURROGATE, "1"],
            "timestamp": ["2024-05-01"] * 5 + ["2024-05-01" + SURROGATE],
        },
        dtype=object,  # pandas' Arrow strings cannot even hold a lone surrogate
    )
    result = import_events(store.engine, df)
    assert (result.imported, result.bad_rows) == (1, 5)
    assert result.bad_counts == {
        "unit_id": {"nul": 1, "unencodable": 1},
        "event": {"unencodable": 1},
        "timestamp": {"unparseable": 1},
        "value": {"text": 1},
    }
    assert [p.row for p in result.problems] == [2, 3, 4, 5, 6]
    assert str(result.problems[3]) == "row 5: value: found '2\\\\ud800', expected a number or empty"
    assert [e[0] for e in stored(store)] == ["u1"]


def test_parquet_nan_is_bad_but_null_is_no_value(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "unit_id": ["u1", "u2", "u3", "u4", "u5"],
            "event": ["buy"] * 5,
            "value": pa.array([1.5, None, float("nan"), float("inf"), -float("inf")]),
            "timestamp": pa.array([at(1)] * 5, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    result = import_events(store.engine, path, chunk_size=2)
    assert (result.imported, result.bad_rows) == (2, 3)
    assert result.bad_counts == {"value": {"nan": 1, "infinite": 2}}
    assert [(p.row, p.kind) for p in result.problems] == [
        (3, "nan"),
        (4, "infinite"),
        (5, "infinite"),
    ]
    assert stored(store) == [("u1", "buy", 1.5, at(1)), ("u2", "buy", None, at(1))]


def test_dataframe_nan_is_pandas_missing_but_inf_is_bad(store: Target) -> None:
    df = pd.DataFrame(
        {
            "unit_id": ["u1", "u2", "u3"],
            "event": ["buy"] * 3,
            "value": [1.0, float("nan"), float("inf")],
            "timestamp": [at(1)] * 3,
        }
    )
    result = import_events(store.engine, df)
    assert (result.imported, result.bad_counts) == (2, {"value": {"infinite": 1}})
    assert stored(store) == [("u1", "buy", 1.0, at(1)), ("u2", "buy", None, at(1))]


def test_no_stored_value_is_ever_non_finite(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + "".join(f"u{i},buy,{t},2024-05-01\n" for i, (t, _) in enumerate(BAD_VALUES))
    )
    result = import_events(store.engine, path)
    assert (result.imported, result.bad_rows) == (0, len(BAD_VALUES))
    assert sum(sum(k.values()) for k in result.bad_counts.values()) == len(BAD_VALUES)
    assert store.count("events") == 0


def test_strict_refuses_a_file_with_one_nan(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "u1,buy,1,2024-05-01\nu2,buy,NaN,2024-05-01\n")
    with pytest.raises(
        DataError, match=r"(?s)1 bad row\(s\), nothing imported.*row 2: value: found 'NaN'"
    ):
        import_events(store.engine, path, strict=True)
    assert store.count("events") == 0


# ---------------------------------------------------------------- idempotence


def test_importing_a_file_twice_stores_its_events_once(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rows = "".join(f"u{i % 7},buy,{i}.5,2024-05-0{1 + i % 9}\n" for i in range(50))
    dup = "u1,buy,99.5,2024-05-02\n"  # an exact duplicate row, twice in the file
    path.write_text(HEADER + rows + dup + dup + "bad,buy,inf,2024-05-01\n")
    first = import_events(store.engine, path, chunk_size=7)
    assert (first.imported, first.already_present, first.bad_rows) == (52, 0, 1)
    before = stored(store)
    second = import_events(store.engine, path, chunk_size=11)  # other chunks, same keys
    assert (second.imported, second.already_present, second.bad_rows) == (0, 52, 1)
    assert second.summary() == f"{path}: imported 0 events, 52 already in the store, 1 bad row"
    assert stored(store) == before
    # the duplicate row is kept twice: it happened twice
    assert sum(1 for r in before if r == ("u1", "buy", 99.5, at(2))) == 2


def test_a_grown_file_adds_only_its_new_rows(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "u1,buy,1,2024-05-01\nu1,buy,1,2024-05-01\n")
    assert import_events(store.engine, path).imported == 2
    path.write_text(HEADER + "u1,buy,1,2024-05-01\nu1,buy,1,2024-05-01\nu1,buy,1,2024-05-01\n")
    again = import_events(store.engine, path)
    assert (again.imported, again.already_present) == (1, 2)
    assert store.count("events") == 3


def test_the_same_rows_as_parquet_are_already_present(store: Target, tmp_path: Path) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text(
        HEADER + "007,buy,19.90,2024-05-01T10:00:00Z\n008,signup,,2024-05-01T12:00:00+02:00\n"
    )
    assert import_events(store.engine, csv).imported == 2
    parquet = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "unit_id": ["007", "008"],
            "event": ["buy", "signup"],
            "value": [19.9, None],
            "timestamp": pd.to_datetime(["2024-05-01 10:00", "2024-05-01 10:00"], utc=True),
        }
    ).to_parquet(parquet)
    result = import_events(store.engine, parquet)
    assert (result.imported, result.already_present) == (0, 2)


def test_concurrent_imports_of_one_file_store_it_once(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "".join(f"u{i},buy,{i},2024-05-01\n" for i in range(500)))
    results = []

    def run() -> None:
        engine = store.engine_again()
        try:
            results.append(import_events(engine, path, chunk_size=100))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted((r.imported, r.already_present) for r in results) == [
        (0, 500),
        (0, 500),
        (500, 0),
    ]
    assert store.count("events") == 500


def test_a_store_from_before_row_keys_is_upgraded_on_import(store: Target, tmp_path: Path) -> None:
    """A version-1 store made before the row_key column: readable, and import adds the column."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ux_events_row_key")
        conn.exec_driver_sql("ALTER TABLE events DROP COLUMN row_key")
        conn.exec_driver_sql(
            "INSERT INTO events (unit_id, event, value, timestamp) "
            "VALUES ('old', 'buy', 3.0, '2024-04-01 00:00:00')"
        )
    store.engine.dispose()
    assert "row_key" not in {c["name"] for c in sa.inspect(store.engine).get_columns("events")}
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "u1,buy,1,2024-05-01\n")
    assert import_events(store.engine, path).imported == 1
    assert (import_events(store.engine, path).imported, store.count("events")) == (0, 2)
    assert [r[0] for r in stored(store)] == ["old", "u1"]


# ---------------------------------------------------------------- CLI


def test_cli_reports_counts_locations_and_reimports(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "u1,buy,1,2024-05-01\nu2,buy,inf,2024-05-01\nu3,buy,1e400,x\n")
    args = ["events", "import", str(path), "--db", store.url]
    args += ["--schema", store.schema] if store.schema else []
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0 and "Traceback" not in first.output
    assert first.stdout == f"{path}: imported 1 events, 2 bad rows\n"
    assert (
        "bad fields (rows left out): timestamp: 1 unparseable; value: 1 infinite, 1 overflow"
        in first.stderr
    )
    assert "row 2: value: found 'inf', expected a finite number or empty" in first.stderr
    assert "row 3: timestamp: found 'x'" in first.stderr
    second = CliRunner().invoke(cli, args)
    assert second.stdout == f"{path}: imported 0 events, 1 already in the store, 2 bad rows\n"
    assert store.count("events") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER, "no data rows, nothing to import"),
        ("", "cannot read as csv"),
        ("unit_id,event\n", "missing column timestamp"),
    ],
    ids=["header_only", "empty_file", "no_timestamp_column"],
)
def test_degenerate_files_get_a_message_not_a_traceback(
    store: Target, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(content)
    args = ["events", "import", str(path), "--db", store.url]
    args += ["--schema", store.schema] if store.schema else []
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.output
    assert store.count("events") == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.csv", HEADER.encode() + b"u1,b\xe9y,1,2024-05-01\n",
         "line 2, byte 5: found byte 0xe9, expected UTF-8 text"),
        ("dup.csv", b"unit_id,event,unit_id,timestamp\nu1,buy,u2,2024-05-01\n",
         "the header has column unit_id more than once: expected each column name once"),
        ("bad.parquet", b"PAR1 not really", "cannot read as parquet"),
        ("quote.csv", HEADER.encode() + b'"u1,buy,1,2024-05-01\n', "cannot read as csv"),
    ],
    ids=["not_utf8", "duplicate_header", "corrupt_parquet", "open_quote"],
)  # fmt: skip
def test_malformed_files_are_located_errors(
    store: Target, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        import_events(store.engine, path)
    assert store.count("events") == 0


def test_a_symlink_to_dev_zero_is_refused_not_read_forever(store: Target, tmp_path: Path) -> None:
    path = tmp_path / "zero.csv"
    path.symlink_to("/dev/zero")
    with pytest.raises(
        DataError, match="found a device, pipe or socket, expected a CSV or Parquet"
    ):
        import_events(store.engine, path)


# ---------------------------------------------------------------- property


TOKENS = st.sampled_from([t for t, _ in BAD_VALUES] + ["", "2.5", "-0", "1e-400", "7"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6, allow_nan=False), TOKENS), min_size=1, max_size=40
    ),
    times=st.lists(
        st.sampled_from(["2024-05-01", "2024-05-02T10:00:00Z", "never", ""]),
        min_size=40,
        max_size=40,
    ),
    chunk=st.integers(1, 50),
)
def test_bad_values_never_change_what_the_good_rows_store(
    tmp_path_factory: pytest.TempPathFactory, values: list, times: list[str], chunk: int
) -> None:
    """The store holds exactly the clean rows; every refused row is counted once per bad field."""
    lines, clean, expected_bad = [], [], 0
    kinds = dict(BAD_VALUES)
    for i, v in enumerate(values):
        token = repr(v) if isinstance(v, float) else v
        ts = times[i]
        lines.append(f"u{i},buy,{token},{ts}\n")
        value_bad = token in kinds
        time_bad = ts in ("never", "")
        if value_bad or time_bad:
            expected_bad += 1
            continue
        number = None if token == "" else float(token)
        clean.append((f"u{i}", number, ts))
    path = tmp_path_factory.mktemp("prop") / "events.csv"
    path.write_text(HEADER + "".join(lines))
    engine = make_engine("sqlite://")
    init_store(engine)
    result = import_events(engine, path, chunk_size=chunk)
    got = stored(engine)
    assert result.bad_rows == expected_bad and result.imported == len(clean)
    assert [(u, v) for u, _, v, _ in got] == [(u, v) for u, v, _ in clean]
    assert all(v is None or math.isfinite(v) for _, _, v, _ in got)
    fields = sum(sum(k.values()) for k in result.bad_counts.values())
    assert expected_bad <= fields <= 2 * expected_bad
    assert set(result.bad_counts) <= set(PROBLEM_KINDS)
    engine.dispose()
