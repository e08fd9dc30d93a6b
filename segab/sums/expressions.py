"""SQL expressions the aggregation statements share: columns as text, numbers and times.

Each takes the :class:`~segab.sql.dialects.Dialect` it writes for; they are used by
the generic event-log statements (:mod:`segab.sums.statements`), the unit-table
statement (:mod:`segab.sums.units`) and the DuckDB fast path.

Example:
    >>> with_ctes([("a", "SELECT 1")]).startswith("WITH a AS")
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segab.sql.dialects import Dialect
from segab.sums.sources import Relation
from segab.sums.specs import MetricSpec

if TYPE_CHECKING:
    from segab.config.models import Experiment
    from segab.sql.conditions import ColumnKind

_TIME_TYPES = ("timestamp", "date", "datetime")  # declared time types (lower case)

__all__ = [
    "dim",
    "epoch_col",
    "grouped_select",
    "num_col",
    "number_col",
    "one",
    "row_condition_sql",
    "sum_columns",
    "text_col",
    "truthy",
    "unit_col",
    "unusable",
    "valid_unit",
    "value_present",
    "with_ctes",
    "zero",
]


def one(d: Dialect) -> str:
    """The double 1.0 in the dialect.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> one(get_dialect("spark"))
        'CAST(1.0 AS DOUBLE)'
    """
    return f"CAST(1.0 AS {d.double_type})"


def zero(d: Dialect) -> str:
    """The double 0.0 in the dialect.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> zero(get_dialect("postgresql"))
        'CAST(0.0 AS DOUBLE PRECISION)'
    """
    return f"CAST(0.0 AS {d.double_type})"


def text_col(d: Dialect, col: str) -> str:
    """A column read as text.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> text_col(get_dialect("duckdb"), "stage")
        'CAST("stage" AS VARCHAR)'
    """
    return d.text(d.quote(col))


def dim(i: int) -> str:
    """The alias of the i-th ``--by`` column.

    Example:
        >>> dim(0)
        'dim_0'
    """
    return f"dim_{i}"


def unit_col(d: Dialect, rel: Relation, col: str) -> str:
    """A unit id column as text (a float id as its integer; NaN as NULL).

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> unit_col(get_dialect("duckdb"), Relation("t", ("u",), {}), "u")
        'CAST("u" AS VARCHAR)'
    """
    c = d.quote(col)
    if rel.kind(col) == "float":
        return f"(CASE WHEN {d.isnan(c)} THEN NULL ELSE {d.text(f'CAST({c} AS BIGINT)')} END)"
    return d.text(c)


def valid_unit(u: str) -> str:
    """SQL that is true when the unit id ``u`` is not NULL, blank or ``nan`` (any case).

    An id longer than 3 characters that does not start with a space is valid
    without the string copies of ``TRIM``/``LOWER`` (a tenth of a second per 10M
    rows on DuckDB); the others get the full test.

    Example:
        >>> import duckdb
        >>> ids = ["u1234", "", "  ", "NaN", " x ", "abc", None]
        >>> con = duckdb.connect()
        >>> [con.execute(f"SELECT {valid_unit('$u')}", {"u": i}).fetchone()[0] for i in ids]
        [True, False, False, False, True, True, False]
    """
    slow = f"TRIM({u}) <> '' AND LOWER({u}) <> 'nan'"
    quick = f"length({u}) <= 3 OR substr({u}, 1, 1) = ' '"
    return f"({u} IS NOT NULL AND CASE WHEN {quick} THEN {slow} ELSE TRUE END)"


def epoch_col(d: Dialect, rel: Relation, col: str) -> str:
    """A time column as finite epoch seconds, or NULL when it is missing or unreadable.

    Numbers are epoch seconds already; a timestamp type is converted; text is read
    per value (ISO 8601, or a number of seconds) with :meth:`Dialect.try_epoch`, so
    one unreadable time is a NULL here (a bad timestamp), never an error. NaN and
    +-inf are NULL too.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> epoch_col(get_dialect("duckdb"), Relation("t", ("t",), {"t": "bigint"}), "t")
        'CASE WHEN isfinite(CAST("t" AS DOUBLE)) THEN CAST("t" AS DOUBLE) END'
    """
    c = d.quote(col)
    kind = rel.kind(col)
    if d.dynamic_types:
        t = d.try_epoch(c)
    elif kind in ("numeric", "float"):
        t = f"CAST({c} AS {d.double_type})"
    elif rel.types.get(col, "").lower().startswith(_TIME_TYPES) or not rel.types.get(col):
        t = d.epoch(c)  # a time type (or, in SQL built without the types, assumed one)
    else:
        t = d.try_epoch(d.text(c))
    return f"CASE WHEN {d.is_finite(t)} THEN {t} END"


def truthy(d: Dialect, col: str) -> str:
    """True when a flag column reads true, 1, t or yes (any case).

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> truthy(get_dialect("spark"), "ok")
        "(LOWER(CAST(`ok` AS STRING)) IN ('true', '1', 't', 'yes'))"
    """
    return f"(LOWER({text_col(d, col)}) IN ('true', '1', 't', 'yes'))"


def num_col(d: Dialect, rel: Relation, col: str) -> str:
    """A numeric column as a double (a boolean as 0 or 1).

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> num_col(get_dialect("duckdb"), Relation("t", ("b",), {"b": "boolean"}), "b")
        'CAST(CAST("b" AS INTEGER) AS DOUBLE)'
    """
    c = d.quote(col)
    if rel.kind(col) == "bool":
        return f"CAST(CAST({c} AS INTEGER) AS {d.double_type})"
    return f"CAST({c} AS {d.double_type})"


def number_col(d: Dialect, rel: Relation, col: str) -> str:
    """A column read as a double per value, or NULL; never an error (unlike :func:`num_col`).

    A text (or, on SQLite, any cell) is read with :meth:`Dialect.try_double`: a
    text that is not a number is NULL here, and NaN and +-inf stay what they are;
    :func:`value_present` then tells a missing value from an unreadable one.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> number_col(get_dialect("duckdb"), Relation("t", ("v",), {"v": "varchar"}), "v")
        'TRY_CAST(CAST("v" AS VARCHAR) AS DOUBLE)'
    """
    c = d.quote(col)
    if d.dynamic_types:
        return d.try_double(c)
    if rel.kind(col) == "other":
        return d.try_double(d.text(c))
    return num_col(d, rel, col)


def value_present(d: Dialect, rel: Relation, col: str) -> str:
    """True when a cell holds something: not NULL and, read as text, not blank.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> value_present(get_dialect("duckdb"), Relation("t", ("v",), {"v": "double"}), "v")
        '"v" IS NOT NULL'
    """
    c = d.quote(col)
    if d.dynamic_types or rel.kind(col) == "other":
        return f"({c} IS NOT NULL AND TRIM({d.text(c)}) <> '')"
    return f"{c} IS NOT NULL"


def unusable(d: Dialect, value: str, present: str) -> str:
    """True when a value cannot be used: present but not a finite number.

    ``value`` is the column read by :func:`number_col`, ``present`` its
    :func:`value_present` test. A missing value (NULL or blank) is not unusable.

    Example:
        >>> import duckdb
        >>> from segab.sql.dialects import get_dialect
        >>> rel = Relation("t", ("v",), {"v": "varchar"})
        >>> d = get_dialect("duckdb")
        >>> sql = unusable(d, number_col(d, rel, "v"), value_present(d, rel, "v"))
        >>> duckdb.sql(f"SELECT v, {sql} FROM (VALUES ('1'), ('NaN'), ('x'), (''), "
        ...            "(NULL), ('1e400')) t(v)").fetchall()
        [('1', False), ('NaN', True), ('x', True), ('', False), (None, False), ('1e400', True)]
    """
    return f"(CASE WHEN {value} IS NULL THEN {present} ELSE NOT {d.is_finite(value)} END)"


def with_ctes(ctes: Sequence[tuple[str, str]]) -> str:
    """``WITH name AS (body), ...`` from ``(name, body)`` pairs.

    Example:
        >>> with_ctes([("a", "SELECT 1")]).split()
        ['WITH', 'a', 'AS', '(', 'SELECT', '1', ')']
    """
    return "WITH " + ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes)


def sum_columns(metrics: Sequence[MetricSpec], ratio_den: bool) -> str:
    """The SUM columns of each metric: ``s_i, q_i`` (and ``ds_i, dq_i, x_i`` for ratios).

    Example:
        >>> sum_columns([MetricSpec("c", "binary", "buy")], True).split(",")[2].strip()
        'SUM(y_0 * y_0) AS q_0'
    """
    cols = []
    for i, m in enumerate(metrics):
        cols.append(f"SUM(y_{i}) AS s_{i}, SUM(y_{i} * y_{i}) AS q_{i}")
        if ratio_den and m.den is not None:
            cols.append(
                f"SUM(d_{i}) AS ds_{i}, SUM(d_{i} * d_{i}) AS dq_{i}, SUM(y_{i} * d_{i}) AS x_{i}"
            )
    return "".join(",\n  " + c for c in cols)


def grouped_select(
    d: Dialect,
    ctes: Sequence[tuple[str, str]],
    source: str,
    keys: Sequence[str],
    n_dims: int,
    sets: Sequence[Sequence[int]],
    aggregates: str,
) -> str:
    """The final GROUP BY over the CTE ``source``: by ``keys`` and every ``dim_i``, or by sets.

    Without ``sets``, one grouping by ``keys`` and the ``n_dims`` dims (crossed).
    With ``sets`` (each a breakdown: indexes of its dims), one row set per
    breakdown plus the no-breakdown set, in the same statement: ``source`` is
    grouped once by ``keys`` and every dim (the finest crossing, CTE ``gs_fine``;
    one scan, as fast as one breakdown), and that small result is summed per set
    (sums and counts add). A column ``gid`` says which set (0: no breakdown, k:
    ``sets[k - 1]``), so that a dim outside its row's breakdown (NULL) is told from
    a NULL value. Dialects with ``grouping_sets`` use ``GROUPING SETS`` and
    ``GROUPING()``; the others (SQLite) a ``UNION ALL`` of the sets over
    ``gs_fine`` computed once (``MATERIALIZED``). ``aggregates`` are the select
    items after the keys, each ``COUNT(..) AS name`` or ``SUM(..) AS name``.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> sql = grouped_select(get_dialect("duckdb"), [("g", "SELECT 1")], "g",
        ...     ["variant"], 2, [(0,), (0, 1)], "COUNT(*) AS n")
        >>> sql.splitlines()[-1]
        'FROM gs_fine GROUP BY GROUPING SETS ((variant), (variant, dim_0), (variant, dim_0, dim_1))'
        >>> "UNION ALL" in grouped_select(get_dialect("sqlite"), [("g", "SELECT 1")], "g",
        ...     ["variant"], 1, [(0,)], "COUNT(*) AS n")
        True
    """
    dims = [dim(i) for i in range(n_dims)]
    group = ", ".join([*keys, *dims])
    if not sets:
        return with_ctes(ctes) + f"\nSELECT {group}, {aggregates}\nFROM {source} GROUP BY {group}"
    fine = f"SELECT {group}, {aggregates}\nFROM {source} GROUP BY {group}"
    items = re.findall(r"(COUNT|SUM)\(.*?\)\s+AS\s+(\w+)\s*(?:,|$)", aggregates, re.S)
    added = ", ".join(
        f"CAST(SUM({name}) AS BIGINT) AS {name}" if f == "COUNT" else f"SUM({name}) AS {name}"
        for f, name in items
    )
    every = (1 << n_dims) - 1
    if d.grouping_sets:
        mask = " + ".join(f"{1 << i} * GROUPING({c})" for i, c in enumerate(dims))
        whens = " ".join(
            f"WHEN {every ^ sum(1 << i for i in s)} THEN {k}" for k, s in enumerate(sets, 1)
        )
        groups = ", ".join(
            "(" + ", ".join([*keys, *(dims[i] for i in s)]) + ")" for s in [(), *sets]
        )
        return with_ctes([*ctes, ("gs_fine", fine)]) + (
            f"\nSELECT {group}, CASE ({mask}) {whens} ELSE 0 END AS gid, "
            f"{added}\nFROM gs_fine GROUP BY GROUPING SETS ({groups})"
        )
    parts = []
    for k, s in enumerate([(), *sets]):
        shown = [c if i in s else f"NULL AS {c}" for i, c in enumerate(dims)]
        by = ", ".join([*keys, *(dims[i] for i in s)])
        parts.append(
            f"SELECT {', '.join([*keys, *shown])}, {k} AS gid, {added}\nFROM gs_fine GROUP BY {by}"
        )
    head = with_ctes(ctes) + f",\ngs_fine AS MATERIALIZED (\n{fine}\n)"
    return head + "\n" + "\nUNION ALL\n".join(parts)


def row_condition_sql(
    cond: Mapping[str, Any],
    path: str,
    exp: Experiment,
    d: Dialect,
    rel: Relation,
    kinds: Mapping[str, ColumnKind],
    label: str,
) -> str:
    """A condition on the rows of ``rel`` (a filter), compiled for ``d`` by the one condition
    compiler, with located errors: a dialect that compiles no conditions (SQLite), a
    column ``rel`` lacks, a column type conditions cannot read (``kinds`` has the readable
    ones), an operator without a SQL form.

    ``path`` names the config field (``analysis.filter``, ``metrics.m.where``) and
    ``label`` the input in messages.

    Example:
        >>> from segab.config import parse_experiment
        >>> from segab.sql.dialects import get_dialect
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> rel = Relation("t", ("g",), {"g": "VARCHAR"})
        >>> print(row_condition_sql({"g": "x"}, "analysis.filter", exp, get_dialect("duckdb"),
        ...     rel, {"g": "string"}, "units"))
        "g" = 'x'
    """
    from segab.conditions import condition_fields
    from segab.errors import DataError, MissingColumnError, SqlCompileError
    from segab.sql.conditions import compile_condition_sql

    if not d.compiles_conditions:
        raise DataError(
            f"{path} ({exp.key}): found a filter with {d.name}, which segab does not "
            "compile conditions for; expected DuckDB (files, DataFrames), PostgreSQL or Spark "
            "(or no filter)"
        )
    fields = sorted(condition_fields(cond))
    missing = [f for f in fields if not rel.has(f)]
    if missing:
        raise MissingColumnError(
            f"{path} ({exp.key}): column(s) {missing} not in {label}; it has {list(rel.columns)}"
        )
    unreadable = [f"{f} ({rel.types.get(f)})" for f in fields if f not in kinds]
    if unreadable:
        raise DataError(
            f"{path} ({exp.key}): column(s) {unreadable} in {label}: found a type "
            "conditions cannot read; expected numbers, text or booleans"
        )
    try:
        return compile_condition_sql(cond, d, exp.groups, kinds, path=path, two_valued=False)
    except SqlCompileError as exc:
        raise DataError(f"{exc} ({exp.key})") from None
