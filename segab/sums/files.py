"""Data files, checked before an engine reads them, and the engines' read errors, located.

An engine given a path trusts nothing about it. :func:`check_file` refuses, with
the path and what was expected, what no engine should open: a missing path, a
directory, something that is not a regular file (a symlink to ``/dev/zero``, a
pipe, a device: refused at once, never read), an unreadable or empty (0-byte)
file. :func:`csv_layout` reads only the first line of a CSV file: it must be UTF-8
text naming unique columns (compared without case, as SQL does), and it decides
the delimiter (tab for ``.tsv``, else the most frequent of ``,`` ``;`` tab ``|`` in
the header), which the engine then uses instead of guessing from the rows.
:func:`check_parquet` checks a Parquet file's magic bytes.

When an engine fails later, inside the file, :func:`scan_csv` finds the first
malformed line itself (for engines that do not say where, and when DuckDB's
dialect detection fails before reading a row); :mod:`segab.sums.read_errors` turns
the engines' own messages into located ones.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "events.csv")
    >>> _ = open(path, "w").write("user_id;event\\nu1;click\\n")
    >>> csv_layout(path, "events")
    CsvLayout(delimiter=';', columns=('user_id', 'event'))
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from segab.errors import DataError
from segab.printable import shorten

__all__ = [
    "CsvLayout",
    "check_file",
    "check_parquet",
    "check_sqlite_database",
    "csv_layout",
    "duckdb_csv_options",
    "file_kind",
    "input_files",
    "parquet_top_level",
    "scan_csv",
    "unique_columns",
]

MAX_HEADER_BYTES = 1 << 20  # the header line must end within the first MiB
_DELIMITERS = (",", ";", "\t", "|")
_KINDS = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz"),
}


@dataclass(frozen=True)
class CsvLayout:
    """What the first line of a CSV file says: its delimiter and column names.

    Example:
        >>> CsvLayout(",", ("a", "b")).columns
        ('a', 'b')
    """

    delimiter: str
    columns: tuple[str, ...]


def file_kind(path: str) -> str | None:
    """``csv``, ``parquet`` or ``None``, from the path's extension (any case).

    Example:
        >>> file_kind("x/events.CSV.gz"), file_kind("units.pq"), file_kind("a.json")
        ('csv', 'parquet', None)
    """
    lower = path.lower()
    for kind, suffixes in _KINDS.items():
        if lower.endswith(suffixes):
            return kind
    return None


def _what(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _open_binary(path: str) -> io.BufferedReader:
    """Open for reading (a seam: tests simulate a permission error here)."""
    return open(path, "rb")


def check_file(path: str, role: str) -> int:
    """Refuse a path no engine should read; the file's size in bytes.

    Example:
        >>> try:
        ...     check_file("/dev/zero", "events")
        ... except DataError as exc:
        ...     print(str(exc).replace("; ", ";\\n"))
        /dev/zero: a character device, not a regular file (events table);
        expected a CSV or Parquet file
    """
    expected = "expected a CSV or Parquet file"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        broken = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise DataError(f"{path}: no such file{broken} ({role} table); {expected}") from None
    except OSError as exc:
        raise DataError(
            f"{path}: cannot open ({exc.strerror}) ({role} table); {expected}"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(
            f"{path}: a directory ({role} table); {expected}, or a glob such as "
            f"{os.path.join(path, '*.parquet')}"
        )
    if not stat.S_ISREG(info.st_mode):
        what = _what(info.st_mode)
        what += "" if what == "not a regular file" else ", not a regular file"
        if os.path.islink(path):
            what += f" (a symbolic link to {os.path.realpath(path)})"
        raise DataError(f"{path}: {what} ({role} table); {expected}")
    try:
        _open_binary(path).close()
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        raise DataError(f"{path}: cannot read ({reason}) ({role} table); {expected}") from None
    if info.st_size == 0:
        what = "a header line naming the columns" if file_kind(path) == "csv" else "a Parquet file"
        raise DataError(f"{path}: empty file (0 bytes) ({role} table); expected {what}")
    return info.st_size


def input_files(path: str, role: str) -> list[str]:
    """The files a path or glob names, each checked by :func:`check_file`.

    Example:
        >>> try:
        ...     input_files("/nonexistent/*.parquet", "exposures")
        ... except DataError as exc:
        ...     print(str(exc).replace("; ", ";\\n"))
        /nonexistent/*.parquet: no file matches (exposures table);
        expected at least one CSV or Parquet file
    """
    if "*" not in path:
        check_file(path, role)
        return [path]
    found = sorted(glob.glob(path, recursive=True))
    if not found:
        raise DataError(
            f"{path}: no file matches ({role} table); expected at least one CSV or Parquet file"
        )
    for name in found:
        check_file(name, role)
    return found


def check_parquet(path: str, role: str) -> None:
    """Refuse a file without Parquet's magic bytes (``PAR1``) at its start and end.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "units.parquet")
        >>> _ = open(path, "w").write("user_id,arm\\n")
        >>> try:
        ...     check_parquet(path, "units")
        ... except DataError as exc:
        ...     print(str(exc).split(": ", 1)[1].replace("; ", ";\\n"))
        not a Parquet file (it starts with b'user') (units table);
        expected the bytes PAR1 at its start and end
    """
    size = check_file(path, role)
    with _open_binary(path) as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    magic = (b"PAR1", b"PARE")  # PARE: an encrypted footer
    if size < 12 or head not in magic or tail not in magic:
        what = f"it starts with {head!r}" if head not in magic else f"it ends with {tail!r}"
        if size < 12:
            what = f"{size} bytes"
        raise DataError(
            f"{path}: not a Parquet file ({what}) ({role} table); expected the bytes PAR1 "
            "at its start and end"
        )


def parquet_top_level(schema: Sequence[tuple[str, int | None]]) -> list[str]:
    """The top-level column names of a Parquet schema given as (name, number of children).

    The rows are Parquet's flattened schema, depth first, root first (DuckDB's
    ``parquet_schema``); nested fields are skipped.

    Example:
        >>> parquet_top_level([("schema", 3), ("a", None), ("s", 1), ("x", None), ("b", None)])
        ['a', 's', 'b']
    """
    names: list[str] = []
    remaining = [schema[0][1] or 0] if schema else []
    for name, children in schema[1:]:
        if len(remaining) == 1:
            names.append(name)
        remaining[-1] -= 1
        if children:
            remaining.append(children)
        while len(remaining) > 1 and remaining[-1] <= 0:
            remaining.pop()
    return names


def _first_line(path: str) -> bytes:
    with _open_binary(path) as raw:
        fh = gzip.GzipFile(fileobj=raw) if path.lower().endswith(".gz") else raw
        try:
            head = fh.read(MAX_HEADER_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot decompress ({exc}); expected a gzip file") from None
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) > MAX_HEADER_BYTES:
        raise DataError(
            f"{path}: line 1: found no line end in the first {MAX_HEADER_BYTES:,} bytes; "
            "expected a header line naming the columns"
        )
    return line.removesuffix(b"\r")


def _decode(path: str, line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = line[exc.start : exc.start + 4]
        raise DataError(
            f"{path}: line {number}, byte {exc.start + 1}: found {bad!r}, which is not UTF-8; "
            "expected a UTF-8 text file (convert it, e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _delimiter(path: str, header: str) -> str:
    if path.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    outside = re.sub(r'"[^"]*"', "", header)
    counts = [(outside.count(d), -i, d) for i, d in enumerate(_DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","


def csv_layout(path: str, role: str) -> CsvLayout:
    """Check a CSV file and read its header: UTF-8, a line end, unique non-empty names.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "events.csv")
        >>> _ = open(path, "w").write("user_id,value,Value\\n")
        >>> try:
        ...     csv_layout(path, "events")
        ... except DataError as exc:
        ...     print(str(exc).split(": ", 1)[1].replace("; ", ";\\n"))
        line 1: found the columns 'value' and 'Value' (columns 2 and 3);
        expected unique column names (compared without case)
    """
    check_file(path, role)
    line = _first_line(path)
    header = _decode(path, line, 1).removeprefix("\ufeff")
    if "\x00" in header:
        raise DataError(
            f"{path}: line 1: found a NUL byte in the header; expected a CSV text file whose "
            "first line names the columns"
        )
    delimiter = _delimiter(path, header)
    try:
        names = next(csv.reader([header], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise DataError(f"{path}: line 1: cannot read the header ({exc})") from None
    if not names or names == [""]:
        raise DataError(
            f"{path}: line 1: found an empty header line ({role} table); expected the column names"
        )
    unique_columns(names, f"{path}: line 1")
    return CsvLayout(delimiter, tuple(names))


def unique_columns(names: Iterable[str], where: str) -> None:
    """Refuse two columns of one name, compared without case (engines would rename one).

    Example:
        >>> try:
        ...     unique_columns(["user_id", "value", "Value"], "<events DataFrame>")
        ... except DataError as exc:
        ...     print(str(exc).replace("; ", ";\\n"))
        <events DataFrame>: found the columns 'value' and 'Value' (columns 2 and 3);
        expected unique column names (compared without case)
    """
    seen: dict[str, tuple[int, str]] = {}
    for i, name in enumerate(names, 1):
        first, before = seen.setdefault(name.lower(), (i, name))
        if first != i:
            twice = (
                f"the column {shorten(name)!r} twice"
                if before == name
                else f"the columns {shorten(before)!r} and {shorten(name)!r}"
            )
            raise DataError(
                f"{where}: found {twice} (columns {first} and {i}); expected unique "
                "column names (compared without case)"
            )


def _lines(path: str) -> Iterator[str]:
    """The file's lines as text, with a located error on the first one that is not UTF-8."""
    with _open_binary(path) as raw:
        fh = gzip.GzipFile(fileobj=raw) if path.lower().endswith(".gz") else raw
        for number, line in enumerate(fh, 1):
            text = _decode(path, line, number)
            yield text.removeprefix("\ufeff") if number == 1 else text


def first_non_utf8_line(path: str) -> str | None:
    """Where the file first holds bytes that are not UTF-8 (its line and byte), or ``None``.

    DuckDB notices such bytes but, reading in parallel, can name a nearby line.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "events.csv")
        >>> _ = open(path, "wb").write(b"a,b\\n1,2\\n\\xe9,3\\n")
        >>> print(first_non_utf8_line(path).split(": ", 1)[1].split(";")[0])
        line 3, byte 1: found b'\\xe9,3\\n', which is not UTF-8
    """
    try:
        for _ in _lines(path):
            pass
    except DataError as exc:
        return str(exc)
    except OSError:
        return None
    return None


def scan_csv(path: str, layout: CsvLayout, max_rows: int = 2_000_000) -> str | None:
    """The first problem in the file's first ``max_rows`` rows, located; ``None`` if none.

    Finds lines that are not UTF-8, values with an unterminated quote and rows whose
    number of fields differs from the header's. Python-speed: used only after an
    engine has failed, to say where.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "events.csv")
        >>> _ = open(path, "w").write("a,b\\n1,2\\n3\\n")
        >>> print(scan_csv(path, CsvLayout(",", ("a", "b"))).split(": ", 1)[1])
        line 3: found 1 field, expected 2 (one per header column); the line reads '3'
    """
    want = len(layout.columns)
    reader = csv.reader(_lines(path), delimiter=layout.delimiter, strict=True)
    start = 1
    try:
        for row in reader:
            if reader.line_num > 1 and row and len(row) != want:
                text = layout.delimiter.join(row)
                return (
                    f"{path}: line {start}: found {len(row)} field{'s' * (len(row) != 1)}, "
                    f"expected {want} (one per header column); the line reads {shorten(text)!r}"
                )
            start = reader.line_num + 1
            if reader.line_num > max_rows:
                return None
    except DataError as exc:
        return str(exc)
    except csv.Error as exc:
        found = (
            "a value with an unterminated quote"
            if "end of data" in str(exc)
            else "text after the closing quote of a value"
            if "expected after" in str(exc)
            else str(exc)
        )
        return f'{path}: line {start}: found {found}; expected RFC 4180 quoting ("" inside quotes)'
    return None


def duckdb_csv_options(layout: CsvLayout) -> str:
    """DuckDB ``read_csv`` options: the header's delimiter, RFC 4180 quotes, strict rows.

    Fixed rather than detected: DuckDB's detection, shown a malformed row, can pick
    another delimiter or skip the header (reading a file with a ragged row as
    one text column); fixed, the same row is an error naming its line.

    Example:
        >>> print(duckdb_csv_options(CsvLayout(";", ("a",))).replace(", s", ",\\ns"))
        header = true, delim = ';', quote = '"', escape = '"',
        skip = 0, comment = '',
        strict_mode = true, null_padding = false
    """
    delim = "'" + layout.delimiter.replace("'", "''") + "'"
    return (
        f"header = true, delim = {delim}, quote = '\"', escape = '\"', skip = 0, "
        "comment = '', strict_mode = true, null_padding = false"
    )


def check_sqlite_database(url: Any) -> None:
    """Refuse to read tables from a SQLite file that does not exist (SQLite would create it).

    ``url`` is a SQLAlchemy URL; other databases pass.

    Example:
        >>> from sqlalchemy.engine import make_url
        >>> check_sqlite_database(make_url("sqlite://"))   # in memory: nothing to check
        >>> try:
        ...     check_sqlite_database(make_url("sqlite:///nope.db"))
        ... except DataError as exc:
        ...     print(str(exc).split(";")[0])
        sqlite:///nope.db: no such SQLite database file nope.db
    """
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not os.path.exists(database):
        raise DataError(
            f"{url}: no such SQLite database file {database}; expected an existing "
            "database holding the tables to analyze"
        )
