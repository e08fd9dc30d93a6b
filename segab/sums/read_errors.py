"""Engines' read errors as located messages: ``file: line N: found ..., expected ...``.

DuckDB reports a malformed CSV row with its line and file in a long message;
:func:`located_csv_error` keeps what matters. A Parquet file that fails while it
is read is named (:func:`file_read_error`). A query stopped by Ctrl-C ends the
command as Ctrl-C (:func:`reraise_interrupt`), not as a failed query.
:func:`read_frame` reads a small file into pandas with the same checks.

Example:
    >>> located_csv_error("Binder Error: no column x", "?") is None
    True
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segab.errors import DataError, SegabError, SqlError
from segab.printable import shorten
from segab.sums.files import (
    check_file,
    check_parquet,
    csv_layout,
    file_kind,
    first_non_utf8_line,
    scan_csv,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "file_read_error",
    "first_line",
    "located_csv_error",
    "mentions",
    "read_frame",
    "reraise_interrupt",
]

_CSV_ERROR = re.compile(r"CSV Error on Line: (\d+)")
_ORIGINAL = re.compile(r"^Original Line: ?(.*)$", re.MULTILINE)
_FILE = re.compile(r"^\s*file = (.*)$", re.MULTILINE)
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CONVERT = re.compile(
    r"Error when converting column \"(.*?)\"\. Could not convert string \"(.*?)\" to '(.*?)'"
)
_LINE_SIZE = re.compile(r"Maximum line size of (\d+) bytes exceeded")


def _reason(message: str) -> str:
    if m := _COLUMNS.search(message):
        want, found = int(m.group(1)), int(m.group(2))
        return f"found {found} field{'s' * (found != 1)}, expected {want} (one per header column)"
    if "Invalid unicode" in message:
        return "found bytes that are not UTF-8; expected a UTF-8 text file"
    if "unterminated quote" in message:
        return (
            'found a value with an unterminated quote; expected RFC 4180 quoting ("" inside quotes)'
        )
    if m := _CONVERT.search(message):
        col, value, typ = m.groups()
        return (
            f"column {shorten(col)!r}: found {shorten(value)!r}, expected a {typ.lower()} "
            "(the type read from the first rows)"
        )
    if m := _LINE_SIZE.search(message):
        return f"found a line longer than {int(m.group(1)):,} bytes; expected shorter lines"
    lines = [s for s in message.splitlines() if s.strip()]
    after = [s for s in lines[2:] if not s.startswith(("Possible", "*", " "))]
    return shorten(after[0] if after else lines[0], 200)


def located_csv_error(message: str, default_file: str) -> str | None:
    """DuckDB's CSV read error as ``file: line N: found ..., expected ...``; else ``None``.

    Example:
        >>> msg = ("Invalid Input Error: CSV Error on Line: 12\\nOriginal Line: u1,a,b\\n"
        ...        "Expected Number of Columns: 2 Found: 3\\n\\n  file = events.csv\\n")
        >>> print(located_csv_error(msg, "?").replace("; ", ";\\n"))
        events.csv: line 12: found 3 fields, expected 2 (one per header column);
        the line reads 'u1,a,b'
        >>> located_csv_error("Binder Error: no column x", "?") is None
        True
    """
    m = _CSV_ERROR.search(message)
    if m is None and _LINE_SIZE.search(message) is None:
        return None
    where = _FILE.search(message)
    file = where.group(1).strip() if where else default_file
    if "Invalid unicode" in message and (exact := first_non_utf8_line(file)) is not None:
        return exact
    out = f"{file}: line {m.group(1)}: " if m else f"{file}: "
    out += _reason(message)
    original = _ORIGINAL.search(message)
    if original and original.group(1):
        out += f"; the line reads {shorten(original.group(1), 60)!r}"
    return out


def mentions(message: str, files: Sequence[str]) -> list[str]:
    """The files (of ``files``) whose path appears in ``message``.

    Example:
        >>> mentions('Failed to read file "x.parquet": bad', ["x.parquet", "y.csv"])
        ['x.parquet']
    """
    return [f for f in files if f in message]


def read_frame(path: str, role: str, dtype: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Read a small CSV or Parquet file into pandas, with the checks and located errors above.

    For the commands that read a whole file into memory (``segab plan --traffic``,
    ``segab simulate --events-for``). A CSV row with too many fields is an error
    naming its line; pandas pads a row with too few with empty values.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "traffic.csv")
        >>> _ = open(path, "w").write("unit_id,stage\\nu1,awareness\\nu2,awareness,x\\n")
        >>> try:
        ...     read_frame(path, "traffic")
        ... except DataError as exc:
        ...     print(str(exc).split(": ", 1)[1].replace("; ", ";\\n"))
        line 3: found 3 fields, expected 2 (one per header column);
        the line reads 'u2,awareness,x'
    """
    import pandas as pd

    kind = file_kind(path)
    if kind == "parquet":
        check_parquet(path, role)
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"{path}: cannot read: {first}; expected an intact Parquet file"
            ) from None
    if kind is None:
        check_file(path, role)
        raise DataError(f"{path}: unsupported file type ({role}); expected .csv or .parquet")
    layout = csv_layout(path, role)
    try:
        return pd.read_csv(
            path, sep=layout.delimiter, dtype=dtype, encoding="utf-8", low_memory=False
        )
    except (ValueError, UnicodeDecodeError, OSError, csv.Error) as exc:  # ParserError too
        first = first_line(exc)
        located = scan_csv(path, layout)
        raise DataError(located or f"{path}: cannot read as CSV: {first}") from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none).

    Example:
        >>> first_line(ValueError("bad\\nmore")), first_line(KeyError())
        ('bad', 'KeyError')
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def reraise_interrupt(exc: BaseException) -> None:
    """A query stopped by Ctrl-C ends the command as Ctrl-C (KeyboardInterrupt).

    DuckDB reports it as an ``InterruptException`` while it executes and as a
    ``RuntimeError('Query interrupted')`` while it fetches.

    Example:
        >>> reraise_interrupt(ValueError("no"))   # anything else: nothing happens
    """
    if type(exc).__name__ == "InterruptException" or (
        isinstance(exc, RuntimeError) and str(exc).strip() == "Query interrupted"
    ):
        raise KeyboardInterrupt from None


# DuckDB's exception classes for a file that cannot be read (``Error``: Parquet's thrift)
_READ_ERRORS = frozenset(
    {"IOException", "InvalidInputException", "Error", "SerializationException"}
)


def file_read_error(exc: BaseException, parquet_files: Sequence[str]) -> SegabError | None:
    """The located error when ``exc`` is DuckDB failing to read an input file; else ``None``.

    CSV errors carry their file and line; a Parquet error is put on the files it
    names, or on every Parquet input when it names none (thrift's messages don't).
    A CSV value that does not fit the type DuckDB chose from its sample is a
    :class:`SqlError` (a caller may read the column again as text); any other is a
    :class:`DataError`.

    Example:
        >>> class Error(Exception): ...
        >>> print(file_read_error(Error("Out of buffer"), ["x.parquet"]))
        x.parquet: cannot read: Out of buffer; expected an intact Parquet file
        >>> file_read_error(ValueError("Binder Error: no column"), ["x.parquet"]) is None
        True
    """
    text = str(exc).strip()
    located = located_csv_error(text, "<csv input>")
    if located is not None:
        return SqlError(located) if _CONVERT.search(text) else DataError(located)
    named = mentions(text, parquet_files)
    if named or (parquet_files and type(exc).__name__ in _READ_ERRORS):
        files = " or ".join(named or parquet_files)
        return DataError(
            f"{files}: cannot read: {first_line(exc)}; expected an intact Parquet file"
        )
    return None
