"""Bulk import of outcome events from CSV, Parquet or a DataFrame.

The input needs the columns ``unit_id``, ``event`` and ``timestamp``, and
may have ``value`` (numeric; empty means no value). Other column names can
be mapped with ``columns={"unit_id": "user", ...}``. A missing column raises
:class:`~segab.errors.MissingColumnError` naming the file, the columns it
has and the columns expected.

Bad values are never stored (:mod:`segab.store.event_rows` checks them):
a row with an empty unit or event, a time that is not ISO-8601, or a value
that is NaN, infinite, beyond the float range (``1e400``) or text is left
out, counted by column and kind, and reported with its row number (1 = first
data row, the header not counted); ``strict=True`` refuses the whole import
instead.

Imports are idempotent: each row is stored with a key made of its content
and its occurrence among identical rows of the import, under a unique
index, so importing a file again adds nothing (the rows are counted as
``already_present``), while an exact duplicate row inside one file is
stored twice. A store made before row keys existed gets the column and
index on its first import (its older rows have no key).

An import is one transaction: all good rows, or nothing. Rows are staged
in a temporary table (PostgreSQL: binary ``COPY``; SQLite: ``executemany``)
and inserted in file order with ``INSERT ... ON CONFLICT (row_key) DO NOTHING``.

Example:
    >>> import pandas as pd
    >>> from segab.store.engine import make_engine, init_store
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> df = pd.DataFrame({"unit_id": ["u1", ""], "event": ["buy", "buy"],
    ...                    "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01"]})
    >>> result = import_events(engine, df)
    >>> result.imported, result.bad_rows, str(result.problems[0])
    (1, 1, 'row 2: unit_id: found an empty value, expected a unit id')
    >>> again = import_events(engine, df)
    >>> again.imported, again.already_present
    (0, 1)
"""

from __future__ import annotations

import csv
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segab.errors import DataError, MissingColumnError, StoreError
from segab.store.engine import _INIT_LOCK_KEY, DB_ERRORS, write_begin
from segab.store.event_rows import PROBLEM_KINDS, BadRow, parse_rows

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["EVENT_COLUMNS", "OPTIONAL_EVENT_COLUMNS", "BadRow", "ImportResult", "import_events"]

#: Columns every events file must have.
EVENT_COLUMNS = ("unit_id", "event", "timestamp")
#: Columns an events file may have.
OPTIONAL_EVENT_COLUMNS = ("value",)

_STAGE = "segab_stage_events"
_STAGE_DDL = {
    "postgresql": f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        row_no bigint NOT NULL, digest text NOT NULL, unit_id text NOT NULL,
        event text NOT NULL, value float8, timestamp timestamptz NOT NULL
    ) ON COMMIT DELETE ROWS""",
    "sqlite": f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        row_no INTEGER NOT NULL, digest TEXT NOT NULL, unit_id TEXT NOT NULL,
        event TEXT NOT NULL, value REAL, timestamp DATETIME NOT NULL
    )""",
}
# The n-th of identical rows (same digest) gets the key "digest:n": a re-import
# produces the same keys, and the unique index turns them into no-ops.
_INSERT_NEW = f"""INSERT INTO events (unit_id, event, value, timestamp, row_key)
    SELECT unit_id, event, value, timestamp, digest || ':' || CAST(occurrence AS TEXT)
    FROM (SELECT row_no, unit_id, event, value, timestamp, digest,
                 row_number() OVER (PARTITION BY digest ORDER BY row_no) AS occurrence
          FROM {_STAGE}) AS staged
    WHERE true ORDER BY row_no
    ON CONFLICT (row_key) DO NOTHING"""
ROW_KEY_INDEX = "ux_events_row_key"


@dataclass(frozen=True)
class ImportResult:
    """The outcome of :func:`import_events`.

    ``imported`` rows are new in the store; ``already_present`` rows were
    stored by an earlier import (of this file or one with the same rows);
    ``bad_rows`` were refused, ``problems`` lists the first ``max_problems``
    of them, and ``bad_counts`` counts every bad field by column and kind
    (``{"value": {"infinite": 2}}``; see :mod:`segab.store.event_rows`).

    Example:
        >>> ImportResult("ev.csv", 10, 0, ()).summary()
        'ev.csv: imported 10 events, 0 bad rows'
        >>> ImportResult("ev.csv", 0, 0, (), already_present=10).summary()
        'ev.csv: imported 0 events, 10 already in the store, 0 bad rows'
    """

    source: str
    imported: int
    bad_rows: int
    problems: tuple[BadRow, ...]
    already_present: int = 0
    bad_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: source, new rows, rows already stored (if any), rows refused."""
        plural = "" if self.bad_rows == 1 else "s"
        present = f", {self.already_present} already in the store" if self.already_present else ""
        return (
            f"{self.source}: imported {self.imported} events{present}, "
            f"{self.bad_rows} bad row{plural}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (snake_case keys).

        Example:
            >>> ImportResult("ev.csv", 1, 0, ()).to_dict()["already_present"]
            0
        """
        return {
            "source": self.source,
            "imported": self.imported,
            "already_present": self.already_present,
            "bad_rows": self.bad_rows,
            "bad_counts": self.bad_counts,
            "problems": [
                {"row": p.row, "column": p.column, "kind": p.kind, "problem": p.problem}
                for p in self.problems
            ],
        }


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    raise DataError(f"{path}: found suffix {path.suffix or '(none)'!r}, expected .csv or .parquet")


def _check_file(path: Path) -> None:
    """Refuse what is not a regular file (a directory, ``/dev/zero``, a pipe) before reading."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        found = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise DataError(f"{path}: found {found}, expected a CSV or Parquet file")


def _utf8_error(path: Path, exc: UnicodeDecodeError) -> DataError:
    """A decoding error located by line and byte (pandas reports a position in its buffer)."""
    with path.open("rb") as f:
        for line_no, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                return DataError(
                    f"{path}: line {line_no}, byte {bad.start + 1}: found byte "
                    f"0x{line[bad.start]:02x}, expected UTF-8 text (save the file as UTF-8)"
                )
    return DataError(f"{path}: cannot read as csv: {exc}")


def _sep(path: Path) -> str:
    return "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","


def _header(path: Path, fmt: str) -> list[str]:
    import pandas as pd

    _check_file(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = [str(c) for c in pq.ParquetFile(path).schema_arrow.names]
        else:
            names = [str(c) for c in pd.read_csv(path, nrows=0, sep=_sep(path)).columns]
            with path.open(newline="", encoding="utf-8-sig") as f:  # pandas renames repeats
                raw = next(csv.reader(f, delimiter=_sep(path)), [])
            if len(set(raw)) < len(raw):
                names = raw
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from exc
    except (OSError, ValueError, pd.errors.ParserError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc
    _unique_columns(str(path), names)
    return names


def _unique_columns(name: str, names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"{name}: the header has column{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(repeated)} more than once: expected each column name once"
        )


def _chunks(
    path: Path, fmt: str, size: int, usecols: list[str], value_col: str | None
) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
    """Chunks of the file, each with the mask of values that are NaN (not null) in Parquet."""
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=size, columns=usecols):
                nan_mask = None
                if value_col is not None:
                    col = batch.column(batch.schema.get_field_index(value_col))
                    if pa.types.is_floating(col.type):
                        nan_mask = pc.fill_null(pc.is_nan(col), False).to_numpy(
                            zero_copy_only=False
                        )
                yield batch.to_pandas(), nan_mask
            return
        for chunk in pd.read_csv(
            path, sep=_sep(path), usecols=usecols, dtype=str, keep_default_na=False, chunksize=size
        ):
            yield chunk, None
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _ensure_row_key(conn: Connection) -> None:
    """Give a store made before row keys the ``row_key`` column and its unique index."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("events")}
    if "row_key" in columns:
        return
    if conn.dialect.name == "postgresql":  # one upgrade at a time (IF NOT EXISTS races)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INIT_LOCK_KEY})
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN IF NOT EXISTS row_key TEXT")
    else:
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN row_key TEXT")
    conn.exec_driver_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {ROW_KEY_INDEX} ON events (row_key)")


def _stage(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Append checked rows (unit, event, value, time, digest, row number) to the staging table."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        if driver is None:  # pragma: no cover - a checked-out connection always has one
            raise StoreError("lost the database connection while importing events")
        with (
            driver.cursor() as cur,
            cur.copy(
                f"COPY {_STAGE} (row_no, digest, unit_id, event, value, timestamp) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "text", "text", "text", "float8", "timestamptz"])
            for u, e, v, t, d, n in rows:
                copy.write_row((n, d, u, e, v, t))
        return
    conn.exec_driver_sql(
        f"INSERT INTO {_STAGE} (row_no, digest, unit_id, event, value, timestamp) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(n, d, u, e, v, t.strftime("%Y-%m-%d %H:%M:%S.%f")) for u, e, v, t, d, n in rows],
    )


def _begin_stage(conn: Connection) -> None:
    conn.exec_driver_sql(_STAGE_DDL[conn.dialect.name])
    conn.exec_driver_sql(f"DELETE FROM {_STAGE}")


@contextmanager
def _sqlite_cache(conn: Connection, kib: int = 262_144) -> Iterator[None]:
    """A larger SQLite page cache for one import (the row-key index is written in random
    order: with the default 2 MB cache a million-row import took twice as long)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _mapping(columns: Mapping[str, str] | None) -> dict[str, str]:
    allowed = (*EVENT_COLUMNS, *OPTIONAL_EVENT_COLUMNS)
    mapping = {c: c for c in allowed}
    for target, source in (columns or {}).items():
        if target not in allowed:
            raise DataError(
                f"column mapping: found target {target!r}, expected one of {', '.join(allowed)}"
            )
        mapping[target] = source
    return mapping


def import_events(
    engine: Engine,
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = False,
    chunk_size: int = 100_000,
    max_problems: int = 100,
) -> ImportResult:
    """Import events from a CSV/Parquet file or a DataFrame into the store.

    ``columns`` maps store columns to input columns (``{"unit_id": "user"}``).
    Bad rows are skipped, counted by column and kind and listed (the first
    ``max_problems``); with ``strict=True`` any bad row raises
    :class:`DataError` and nothing is imported. Rows an earlier import stored
    are not stored again (``already_present``).

    Example:
        >>> import pandas as pd
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> df = pd.DataFrame({"user": ["u1"], "event": ["buy"], "value": [9.5],
        ...                    "timestamp": ["2024-05-01 10:00"]})
        >>> import_events(engine, df, columns={"unit_id": "user"}).imported
        1
    """
    import pandas as pd

    mapping = _mapping(columns)
    if isinstance(source, pd.DataFrame):
        name, have = "<DataFrame>", [str(c) for c in source.columns]
        _unique_columns(name, have)
    else:
        path = Path(source)
        name, fmt = str(path), _format(path)
        have = _header(path, fmt)
    required = [mapping[c] for c in EVENT_COLUMNS]
    missing = [c for c in required if c not in have]
    if missing:
        expected = ", ".join(f"{mapping[c]} ({c})" if mapping[c] != c else c for c in EVENT_COLUMNS)
        raise MissingColumnError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"the file has columns {', '.join(have) or '(none)'}; expected columns {expected} "
            f"and optionally {mapping['value']}"
        )
    if mapping["value"] not in have:
        del mapping["value"]
    usecols = list(dict.fromkeys(mapping.values()))
    if isinstance(source, pd.DataFrame):
        chunks: Iterator[tuple[pd.DataFrame, np.ndarray | None]] = (
            (source.iloc[i : i + chunk_size], None) for i in range(0, len(source), chunk_size)
        )
    else:
        chunks = _chunks(path, fmt, chunk_size, usecols, mapping.get("value"))
    problems: list[BadRow] = []
    counts: dict[tuple[str, str], int] = {}
    staged = bad_rows = offset = 0
    try:
        with write_begin(engine) as conn, _sqlite_cache(conn):
            _ensure_row_key(conn)
            _begin_stage(conn)
            for chunk, nan_mask in chunks:
                parsed = parse_rows(chunk, mapping, first_row=offset + 1, nan_mask=nan_mask)
                offset += len(chunk)
                bad_rows += len(parsed.bad)
                problems.extend(parsed.bad[: max(0, max_problems - len(problems))])
                for k, n in parsed.counts.items():
                    counts[k] = counts.get(k, 0) + n
                if strict and bad_rows:
                    raise DataError(
                        f"{name}: {bad_rows} bad row(s), nothing imported (strict):\n"
                        + "\n".join(f"  - {p}" for p in problems[:20])
                    )
                _stage(conn, parsed.rows)
                staged += len(parsed.rows)
            imported = conn.exec_driver_sql(_INSERT_NEW).rowcount if staged else 0
    except DB_ERRORS as exc:
        orig = getattr(exc, "orig", None) or exc
        raise StoreError(f"{name}: cannot import events: {str(orig).strip()}") from exc
    return ImportResult(
        name, imported, bad_rows, tuple(problems), staged - imported, _by_column(counts)
    )


def _by_column(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """``{(column, kind): n}`` as ``{column: {kind: n}}``, columns and kinds in check order."""
    out: dict[str, dict[str, int]] = {}
    for column, kinds in PROBLEM_KINDS.items():
        found = {k: counts[(column, k)] for k in kinds if counts.get((column, k))}
        if found:
            out[column] = found
    return out
