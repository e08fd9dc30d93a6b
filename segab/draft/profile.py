"""What a data table holds, measured inside its engine: counts, kinds and small value lists.

:func:`profile_table` runs two statements on an engine's relation (a DuckDB file or
DataFrame, a database table, a Spark table); only their small results come back:

1. one aggregate row: the row count and, per column, its non-missing values,
   distinct values, the values that are not 0/1/true/false/yes/no, the values that
   are not numbers, the unusable numbers (NaN, +-infinity) and the smallest and
   largest number. A cell is read exactly as ``segab analyze`` reads an outcome
   (:func:`segab.sums.unit_values.column_read`), so a column classified binary
   here is one the analysis accepts as binary;
2. the values and their counts of every column with few distinct values (at most
   ``max_levels``, and always the ``levels_of`` columns: the arm column), as one
   ``UNION ALL`` of ``GROUP BY`` statements.

:func:`profile_event_log` does the same for an event log: the (segment, stage,
variant) counts of the exposures, and per event name its rows and values.

Example:
    >>> import pandas as pd
    >>> from segab.sums.sources import open_engine
    >>> df = pd.DataFrame({"arm": ["a", "b", "b"], "y": ["Yes", "no", None]})
    >>> with open_engine(None) as eng:
    ...     p = profile_table(eng, df, levels_of=("arm",))
    >>> p.rows, p.column("arm").levels, p.column("y").not_binary
    (3, (('a', 1), ('b', 2)), 0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from segab.errors import DataError
from segab.sql.dialects import get_dialect
from segab.sums.expressions import number_col, text_col, truthy
from segab.sums.sources import Engine, Relation, Source
from segab.sums.unit_values import BAD_BINARY, INFINITE, NAN, NOT_A_NUMBER, column_read

__all__ = [
    "MAX_LEVELS",
    "ColumnProfile",
    "EventLogProfile",
    "EventProfile",
    "TableProfile",
    "profile_event_log",
    "profile_relation",
    "profile_table",
]

MAX_LEVELS = 50  # a column with at most this many distinct values has its values listed


@dataclass(frozen=True)
class ColumnProfile:
    """One column: how many values it holds and what they read as.

    ``present``: values neither NULL nor blank; ``distinct``: distinct non-NULL
    values; ``not_binary``: present values other than 0/1/true/false/yes/no;
    ``not_number``: present values that are not numbers (text); ``unusable``: NaN
    or +-infinity; ``minimum``/``maximum``: of the numbers (None without any);
    ``levels``: ``(value as text, count)`` sorted by value, when listed (a NULL
    value is ``None``, listed last).

    Example:
        >>> c = ColumnProfile("y", "bigint", 10, 2, 0, 0, 0, 0.0, 1.0, None)
        >>> c.is_binary, c.is_number
        (True, True)
    """

    name: str
    sql_type: str
    present: int
    distinct: int
    not_binary: int
    not_number: int
    unusable: int
    minimum: float | None
    maximum: float | None
    levels: tuple[tuple[str | None, int], ...] | None

    @property
    def is_binary(self) -> bool:
        """Present values, all of them 0/1/true/false/yes/no.

        Example:
            >>> ColumnProfile("y", "", 0, 0, 0, 0, 0, None, None, None).is_binary
            False
        """
        return self.present > 0 and self.not_binary == 0

    @property
    def is_number(self) -> bool:
        """Present values, all of them numbers (NaN and infinity included).

        Example:
            >>> ColumnProfile("y", "", 3, 3, 3, 0, 0, 1.0, 9.0, None).is_number
            True
        """
        return self.present > 0 and self.not_number == 0 and self.minimum is not None


@dataclass(frozen=True)
class TableProfile:
    """A table's row count and its columns' profiles, in the table's column order.

    Example:
        >>> TableProfile("t.csv", 0, ()).names
        ()
    """

    label: str
    rows: int
    columns: tuple[ColumnProfile, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order.

        Example:
            >>> TableProfile("t", 0, (ColumnProfile("a", "", 0, 0, 0, 0, 0, None, None, ()),)).names
            ('a',)
        """
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name`` (a :class:`DataError` naming the columns when absent).

        Example:
            >>> TableProfile("t.csv", 0, ()).column("arm")
            Traceback (most recent call last):
            segab.errors.MissingColumnError: t.csv: no column 'arm'; it has []
        """
        for c in self.columns:
            if c.name == name:
                return c
        from segab.errors import MissingColumnError

        raise MissingColumnError(f"{self.label}: no column {name!r}; it has {list(self.names)}")


def _missing(value: Any) -> bool:
    """NULL, as a row gives it (None, or NaN where an engine's rows pass through pandas)."""
    return value is None or (isinstance(value, float) and value != value)


def _int(value: Any) -> int:
    return 0 if _missing(value) else int(value)


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _stats_sql(eng: Engine, rel: Relation) -> str:
    """The one aggregate statement: per column, its counts and range."""
    d = get_dialect(eng.dialect)
    inner, middle, outer = [], [], ["COUNT(*) AS n_rows"]
    for i, name in enumerate(rel.columns):
        binary = column_read(d, rel, name, binary=True, name=str(i))
        number = column_read(d, rel, name, binary=False, name=str(i))
        inner.append(f"{d.quote(name)} AS r_{i}")
        inner.extend(f"{expr} AS {alias}" for alias, expr in binary.pre)
        middle.append(f"r_{i}")
        middle.append(f"{binary.code} AS b_{i}")
        middle.append(f"{number.code} AS e_{i}")
        middle.append(f"{number.value} AS v_{i}")
        blank = f"LOWER(TRIM({d.text(f'r_{i}')})) = ''"
        outer += [
            f"SUM(CASE WHEN r_{i} IS NULL OR {blank} THEN 0 ELSE 1 END) AS p_{i}",
            f"COUNT(DISTINCT r_{i}) AS d_{i}",
            f"SUM(CASE WHEN b_{i} = {BAD_BINARY} THEN 1 ELSE 0 END) AS nb_{i}",
            f"SUM(CASE WHEN e_{i} = {NOT_A_NUMBER} THEN 1 ELSE 0 END) AS nn_{i}",
            f"SUM(CASE WHEN e_{i} IN ({NAN}, {INFINITE}) THEN 1 ELSE 0 END) AS u_{i}",
            f"MIN(CASE WHEN e_{i} = 0 THEN v_{i} END) AS lo_{i}",
            f"MAX(CASE WHEN e_{i} = 0 THEN v_{i} END) AS hi_{i}",
        ]
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(middle)} FROM "
        f"(SELECT {', '.join(inner)} FROM {rel.sql}) AS a) AS b"
    )


def _levels_sql(eng: Engine, rel: Relation, indexes: Sequence[int]) -> str:
    d = get_dialect(eng.dialect)
    parts = [
        f"SELECT {i} AS col, {text_col(d, rel.columns[i])} AS val, COUNT(*) AS n "
        f"FROM {rel.sql} GROUP BY {text_col(d, rel.columns[i])}"
        for i in indexes
    ]
    return " UNION ALL ".join(parts)


def _sorted_levels(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str | None, int], ...]:
    merged: dict[str | None, int] = {}
    for value, n in pairs:
        key = None if _missing(value) else str(value)
        merged[key] = merged.get(key, 0) + _int(n)
    return tuple(sorted(merged.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))


def profile_relation(
    eng: Engine, rel: Relation, *, levels_of: Sequence[str] = (), max_levels: int = MAX_LEVELS
) -> TableProfile:
    """Profile a resolved relation with two statements (see the module's description).

    Example:
        >>> import pandas as pd
        >>> from segab.sums.sources import open_engine
        >>> with open_engine(None) as eng:
        ...     rel = eng.relation(pd.DataFrame({"x": [1.5, 2.0, 3.0]}), "units", ())
        ...     c = profile_relation(eng, rel).column("x")
        >>> c.minimum, c.maximum, c.distinct, c.levels
        (1.5, 3.0, 3, (('1.5', 1), ('2.0', 1), ('3.0', 1)))
    """
    if not rel.columns:
        raise DataError(f"{rel.label}: no columns; expected a table with a header")
    names, (row,) = eng.rows(_stats_sql(eng, rel), {})
    got = dict(zip(names, row, strict=True))
    n_rows = _int(got["n_rows"])
    wanted = [
        i
        for i, name in enumerate(rel.columns)
        if name in levels_of or _int(got[f"d_{i}"]) <= max_levels
    ]
    levels: dict[int, list[tuple[Any, Any]]] = {i: [] for i in wanted}
    if wanted:
        _, rows = eng.rows(_levels_sql(eng, rel, wanted), {})
        for col, val, n in rows:
            levels[int(col)].append((val, n))
    columns = tuple(
        ColumnProfile(
            name=name,
            sql_type=rel.types.get(name, ""),
            present=_int(got[f"p_{i}"]),
            distinct=_int(got[f"d_{i}"]),
            not_binary=_int(got[f"nb_{i}"]),
            not_number=_int(got[f"nn_{i}"]),
            unusable=_int(got[f"u_{i}"]),
            minimum=_float(got[f"lo_{i}"]),
            maximum=_float(got[f"hi_{i}"]),
            levels=_sorted_levels(levels[i]) if i in levels else None,
        )
        for i, name in enumerate(rel.columns)
    )
    return TableProfile(rel.label, n_rows, columns)


def profile_table(
    eng: Engine,
    source: Source,
    *,
    levels_of: Sequence[str] = (),
    text_columns: Sequence[str] = (),
    max_levels: int = MAX_LEVELS,
) -> TableProfile:
    """Resolve ``source`` (a file, DataFrame or table name) and profile it.

    ``levels_of`` columns (and ``text_columns``, read as text from a CSV file, as
    ``segab analyze`` reads the arm and id columns) always have their values listed.

    Example:
        >>> import pandas as pd
        >>> from segab.sums.sources import open_engine
        >>> with open_engine(None) as eng:
        ...     p = profile_table(eng, pd.DataFrame({"arm": ["a"] * 60 + ["b"]}), levels_of=["arm"])
        >>> p.column("arm").levels
        (('a', 60), ('b', 1))
    """
    probe = eng.relation(source, "units", ())
    texts = [c for c in dict.fromkeys([*levels_of, *text_columns]) if probe.has(c)]
    rel = eng.relation(source, "units", texts) if texts else probe
    return profile_relation(eng, rel, levels_of=levels_of, max_levels=max_levels)


@dataclass(frozen=True)
class EventProfile:
    """One event name: its rows, its values (non-NULL numbers) and their range.

    Example:
        >>> EventProfile("purchase", 10, 10, 1.0, 1.0).has_values
        False
    """

    name: str
    rows: int
    values: int
    minimum: float | None
    maximum: float | None

    @property
    def has_values(self) -> bool:
        """Values other than 1 (a count-only event logs none, or 1 for each row).

        Example:
            >>> EventProfile("revenue", 5, 5, 0.0, 80.5).has_values
            True
        """
        return self.values > 0 and (self.minimum, self.maximum) != (1.0, 1.0)


@dataclass(frozen=True)
class EventLogProfile:
    """What an event log holds: exposure counts per (segment, stage, variant), its events.

    ``cells`` maps ``(segment, stage, variant)`` (None for a column the exposures
    lack) to exposure rows; ``experiments`` the experiment names found with their
    rows and largest iteration; ``exposure_columns`` the exposures' columns.

    Example:
        >>> p = EventLogProfile("x.csv", {(None, None, "a"): 3}, {}, ("variant",), ())
        >>> p.variant_counts()
        {'a': 3}
    """

    label: str
    cells: dict[tuple[str | None, str | None, str | None], int]
    experiments: dict[str, tuple[int, int | None]]
    exposure_columns: tuple[str, ...]
    events: tuple[EventProfile, ...]
    event_columns: tuple[str, ...] = ()

    def variant_counts(self) -> dict[str, int]:
        """Exposure rows per variant label (NULL labels left out).

        Example:
            >>> EventLogProfile("x", {("s", "t", "a"): 2, ("r", "t", "a"): 1}, {}, (), ()
            ...     ).variant_counts()
            {'a': 3}
        """
        out: dict[str, int] = {}
        for (_, _, variant), n in self.cells.items():
            if variant is not None:
                out[variant] = out.get(variant, 0) + n
        return dict(sorted(out.items()))


def profile_event_log(
    eng: Engine,
    exposures: Source,
    events: Source,
    *,
    variant_column: str = "variant",
    experiment: str | None = None,
) -> EventLogProfile:
    """Profile an event log: exposure counts by cell and variant, and every event name.

    Only exposures of ``experiment`` count when the table has an ``experiment``
    column, and only those ``in_experiment`` when it has that column.

    Example:
        >>> import pandas as pd
        >>> from segab.sums.sources import open_engine
        >>> x = pd.DataFrame({"unit_id": ["u1", "u2"], "variant": ["a", "b"]})
        >>> e = pd.DataFrame({"unit_id": ["u1"], "event": ["buy"], "value": [None]})
        >>> with open_engine(None) as eng:
        ...     p = profile_event_log(eng, x, e)
        >>> p.variant_counts(), p.events[0].has_values
        ({'a': 1, 'b': 1}, False)
    """
    d = get_dialect(eng.dialect)
    xrel = eng.relation(exposures, "exposures", (variant_column, "segment", "stage", "experiment"))
    if not xrel.has(variant_column):
        raise DataError(
            f"{xrel.label}: no column {variant_column!r} (--variant-column) in the exposures "
            f"table; it has {list(xrel.columns)}"
        )
    experiments: dict[str, tuple[int, int | None]] = {}
    if xrel.has("experiment"):
        it = f"MAX({number_col(d, xrel, 'iteration')})" if xrel.has("iteration") else "NULL"
        sql = (
            f"SELECT {text_col(d, 'experiment')} AS e, COUNT(*) AS n, {it} AS i "
            f"FROM {xrel.sql} GROUP BY {text_col(d, 'experiment')}"
        )
        for name, n, iteration in eng.rows(sql, {})[1]:
            if not _missing(name):
                experiments[str(name)] = (_int(n), _iteration(iteration))
    where = []
    if experiment is not None and xrel.has("experiment"):
        where.append(f"{text_col(d, 'experiment')} = {d.literal(experiment)}")
    if xrel.has("in_experiment"):
        where.append(truthy(d, "in_experiment"))
    keys = [text_col(d, c) if xrel.has(c) else "NULL" for c in ("segment", "stage")]
    keys.append(text_col(d, variant_column))
    sql = (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, COUNT(*) AS n "
        f"FROM {xrel.sql}{' WHERE ' + ' AND '.join(where) if where else ''} "
        f"GROUP BY {', '.join(k for k in keys if k != 'NULL')}"
    )
    cells = {(_text(s), _text(t), _text(v)): _int(n) for s, t, v, n in eng.rows(sql, {})[1]}
    erel = eng.relation(events, "events", ("event",))
    if not erel.has("event"):
        raise DataError(
            f"{erel.label}: no column 'event' in the events table; it has {list(erel.columns)}"
        )
    value = column_read(d, erel, "value") if erel.has("value") else None
    pre = ", ".join(f"{e} AS {a}" for a, e in value.pre) if value else ""
    val = f"CASE WHEN {value.code} = 0 THEN {value.value} END" if value else "NULL"
    sql = (
        f"SELECT ev, COUNT(*) AS n, COUNT(v) AS nv, MIN(v) AS lo, MAX(v) AS hi FROM "
        f"(SELECT ev, {val} AS v FROM (SELECT {text_col(d, 'event')} AS ev"
        f"{', ' + pre if pre else ''} FROM {erel.sql}) AS a) AS b GROUP BY ev"
    )
    found = [
        EventProfile(str(name), _int(n), _int(nv), _float(lo), _float(hi))
        for name, n, nv, lo, hi in eng.rows(sql, {})[1]
        if not _missing(name)
    ]
    found.sort(key=lambda e: (-e.rows, e.name))
    return EventLogProfile(xrel.label, cells, experiments, xrel.columns, tuple(found), erel.columns)


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _iteration(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None
