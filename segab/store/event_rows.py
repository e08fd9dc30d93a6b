"""Which event rows can be stored, why the others cannot, and each row's key (pure).

The functional core of ``segab events import``: :func:`parse_rows` turns one
chunk of raw rows (a DataFrame) into storable rows and located problems.
A value segab cannot use is never stored as a number: each bad field is
counted by column and kind (:data:`PROBLEM_KINDS`) and its row is left out.

=============  =========================================================
column         kinds
=============  =========================================================
``unit_id``    ``empty``, ``nul`` (a NUL character), ``unencodable``
``event``      (a lone surrogate, which UTF-8 cannot encode)
``timestamp``  ``empty``, ``unparseable`` (not ISO-8601), ``out_of_range``
               (ISO-8601, but outside the times pandas holds: before
               pandas 3, 1677-09-22 .. 2262-04-11)
``value``      ``nan``, ``infinite`` (``inf``, ``-Infinity``), ``overflow``
               (a literal beyond ±1.8e308 such as ``1e400``), ``text``
=============  =========================================================

An empty value means "no value" (stored as NULL); so does NaN in a
DataFrame's float column and a null in Parquet, which is how pandas and
Arrow mark missing numbers. A NaN that is a value (the text ``NaN`` in a
CSV, a NaN float in Parquet) is bad.

Each stored row gets a key: :func:`row_digest` of its content (unit, event,
value and time in UTC microseconds) and, added in SQL, its occurrence among
identical rows of the same import, so importing a file twice stores its
rows once, while an exact duplicate row inside one file is kept twice.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"unit_id": ["u1", "u2"], "event": ["buy", "buy"],
    ...                    "value": ["1e400", "2.5"], "timestamp": ["2024-05-01", "2024-05-01"]})
    >>> parsed = parse_rows(df, {c: c for c in df.columns})
    >>> [r[:3] for r in parsed.rows], parsed.counts
    ([('u2', 'buy', 2.5)], {('value', 'overflow'): 1})
    >>> str(parsed.bad[0])
    "row 1: value: found '1e400', expected a number within ±1.8e308 or empty"
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["PROBLEM_KINDS", "BadRow", "ParsedRows", "parse_rows", "row_digest"]

#: The kinds of bad field, per column, in the order they are checked.
PROBLEM_KINDS: dict[str, tuple[str, ...]] = {
    "unit_id": ("empty", "nul", "unencodable"),
    "event": ("empty", "nul", "unencodable"),
    "timestamp": ("empty", "unparseable", "out_of_range"),
    "value": ("nan", "infinite", "overflow", "text"),
}

_NOUN = {"unit_id": "unit id", "event": "event name"}
_NAN = re.compile(r"[+-]?nan", re.IGNORECASE)
_INF = re.compile(r"[+-]?inf(inity)?", re.IGNORECASE)
_TS_EXPECTED = "expected an ISO-8601 time (UTC if no zone)"


@dataclass(frozen=True)
class BadRow:
    """A row that was not imported, and why; ``column`` and ``kind`` classify the problem.

    ``row`` counts data rows from 1 (the header is not counted).

    Example:
        >>> str(BadRow(7, "value: found 'abc', expected a number", "value", "text"))
        "row 7: value: found 'abc', expected a number"
    """

    row: int
    problem: str
    column: str = ""
    kind: str = ""

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem}"


@dataclass
class ParsedRows:
    """One chunk, checked: storable ``rows``, the ``bad`` ones, and counts by (column, kind).

    ``rows`` are ``(unit_id, event, value, timestamp, digest, row_number)``; ``bad`` holds
    one :class:`BadRow` per refused row (its first problem), in row order; ``counts``
    counts every bad field, so a row with two bad fields counts in both.

    Example:
        >>> ParsedRows().counts
        {}
    """

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


def row_digest(unit_id: str, event: str, value: float | None, micros: int) -> str:
    """The content digest of an event row (32 hex digits; the row key adds the occurrence).

    ``micros`` is the time in microseconds since 1970-01-01 UTC; ``-0.0`` is ``0.0``.

    Example:
        >>> row_digest("u1", "buy", 9.5, 0) == row_digest("u1", "buy", 9.50, 0)
        True
        >>> row_digest("u1", "buy", None, 0) == row_digest("u1", "buy", 0.0, 0)
        False
    """
    shown = "" if value is None else repr(value + 0.0)
    text = f"{unit_id}\x1f{event}\x1f{shown}\x1f{micros}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _storable(text: str) -> str | None:
    """The kind of problem of a non-empty text field, or None."""
    if "\x00" in text:
        return "nul"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "unencodable"
    return None


def _text(series: pd.Series, name: str, bad: dict[int, list[tuple[str, str, str]]]) -> list[Any]:
    values = series.tolist()
    noun = _NOUN[name]
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            bad.setdefault(i, []).append(
                (name, "empty", f"found an empty value, expected a {noun}")
            )
            continue
        if not isinstance(v, str):
            v = values[i] = str(v)
        if not v:
            bad.setdefault(i, []).append(
                (name, "empty", f"found an empty value, expected a {noun}")
            )
        elif (kind := _storable(v)) == "nul":
            bad.setdefault(i, []).append(
                (name, kind, f"found {v!r}, expected text without NUL characters")
            )
        elif kind == "unencodable":
            bad.setdefault(i, []).append(
                (name, kind, f"found {v!r}, expected text UTF-8 can encode (no lone surrogates)")
            )
    return values


def _as_string(series: pd.Series) -> pd.Series:
    """``series.astype("string")``; text UTF-8 cannot encode (a lone surrogate) is shown
    escaped (``'\\ud800'``), so it fails to parse and is reported, instead of raising."""
    try:
        return series.astype("string")
    except UnicodeEncodeError:
        return series.map(
            lambda v: (
                v.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(v, str) else v
            )
        ).astype("string")


def _timestamps(series: pd.Series, bad: dict[int, list[tuple[str, str, str]]]) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        ts = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    else:
        raw = _as_string(series)
        ts = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    for pos in ts.isna().to_numpy().nonzero()[0]:
        found = series.iloc[pos]
        if found is None or found is pd.NaT or (isinstance(found, float) and found != found):
            kind, text = "empty", f"found an empty value, {_TS_EXPECTED}"
        elif isinstance(found, str) and not found.strip():
            kind, text = "empty", f"found {found!r}, {_TS_EXPECTED}"
        elif _iso_in_python(found):
            kind = "out_of_range"
            text = f"found {found!r}, {_TS_EXPECTED} within the times pandas can hold"
        else:
            kind, text = "unparseable", f"found {found!r}, {_TS_EXPECTED}"
        bad.setdefault(int(pos), []).append(("timestamp", kind, text))
    return ts


def _iso_in_python(found: object) -> bool:
    """Whether a time pandas cannot hold is ISO-8601 all the same (so: out of range)."""
    if not isinstance(found, str):
        return False
    try:
        datetime.fromisoformat(found.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _value_kind(token: str, number: float) -> tuple[str, str]:
    """Kind and message of a value that is not a finite number (``number`` as parsed)."""
    if _NAN.fullmatch(token):
        return "nan", f"found {token!r}, expected a finite number or empty"
    if math.isinf(number):
        if _INF.fullmatch(token):
            return "infinite", f"found {token!r}, expected a finite number or empty"
        return "overflow", f"found {token!r}, expected a number within ±1.8e308 or empty"
    return "text", f"found {token!r}, expected a number or empty"


def _values(
    series: pd.Series | None,
    n: int,
    bad: dict[int, list[tuple[str, str, str]]],
    nan_mask: np.ndarray | None,
) -> list[float | None]:
    import numpy as np
    import pandas as pd

    if series is None:
        return [None] * n
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype("float64")
        empty = numbers.isna().to_numpy()
        if nan_mask is not None:  # NaN that is a value (Parquet), not a missing one
            empty = empty & ~nan_mask
        for pos in (~empty & ~np.isfinite(numbers.to_numpy())).nonzero()[0]:
            x = float(numbers.iloc[pos])
            kind = "nan" if x != x else "infinite"
            message = f"found {x!r}, expected a finite number or empty"
            bad.setdefault(int(pos), []).append(("value", kind, message))
    else:
        tokens = _as_string(series).str.strip()
        empty_s = tokens.isna() | (tokens == "")
        numbers = pd.to_numeric(tokens.where(~empty_s), errors="coerce").astype("float64")
        empty = empty_s.to_numpy()
        for pos in (~empty & ~np.isfinite(numbers.to_numpy())).nonzero()[0]:
            kind, message = _value_kind(str(tokens.iloc[pos]), float(numbers.iloc[pos]))
            bad.setdefault(int(pos), []).append(("value", kind, message))
    floats = numbers.to_numpy(dtype="float64", na_value=float("nan")).tolist()
    return [None if e else x for x, e in zip(floats, empty.tolist(), strict=True)]


def _micros(ts: pd.Series) -> list[int]:
    """UTC microseconds since the epoch (NaT, in refused rows, as 0)."""
    import pandas as pd

    filled = ts.fillna(pd.Timestamp(0, tz="UTC"))
    return filled.dt.as_unit("us").astype("int64").tolist()


def parse_rows(
    frame: pd.DataFrame,
    cols: Mapping[str, str],
    *,
    first_row: int = 1,
    nan_mask: np.ndarray | None = None,
) -> ParsedRows:
    """Check one chunk of event rows; see the module docs for what is refused.

    ``cols`` maps ``unit_id``, ``event``, ``timestamp`` and optionally ``value`` to
    the frame's columns; ``first_row`` is the row number of the frame's first row;
    ``nan_mask`` marks values that are NaN rather than missing (read from Parquet).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"u": ["a", ""], "e": ["buy", "buy"], "t": ["2024-05-01", "x"]})
        >>> parsed = parse_rows(df, {"unit_id": "u", "event": "e", "timestamp": "t"})
        >>> len(parsed.rows), [str(b) for b in parsed.bad]
        (1, ['row 2: unit_id: found an empty value, expected a unit id'])
        >>> parsed.counts
        {('unit_id', 'empty'): 1, ('timestamp', 'unparseable'): 1}
    """
    frame = frame.reset_index(drop=True)
    bad: dict[int, list[tuple[str, str, str]]] = {}
    units = _text(frame[cols["unit_id"]], "unit_id", bad)
    events = _text(frame[cols["event"]], "event", bad)
    ts = _timestamps(frame[cols["timestamp"]], bad)
    values = _values(frame[cols["value"]] if "value" in cols else None, len(frame), bad, nan_mask)
    out = ParsedRows()
    counts: Counter[tuple[str, str]] = Counter()
    for pos in sorted(bad):
        problems = bad[pos]
        column, kind, text = problems[0]
        out.bad.append(BadRow(first_row + pos, f"{column}: {text}", column, kind))
        counts.update((c, k) for c, k, _ in problems)
    out.counts = dict(counts)
    if len(bad) == len(frame):
        return out
    stamps = ts.dt.to_pydatetime().tolist()
    micros = _micros(ts)
    for i in range(len(frame)):
        if i not in bad:
            u, e, v = units[i], events[i], values[i]
            digest = row_digest(u, e, v, micros[i])
            out.rows.append((u, e, v, stamps[i], digest, first_row + i))
    return out
