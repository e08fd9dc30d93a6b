"""The rows an analysis reads: an attributes table joined, the config's filter, first exposures.

Before any statement of :mod:`segab.sums.units` (or the event log's) reads an input,
its FROM clause can be wrapped (:func:`prepared_from`) in three steps, each in the
engine (DuckDB, PostgreSQL, SQLite, Spark SQL), none needing a row order:

1. **attributes** (``--attributes FILE``): a LEFT JOIN on the unit id (as text, as
   :func:`~segab.sums.expressions.unit_col` reads it). Attribute rows whose id repeats
   join nothing (so no input row is ever repeated): those units, like units absent from
   the attributes, get NULL attributes;
2. **filter** (``analysis.filter``): a condition compiled by the one condition
   compiler (:func:`segab.sql.conditions.compile_condition_sql`); no SQL text from the
   user reaches the engine. Rows where it does not hold are excluded;
3. **first exposure** (``analysis: {dedupe: first, time_column: ...}``): rows whose
   time is missing or unreadable (:meth:`~segab.sql.dialects.Dialect.try_epoch`) are
   excluded, then each valid unit id keeps its earliest row; ties are broken by the
   order expressions (:class:`~segab.sums.specs.RowPrep`), the same on every engine.
   Rows with an empty id pass, to be counted downstream.

:func:`prep_counts_query` counts what each step did, in one statement.

Example:
    >>> from segab.sql.dialects import get_dialect
    >>> prep = RowPrep(key='CAST("id" AS VARCHAR)', filter_sql='"x" = 1')
    >>> print(prepared_from(get_dialect("duckdb"), "t", prep))
    (SELECT * FROM (SELECT pj.*, CASE WHEN "x" = 1 THEN 1 ELSE 0 END AS segab_in FROM (SELECT pb.* FROM (SELECT * FROM t) AS pb) AS pj) AS pf WHERE segab_in = 1) AS prepared
"""  # noqa: E501

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from segab.config.models import Experiment
from segab.errors import DataError, MissingColumnError
from segab.sql.conditions import column_kind
from segab.sql.dialects import Dialect, get_dialect
from segab.sums.expressions import (
    epoch_col,
    number_col,
    row_condition_sql,
    text_col,
    unit_col,
    valid_unit,
)
from segab.sums.sources import Engine, Relation, Source, require_columns
from segab.sums.specs import Attributes, RowPrep

_TABLES = itertools.count()

__all__ = [
    "RowPrep",
    "attribute_duplicates_query",
    "counts",
    "materialize",
    "prep_counts_query",
    "prepared_from",
    "resolve_rows",
]


def _joined(d: Dialect, base: str, prep: RowPrep) -> str:
    """``pb.*`` and the attribute columns (``segab_am``: 1 when the unit's row was found)."""
    if prep.attributes is None:
        return f"SELECT pb.* FROM (SELECT * FROM {base}) AS pb"
    a = prep.attributes
    cols = "".join(f", pa.{d.quote(c)} AS {d.quote(c)}" for c in a.columns)
    keyed = (
        f"SELECT {', '.join(d.quote(c) for c in a.columns) + ', ' if a.columns else ''}"
        f"{a.key} AS segab_ka, COUNT(*) OVER (PARTITION BY {a.key}) AS segab_an "
        f"FROM (SELECT * FROM {a.sql}) AS pa0 WHERE {valid_unit(a.key)}"
    )
    return (
        f"SELECT pb.*{cols}, CASE WHEN pa.segab_ka IS NULL THEN 0 ELSE 1 END AS segab_am "
        f"FROM (SELECT * FROM {base}) AS pb LEFT JOIN ({keyed}) AS pa "
        f"ON pa.segab_ka = {prep.key} AND pa.segab_an = 1"
    )


def _filtered(d: Dialect, base: str, prep: RowPrep) -> str:
    """The joined rows with ``segab_in`` (1: the filter holds) and, for dedupe, the time."""
    inside = "1" if prep.filter_sql is None else f"CASE WHEN {prep.filter_sql} THEN 1 ELSE 0 END"
    extra = ""
    if prep.time is not None:
        extra = f", {prep.time} AS segab_t"
    return f"SELECT pj.*, {inside} AS segab_in{extra} FROM ({_joined(d, base, prep)}) AS pj"


def _ranked(d: Dialect, base: str, prep: RowPrep) -> str:
    """The filtered rows; with dedupe, ``segab_k`` (a valid, timed id) and ``segab_rn``."""
    if prep.ranked is not None and prep.ranked[0] == base:
        return f"SELECT * FROM {prep.ranked[1]}"  # computed once (materialize)
    rows = _filtered(d, base, prep)
    if prep.time is None:
        return rows
    k = f"CASE WHEN segab_t IS NOT NULL AND {valid_unit(prep.key)} THEN {prep.key} END"
    order = ", ".join(["segab_t", *(o for e in prep.order for o in _nulls_first(e))])
    return (
        f"SELECT pk.*, ROW_NUMBER() OVER (PARTITION BY segab_in, segab_k ORDER BY {order}) "
        f"AS segab_rn FROM (SELECT pf0.*, {k} AS segab_k FROM ({rows}) AS pf0) AS pk"
    )


def _nulls_first(expr: str) -> tuple[str, str]:
    """Order keys putting NULL first on every engine (their default places differ)."""
    return f"CASE WHEN {expr} IS NULL THEN 0 ELSE 1 END", expr


def _kept(prep: RowPrep) -> str:
    """The condition on a ranked row that keeps it."""
    if prep.time is None:
        return "segab_in = 1"
    return "segab_in = 1 AND segab_t IS NOT NULL AND (segab_k IS NULL OR segab_rn = 1)"


def prepared_from(dialect: Dialect | str, base: str, prep: RowPrep) -> str:
    """A FROM item with the rows that remain after the join, the filter and first exposures.

    ``base`` is the input's own FROM item (a table, ``read_csv(...)``, a subquery with
    positions); every column of it is kept, with the attribute columns after them.

    Example:
        >>> prepared_from("sqlite", '"units"', RowPrep(key='"id"')).endswith("AS prepared")
        True
    """
    d = get_dialect(dialect)
    return f"(SELECT * FROM ({_ranked(d, base, prep)}) AS pf WHERE {_kept(prep)}) AS prepared"


def prep_counts_query(dialect: Dialect | str, base: str, prep: RowPrep) -> str:
    """One row: ``filtered_out``, ``bad_timestamps``, ``later_rows``, ``missing_attributes``.

    ``later_rows`` are a unit's rows after its first (dedupe ``first``);
    ``missing_attributes`` counts the kept rows without an attributes row (none, or a
    repeated id). A column that does not apply is 0.

    Example:
        >>> import duckdb
        >>> sql = prep_counts_query("duckdb", "(VALUES (1, 'a'), (2, 'b')) t(x, id)",
        ...                         RowPrep(key="id", filter_sql="x = 1"))
        >>> duckdb.sql(sql).fetchall()
        [(1, 0, 0, 0)]
    """
    d = get_dialect(dialect)

    def count(cond: str) -> str:
        return f"COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"

    timed = prep.time is not None
    bad_t = count("segab_in = 1 AND segab_t IS NULL") if timed else "0"
    later = count("segab_in = 1 AND segab_k IS NOT NULL AND segab_rn > 1") if timed else "0"
    missing = count(f"{_kept(prep)} AND segab_am = 0") if prep.attributes is not None else "0"
    return (
        f"SELECT {count('segab_in = 0')} AS filtered_out, {bad_t} AS bad_timestamps, "
        f"{later} AS later_rows, {missing} AS missing_attributes "
        f"FROM ({_ranked(d, base, prep)}) AS pc"
    )


def attribute_duplicates_query(prep: RowPrep) -> str:
    """One row: ``n_rows`` of the attributes table whose (valid) unit id repeats, and ``units``.

    Example:
        >>> import duckdb
        >>> from segab.sums.specs import Attributes
        >>> a = Attributes("(VALUES ('u1'), ('u1'), ('u2')) t(id)", "id", ())
        >>> duckdb.sql(attribute_duplicates_query(RowPrep(key="id", attributes=a))).fetchall()
        [(2, 1)]
    """
    assert prep.attributes is not None  # only asked with an attributes table
    a = prep.attributes
    return (
        "SELECT COALESCE(SUM(n), 0) AS n_rows, COUNT(*) AS units FROM "
        f"(SELECT COUNT(*) AS n FROM (SELECT * FROM {a.sql}) AS pd0 WHERE {valid_unit(a.key)} "
        f"GROUP BY {a.key} HAVING COUNT(*) > 1) AS pd"
    )


def counts(row: dict[str, Any]) -> dict[str, int]:
    """The counters of a :func:`prep_counts_query` row as ints (NULL: 0).

    Example:
        >>> counts({"filtered_out": None, "later_rows": 2})
        {'filtered_out': 0, 'later_rows': 2}
    """
    return {k: int(v) if v is not None and v == v else 0 for k, v in row.items()}


def _filter_sql(exp: Experiment, d: Dialect, rel: Relation, where: str) -> str | None:
    """``analysis.filter`` compiled for ``d`` over the columns of ``rel``, or None."""
    cond = exp.analysis.filter
    if cond is None:
        return None
    kinds = {c: k for c in rel.columns if (k := column_kind(rel.types.get(c, ""))) is not None}
    return row_condition_sql(cond, "analysis.filter", exp, d, rel, kinds, where)


def _attributes(
    eng: Engine, source: Source, exp: Experiment, rel: Relation, unit: str, texts: Sequence[str]
) -> tuple[Attributes, Relation]:
    """The attributes table as :class:`Attributes`, and ``rel`` with its columns added."""
    d = get_dialect(eng.dialect)
    names = dict.fromkeys([unit, exp.unit, "unit_id", "unit", *texts])  # once each
    a_rel = eng.relation(source, "attributes", list(names))
    a_unit = next((c for c in (unit, exp.unit, "unit_id", "unit") if a_rel.has(c)), None)
    if a_unit is None:
        require_columns(a_rel, [unit], "attributes")
    assert a_unit is not None  # require_columns raised otherwise
    extra = tuple(c for c in a_rel.columns if c != a_unit)
    clash = [c for c in extra if rel.has(c) or c.lower().startswith("segab_")]
    if clash:
        raise DataError(
            f"{a_rel.label}: column(s) {clash} of the attributes table are also in {rel.label} "
            f"(or are segab's own names); expected attribute columns the other table does not "
            f"have besides the unit id {unit!r} (rename them)"
        )
    combined = Relation(
        rel.sql,
        (*rel.columns, *extra),
        {**rel.types, **{c: a_rel.types.get(c, "") for c in extra}},
        rel.label,
    )
    return Attributes(a_rel.sql, unit_col(d, a_rel, a_unit), extra), combined


def resolve_rows(
    eng: Engine,
    exp: Experiment,
    rel: Relation,
    unit: str | None,
    attributes: Source | None,
    *,
    texts: Sequence[str] = (),
    first: bool = False,
    order: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> tuple[Relation, RowPrep | None]:
    """``rel`` with the attribute columns, and the :class:`RowPrep` (None: nothing to prepare).

    ``texts``: attribute columns read as text from CSV; ``first``: apply the config's
    ``dedupe: first`` (unit tables); ``order``: (columns compared as text, columns
    compared as numbers, then as text) that break ties between a unit's earliest rows.

    Example:
        >>> import pandas as pd
        >>> from segab.config import parse_experiment
        >>> from segab.sums.sources import open_engine
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> with open_engine() as eng:
        ...     rel = eng.relation(pd.DataFrame({"id": ["u1"], "y": [1]}), "units", ())
        ...     attrs = pd.DataFrame({"id": ["u1"], "country": ["UK"]})
        ...     both, prep = resolve_rows(eng, exp, rel, "id", attrs)
        >>> both.columns, prep.attributes.columns
        (('id', 'y', 'country'), ('country',))
    """
    first = first and exp.analysis.dedupe == "first"
    if attributes is None and exp.analysis.filter is None and not first:
        return rel, None
    if unit is None:
        wants = [
            w
            for w, on in (
                ("--attributes", attributes is not None),
                ("analysis.filter", exp.analysis.filter is not None),
                ("analysis.dedupe: first", first),
            )
            if on
        ]
        raise MissingColumnError(
            f"{rel.label}: {', '.join(wants)} needs a unit id column; found none of "
            f"{[exp.unit, 'unit_id', 'unit']} in {list(rel.columns)}"
        )
    d = get_dialect(eng.dialect)
    attrs = None
    where = rel.label
    if attributes is not None:
        attrs, rel = _attributes(eng, attributes, exp, rel, unit, texts)
        where = f"{where} or the attributes table"
    time = None
    keys: list[str] = []
    if first:
        t = exp.analysis.time_column
        assert t is not None  # the config's checks require it with dedupe: first
        require_columns(rel, [t], "units")
        time = epoch_col(d, rel, t)
        as_text, as_number = order
        keys = [number_col(d, rel, c) for c in as_number]
        keys += [d.code_point(text_col(d, c)) for c in (*as_text, *as_number)]
    prep = RowPrep(
        key=unit_col(d, rel, unit),
        attributes=attrs,
        filter_sql=_filter_sql(exp, d, rel, where),
        time=time,
        order=tuple(keys),
    )
    return rel, prep


def materialize(eng: Engine, base: str, prep: RowPrep) -> RowPrep:
    """On DuckDB and SQLite, the prepared rows of ``base`` computed once into a temporary
    table that later statements read (each would otherwise join and rank them again).

    Other engines (a new PostgreSQL connection per statement, Spark) get ``prep`` back.

    Example:
        >>> from segab.sums.sources import open_engine
        >>> with open_engine() as eng:
        ...     prep = materialize(eng, "(VALUES ('u1')) t(id)", RowPrep(key="id"))
        ...     rows = prepared_from("duckdb", prep.ranked[0], prep)
        ...     eng.rows(f"SELECT COUNT(*) AS n FROM {rows}", {})
        (['n'], [(1,)])
    """
    d = get_dialect(eng.dialect)
    if d.name not in ("duckdb", "sqlite"):
        return prep
    table = f"segab_prepared_{next(_TABLES)}"
    for statement in d.temp_table(table, _ranked(d, base, prep)):
        eng.execute(statement, {})
    return replace(prep, ranked=(base, table))
