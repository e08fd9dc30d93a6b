"""Bulk import of outcome events from CSV, Parquet or a DataFrame.

The input needs the columns ``unit_id``, ``event`` and ``timestamp``, and
may have ``value`` (numeric; empty means no value). Other column names can
be mapped with ``columns={"unit_id": "user", ...}``. A missing column raises
:class:`~segab.errors.MissingColumnError` naming the file, the columns it
has and the columns expected. Rows that cannot be stored (empty unit or
event, unparseable timestamp or value) are counted and reported with their
row number (1 = first data row, the header not counted); they are never
dropped silently, and ``strict=True`` refuses the whole import instead.

An import is one transaction: all good rows, or nothing. PostgreSQL loads
with ``COPY``; SQLite with ``executemany``.

Example:
    >>> import pandas as pd
    >>> from segab.store.engine import make_engine, init_store
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> df = pd.DataFrame({"unit_id": ["u1", ""], "event": ["buy", "buy"],
    ...                    "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01"]})
    >>> result = import_events(engine, df)
    >>> result.imported, result.bad_rows, str(result.problems[0])
    (1, 1, 'row 2: unit_id: found an empty value, expected a unit id')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine

from segab.errors import DataError, MissingColumnError, StoreError
from segab.store.engine import DB_ERRORS, write_begin

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EVENT_COLUMNS", "OPTIONAL_EVENT_COLUMNS", "BadRow", "ImportResult", "import_events"]

#: Columns every events file must have.
EVENT_COLUMNS = ("unit_id", "event", "timestamp")
#: Columns an events file may have.
OPTIONAL_EVENT_COLUMNS = ("value",)


@dataclass(frozen=True)
class BadRow:
    """A row that was not imported, and why.

    Example:
        >>> str(BadRow(7, "value: found 'abc', expected a number"))
        "row 7: value: found 'abc', expected a number"
    """

    row: int
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem}"


@dataclass(frozen=True)
class ImportResult:
    """The outcome of :func:`import_events`.

    ``problems`` holds the first ``max_problems`` bad rows; ``bad_rows``
    counts all of them.

    Example:
        >>> ImportResult("ev.csv", 10, 0, ()).summary()
        'ev.csv: imported 10 events, 0 bad rows'
    """

    source: str
    imported: int
    bad_rows: int
    problems: tuple[BadRow, ...]

    def summary(self) -> str:
        """One line: source, rows imported, rows refused."""
        plural = "" if self.bad_rows == 1 else "s"
        return f"{self.source}: imported {self.imported} events, {self.bad_rows} bad row{plural}"


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    raise DataError(f"{path}: found suffix {path.suffix or '(none)'!r}, expected .csv or .parquet")


def _header(path: Path, fmt: str) -> list[str]:
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        return [str(c) for c in pd.read_csv(path, nrows=0, sep=sep).columns]
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _chunks(path: Path, fmt: str, size: int, usecols: list[str]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=size, columns=usecols):
                yield batch.to_pandas()
            return
        sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        yield from pd.read_csv(
            path, sep=sep, usecols=usecols, dtype=str, keep_default_na=False, chunksize=size
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _text(series: pd.Series, name: str, bad: dict[int, str]) -> list[Any]:
    values = series.tolist()
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            bad.setdefault(i, f"{name}: found an empty value, expected a {_NOUN[name]}")
            continue
        if not isinstance(v, str):
            v = values[i] = str(v)
        if not v:
            bad.setdefault(i, f"{name}: found an empty value, expected a {_NOUN[name]}")
        elif "\x00" in v:
            bad.setdefault(i, f"{name}: found {v!r}, expected text without NUL characters")
    return values


_NOUN = {"unit_id": "unit id", "event": "event name"}


def _timestamps(series: pd.Series, bad: dict[int, str]) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        ts = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    else:
        raw = series.astype("string")
        ts = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    for pos in ts.isna().to_numpy().nonzero()[0]:
        found = series.iloc[pos]
        bad.setdefault(
            int(pos), f"timestamp: found {found!r}, expected an ISO-8601 time (UTC if no zone)"
        )
    return ts


def _values(series: pd.Series | None, n: int, bad: dict[int, str]) -> list[float | None]:
    import pandas as pd

    if series is None:
        return [None] * n
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype("float64")
        empty = numbers.isna()
    else:
        text = series.astype("string").str.strip()
        empty = text.isna() | (text == "")
        numbers = pd.to_numeric(text.where(~empty), errors="coerce")
        for pos in (numbers.isna() & ~empty).to_numpy().nonzero()[0]:
            found = series.iloc[pos]
            bad.setdefault(int(pos), f"value: found {found!r}, expected a number or empty")
    floats = numbers.to_numpy(dtype="float64", na_value=float("nan")).tolist()
    return [None if e else x for x, e in zip(floats, empty.tolist(), strict=True)]


def _rows(
    frame: pd.DataFrame,
    cols: Mapping[str, str],
    offset: int,
    bad_out: list[BadRow],
    max_problems: int,
) -> tuple[list[tuple[Any, ...]], int]:
    frame = frame.reset_index(drop=True)
    bad: dict[int, str] = {}
    units = _text(frame[cols["unit_id"]], "unit_id", bad)
    events = _text(frame[cols["event"]], "event", bad)
    ts = _timestamps(frame[cols["timestamp"]], bad)
    values = _values(frame[cols["value"]] if "value" in cols else None, len(frame), bad)
    for pos in sorted(bad):
        if len(bad_out) < max_problems:
            bad_out.append(BadRow(offset + pos + 1, bad[pos]))
    stamps = ts.dt.to_pydatetime().tolist() if len(ts) else []
    rows = [(units[i], events[i], values[i], stamps[i]) for i in range(len(frame)) if i not in bad]
    return rows, len(bad)


def _write(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        if driver is None:  # pragma: no cover - a checked-out connection always has one
            raise StoreError("lost the database connection while importing events")
        with (
            driver.cursor() as cur,
            cur.copy(
                "COPY events (unit_id, event, value, timestamp) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["text", "text", "float8", "timestamptz"])
            for row in rows:
                copy.write_row(row)
        return
    conn.exec_driver_sql(
        "INSERT INTO events (unit_id, event, value, timestamp) VALUES (?, ?, ?, ?)",
        [(u, e, v, t.strftime("%Y-%m-%d %H:%M:%S.%f")) for u, e, v, t in rows],
    )


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
    Bad rows are skipped, counted and listed (the first ``max_problems``);
    with ``strict=True`` any bad row raises :class:`DataError` and nothing
    is imported.

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
        chunks: Iterator[pd.DataFrame] = (
            source.iloc[i : i + chunk_size] for i in range(0, len(source), chunk_size)
        )
    else:
        chunks = _chunks(path, fmt, chunk_size, usecols)
    problems: list[BadRow] = []
    imported = bad_rows = offset = 0
    try:
        with write_begin(engine) as conn:
            for chunk in chunks:
                rows, bad = _rows(chunk, mapping, offset, problems, max_problems)
                offset += len(chunk)
                bad_rows += bad
                if strict and bad_rows:
                    raise DataError(
                        f"{name}: {bad_rows} bad row(s), nothing imported (strict):\n"
                        + "\n".join(f"  - {p}" for p in problems[:20])
                    )
                _write(conn, rows)
                imported += len(rows)
    except DB_ERRORS as exc:
        orig = getattr(exc, "orig", None) or exc
        raise StoreError(f"{name}: cannot import events: {str(orig).strip()}") from exc
    return ImportResult(name, imported, bad_rows, tuple(problems))
