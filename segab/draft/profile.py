"""What a data table holds, measured inside its engine: counts, kinds and small value lists.

:func:`profile_table` runs a few statements on an engine's relation (a DuckDB file
or DataFrame, a database table, a Spark table); only their small results come back:

1. one aggregate row: the row count and, per column, its present and distinct
   values; for number and boolean columns also the values that are not 0/1, the
   unusable numbers (NaN, +-infinity) and the range;
2. the values and counts of every column with few distinct values (at most
   ``max_levels``, and always the ``levels_of`` columns: the arm column), as one
   ``UNION ALL`` of ``GROUP BY`` statements;
3. the text columns read through their values: the listed values (and a sample of
   the distinct values of the others) read by one small statement over quoted
   literals; only a text column whose sampled values read as numbers or as
   0/1/yes/no, but for a few (:data:`FEW_TEXT`: ``N/A`` in a column of amounts, say),
   is read on every row (a fourth statement). A few values of a text column that are
   neither are kept as ``examples``.

Every value is read exactly as ``segab analyze`` reads an outcome
(:func:`segab.sums.unit_values.column_read`), so a column classified binary here
is one the analysis accepts as binary. Event logs: :mod:`segab.draft.events`.

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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from segab.errors import DataError
from segab.sql.dialects import Dialect, get_dialect
from segab.sums.expressions import text_col
from segab.sums.sources import Engine, Relation, Source
from segab.sums.unit_values import BAD_BINARY, INFINITE, NAN, NOT_A_NUMBER, column_read

__all__ = [
    "EXAMPLES",
    "FEW_TEXT",
    "MAX_LEVELS",
    "ColumnProfile",
    "TableProfile",
    "missing",
    "profile_relation",
    "profile_table",
    "to_float",
    "to_int",
]

MAX_LEVELS = 50  # a column with at most this many distinct values has its values listed
# a sampled text column is read on every row when at most this share of its sampled
# distinct values (and at least 3 of them) are neither numbers nor 0/1/yes/no
FEW_TEXT = 0.05
EXAMPLES = 3  # values kept per column that are neither numbers nor 0/1/yes/no
# literals per statement reading values (SQLite allows 500 terms in a compound SELECT)
VALUES_PER_STATEMENT = 400
SAMPLE = 200  # distinct values of a text column with many values read first


@dataclass(frozen=True)
class ColumnProfile:
    """One column: how many values it holds and what they read as.

    ``present``: values neither NULL nor blank; ``distinct``: distinct non-NULL
    values; ``not_binary``: present values other than 0/1/true/false/yes/no;
    ``not_number``: present values that are not numbers (text); ``unusable``: NaN
    or +-infinity; ``minimum``/``maximum``: of the numbers (None without any);
    ``levels``: ``(value as text, count)`` sorted by value, when listed (a NULL
    value is ``None``, listed last); ``examples``: up to :data:`EXAMPLES` present
    values that are neither numbers nor 0/1/true/false/yes/no (from the listed values
    or from a sample of the distinct values).

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
    examples: tuple[str, ...] = ()

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


def missing(value: Any) -> bool:
    """NULL as a row gives it: None, or NaN where an engine's rows pass through pandas.

    Example:
        >>> missing(None), missing(float("nan")), missing("")
        (True, True, False)
    """
    return value is None or (isinstance(value, float) and value != value)


def to_int(value: Any) -> int:
    """A count from a row (NULL: 0).

    Example:
        >>> to_int(None), to_int(3.0)
        (0, 3)
    """
    return 0 if missing(value) else int(value)


def to_float(value: Any) -> float | None:
    """A number from a row (NULL: None).

    Example:
        >>> to_float(None), to_float(2)
        (None, 2.0)
    """
    return None if missing(value) else float(value)


def _typed(eng: Engine, rel: Relation, name: str) -> bool:
    """A number or boolean column of a typed engine: its read is a cast, cheap on every row."""
    return get_dialect(eng.dialect).typed_columns and rel.kind(name) != "other"


def _reads(d: Dialect, rel: Relation, name: str, i: int) -> tuple[list[str], list[str]]:
    """The inner (``pre``) and middle (codes, value) select items of column ``i``."""
    binary = column_read(d, rel, name, binary=True, name=str(i))
    number = column_read(d, rel, name, binary=False, name=str(i))
    inner = [f"{expr} AS {alias}" for alias, expr in binary.pre]
    middle = [f"{binary.code} AS b_{i}", f"{number.code} AS e_{i}", f"{number.value} AS v_{i}"]
    return inner, middle


def _code_sums(d: Dialect, i: int) -> list[str]:
    text = f"b_{i} = {BAD_BINARY} AND e_{i} = {NOT_A_NUMBER}"  # neither number nor 0/1/yes/no
    return [
        f"SUM(CASE WHEN b_{i} = {BAD_BINARY} THEN 1 ELSE 0 END) AS nb_{i}",
        f"SUM(CASE WHEN e_{i} = {NOT_A_NUMBER} THEN 1 ELSE 0 END) AS nn_{i}",
        f"SUM(CASE WHEN e_{i} IN ({NAN}, {INFINITE}) THEN 1 ELSE 0 END) AS u_{i}",
        f"MIN(CASE WHEN e_{i} = 0 THEN v_{i} END) AS lo_{i}",
        f"MAX(CASE WHEN e_{i} = 0 THEN v_{i} END) AS hi_{i}",
        f"MIN(CASE WHEN {text} THEN {d.text(f'r_{i}')} END) AS xa_{i}",
        f"MAX(CASE WHEN {text} THEN {d.text(f'r_{i}')} END) AS xb_{i}",
    ]


def _stats_sql(eng: Engine, rel: Relation, read: set[str], counted: bool = True) -> str:
    """One aggregate statement: per column its present and distinct values (``counted``),
    and for the ``read`` columns the value codes and range."""
    d = get_dialect(eng.dialect)
    inner, middle, outer = [], [], ["COUNT(*) AS n_rows"]
    for i, name in enumerate(rel.columns):
        inner.append(f"{d.quote(name)} AS r_{i}")
        middle.append(f"r_{i}")
        if counted and d.typed_columns and rel.kind(name) != "other":
            outer.append(f"COUNT(r_{i}) AS p_{i}")  # a number is never blank
        elif counted:
            blank = f"TRIM({d.text(f'r_{i}')}) = ''"
            outer.append(f"SUM(CASE WHEN r_{i} IS NULL OR {blank} THEN 0 ELSE 1 END) AS p_{i}")
        if counted:
            outer.append(f"COUNT(DISTINCT r_{i}) AS d_{i}")
        if name in read:
            pre, codes = _reads(d, rel, name, i)
            inner += pre
            middle += codes
            outer += _code_sums(d, i)
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(middle)} FROM "
        f"(SELECT {', '.join(inner)} FROM {rel.sql}) AS a) AS b"
    )


def _levels_sql(eng: Engine, rel: Relation, indexes: Sequence[int]) -> str:
    """The value counts of the ``indexes`` columns: one scan with ``GROUPING SETS`` where
    the engine has them, else a ``UNION ALL`` of ``GROUP BY`` statements (SQLite)."""
    d = get_dialect(eng.dialect)
    if eng.dialect == "sqlite":
        parts = [
            f"SELECT {i} AS col, {text_col(d, rel.columns[i])} AS val, COUNT(*) AS n "
            f"FROM {rel.sql} GROUP BY {text_col(d, rel.columns[i])}"
            for i in indexes
        ]
        return " UNION ALL ".join(parts)
    texts = ", ".join(f"{text_col(d, rel.columns[i])} AS t_{i}" for i in indexes)
    which = " ".join(f"WHEN GROUPING(t_{i}) = 0 THEN {i}" for i in indexes)
    value = " ".join(f"WHEN GROUPING(t_{i}) = 0 THEN t_{i}" for i in indexes)
    sets = ", ".join(f"(t_{i})" for i in indexes)
    return (
        f"SELECT CASE {which} END AS col, CASE {value} END AS val, COUNT(*) AS n "
        f"FROM (SELECT {texts} FROM {rel.sql}) AS g GROUP BY GROUPING SETS ({sets})"
    )


def _sample_sql(eng: Engine, rel: Relation, indexes: Sequence[int], n: int) -> str:
    d = get_dialect(eng.dialect)
    parts = [
        f"SELECT * FROM (SELECT DISTINCT {i} AS col, {text_col(d, rel.columns[i])} AS val "
        f"FROM {rel.sql} WHERE {d.quote(rel.columns[i])} IS NOT NULL LIMIT {n}) AS s{i}"
        for i in indexes
    ]
    return " UNION ALL ".join(parts)


def _value_codes(
    eng: Engine, values: Sequence[tuple[int, str]]
) -> list[tuple[int, str, int, int, float | None]]:
    """(column, text, binary code, number code, number) of each text value, read by the engine
    exactly as a column holding it is read (the values travel as quoted literals)."""
    d = get_dialect(eng.dialect)
    tiny = Relation("t", ("r",), {"r": "varchar"})
    pre, codes = _reads(d, tiny, "r", 0)
    out = []
    for start in range(0, len(values), VALUES_PER_STATEMENT):
        rows = " UNION ALL ".join(
            f"SELECT {col} AS col, {d.text(d.literal(v))} AS r"
            for col, v in values[start : start + VALUES_PER_STATEMENT]
        )
        sql = (
            f"SELECT col, r, b_0, e_0, v_0 FROM (SELECT col, r, {', '.join(codes)} FROM "
            f"(SELECT col, r, {', '.join(pre)} FROM ({rows}) AS l) AS a) AS b"
        )
        out += [
            (int(c), str(r), to_int(b), to_int(e), to_float(v))
            for c, r, b, e, v in eng.rows(sql, {})[1]
        ]
    return out


def _sorted_levels(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str | None, int], ...]:
    merged: dict[str | None, int] = {}
    for value, n in pairs:
        key = None if missing(value) else str(value)
        merged[key] = merged.get(key, 0) + to_int(n)
    return tuple(sorted(merged.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))


def _from_levels(
    i: int,
    levels: tuple[tuple[str | None, int], ...],
    codes: dict[tuple[int, str], tuple[int, int, float | None]],
) -> dict[str, Any]:
    """The code sums of a text column, from its listed values and their counts."""
    got: dict[str, Any] = {
        f"nb_{i}": 0,
        f"nn_{i}": 0,
        f"u_{i}": 0,
        f"lo_{i}": None,
        f"hi_{i}": None,
    }
    numbers = []
    for value, n in levels:
        if value is None:
            continue
        b, e, v = codes[(i, value)]
        got[f"nb_{i}"] += n if b == BAD_BINARY else 0
        got[f"nn_{i}"] += n if e == NOT_A_NUMBER else 0
        got[f"u_{i}"] += n if e in (NAN, INFINITE) else 0
        if e == 0 and v is not None:
            numbers.append(v)
    if numbers:
        got[f"lo_{i}"], got[f"hi_{i}"] = min(numbers), max(numbers)
    return got


def profile_relation(
    eng: Engine,
    rel: Relation,
    *,
    levels_of: Sequence[str] = (),
    max_levels: int = MAX_LEVELS,
    sample: int = SAMPLE,
) -> TableProfile:
    """Profile a resolved relation inside its engine (see the module's description).

    Number and boolean columns of typed engines are read on every row in the first
    statement (a cast each). A text column is read through its values: those with at
    most ``max_levels`` values from their listed values (one small statement); the
    others from ``sample`` of their distinct values first, and on every row only when
    all of those read as numbers or as 0/1/yes/no (else they count as text: their
    ``not_binary`` and ``not_number`` are their ``present`` values).

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
    typed = {name for name in rel.columns if _typed(eng, rel, name)}
    names, (row,) = eng.rows(_stats_sql(eng, rel, typed), {})
    got = dict(zip(names, row, strict=True))
    index = {name: i for i, name in enumerate(rel.columns)}
    distinct = {i: to_int(got[f"d_{i}"]) for i in range(len(rel.columns))}
    wanted = [i for n, i in index.items() if n in levels_of or distinct[i] <= max_levels]
    levels: dict[int, list[tuple[Any, Any]]] = {i: [] for i in wanted}
    if wanted:
        for col, val, n in eng.rows(_levels_sql(eng, rel, wanted), {})[1]:
            levels[int(col)].append((val, n))
    listed = {i: _sorted_levels(pairs) for i, pairs in levels.items()}
    text = [i for n, i in index.items() if n not in typed]
    few = [i for i in text if i in listed and distinct[i] <= max_levels]
    many = [i for i in text if i not in few and distinct[i] > 0]
    samples = eng.rows(_sample_sql(eng, rel, many, sample), {})[1] if many else []
    values = [(i, v) for i in few for v, _ in listed[i] if v is not None]
    values += [(int(c), str(v)) for c, v in samples if not missing(v)]
    codes = {(c, r): (b, e, v) for c, r, b, e, v in _value_codes(eng, values)}
    for i in few:
        got.update(_from_levels(i, listed[i], codes))
    texts: dict[int, list[str]] = {}
    for (c, r), (b, e, _) in codes.items():
        if b == BAD_BINARY and e == NOT_A_NUMBER:
            texts.setdefault(c, []).append(r)
    sampled = Counter(int(c) for c, v in samples if not missing(v))  # per column
    plain = {i for i in many if len(texts.get(i, ())) > max(3, FEW_TEXT * sampled[i])}
    full = {rel.columns[i] for i in many if i not in plain}
    if full:
        names, (row,) = eng.rows(_stats_sql(eng, rel, full, counted=False), {})
        got.update(dict(zip(names, row, strict=True)))
    for i in many:
        if i in plain:  # text: a sampled value is neither a number nor binary
            present = to_int(got[f"p_{i}"])
            got.update({f"nb_{i}": present, f"nn_{i}": present, f"u_{i}": 0})
            got.update({f"lo_{i}": None, f"hi_{i}": None})
    for i in text:
        if distinct[i] == 0:
            got.update({f"nb_{i}": 0, f"nn_{i}": 0, f"u_{i}": 0, f"lo_{i}": None, f"hi_{i}": None})
    columns = tuple(
        ColumnProfile(
            name=name,
            sql_type=rel.types.get(name, ""),
            present=to_int(got[f"p_{i}"]),
            distinct=distinct[i],
            not_binary=to_int(got[f"nb_{i}"]),
            not_number=to_int(got[f"nn_{i}"]),
            unusable=to_int(got[f"u_{i}"]),
            minimum=to_float(got[f"lo_{i}"]),
            maximum=to_float(got[f"hi_{i}"]),
            levels=listed.get(i),
            examples=_examples(
                {*texts.get(i, ()), *(str(got[k]) for k in (f"xa_{i}", f"xb_{i}") if got.get(k))},
                listed.get(i),
            ),
        )
        for i, name in enumerate(rel.columns)
    )
    return TableProfile(rel.label, to_int(got["n_rows"]), columns)


def _examples(
    texts: Iterable[str], levels: tuple[tuple[str | None, int], ...] | None
) -> tuple[str, ...]:
    """Up to :data:`EXAMPLES` of ``texts``: the most frequent first when the values are
    listed with their counts, else in sorted order."""
    count = {v: n for v, n in levels or () if v is not None}
    return tuple(sorted(set(texts), key=lambda v: (-count.get(v, 0), v))[:EXAMPLES])


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
