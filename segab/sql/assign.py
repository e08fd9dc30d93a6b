"""Assignment as one SQL query: the same decisions as :func:`segab.assign`, inside an engine.

``assignment_sql(experiment, dialect, source)`` returns a ``SELECT`` over the
table ``source`` (the experiment's unit column, a ``stage`` column and the
attribute columns, dotted paths as column names) with the columns of
``segab assign --input``: ``unit_id, experiment, iteration, segment, stage,
variant, bucket, in_experiment, reason`` (plus ``timestamp`` when asked).

The decision order is that of :mod:`segab.assignment`: the segment is the first
whose condition holds, else the fallback; the cell is the most specific for
(segment, stage), resolved when compiling; then forced, inactive, excluded,
namespace and holdout; then the bucket (hash v1 of
``seed|segment|stage|unit_id`` with the engine's ``md5``) and the variant whose
fixed-start range, scaled by coverage, holds it.

Two options carry the adaptive rules of :func:`segab.assign`: ``period`` (an
:class:`~segab.allocation_types.AllocationPeriod`) replaces the bucket ranges
of the cells it lays out by the period's (uniform slice first, then the adaptive
part), and ``previous`` (a relation with ``unit_id, segment, stage, variant``,
at most one row per unit and stage, e.g. the store's exposures of this iteration:
:func:`segab.store.sticky.exposures_sql`) is LEFT JOINed, so a unit that has
already seen one of its cell's variants keeps it (reason ``sticky``).

Rows that the Python bulk path reports as bad rows (an empty or NULL unit id, a
stage that is not one of the experiment's) are **filtered out**, so the result
has exactly the rows the Python path writes. Count them as
``rows_in - rows_out`` (see :mod:`segab.bulk.duckdb_engine`).

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({
    ...     "key": "e", "name": "E", "unit": "user_id", "stages": ["buy"],
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> sql = assignment_sql(exp, "duckdb")
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE units AS SELECT 'u1' AS user_id, 'buy' AS stage")
    >>> con.execute(sql).fetchall()
    [('u1', 'e', 1, 'all', 'buy', 'a', 6843, True, 'assigned')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from segab.allocation_types import AllocationPeriod
from segab.assignment import CellPlan, plan_of
from segab.assignment_period import check_layout, check_period
from segab.config.checks import resolve_cell_index
from segab.config.models import Experiment, SegmentDef
from segab.errors import SqlCompileError
from segab.hashing import SEPARATOR
from segab.sql.conditions import ColumnKind, compile_condition_sql
from segab.sql.dialects import Dialect, get_dialect

__all__ = ["ASSIGNMENT_COLUMNS", "assignment_sql", "segment_sql", "valid_row_sql"]

ASSIGNMENT_COLUMNS = (
    "unit_id",
    "experiment",
    "iteration",
    "segment",
    "stage",
    "variant",
    "bucket",
    "in_experiment",
    "reason",
)


def segment_sql(
    experiment: Experiment,
    dialect: str | Dialect,
    columns: Mapping[str, ColumnKind] | None = None,
    *,
    as_index: bool = False,
    unmatched: str | None = None,
) -> str:
    """The segment of a row: ``CASE WHEN <first condition> THEN 'key' ... ELSE fallback END``.

    With ``as_index`` the segment's position in ``experiment.segment_keys()``
    (the fallback last) instead of its key: integers compare faster downstream.
    A row no condition matches gets the experiment's fallback, else ``unmatched``
    (the analysis of unit tables uses ``not_targeted``), else NULL. This is the one
    place segment conditions become SQL, for assignment and analysis alike.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "fallback": "rest",
        ...     "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> print(segment_sql(exp, "postgresql", {"age": "number"}))
        CASE WHEN "age" < 35 THEN 'young' ELSE 'rest' END
    """
    d = get_dialect(dialect)
    branches = []
    for i, seg in enumerate(experiment.segments):
        if not isinstance(seg, SegmentDef):
            raise SqlCompileError(f"segments[{i}]: unresolved reference {seg.ref!r}")
        cond = compile_condition_sql(
            seg.when,
            d,
            experiment.groups,
            columns,
            path=f"segments[{i}] ({seg.key}).when",
            two_valued=False,
        )
        if cond == "FALSE":
            continue
        branches.append(f"WHEN {cond} THEN {i if as_index else d.literal(seg.key)}")
        if cond == "TRUE":
            break
    if experiment.fallback is not None:
        last = len(experiment.segments)
        fallback = str(last) if as_index else d.literal(experiment.fallback)
    elif unmatched is not None and not as_index:
        fallback = d.literal(unmatched)
    else:
        fallback = f"CAST(NULL AS {'INTEGER' if as_index else d.text_type})"
    if not branches:
        return fallback
    return f"CASE {' '.join(branches)} ELSE {fallback} END"


def _cell_index_sql(exp: Experiment, d: Dialect) -> str:
    """``CASE seg WHEN ... THEN CASE stage ... END END``: the resolved cell index, or NULL."""
    seg_branches = []
    for seg, segment in enumerate(exp.segment_keys()):
        by_stage = {st: resolve_cell_index(exp.cells, segment, st) for st in exp.stages}
        found = {i for i in by_stage.values() if i is not None}
        if not found:
            continue
        if len(found) == 1 and None not in by_stage.values():
            inner = str(found.pop())
        else:
            whens = " ".join(
                f"WHEN {d.literal(st)} THEN {i}" for st, i in by_stage.items() if i is not None
            )
            inner = f"CASE stage {whens} END"
        seg_branches.append(f"WHEN {seg} THEN {inner}")
    if not seg_branches:
        return "CAST(NULL AS INTEGER)"
    return f"CASE seg {' '.join(seg_branches)} END"


def _by_segment(
    exp: Experiment, d: Dialect, text: Callable[[str], str], lit: _Lit | None = None
) -> str:
    """``CASE seg WHEN i THEN text(key_i) ... END`` over the segment keys."""
    whens = " ".join(
        f"WHEN {i} THEN {lit('segment', text(key)) if lit else d.literal(text(key))}"
        for i, key in enumerate(exp.segment_keys())
    )
    return f"CASE seg {whens} END"


def _per_cell(exp: Experiment, lit: _Lit, cells: dict[int, CellPlan], what: str) -> str:
    """``CASE cell WHEN i THEN <control or variant-of-bucket> END`` over the used cells."""
    if what == "control" and len({p.control for p in cells.values()}) == 1:
        return lit("variant", next(iter(cells.values())).control)
    whens = []
    for idx, plan in sorted(cells.items()):
        if what == "control":
            value = lit("variant", plan.control)
        else:
            laid_out = plan.ranges if plan.layout is None else plan.layout.ranges()
            ranges = [
                f"WHEN bucket >= {lo} AND bucket < {hi} THEN {lit('variant', key)}"
                for key, lo, hi in laid_out
                if hi > lo
            ]
            value = f"CASE {' '.join(ranges)} END" if ranges else "NULL"
        whens.append(f"WHEN {idx} THEN {value}")
    return f"CASE cell {' '.join(whens)} END" if whens else "NULL"


_Lit = Callable[[str, str], str]


def _literals(d: Dialect, enum_types: Mapping[str, str] | None) -> _Lit:
    """``lit(column, text)``: a string literal, cast to ``enum_types[column]`` if given."""
    types = enum_types or {}

    def lit(column: str, text: str) -> str:
        typ = types.get(column)
        return f"CAST({d.literal(text)} AS {typ})" if typ else d.literal(text)

    return lit


def _unit_expr(unit: str, d: Dialect, kind: ColumnKind | None) -> str:
    col = d.quote(unit)
    if kind == "float":  # the Python path reads integral floats as integers
        return d.text(f"CAST({col} AS BIGINT)")
    return d.text(col)


def valid_row_sql(
    experiment: Experiment,
    dialect: str | Dialect,
    columns: Mapping[str, ColumnKind] | None = None,
) -> str:
    """The rows the Python bulk path assigns: a known stage and a non-empty unit id.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> print(valid_row_sql(exp, "duckdb", {"id": "string"}))
        "stage" IN ('buy') AND "id" IS NOT NULL AND CAST("id" AS VARCHAR) <> ''
    """
    d = get_dialect(dialect)
    unit_kind = None if columns is None else columns.get(experiment.unit)
    col = d.quote(experiment.unit)
    stages = ", ".join(d.literal(s) for s in experiment.stages)
    valid = [f"{d.quote('stage')} IN ({stages})", f"{col} IS NOT NULL"]
    if unit_kind == "float":
        valid.append(f"NOT {d.isnan(col)} AND {col} = floor({col})")
    else:
        valid.append(f"{_unit_expr(experiment.unit, d, unit_kind)} <> ''")
    return " AND ".join(valid)


def assignment_sql(
    experiment: Experiment,
    dialect: str | Dialect,
    source: str = "units",
    *,
    columns: Mapping[str, ColumnKind] | None = None,
    timestamp: str | None = None,
    enum_types: Mapping[str, str] | None = None,
    period: AllocationPeriod | None = None,
    previous: str | None = None,
) -> str:
    """A query assigning every row of ``source``, with the columns of ``segab assign --input``.

    ``source`` is a table name (quoted) or, when it starts with ``(``, a subquery
    used as is. ``columns`` gives the column kinds (see
    :func:`segab.sql.conditions.compile_condition_sql`). ``timestamp``, a SQL
    expression, adds a ``timestamp`` column. Unknown stages and empty unit ids
    are filtered out (the Python path reports them as bad rows). ``enum_types``
    maps ``segment``, ``variant`` and ``reason`` to SQL types their literals are
    cast to (DuckDB ENUMs in :mod:`segab.bulk.duckdb_engine`, written faster than text).
    ``period`` and ``previous`` (a table name or a subquery in parentheses): see the
    module docstring; the result is that of ``segab.assign(..., period=period,
    previous=<the unit's row of previous, if its segment matches>)``.

    Example:
        >>> import duckdb
        >>> from datetime import datetime
        >>> from segab.allocation_types import AllocationPeriod, CellAllocation
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> layout = CellAllocation("all", "buy", ("a", "b"), (500, 500), (0, 9000))
        >>> period = AllocationPeriod("e", 1, 1, datetime(2026, 1, 1), (layout,))
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE units AS SELECT * FROM (VALUES ('u1', 'buy'), "
        ...                 "('u2', 'buy'), ('u3', 'buy')) t(id, stage)")
        >>> _ = con.execute("CREATE TABLE seen AS SELECT 'u2' AS unit_id, 'all' AS segment, "
        ...                 "'buy' AS stage, 'a' AS variant")
        >>> sql = assignment_sql(exp, "duckdb", period=period, previous="seen")
        >>> for row in con.execute(sql + " ORDER BY unit_id").fetchall():
        ...     print(row[0], row[5:])
        u1 ('b', 6843, True, 'assigned')
        u2 ('a', 1076, True, 'sticky')
        u3 ('b', 5900, True, 'assigned')
    """
    d = get_dialect(dialect)
    plan = plan_of(experiment)
    unit_kind = None if columns is None else columns.get(experiment.unit)
    unit = _unit_expr(experiment.unit, d, unit_kind)
    src = source if source.lstrip().startswith("(") else d.quote(source)
    valid = valid_row_sql(experiment, d, columns)
    cells: dict[int, CellPlan] = {}
    for (segment, stage), cell_plan in plan.cells.items():
        idx = resolve_cell_index(experiment.cells, segment, stage)
        if idx is not None:
            cells.setdefault(idx, cell_plan)
    if experiment.randomization == "journey":
        prefix = _by_segment(experiment, d, lambda s: SEPARATOR.join((plan.seed, s, "*", "")))
        key = d.concat(prefix, "unit_id")
    else:
        prefix = _by_segment(experiment, d, lambda s: SEPARATOR.join((plan.seed, s, "")))
        key = d.concat(prefix, "stage", "'|'", "unit_id")
    early = _early_exit(experiment, d, _literals(d, enum_types))
    ts_in = f",\n    {timestamp} AS {d.quote('timestamp')}" if timestamp is not None else ""
    ts_out = f", {d.quote('timestamp')}" if timestamp is not None else ""
    lit = _literals(d, enum_types)
    control = _per_cell(experiment, lit, cells, "control")
    drawn = _per_cell(experiment, lit, cells, "variant")
    if period is not None:
        drawn = _period_variant(experiment, d, lit, period, drawn)
    if previous is None:
        s6_from, sticky = "s5", "CAST(NULL AS " + d.text_type + ")"
    else:
        prev = previous if previous.lstrip().startswith("(") else d.quote(previous)
        seg_key = _by_segment(experiment, d, lambda s: s)
        s6_from = (
            f"s5 LEFT JOIN {prev} p ON p.unit_id = s5.unit_id AND p.stage = s5.stage "
            f"AND p.segment = {seg_key.replace('CASE seg', 'CASE s5.seg', 1)}"
        )
        sticky = _sticky_variant(d, lit, cells)
    return f"""WITH s1 AS (
  SELECT {unit} AS unit_id, {d.quote("stage")} AS stage,
    {segment_sql(experiment, d, columns, as_index=True)} AS seg{ts_in}
  FROM {src}
  WHERE {valid}
), s2 AS (
  SELECT s1.*, {_cell_index_sql(experiment, d)} AS cell FROM s1
), s3 AS (
  SELECT s2.*, {early} AS early_reason FROM s2
), s4 AS (
  SELECT s3.*, CASE WHEN early_reason IS NULL THEN {d.digest_word(key)} END AS word FROM s3
), s5 AS (
  SELECT s4.*, {d.bucket_of_word("word")} AS bucket FROM s4
), s6 AS (
  SELECT s5.*, {sticky} AS sticky_variant FROM {s6_from}
), s7 AS (
  SELECT s6.*, {drawn} AS drawn_variant FROM s6
)
SELECT unit_id, {d.literal(experiment.key)} AS experiment,
  CAST({experiment.iteration} AS BIGINT) AS iteration,
  {_by_segment(experiment, d, lambda s: s, lit)} AS segment, stage,
  CASE
    WHEN early_reason IS NULL THEN COALESCE(sticky_variant, drawn_variant, {control})
    WHEN early_reason = 'forced' THEN {_forced_variant(experiment, d, lit)}
    WHEN early_reason = 'not_targeted' THEN NULL
    ELSE {control}
  END AS variant,
  CAST(bucket AS BIGINT) AS bucket,
  early_reason IS NULL AND COALESCE(sticky_variant, drawn_variant) IS NOT NULL AS in_experiment,
  COALESCE(
    early_reason,
    CASE WHEN sticky_variant IS NOT NULL THEN {lit("reason", "sticky")}
      WHEN drawn_variant IS NULL THEN {lit("reason", "outside_coverage")}
      ELSE {lit("reason", "assigned")} END
  ) AS reason{ts_out}
FROM s7"""


def _sticky_variant(d: Dialect, lit: _Lit, cells: dict[int, CellPlan]) -> str:
    """The joined earlier variant ``p.variant`` when it is one of the cell's variants, else NULL."""
    whens = []
    for idx, plan in sorted(cells.items()):
        keys = dict.fromkeys(key for key, _, _ in plan.ranges)
        inner = " ".join(f"WHEN {d.literal(k)} THEN {lit('variant', k)}" for k in keys)
        whens.append(f"WHEN {idx} THEN CASE p.variant {inner} END")
    return f"CASE cell {' '.join(whens)} END" if whens else "NULL"


def _period_variant(
    exp: Experiment, d: Dialect, lit: _Lit, period: AllocationPeriod, declared: str
) -> str:
    """The variant of ``bucket``: the period's ranges for the (segment, stage) pairs it lays
    out, else ``declared`` (the per-cell ranges)."""
    plan = plan_of(exp)
    check_period(period, plan.key, plan.iteration)
    whens = []
    for seg, segment in enumerate(exp.segment_keys()):
        for stage in exp.stages:
            layout = period.cell(segment, stage)
            cell = plan.cells.get((segment, stage))
            if layout is None or cell is None:
                continue
            check_layout(layout, (key for key, _, _ in cell.ranges), period.number)
            ranges = " ".join(
                f"WHEN bucket < {hi} THEN {lit('variant', key)}" for key, _, hi in layout.ranges()
            )
            whens.append(f"WHEN seg = {seg} AND stage = {d.literal(stage)} THEN CASE {ranges} END")
    if not whens:
        return declared
    return f"CASE {' '.join(whens)} ELSE {declared} END"


def _forced_variant(exp: Experiment, d: Dialect, lit: _Lit) -> str:
    if not exp.forced:
        return "NULL"
    whens = " ".join(f"WHEN {d.literal(u)} THEN {lit('variant', v)}" for u, v in exp.forced.items())
    return f"CASE unit_id {whens} END"


def _early_exit(exp: Experiment, d: Dialect, lit: _Lit) -> str:
    """The reason decided before the variant draw, or NULL (same order as assignment.py)."""
    plan = plan_of(exp)
    whens = [f"WHEN cell IS NULL THEN {lit('reason', 'not_targeted')}"]
    if exp.forced:
        ids = ", ".join(d.literal(u) for u in exp.forced)
        whens.append(f"WHEN unit_id IN ({ids}) THEN {lit('reason', 'forced')}")
    if not plan.active:
        whens.append(f"WHEN TRUE THEN {lit('reason', 'inactive')}")
    if exp.exclude:
        ids = ", ".join(d.literal(u) for u in exp.exclude)
        whens.append(f"WHEN unit_id IN ({ids}) THEN {lit('reason', 'excluded')}")
    if plan.namespace is not None:
        name, lo, hi = plan.namespace
        ns = d.bucket(d.concat(d.literal(SEPARATOR.join(("namespace", name, ""))), "unit_id"))
        whens.append(
            f"WHEN {ns} NOT BETWEEN {lo} AND {hi - 1} THEN {lit('reason', 'outside_namespace')}"
        )
    if plan.holdout_bp:
        ho = d.bucket(d.concat(d.literal(SEPARATOR.join((plan.seed, "holdout", ""))), "unit_id"))
        whens.append(f"WHEN {ho} < {plan.holdout_bp} THEN {lit('reason', 'holdout')}")
    return f"CASE {' '.join(whens)} END"
