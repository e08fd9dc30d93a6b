"""Where the event-log rows kept out of the sums are: :class:`~segab.sums.result.DataIssue` s.

The aggregation counts the rows it keeps out (bad values and timestamps,
undeclared segments and stages, duplicate events) in its main statements. Only
when a count is not zero does :func:`event_log_issues` run one more small query
per input to find the first :data:`~segab.sums.result.MAX_EXAMPLES` of them,
named by where they are (:class:`Where`):

- a CSV file on DuckDB: the 1-based line in the file (the header is line 1; a
  quoted field over several lines and blank lines are accounted for);
- a Parquet file or a DataFrame on DuckDB: the 0-based row;
- elsewhere (database tables, Spark, globs of files): the row's key, its unit id
  and event and time, as the engine has no row order to point at.

Rows are numbered by one single-threaded scan with ``row_number() OVER ()``
(DuckDB then reads in file order), so this costs a scan of the input, and only on
inputs with such rows.

Example:
    >>> Where("csv", "events.csv", "events.csv").name(1045)
    'events.csv line 1045'
    >>> Where("rows", "<events DataFrame>").name(17)
    '<events DataFrame> row 16'
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from segab.sql.dialects import Dialect, get_dialect
from segab.sums.expressions import valid_unit, with_ctes
from segab.sums.result import MAX_EXAMPLES, DataIssue
from segab.sums.sources import Relation, Source, SqlRunner, is_frame
from segab.sums.specs import EventLogSpec, Params
from segab.sums.statements import event_ctes, exposure_ctes

__all__ = ["VALUE_KINDS", "Where", "csv_lines", "event_log_issues", "where_of"]

VALUE_KINDS = ("nan", "infinite", "not_a_number", "bad_timestamp")  # the order of the issues
_NAN_WORDS = ("nan", "+nan", "-nan")
_INF_WORDS = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
_RN = "segab_rn"  # the row number column of a numbered input


@dataclass(frozen=True)
class Where:
    """How the rows of one input are named: ``csv`` (line), ``rows`` (row) or ``keys``.

    Example:
        >>> Where("keys", "table events").name(None)
        'table events'
    """

    how: Literal["csv", "rows", "keys"]
    label: str
    path: str | None = None

    def name(self, position: int | None) -> str:
        """The input and, for ``csv`` and ``rows``, the position (a line, or a 1-based row
        number shown 0-based).

        Example:
            >>> Where("rows", "events.parquet").name(1)
            'events.parquet row 0'
        """
        if position is None or self.how == "keys":
            return self.label
        if self.how == "csv":
            return f"{self.label} line {position}"
        return f"{self.label} row {position - 1}"


def where_of(source: Source, rel: Relation, dialect: str | Dialect) -> Where:
    """How to name the rows of ``source`` as read into ``rel`` by an engine of ``dialect``.

    Example:
        >>> rel = Relation("x", ("u",), {}, "events.csv")
        >>> where_of("events.csv", rel, "duckdb").how, where_of("events", rel, "sqlite").how
        ('csv', 'keys')
    """
    if not get_dialect(dialect).ordered_scans:
        return Where("keys", rel.label)
    if is_frame(source):
        return Where("rows", rel.label)
    path = str(source)
    if any(ch in path for ch in "*?["):
        return Where("keys", rel.label)
    lower = path.lower()
    if lower.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return Where("csv", path, path)
    if lower.endswith((".parquet", ".pq")):
        return Where("rows", path)
    return Where("keys", rel.label)


def csv_lines(path: str, rows: Sequence[int]) -> dict[int, int]:
    """The line (1-based, the header is line 1) where each data row (1-based) of a CSV starts.

    Blank lines are skipped and a quoted field may hold line breaks, as DuckDB's
    reader does. Reads the file only up to the last row asked for.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        ...     _ = f.write('a,b\\n1,"x\\ny"\\n\\n2,z\\n')
        >>> csv_lines(f.name, [1, 2])
        {1: 2, 2: 5}
        >>> os.unlink(f.name)
    """
    wanted = set(rows)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    opener: Any = gzip.open if path.lower().endswith(".gz") else open
    record, quoted = -1, False  # the header is record 0
    with opener(path, "rb") as f:
        for number, line in enumerate(f, 1):
            starts = not quoted
            quoted ^= line.count(b'"') % 2 == 1
            if not starts or not line.strip(b"\r\n"):
                continue
            record += 1
            if record in wanted:
                out[record] = number
                if record == last:
                    break
    return out


@contextmanager
def _in_file_order(eng: SqlRunner, d: Dialect) -> Iterator[None]:
    """DuckDB: one thread, insertion order kept, so ``row_number() OVER ()`` is file order."""
    if not d.ordered_scans:
        yield
        return
    _, rows = eng.rows(
        "SELECT current_setting('threads'), current_setting('preserve_insertion_order')", {}
    )
    threads, order = rows[0]
    eng.execute("SET threads = 1", {})
    eng.execute("SET preserve_insertion_order = true", {})
    try:
        yield
    finally:
        eng.execute(f"SET threads = {int(threads)}", {})
        eng.execute(f"SET preserve_insertion_order = {'true' if order else 'false'}", {})


def _numbered(rel: Relation, where: Where) -> tuple[Relation, list[tuple[str, str]]]:
    """The relation with a row number column (file order), and the column to carry."""
    if where.how == "keys":
        return rel, []
    sql = f"(SELECT row_number() OVER () AS {_RN}, * FROM {rel.sql}) segab_numbered"
    numbered = Relation(sql, (_RN, *rel.columns), rel.types, rel.label)
    return numbered, [(_RN, "rn")]


def _positions(where: Where, rns: list[Any]) -> dict[Any, int | None]:
    if where.how == "keys":
        return dict.fromkeys(rns)
    numbers = [int(r) for r in rns if r is not None]
    if where.how == "csv" and where.path is not None:
        lines = csv_lines(where.path, numbers)
        return {r: lines.get(int(r)) for r in rns}
    return {r: int(r) for r in rns}


def _rows(n: int) -> str:
    return f"{n:,} row" + ("s" if n != 1 else "")


def _text(value: Any) -> str:
    return "NULL" if value is None else repr(str(value))


def _time(t: Any) -> str:
    if t is None or not math.isfinite(float(t)):
        return str(t)
    return dt.datetime.fromtimestamp(float(t), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _first(eng: SqlRunner, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    columns, rows = eng.rows(sql, params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def event_log_issues(
    eng: SqlRunner,
    dialect: str,
    exposures: tuple[Source, Relation],
    events: tuple[Source, Relation],
    spec: EventLogSpec,
    counts: dict[str, int],
) -> tuple[DataIssue, ...]:
    """The data issues of an event log, one query per input and problem with a count.

    ``counts`` holds the aggregation's ``exposure_bad_timestamps``,
    ``undeclared_exposures``, ``event_bad_values``, ``event_bad_timestamps`` and
    ``duplicate_events``; nothing runs for a zero. The issues come in a fixed
    order: exposures' timestamps, undeclared segments and stages, then events'
    values by kind (``nan``, ``infinite``, ``not_a_number``), timestamps and
    duplicate rows.

    Example:
        >>> event_log_issues(None, "duckdb", ("x.csv", None), ("e.csv", None), None, {})
        ()
    """
    d = get_dialect(dialect)
    issues: list[DataIssue] = []
    x_source, x_rel = exposures
    e_source, e_rel = events
    with _in_file_order(eng, d) if _needs_order(counts) else _nothing():
        if counts.get("exposure_bad_timestamps"):
            where = where_of(x_source, x_rel, d)
            issues.append(_exposure_times(eng, d, x_rel, where, spec, counts))
        if counts.get("undeclared_exposures"):
            issues += _undeclared(eng, d, x_rel, spec)
        if counts.get("event_bad_values") or counts.get("event_bad_timestamps"):
            issues += _event_values(eng, d, e_rel, where_of(e_source, e_rel, d), spec)
    if counts.get("duplicate_events"):
        issues.append(_duplicates(eng, d, e_rel, spec, counts["duplicate_events"]))
    return tuple(issues)


def _needs_order(counts: dict[str, int]) -> bool:
    keys = ("exposure_bad_timestamps", "event_bad_values", "event_bad_timestamps")
    return any(counts.get(k) for k in keys)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _exposure_times(
    eng: SqlRunner,
    d: Dialect,
    rel: Relation,
    where: Where,
    spec: EventLogSpec,
    counts: dict[str, int],
) -> DataIssue:
    rel, carry = _numbered(rel, where)
    p = Params(d)
    carry = [*carry, (d.text(d.quote(spec.exp_timestamp)), "raw_t")]
    ctes = exposure_ctes(rel, spec, p, carry=carry)[:1]
    order = "rn" if where.how != "keys" else "u, raw_t"
    rn = "rn" if where.how != "keys" else "NULL AS rn"
    rows = _first(
        eng,
        with_ctes(ctes) + f"\nSELECT {rn}, u, raw_t FROM x_raw WHERE other = 0 AND "
        f"{valid_unit('u')} AND outside = 0 AND undeclared = 0 AND t IS NULL "
        f"ORDER BY {order} LIMIT {MAX_EXAMPLES}",
        p.values,
    )
    named = _positions(where, [r["rn"] for r in rows])
    examples = tuple(
        f"{where.name(named[r['rn']])} (unit {r['u']}, {spec.exp_timestamp} {_text(r['raw_t'])})"
        for r in rows
    )
    count = counts["exposure_bad_timestamps"]
    return DataIssue("exposures", spec.exp_timestamp, "bad_timestamp", count, examples)


def _undeclared(eng: SqlRunner, d: Dialect, rel: Relation, spec: EventLogSpec) -> list[DataIssue]:
    p = Params(d)
    ctes = exposure_ctes(rel, spec, p)[:1]
    names = (
        "SELECT undeclared, CASE WHEN undeclared = 1 THEN segment ELSE stage END AS name "
        f"FROM x_raw WHERE other = 0 AND {valid_unit('u')} AND outside = 0 AND undeclared > 0"
    )
    counted = "SELECT undeclared, name, COUNT(*) AS n FROM names GROUP BY undeclared, name"
    ranked = (
        "SELECT undeclared, name, n, ROW_NUMBER() OVER (PARTITION BY undeclared "
        "ORDER BY n DESC, name) AS i, SUM(n) OVER (PARTITION BY undeclared) AS total FROM counted"
    )
    rows = _first(
        eng,
        with_ctes([*ctes, ("names", names), ("counted", counted), ("ranked", ranked)])
        + f"\nSELECT undeclared, name, n, total FROM ranked WHERE i <= {MAX_EXAMPLES} "
        "ORDER BY undeclared, i",
        p.values,
    )
    out = []
    for code, column in ((1, "segment"), (2, "stage")):
        mine = [r for r in rows if int(r["undeclared"]) == code]
        if mine:
            examples = tuple(f"{column} {r['name']!r} ({_rows(int(r['n']))})" for r in mine)
            total = int(mine[0]["total"])
            out.append(DataIssue("exposures", column, f"undeclared_{column}", total, examples))
    return out


def _event_values(
    eng: SqlRunner, d: Dialect, rel: Relation, where: Where, spec: EventLogSpec
) -> list[DataIssue]:
    rel, carry = _numbered(rel, where)
    p = Params(d)
    raw_v = d.text(d.quote(spec.value_col)) if spec.value_col else "NULL"
    carry = [*carry, (raw_v, "raw_v"), (d.text(d.quote(spec.ev_timestamp)), "raw_t")]
    ctes = event_ctes(rel, spec, p, carry=carry)[:1]
    word = "LOWER(TRIM(raw_v))"
    listed = ", ".join(f"'{w}'" for w in _NAN_WORDS)
    infinite = ", ".join(f"'{w}'" for w in _INF_WORDS)
    kind = (
        "CASE WHEN bad = 2 THEN 'bad_timestamp' "
        f"WHEN {word} IN ({listed}) THEN 'nan' WHEN {word} IN ({infinite}) THEN 'infinite' "
        f"WHEN value IS NULL THEN 'not_a_number' WHEN {d.isnan('value')} THEN 'nan' "
        "ELSE 'infinite' END"
    )
    rn = "rn" if where.how != "keys" else "NULL AS rn"
    order = "rn" if where.how != "keys" else "u, raw_t, event"
    bad = f"SELECT {rn}, u, event, raw_v, raw_t, {kind} AS kind FROM ev_raw WHERE " + (
        f"{valid_unit('u')} AND bad > 0"
    )
    ranked = (
        "SELECT rn, u, event, raw_v, raw_t, kind, "
        f"ROW_NUMBER() OVER (PARTITION BY kind ORDER BY {order}) AS i, "
        "COUNT(*) OVER (PARTITION BY kind) AS n FROM bad"
    )
    rows = _first(
        eng,
        with_ctes([*ctes, ("bad", bad), ("ranked", ranked)])
        + f"\nSELECT rn, u, event, raw_v, raw_t, kind, n FROM ranked WHERE i <= {MAX_EXAMPLES} "
        "ORDER BY kind, i",
        p.values,
    )
    named = _positions(where, [r["rn"] for r in rows])
    out = []
    for kind_name in VALUE_KINDS:
        mine = [r for r in rows if r["kind"] == kind_name]
        if not mine:
            continue
        timestamp = kind_name == "bad_timestamp"
        column = spec.ev_timestamp if timestamp else (spec.value_col or "value")
        examples = []
        for r in mine:
            what = f"{column} {_text(r['raw_t'] if timestamp else r['raw_v'])}"
            if where.how == "keys" and not timestamp:
                what = f"{spec.ev_timestamp} {_text(r['raw_t'])}, {what}"
            examples.append(
                f"{where.name(named[r['rn']])} (unit {r['u']}, event {r['event']}, {what})"
            )
        out.append(DataIssue("events", column, kind_name, int(mine[0]["n"]), tuple(examples)))
    return out


def _duplicates(
    eng: SqlRunner, d: Dialect, rel: Relation, spec: EventLogSpec, count: int
) -> DataIssue:
    p = Params(d)
    ctes = event_ctes(rel, spec, p)[:1]
    rows = _first(
        eng,
        with_ctes(ctes) + "\nSELECT u, event, value, t, COUNT(*) AS n FROM ev_raw "
        f"WHERE {valid_unit('u')} AND bad = 0 GROUP BY u, event, value, t "
        f"HAVING COUNT(*) > 1 ORDER BY u, t, event LIMIT {MAX_EXAMPLES}",
        p.values,
    )
    label = rel.label
    examples = tuple(
        f"{label} (unit {r['u']}, event {r['event']} at {_time(r['t'])}"
        + (f", value {r['value']!r}" if spec.value_col and r["value"] is not None else "")
        + f": {_rows(int(r['n']))})"
        for r in rows
    )
    columns = [spec.ev_unit, spec.event_col, *([spec.value_col] if spec.value_col else [])]
    column = ", ".join([*columns, spec.ev_timestamp])
    return DataIssue("events", column, "duplicate_row", count, examples)
