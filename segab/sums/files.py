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

When an engine fails later, inside the file, :func:`located_csv_error` turns
DuckDB's message into ``file: line N: what was found, what was expected`` and
:func:`scan_csv` finds the first malformed line itself (for engines that do not
say, and when DuckDB's dialect detection fails before reading a row).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segab.errors import DataError
from segab.printable import shorten

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CsvLayout",
    "check_file",
    "check_parquet",
    "csv_layout",
    "file_kind",
    "input_files",
    "located_csv_error",
    "mentions",
    "read_frame",
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
        found = "a value with an unterminated quote" if "end of data" in str(exc) else str(exc)
        return f'{path}: line {start}: found {found}; expected RFC 4180 quoting ("" inside quotes)'
    return None


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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        located = scan_csv(path, layout)
        raise DataError(located or f"{path}: cannot read as CSV: {first}") from None
