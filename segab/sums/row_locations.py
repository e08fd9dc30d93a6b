"""Where a row is: CSV line numbers, Parquet and DataFrame row indexes, else the unit id.

Counting bad rows happens in the engine, in the statement that sums the rest; only
when a count is not zero does a second, small statement list the first few. That
statement reads the input through a *positioned* FROM clause
(:func:`positioned_source`), which carries each row's 0-based position:

- a CSV or Parquet file read by DuckDB (``WITH ORDINALITY``; DuckDB numbers the
  rows in file order even when it reads in parallel) or a Parquet file read by
  Spark (``_metadata.row_index``);
- a pandas DataFrame (any engine): a copy with a position column is registered
  (pandas copies no column data for it);
- otherwise (database tables, Spark tables and CSV files, globs of several files)
  there is no position, and rows are named by their unit id.

A CSV row's position becomes its file line (the header is line 1) by reading the
file with Python's ``csv`` module up to that row, with the delimiter and quote
DuckDB detected, so a quoted field that spans lines and blank lines DuckDB skips
are counted as in an editor.

Example:
    >>> where(Position("units.csv", "line", {0: 2}), 0)
    'units.csv line 2'
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segab.sums.sources import Engine, Relation, Source, is_frame

__all__ = ["Position", "csv_record_lines", "positioned_source", "where"]

POSITION = "segab_pos"


@dataclass
class Position:
    """How positions of one input read: its label, ``line`` or ``row index``, known CSV lines.

    ``source`` is the positioned FROM clause (None: no positions); ``csv_path`` is
    set for a CSV file, whose positions become lines through ``lines``.

    Example:
        >>> Position("<units DataFrame>", "row index").unit
        'row index'
    """

    label: str
    unit: str
    lines: dict[int, int] = field(default_factory=dict)
    source: str | None = None
    csv_path: str | None = None


def _file_format(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    return None


def positioned_source(
    eng: Engine, source: Source, rel: Relation, text_columns: Iterable[str]
) -> Position:
    """A :class:`Position` for ``source`` (already read as ``rel`` by ``eng``).

    Example:
        >>> import pandas as pd
        >>> from segab.sums.sources import open_engine
        >>> with open_engine() as eng:
        ...     df = pd.DataFrame({"y": [1.0, 2.0]})
        ...     pos = positioned_source(eng, df, eng.relation(df, "units", ()), ())
        ...     eng.rows(f"SELECT segab_pos FROM {pos.source} WHERE y = 2.0", {})[1]
        [(1,)]
    """
    if rel.has(POSITION) or rel.has("ordinality"):
        return Position(rel.label, "row index")
    if is_frame(source):
        import numpy as np

        frame: Any = source
        copy = frame.assign(**{POSITION: np.arange(len(frame), dtype="int64")})
        return Position(
            rel.label, "row index", source=eng.relation(copy, "units", text_columns).sql
        )
    path = str(source)
    file_format = _file_format(path)
    if file_format is None or any(ch in path for ch in "*?[") or Path(path).is_dir():
        return Position(rel.label, "row index")
    from segab.sql.dialects import get_dialect

    positioned = get_dialect(eng.dialect).rows_with_position(rel.sql, path, file_format)
    if file_format == "csv":
        return Position(rel.label, "line", source=positioned, csv_path=path)
    return Position(rel.label, "row index", source=positioned)


def where(position: Position, pos: Any) -> str:
    """The place of the row at 0-based position ``pos`` (None: just the input's label).

    Example:
        >>> where(Position("u.parquet", "row index"), 4), where(Position("t", "row index"), None)
        ('u.parquet row index 4', 't')
    """
    if pos is None:
        return position.label
    n = int(pos)
    if position.unit == "line":
        return f"{position.label} line {position.lines.get(n, n + 2)}"
    return f"{position.label} {position.unit} {n}"


def csv_record_lines(eng: Engine, path: str, records: Iterable[int]) -> dict[int, int]:
    """The file line (header = 1) on which each 0-based data record of a CSV file starts.

    Reads the file up to the last record asked for, with the delimiter, quote and
    escape characters and skipped rows that DuckDB's ``sniff_csv`` finds (on
    another engine, a comma and double quotes).

    Example:
        >>> import tempfile, os
        >>> from segab.sums.sources import open_engine
        >>> path = os.path.join(tempfile.mkdtemp(), "u.csv")
        >>> _ = open(path, "w").write('id,note\\n1,"two\\nlines"\\n\\n2,x\\n')
        >>> with open_engine() as eng:
        ...     csv_record_lines(eng, path, [0, 1])
        {0: 2, 1: 5}
    """
    wanted = set(records)
    delimiter, quote, escape, skip, header = ",", '"', "", 0, True
    try:
        _, rows = eng.rows(
            "SELECT Delimiter, Quote, Escape, SkipRows, HasHeader FROM sniff_csv($p0)", {"p0": path}
        )
        delimiter, quote, escape, skip, header = rows[0]
        quote = "" if quote == "(empty)" else quote
        escape = "" if escape in ("(empty)", quote) else escape
    except Exception:  # not DuckDB, or a file DuckDB cannot sniff: the defaults
        pass
    out: dict[int, int] = {}
    if len(delimiter) != 1 or not wanted:
        return out
    opener: Any = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for _ in range(int(skip)):
            fh.readline()
        reader = csv.reader(
            fh,
            delimiter=delimiter,
            quotechar=quote or None,
            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
            escapechar=escape or None,
            doublequote=not escape,
        )
        record, previous = -2 if header else -1, 0
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not row:
                continue  # a blank line: DuckDB skips it
            record += 1
            if record in wanted:
                out[record] = start + int(skip)
                if len(out) == len(wanted):
                    break
    return out
