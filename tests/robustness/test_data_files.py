"""A generated corpus of malformed data files, each through ``segab analyze`` (CliRunner).

Every case ends in one of two outcomes, and the test says which:

- a located error: exit code 1, ``result.exception`` a SystemExit, no traceback, one
  ``Error: ...`` line naming the file (or table) and what was expected, and the line
  number where the case puts the fault at a known line;
- a clean answer: exit code 0 and a JSON result; for a file that only re-encodes the
  clean data (BOM, CRLF, another delimiter, gzip, ...) the result equals the clean run's.

Roles: the event log's exposures and events, and the unit table (``--units``); as
CSV and Parquet files, SQLite tables, and PostgreSQL tables when
``SEGAB_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

import segab.sums.files
from segab.cli.main import cli
from tests.sql.conftest import spark  # noqa: F401  (the suite's shared Spark session)

CONFIG = {
    "key": "files_exp",
    "name": "Data file corpus",
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
ROLES = ("exposures", "events", "units")
N_UNITS = 400
BIG = 22_000  # units in the big files
LATE = 21_000  # a line past the 20,480 that DuckDB samples to detect the dialect and types
KEY = {"exposures": "user_id", "events": "user_id", "units": "arm"}  # a column each role needs


def frames(n: int) -> dict[str, pd.DataFrame]:
    """Clean exposures, events and unit table for ``n`` units."""
    x, ev, units = [], [], []
    for i in range(n):
        seg = "young" if i % 2 else "rest"
        variant = "ab"[(i // 2) % 2]
        uid = f"u{i}"
        x.append((uid, "files_exp", 1, seg, "awareness", variant, True, "2024-01-01 00:00:00"))
        conv = (i % 7 == 0) or (variant == "b" and i % 5 == 0)
        if conv:
            ev.append((uid, "purchase", None, "2024-01-02 00:00:00"))
            ev.append((uid, "revenue", 10.0 + i % 3, "2024-01-02 00:00:00"))
        units.append((uid, seg, variant, int(conv), 10.0 * conv))
    cols = ["user_id", "experiment", "iteration", "segment", "stage", "variant"]
    return {
        "exposures": pd.DataFrame(x, columns=[*cols, "in_experiment", "timestamp"]),
        "events": pd.DataFrame(ev, columns=["user_id", "event", "value", "timestamp"]),
        "units": pd.DataFrame(units, columns=["user_id", "segment", "arm", "conv", "rev"]),
    }


@dataclass(frozen=True)
class World:
    """The clean inputs every case starts from, and the clean runs' results."""

    root: Path
    experiments: Path
    clean: dict[str, Path]  # role -> clean CSV
    text: dict[str, str]  # role -> clean CSV text
    big: dict[str, str]  # role -> CSV text with BIG rows
    frames: dict[str, pd.DataFrame]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> clean JSON


def invoke(world: World, role: str, arg: str, *extra: str) -> Result:
    """``segab analyze`` with ``arg`` in ``role`` and the clean files in the other roles."""
    if role == "units":
        inputs = ["--units", arg, "--variant-column", "arm"]
    elif role == "exposures":
        inputs = ["--exposures", arg, "--events", str(world.clean["events"])]
    else:
        inputs = ["--exposures", str(world.clean["exposures"]), "--events", arg]
    args = ["analyze", "files_exp", *inputs, "--experiments", str(world.experiments)]
    return CliRunner().invoke(cli, [*args, "--format", "json", *extra])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("corpus")
    (root / "experiments").mkdir()
    (root / "experiments" / "files_exp.yaml").write_text(yaml.safe_dump(CONFIG))
    small, big = frames(N_UNITS), frames(BIG)
    big["events"] = pd.concat([big["events"]] * 4, ignore_index=True)
    assert all(len(f) > LATE for f in big.values())
    clean, text = {}, {}
    for role, frame in small.items():
        clean[role] = root / f"{role}.csv"
        frame.to_csv(clean[role], index=False)
        text[role] = clean[role].read_text()
    w = World(
        root,
        root / "experiments",
        clean,
        text,
        {r: f.to_csv(index=False) for r, f in big.items()},
        small,
    )
    for role in ROLES:
        result = invoke(w, role, str(clean[role]))
        assert result.exit_code == 0, result.output
        w.answers[role] = json.loads(result.stdout)
    return w


# ----------------------------------------------------------------------------- the corpus
Make = Callable[[World, str, Path], str]  # (world, role, a fresh directory) -> the argument


@dataclass(frozen=True)
class Case:
    """One malformed input: how to make it and what ``segab analyze`` must do with it."""

    name: str
    make: Make
    error: tuple[str, ...] | None  # fragments the Error line holds; None: a clean answer
    same_as_clean: bool = False  # an answer equal to the clean run's
    roles: tuple[str, ...] = ROLES
    marks: dict[str, Any] = field(default_factory=dict)  # role -> pytest mark


def lines(world: World, role: str) -> list[str]:
    return world.text[role].splitlines()


def write(d: Path, name: str, data: str | bytes) -> str:
    path = d / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def with_line(at: int, line: Callable[[list[str]], str], big: bool = False) -> Make:
    """The clean CSV with ``line`` inserted so that it is line ``at`` of the file."""

    def make(world: World, role: str, d: Path) -> str:
        rows = (world.big[role] if big else world.text[role]).splitlines()
        rows.insert(at - 1, line(rows))
        return write(d, f"{role}.csv", "\n".join(rows) + "\n")

    return make


def raw(data: Callable[[World, str], str | bytes], suffix: str = ".csv") -> Make:
    return lambda world, role, d: write(d, role + suffix, data(world, role))


def ragged(extra: int) -> Callable[[list[str]], str]:
    def line(rows: list[str]) -> str:
        fields = rows[1].split(",")
        return ",".join(fields + ["x"] * extra if extra > 0 else fields[:extra])

    return line


def latin1_row(rows: list[str]) -> bytes:
    """The first data row with a Latin-1 byte in each text field (so a column read holds one)."""

    def text(value: str) -> bool:
        return bool(value) and ":" not in value and not value.replace(".", "").isdigit()

    fields = rows[1].split(",")
    return ",".join(v + "\xe9" if text(v) else v for v in fields).encode("latin-1")


def with_bytes_line(at: int, big: bool = False) -> Make:
    def make(world: World, role: str, d: Path) -> str:
        rows = [r.encode() for r in (world.big[role] if big else world.text[role]).splitlines()]
        rows.insert(at - 1, latin1_row(world.text[role].splitlines()))
        return write(d, f"{role}.csv", b"\n".join(rows) + b"\n")

    return make


def symlink(target: str) -> Make:
    def make(world: World, role: str, d: Path) -> str:
        os.symlink(target, d / f"{role}.csv")
        return str(d / f"{role}.csv")

    return make


def fifo(world: World, role: str, d: Path) -> str:
    os.mkfifo(d / f"{role}.csv")
    return str(d / f"{role}.csv")


def directory(world: World, role: str, d: Path) -> str:
    (d / f"{role}.csv").mkdir()
    return str(d / f"{role}.csv")


def header_edit(edit: Callable[[list[str]], list[str]]) -> Make:
    def make(world: World, role: str, d: Path) -> str:
        rows = lines(world, role)
        head = edit(rows[0].split(","))
        return write(d, f"{role}.csv", "\n".join([",".join(head), *rows[1:]]) + "\n")

    return make


def reencoded(transform: Callable[[str], bytes], suffix: str = ".csv") -> Make:
    return raw(lambda world, role: transform(world.text[role]), suffix)


def delimited(sep: str, suffix: str = ".csv") -> Make:
    def make(world: World, role: str, d: Path) -> str:
        path = d / f"{role}{suffix}"
        world.frames[role].to_csv(path, index=False, sep=sep)
        return str(path)

    return make


def glob_with_bad(world: World, role: str, d: Path) -> str:
    (d / "part").mkdir()
    (d / "part" / "a.csv").write_text(world.text[role])
    rows = lines(world, role)
    (d / "part" / "b.csv").write_text("\n".join([rows[0], rows[1] + ",x"]) + "\n")
    return str(d / "part" / "*.csv")


def renamed(world: World, role: str, d: Path) -> str:
    """The clean CSV with a column the role needs renamed."""
    head, rest = world.text[role].split("\n", 1)
    names = ["who" if name == KEY[role] else name for name in head.split(",")]
    return write(d, f"{role}.csv", ",".join(names) + "\n" + rest)


def unreadable(world: World, role: str, d: Path) -> str:
    path = write(d, f"{role}.csv", world.text[role])
    os.chmod(path, 0)
    return path


CSV_CASES = [
    Case("missing file", lambda w, r, d: str(d / "nope.csv"), ("nope.csv", "no such file")),
    Case("directory", directory, ("a directory", "expected")),
    Case("symlink to /dev/zero", symlink("/dev/zero"), ("character device", "/dev/zero")),
    Case("named pipe", fifo, ("named pipe", "not a regular file")),
    Case("broken symlink", symlink("/nonexistent/x.csv"), ("broken symbolic link",)),
    Case("empty file", raw(lambda w, r: b""), ("empty file (0 bytes)", "header line")),
    Case("unreadable", unreadable, ("permission denied", "expected")),
    Case(
        "latin-1 header",
        raw(lambda w, r: ("\xe9" + w.text[r]).encode("latin-1")),
        ("line 1, byte 1", "not UTF-8"),
    ),
    Case("latin-1 row 3", with_bytes_line(3), ("line 3", "not UTF-8")),
    Case("latin-1 row past the sample", with_bytes_line(LATE, big=True), (f"line {LATE}",)),
    Case(
        "UTF-16 file",
        raw(lambda w, r: w.text[r].encode("utf-16")),
        ("line 1, byte 1", "not UTF-8"),
    ),
    Case("random bytes", raw(lambda w, r: bytes(range(128, 256)) * 40), ("not UTF-8",)),
    Case("NUL in the header", raw(lambda w, r: "\x00" + w.text[r]), ("NUL", "line 1")),
    Case("duplicate header", header_edit(lambda h: [*h, h[1]]), ("twice", "line 1")),
    Case(
        "header duplicate by case",
        header_edit(lambda h: [*h, h[1].upper()]),
        ("the columns", "compared without case"),
    ),
    Case("row with a field too many", with_line(5, ragged(1)), ("line 5", "fields, expected")),
    Case("row with fields missing", with_line(5, ragged(-2)), ("line 5", "fields, expected")),
    Case(
        "ragged row past the sample",
        with_line(LATE, ragged(1), big=True),
        (f"line {LATE}", "fields, expected"),
    ),
    Case(
        "unterminated quote",
        raw(lambda w, r: w.text[r] + 'u1,"unfinished\n'),
        (f"line {N_UNITS + 2}", "unterminated quote"),
        roles=("exposures", "units"),
    ),
    Case(
        "text after a closing quote",
        with_line(4, lambda rows: rows[1].replace(",", ',"x"y,', 1)),
        ("line 4",),
    ),
    Case("missing a column", lambda w, r, d: renamed(w, r, d), ("missing column",)),
    Case(
        "blank header line",
        raw(lambda w, r: "\n" + w.text[r]),
        ("line 1", "empty header line"),
    ),
    Case(
        "first line over 1 MiB",
        raw(lambda w, r: "a" * (1 << 21)),
        ("line 1", "no line end"),
    ),
    Case(
        "a line over 2 MB",
        with_line(3, lambda rows: "u1," + "x" * 2_100_000),
        ("line", "longer than"),
    ),
    Case("wrong extension", raw(lambda w, r: w.text[r], ".json"), ("unsupported file type",)),
    Case("gzip that is not", raw(lambda w, r: w.text[r], ".csv.gz"), ("gzip",)),
    Case("glob matching nothing", lambda w, r, d: str(d / "*.csv"), ("no file matches",)),
    Case("glob with one bad file", glob_with_bad, ("b.csv", "line 2", "fields, expected")),
    # answers
    Case(
        "header only",
        raw(lambda w, r: w.text[r].splitlines()[0] + "\n"),
        None,
    ),
    Case(
        "BOM and CRLF",
        reencoded(lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode()),
        None,
        True,
    ),
    Case("semicolons", delimited(";"), None, True),
    Case("tabs in a .tsv", delimited("\t", ".tsv"), None, True),
    Case("gzip", reencoded(lambda t: gzip.compress(t.encode()), ".csv.gz"), None, True),
    Case("trailing blank lines", reencoded(lambda t: (t + "\n\n").encode()), None, True),
    Case(
        "quoted fields",
        reencoded(
            lambda t: "\n".join(
                ",".join(f'"{v}"' for v in r.split(",")) for r in t.splitlines()
            ).encode()
        ),
        None,
        True,
    ),
]


def parquet_of(frame: pd.DataFrame, path: Path, **kw: Any) -> bytes:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, **kw)
    return path.read_bytes()


def parquet(edit: Callable[[World, str, Path], bytes | None], suffix: str = ".parquet") -> Make:
    def make(world: World, role: str, d: Path) -> str:
        path = d / f"{role}{suffix}"
        data = edit(world, role, path)
        if data is not None:
            path.write_bytes(data)
        return str(path)

    return make


def corrupt_page(world: World, role: str, path: Path) -> bytes:
    """A plain, uncompressed file whose first data page header in every column is overwritten."""
    data = bytearray(parquet_of(world.frames[role], path, compression="none", use_dictionary=False))
    group = pq.ParquetFile(path).metadata.row_group(0)
    for i in range(group.num_columns):
        offset = group.column(i).data_page_offset
        data[offset : offset + 16] = b"\xff" * 16
    return bytes(data)


def corrupt_footer(world: World, role: str, path: Path) -> bytes:
    data = bytearray(parquet_of(world.frames[role], path))
    size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - size
    data[start : start + size] = b"\x07" * size
    return bytes(data)


def duplicate_columns(world: World, role: str, path: Path) -> None:
    frame = world.frames[role]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column(frame.columns[1].upper(), table.column(1))
    pq.write_table(table, path)


def parquet_glob(world: World, role: str, d: Path) -> str:
    (d / "part").mkdir()
    parquet_of(world.frames[role], d / "part" / "a.parquet")
    (d / "part" / "b.parquet").write_bytes(corrupt_page(world, role, d / "b.parquet"))
    return str(d / "part" / "*.parquet")


PARQUET_CASES = [
    Case("parquet: empty file", parquet(lambda w, r, p: b""), ("empty file", "Parquet")),
    Case(
        "parquet: CSV text",
        parquet(lambda w, r, p: w.text[r].encode()),
        ("not a Parquet file", "PAR1"),
    ),
    Case(
        "parquet: first half",
        parquet(lambda w, r, p: parquet_of(w.frames[r], p)[: len(p.read_bytes()) // 2]),
        ("not a Parquet file", "PAR1"),
    ),
    Case(
        "parquet: magic only",
        parquet(lambda w, r, p: b"PAR1" + b"\x00" * 64 + b"PAR1"),
        ("cannot read", "intact Parquet"),
    ),
    Case("parquet: footer overwritten", parquet(corrupt_footer), ("cannot read", "Parquet")),
    Case("parquet: data page overwritten", parquet(corrupt_page), ("cannot read", "Parquet")),
    Case("parquet: duplicate columns", parquet(duplicate_columns), ("the columns",)),
    Case(
        "parquet: missing a column",
        parquet(lambda w, r, p: parquet_of(w.frames[r].rename(columns={KEY[r]: "who"}), p)),
        ("missing column",),
    ),
    Case("parquet: a glob with one bad file", parquet_glob, ("b.parquet", "cannot read")),
    Case(
        "parquet: no rows",
        parquet(lambda w, r, p: parquet_of(w.frames[r].head(0), p)),
        None,
    ),
    Case(
        "parquet: .pq",
        parquet(lambda w, r, p: parquet_of(w.frames[r], p), ".pq"),
        None,
        True,
    ),
]


def params(cases: list[Case]) -> Iterator[Any]:
    for case in cases:
        for role in case.roles:
            mark = case.marks.get(role)
            yield pytest.param(case, role, id=f"{role}: {case.name}", marks=mark or ())


def assert_outcome(result: Result, case: Case, world: World, role: str, named: str) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if case.error is None:
        assert result.exit_code == 0, result.output
        got = json.loads(result.stdout)
        assert got["experiment"] == "files_exp"
        if case.same_as_clean:
            assert got == world.answers[role]
        return
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert named in message, message
    assert "expected" in message, message
    for fragment in case.error:
        assert fragment in message, message


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("case", "role"), list(params(CSV_CASES + PARQUET_CASES)))
def test_data_file(
    case: Case, role: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arg = case.make(world, role, tmp_path)
    if case.make is unreadable and os.access(arg, os.R_OK):  # root reads a mode-0 file
        real = segab.sums.files._open_binary

        def denied(path: str) -> Any:
            if path == arg:
                raise PermissionError(13, "Permission denied", path)
            return real(path)

        monkeypatch.setattr(segab.sums.files, "_open_binary", denied)
    named = Path(arg).name if "*" not in arg or "glob with" not in case.name else ""
    assert_outcome(invoke(world, role, arg), case, world, role, named)


def test_the_corpus_is_large_enough() -> None:
    """Issue 15 asks for at least 60 malformed data files (with the database cases below)."""
    assert len(list(params(CSV_CASES + PARQUET_CASES))) >= 60


# ----------------------------------------------------------------------------- databases
def sqlite_db(world: World, d: Path, setup: Callable[[sqlite3.Connection], None]) -> str:
    path = d / "data.db"
    con = sqlite3.connect(path)
    setup(con)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def tables(world: World, **replace: pd.DataFrame | None) -> Callable[[sqlite3.Connection], None]:
    def setup(con: sqlite3.Connection) -> None:
        for role in ROLES:
            frame = replace.get(role, world.frames[role])
            if frame is not None:
                frame.to_sql(role, con, index=False)

    return setup


def broken_view(world: World) -> Callable[[sqlite3.Connection], None]:
    def setup(con: sqlite3.Connection) -> None:
        tables(world, events=None)(con)
        world.frames["events"].to_sql("t2", con, index=False)
        con.execute("CREATE VIEW events AS SELECT * FROM t2")
        con.execute("DROP TABLE t2")

    return setup


@dataclass(frozen=True)
class DbCase:
    name: str
    url: Callable[[World, Path], str]
    args: tuple[str, ...]
    error: tuple[str, ...] | None


SQLITE_CASES = [
    DbCase("no such database file", lambda w, d: f"sqlite:///{d / 'nope.db'}", (), ("nope.db",)),
    DbCase(
        "not a database",
        lambda w, d: (d / "x.db").write_text(w.text["events"]) and f"sqlite:///{d / 'x.db'}",
        (),
        ("x.db", "file is not a database"),
    ),
    DbCase("a directory", lambda w, d: f"sqlite:///{d}", (), ("unable to open",)),
    DbCase(
        "no events table",
        lambda w, d: sqlite_db(w, d, tables(w, events=None)),
        (),
        ("events: no such table",),
    ),
    DbCase(
        "exposures missing a column",
        lambda w, d: sqlite_db(
            w, d, tables(w, exposures=w.frames["exposures"].drop(columns="variant"))
        ),
        (),
        ("missing column(s) ['variant']",),
    ),
    DbCase(
        "a view over a dropped table",
        lambda w, d: sqlite_db(w, d, broken_view(w)),
        (),
        ("table events", "no such table: main.t2"),
    ),
    DbCase(
        "a hostile table name",
        lambda w, d: sqlite_db(w, d, tables(w)),
        ("--events", 'x"; DROP TABLE events; --'),
        ("no such table",),
    ),
    DbCase(
        "unit table without the variant column",
        lambda w, d: sqlite_db(w, d, tables(w, units=w.frames["units"].drop(columns="arm"))),
        ("--units", "units", "--variant-column", "arm"),
        ("missing column",),
    ),
    DbCase(
        "a schema-qualified table",
        lambda w, d: sqlite_db(w, d, tables(w)),
        ("--exposures", "main.exposures", "--events", "main.events"),
        None,
    ),
    DbCase("clean tables", lambda w, d: sqlite_db(w, d, tables(w)), (), None),
]


def invoke_db(world: World, url: str, args: tuple[str, ...]) -> Result:
    base = ["analyze", "files_exp", "--db", url, "--experiments", str(world.experiments)]
    return CliRunner().invoke(cli, [*base, *args, "--format", "json"])


def assert_db_outcome(result: Result, error: tuple[str, ...] | None) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if error is None:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["experiment"] == "files_exp"
        return
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert "expected" in message, message
    for fragment in error:
        assert fragment in message, message


@pytest.mark.parametrize("case", SQLITE_CASES, ids=lambda c: f"sqlite: {c.name}")
def test_sqlite_table(case: DbCase, world: World, tmp_path: Path) -> None:
    url = case.url(world, tmp_path)
    assert_db_outcome(invoke_db(world, url, case.args), case.error)


def test_a_missing_sqlite_file_is_not_created(world: World, tmp_path: Path) -> None:
    result = invoke_db(world, f"sqlite:///{tmp_path / 'nope.db'}", ())
    assert result.exit_code == 1 and not (tmp_path / "nope.db").exists()


PG_URL = os.environ.get("SEGAB_TEST_DATABASE_URL", "")
if PG_URL.startswith("postgresql://"):
    PG_URL = "postgresql+psycopg://" + PG_URL.removeprefix("postgresql://")


@pytest.fixture
def pg_schema(world: World) -> Iterator[str]:
    """A fresh schema holding the clean tables (dropped afterwards)."""
    if not PG_URL:
        pytest.skip(
            "SEGAB_TEST_DATABASE_URL is unset (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    import sqlalchemy as sa

    schema = f"segab_files_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    for role in ROLES:
        world.frames[role].to_sql(role, engine, schema=schema, index=False)
    world.frames["exposures"].drop(columns="variant").to_sql(
        "novariant", engine, schema=schema, index=False
    )
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("name", "args", "error"),
    [
        ("no such table", ("--events", "{s}.nope"), ("no such table",)),
        ("no such schema", ("--events", "nope_schema.events"), ("no such table",)),
        ("missing a column", ("--exposures", "{s}.novariant"), ("missing column(s) ['variant']",)),
        ("a hostile name", ("--events", '{s}.x"; DROP TABLE x; --'), ("no such table",)),
        ("clean tables", (), None),
    ],
)
def test_postgresql_table(
    name: str, args: tuple[str, ...], error: tuple[str, ...] | None, world: World, pg_schema: str
) -> None:
    defaults = {"--exposures": f"{pg_schema}.exposures", "--events": f"{pg_schema}.events"}
    given = dict(zip(args[::2], (a.format(s=pg_schema) for a in args[1::2]), strict=True))
    flat = tuple(x for kv in {**defaults, **given}.items() for x in kv)
    assert_db_outcome(invoke_db(world, PG_URL, flat), error)


# ----------------------------------------------------------------------------- Spark
SPARK_CASES = [
    ("events", "row with a field too many", ("line 5", "fields, expected")),
    ("events", "duplicate header", ("twice",)),
    ("events", "symlink to /dev/zero", ("character device",)),
    ("exposures", "parquet: data page overwritten", ("Spark cannot read", "Parquet")),
    ("events", "header only", None),
]


@pytest.mark.spark
def test_spark_reader_refuses_and_locates_like_duckdb(
    spark: Any,  # noqa: F811 - the fixture imported above
    world: World,
    tmp_path: Path,
) -> None:
    """The Spark engine on the suite's shared session (the CLI would start its own)."""
    from segab.analysis.api import analyze
    from segab.errors import DataError
    from segab.sums.spark import open_spark_engine

    cases = {c.name: c for c in CSV_CASES + PARQUET_CASES}
    with open_spark_engine(spark) as eng:
        for i, (role, name, error) in enumerate(SPARK_CASES):
            (tmp_path / str(i)).mkdir()
            arg = cases[name].make(world, role, tmp_path / str(i))
            inputs = {
                "exposures": str(world.clean["exposures"]),
                "events": str(world.clean["events"]),
            }
            inputs[role] = arg
            if error is None:
                result = analyze("files_exp", **inputs, experiments=world.experiments, engine=eng)
                assert result.experiment == "files_exp"
                continue
            with pytest.raises(DataError) as info:
                analyze("files_exp", **inputs, experiments=world.experiments, engine=eng)
            message = str(info.value)
            assert Path(arg).name in message and "expected" in message, message
            for fragment in error:
                assert fragment in message, message
