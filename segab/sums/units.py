"""The statements that aggregate a one-row-per-unit table into per-cell sums.

One builder for every engine (DuckDB, PostgreSQL, SQLite, Spark SQL). Each row is
read once (CTE ``ur``: segment, stage, variant, the ``--by`` columns, the unit id
and, per column a metric reads, its value from :mod:`segab.sums.unit_values`) and
given a flag (CTE ``fl``, column ``f``):

- ``4``: a binary metric's column holds something other than 0/1/true/false/yes/no
  (the caller raises a located error);
- ``1``: a value the analysis cannot use (NaN, +-infinity, text) in any column it
  reads: the row is kept out whole, before anything else is decided;
- ``2``: no variant (counted in ``missing_variant``);
- ``3``: a unit column is used and the row's id is NULL, blank or ``nan`` (``empty_ids``);
- ``0``: the row counts.

With a unit column, rows that share an id (among the ``f = 0`` rows) are resolved
(:func:`duplicates_query` counts them; ``units_query(..., dedupe=True)`` applies
it): a unit in two variants is kept out whole; a unit whose rows are identical in
every column the analysis reads keeps one of them; a unit whose rows differ is kept
out whole, since nothing tells which row is right. No row order is needed, so every
engine gives the same answer.

Example:
    >>> from segab.sums.specs import MetricSpec
    >>> rel = Relation("t", ("arm", "y"), {})
    >>> sql, _ = units_query("duckdb", rel, UnitSpec("arm", None, None, (),
    ...     (MetricSpec("m", "continuous", "y"),)))
    >>> "GROUP BY segment, stage, variant, f" in sql
    True

With ``spec.sets`` (several breakdowns), the final grouping is one row set per
breakdown plus the no-breakdown set, in the same statement
(:func:`~segab.sums.expressions.grouped_select`; column ``gid``).
"""

from __future__ import annotations

from typing import Any

from segab.sql.dialects import Dialect
from segab.sums.caps import cap_columns, cap_ctes, cap_keys, capped
from segab.sums.covariates import covariate_columns, covariate_sums, covariate_values
from segab.sums.expressions import (
    dim,
    grouped_select,
    sum_columns,
    text_col,
    unit_col,
    valid_unit,
    with_ctes,
)
from segab.sums.prepare import prepared_from
from segab.sums.quantiles import quantile_dims, quantile_statement
from segab.sums.row_locations import POSITION
from segab.sums.sources import Relation
from segab.sums.specs import Params, UnitSpec
from segab.sums.unit_values import BAD_BINARY, column_read

__all__ = [
    "codes_query",
    "duplicates_query",
    "id_bitmap_query",
    "id_fingerprints_query",
    "id_range_query",
    "integer_id",
    "locate_query",
    "read_columns",
    "unit_quantiles_query",
    "units_query",
]


def read_columns(spec: UnitSpec) -> list[tuple[str, bool]]:
    """The columns the metrics read, once each, with whether a binary metric reads it.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("c", "binary", "buy"),
        ...     MetricSpec("r", "ratio", "rev", "buy")))
        >>> read_columns(spec)
        [('buy', True), ('rev', False)]
    """
    cols: dict[str, bool] = {}
    for m in spec.metrics:
        for c in (m.source, m.den, *m.covariates):
            if c is not None:
                cols[c] = cols.get(c, False) or (m.kind == "binary" and c == m.source)
    return list(cols.items())


def _ctes(
    d: Dialect,
    rel: Relation,
    spec: UnitSpec,
    unit: str | None,
    *,
    source: str | None = None,
    codes: bool = False,
    suffix: str = "",
) -> list[tuple[str, str]]:
    """``ur0`` (each row's raw reads), ``ur`` (values, codes) and ``fl`` (its flag ``f``).

    Named with ``suffix``. ``codes`` adds each column's kind code ``e_j`` and raw
    text ``r_j``; ``source`` reads a positioned FROM clause and adds its ``pos``.
    """
    cols = read_columns(spec)
    seg = spec.segment_sql or (text_col(d, spec.segment) if spec.segment else "'all'")
    stage = text_col(d, spec.stage) if spec.stage else "'all'"
    u = unit_col(d, rel, unit) if unit else f"CAST(NULL AS {d.text_type})"
    raw = [f"{seg} AS segment", f"{stage} AS stage", f"{text_col(d, spec.variant)} AS variant"]
    raw += [f"{d.quote(c)} AS {dim(i)}" for i, c in enumerate(spec.dims)]
    raw.append(f"{u} AS u")
    int_id = unit is not None and integer_id(d, rel, unit)
    if int_id:  # the raw integer too: equal integers are equal ids, valid unless NULL
        raw.append(f"{d.quote(str(unit))} AS ui")
    read, bad, bad_binary = [], [], []
    for j, (c, binary) in enumerate(cols):
        r = column_read(d, rel, c, binary, str(j))
        raw += [f"{e} AS {a}" for a, e in r.pre]
        if codes:
            raw.append(f"{text_col(d, c)} AS r_{j}")
        read.append(f"{r.value} AS x_{j}")
        if codes or r.needs_code:
            read.append(f"{r.code} AS e_{j}")
        bad += [r.bad] if r.bad else []
        bad_binary += [r.bad_binary] if r.bad_binary else []
    if source is not None:
        raw.append(f"{POSITION} AS pos")
    rows = source or rel.sql
    if spec.prep is not None:  # the attributes, filter and first exposures (prepare.py)
        rows = prepared_from(d, rows, spec.prep)
    ur0 = "SELECT " + ", ".join(raw) + f"\nFROM {rows}"
    ur = f"SELECT ur0{suffix}.*" + "".join(", " + r for r in read) + f" FROM ur0{suffix}"
    flag = ""
    if bad_binary:
        flag += f" WHEN {' OR '.join(bad_binary)} THEN {BAD_BINARY}"
    if bad:
        flag += f" WHEN {' OR '.join(bad)} THEN 1"
    flag += " WHEN variant IS NULL THEN 2"
    if unit:
        flag += f" WHEN {'ui IS NULL' if int_id else 'NOT ' + valid_unit('u')} THEN 3"
    fl = f"SELECT ur{suffix}.*, CASE{flag} ELSE 0 END AS f FROM ur{suffix}"
    return [(f"ur0{suffix}", ur0), (f"ur{suffix}", ur), (f"fl{suffix}", fl)]


def integer_id(d: Dialect, rel: Relation, unit: str) -> bool:
    """Whether the unit column is an integer column on DuckDB, whose ids are read raw.

    Its text form is canonical, so equal integers are equal ids: the repeat screen
    fingerprints the integer itself instead of a text copy of each of millions of ids.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> rel = Relation("t", ("id", "s"), {"id": "bigint", "s": "varchar"})
        >>> [integer_id(get_dialect("duckdb"), rel, c) for c in ("id", "s")]
        [True, False]
        >>> integer_id(get_dialect("postgresql"), rel, "id")
        False
    """
    t = rel.types.get(unit, "").lower()
    return d.name == "duckdb" and "int" in t and not t.startswith(("interval", "point"))


def _dedupe_ctes(d: Dialect, rel: Relation, spec: UnitSpec, unit: str) -> list[tuple[str, str]]:
    """``ids`` (ids on several counted rows, and empty ids), ``dk`` (the first),
    ``dr`` (their rows), ``du`` (one row per repeated id).

    ``ids`` reads its own copy of the rows (``fl_ids``), so that no engine needs to
    keep the rows of ``fl``, which ``dr`` reads, between the two.
    """
    ids = (
        "SELECT u, f, COUNT(*) AS n FROM fl_ids WHERE f IN (0, 3) GROUP BY u, f "
        "HAVING COUNT(*) > 1 OR f = 3"
    )
    dk = "SELECT u FROM ids WHERE f = 0"
    dr = "SELECT fl.* FROM fl JOIN dk ON dk.u = fl.u WHERE fl.f = 0"
    n_cols = len(read_columns(spec))
    kept = ["segment", "stage", *(dim(i) for i in range(len(spec.dims)))]
    kept += [f"x_{j}" for j in range(n_cols)]
    same = " AND ".join(
        f"((MIN({c}) = MAX({c}) AND COUNT({c}) = COUNT(*)) OR COUNT({c}) = 0)" for c in kept
    )
    mins = "".join(f", MIN({c}) AS {c}" for c in kept)
    du = (
        "SELECT u, COUNT(*) AS n_rows, MIN(variant) AS variant, "
        "CASE WHEN MIN(variant) = MAX(variant) THEN 1 ELSE 2 END AS n_var, "
        f"CASE WHEN {same} THEN 1 ELSE 0 END AS same{mins}\nFROM dr GROUP BY u"
    )
    copy = _ctes(d, rel, spec, unit, suffix="_ids")
    return [*copy, ("ids", ids), ("dk", dk), ("dr", dr), ("du", du)]


def units_query(
    dialect: Dialect | str,
    rel: Relation,
    spec: UnitSpec,
    unit: str | None = None,
    *,
    dedupe: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The GROUP BY over a one-row-per-unit table (``unit``: its id column, if any).

    Columns: segment, stage, variant, ``f`` (see the module doc), dim_0.. (and
    ``gid`` with ``spec.sets``), n_units,
    then per metric i ``n_i, s_i, q_i`` (and ``ds_i, dq_i, x_i`` with a denominator
    column), which count only rows with ``f = 0``. A NULL outcome (or denominator)
    leaves the unit out of that metric's ``n_i``. ``dedupe`` resolves repeated ids
    (when :func:`duplicates_query` found some).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("arm", "y"), {})
        >>> sql, _ = units_query("sqlite", rel, UnitSpec("arm", None, None, (),
        ...     (MetricSpec("m", "continuous", "y"),)))
        >>> "'all'" in sql
        True
    """
    p = Params(dialect)
    d = p.d
    ctes = _value_ctes(p, rel, spec, unit, dedupe)
    counts = "".join(f",\n  COUNT(y_{i}) AS n_{i}" for i in range(len(spec.metrics)))
    aggregates = f"COUNT(*) AS n_units{counts}" + sum_columns(spec.metrics, ratio_den=True)
    aggregates += covariate_sums(spec.metrics)
    keys = ["segment", "stage", "variant", "f"]
    cell = ["segment", "stage", "variant", *(dim(i) for i in range(len(spec.dims)))]
    rows = "g"
    if capped(spec.metrics):  # values capped before the sums (segab.sums.caps)
        carried = [*cell, "f", *covariate_columns(spec.metrics)]
        ctes, rows = ctes + cap_ctes("g", carried, spec.metrics, p, "f = 0"), "uvc"
        aggregates += cap_columns(spec.metrics)
        keys += cap_keys(spec.metrics)  # the caps: constants, so keys that split nothing
    sql = grouped_select(d, ctes, rows, keys, len(spec.dims), spec.sets, aggregates)
    return sql, p.values


def unit_quantiles_query(
    dialect: Dialect | str,
    rel: Relation,
    spec: UnitSpec,
    unit: str | None = None,
    *,
    dedupe: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The quantile metrics' order statistics over the rows :func:`units_query` counts
    (:func:`segab.sums.quantiles.quantile_statement`).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("arm", "y"), {})
        >>> sql, _ = unit_quantiles_query("duckdb", rel, UnitSpec("arm", None, None, (),
        ...     (MetricSpec("m", "continuous", "y", quantile=0.5),)))
        >>> "WHERE y_0 IS NOT NULL AND f = 0" in sql
        True
    """
    p = Params(dialect)
    ctes = _value_ctes(p, rel, spec, unit, dedupe)
    n = quantile_dims(spec.dims)
    return quantile_statement(p.d, ctes, "g", spec.metrics, n, spec.sets, "f = 0"), p.values


def _value_ctes(
    p: Params, rel: Relation, spec: UnitSpec, unit: str | None, dedupe: bool
) -> list[tuple[str, str]]:
    """The CTEs up to ``g``: per row its cell, ``f`` and each metric's ``y_i`` (``d_i``)."""
    d = p.d
    n_cols = len(read_columns(spec))
    index = {c: j for j, (c, _) in enumerate(read_columns(spec))}
    ctes = _ctes(d, rel, spec, unit)
    cell = ["segment", "stage", "variant", *(dim(i) for i in range(len(spec.dims)))]
    src = "fl"
    if dedupe and unit:
        ctes += _dedupe_ctes(d, rel, spec, unit)
        values = [*cell, "u", *(f"x_{j}" for j in range(n_cols))]
        rows = (
            f"SELECT {', '.join([*values, 'f'])} FROM fl\n"
            "WHERE f <> 0 OR NOT EXISTS (SELECT 1 FROM dk WHERE dk.u = fl.u)\nUNION ALL\n"
            f"SELECT {', '.join([*values, '0'])} FROM du WHERE n_var = 1 AND same = 1"
        )
        ctes.append(("kept", rows))
        src = "kept"
    values = covariate_values(spec.metrics, index)  # y_i, z_i_j (segab.sums.covariates)
    for i, m in enumerate(spec.metrics):
        y = f"x_{index[m.source]}"
        if m.covariates:
            continue
        if m.den:
            den = f"x_{index[m.den]}"
            values.append(f"CASE WHEN {den} IS NOT NULL THEN {y} END AS y_{i}")
            values.append(f"CASE WHEN {y} IS NOT NULL THEN {den} END AS d_{i}")
        else:
            values.append(f"{y} AS y_{i}")
    g = "SELECT " + ", ".join([*cell, "f", *values]) + f" FROM {src}"
    return [*ctes, ("g", g)]


def codes_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec, unit: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The rows kept out for a bad value (``f = 1``), counted by their codes ``e_0``, ...

    Run only when there are such rows; it tells which columns hold which kinds.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("arm", "y"), {})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> codes_query("duckdb", rel, spec)[0].splitlines()[-1]
        'SELECT e_0, COUNT(*) AS n_rows FROM fl WHERE f = 1 GROUP BY e_0'
    """
    p = Params(dialect)
    codes = ", ".join(f"e_{j}" for j in range(len(read_columns(spec))))
    sql = with_ctes(_ctes(p.d, rel, spec, unit, codes=True)) + (
        f"\nSELECT {codes}, COUNT(*) AS n_rows FROM fl WHERE f = 1 GROUP BY {codes}"
    )
    return sql, p.values


def id_fingerprints_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec, unit: str, fingerprint: str
) -> tuple[str, dict[str, Any]]:
    """One row per counted (``f = 0``) or empty-id (``f = 3``) row: ``h``, the fingerprint
    of its id (NULL for an empty id), for :func:`segab.sums.fingerprints.repeats`.

    ``fingerprint`` is the dialect's fingerprint of ``u``, or of ``ui`` (the raw id)
    where :func:`integer_id` holds (:func:`segab.sums.fingerprints.fingerprint`).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("id", "arm", "y"), {})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> id_fingerprints_query("duckdb", rel, spec, "id", "hash(u)")[0].splitlines()[-1]
        'SELECT CASE WHEN f = 0 THEN hash(u) END AS h FROM fl WHERE f IN (0, 3)'
    """
    p = Params(dialect)
    sql = with_ctes(_ctes(p.d, rel, spec, unit)) + (
        f"\nSELECT CASE WHEN f = 0 THEN {fingerprint} END AS h FROM fl WHERE f IN (0, 3)"
    )
    return sql, p.values


def id_range_query(dialect: Dialect | str, rel: Relation, unit: str) -> str:
    """``lo``, ``hi`` and ``n``: the least and greatest raw id and how many rows have one.

    Read from the table as given (a Parquet file answers from its statistics), so
    they bound the ids of every row the analysis counts, for :func:`id_bitmap_query`.

    Example:
        >>> id_range_query("duckdb", Relation("t", ("id",), {}), "id")
        'SELECT MIN("id") AS lo, MAX("id") AS hi, COUNT("id") AS n FROM t'
    """
    q = Params(dialect).d.quote(unit)
    return f"SELECT MIN({q}) AS lo, MAX({q}) AS hi, COUNT({q}) AS n FROM {rel.sql}"


def id_bitmap_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec, unit: str, lo: int, hi: int
) -> tuple[str, dict[str, Any]]:
    """One row over every row of the table (after ``spec.prep``): ``empty``, the rows
    without an id, and ``repeats``, the rows with one less their distinct ids, exact:
    one bit per id in ``[lo, hi]``.

    It reads the id column alone, not the flags of :func:`units_query`: the counted
    rows are some of these, so when both are 0 no counted id repeats and none is
    empty. DuckDB (``bitstring_agg``) where :func:`integer_id` holds; ``repeats`` is
    NULL without rows, and an id outside ``[lo, hi]`` makes the statement fail.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("id", "arm", "y"), {"id": "bigint"})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> id_bitmap_query("duckdb", rel, spec, "id", 0, 9)[0].splitlines()[-1]
        'FROM t'
    """
    p = Params(dialect)
    q = p.d.quote(unit)
    rows = rel.sql if spec.prep is None else prepared_from(p.d, rel.sql, spec.prep)
    sql = (
        f"SELECT COUNT(*) - COUNT({q}) AS empty, COUNT({q}) - "
        f"bit_count(bitstring_agg({q}, {p(int(lo))}, {p(int(hi))})) AS repeats\nFROM {rows}"
    )
    return sql, p.values


def duplicates_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec, unit: str
) -> tuple[str, dict[str, Any]]:
    """Ids on several counted rows: ``n_var`` (1 or 2+ variants), ``same``, ``units``, ``n_rows``.

    ``same`` is 1 when a unit's rows agree on every column the analysis reads
    (segment, stage, ``--by`` columns, the values of the metric columns). A last
    row with ``n_var`` 0 counts the rows with an empty id (``f = 3``; NULL for none).
    This is the one statement that groups by unit id: a clean table costs it and
    :func:`units_query` without a unit column.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("id", "arm", "y"), {})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> "HAVING COUNT(*) > 1" in duplicates_query("duckdb", rel, spec, "id")[0]
        True
    """
    p = Params(dialect)
    ctes = _ctes(p.d, rel, spec, unit) + _dedupe_ctes(p.d, rel, spec, unit)
    sql = with_ctes(ctes) + (
        "\nSELECT n_var, same, COUNT(*) AS units, SUM(n_rows) AS n_rows FROM du "
        "GROUP BY n_var, same\nUNION ALL\nSELECT 0, 0, SUM(n), SUM(n) FROM ids WHERE f = 3"
    )
    return sql, p.values


def locate_query(
    dialect: Dialect | str,
    rel: Relation,
    spec: UnitSpec,
    unit: str | None,
    where: str,
    *,
    source: str | None = None,
    limit: int = 5,
) -> tuple[str, dict[str, Any]]:
    """The first rows with a condition: ``pos`` (or NULL), ``u``, ``n_rows``, ``e_j``.., ``r_j``...

    ``where`` is a condition on the columns of ``fl`` (``e_0 = 3``), or on the
    summary of a repeated id (``n_var = 2``, ``same = 1``): then the rows after each
    such unit's first are listed, or without positions the units (``n_rows``: how
    many rows the unit has). With ``source`` (a FROM clause with
    :data:`~segab.sums.row_locations.POSITION`) rows come in file order; without,
    by unit id (else by value).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("id", "arm", "y"), {})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> "LIMIT 5" in locate_query("duckdb", rel, spec, "id", "e_0 = 1")[0]
        True
    """
    p = Params(dialect)
    d = p.d
    n_cols = len(read_columns(spec))
    ctes = _ctes(d, rel, spec, unit, source=source, codes=True)
    extra = "".join(f", e_{j}" for j in range(n_cols)) + "".join(f", r_{j}" for j in range(n_cols))
    no_pos = "CAST(NULL AS BIGINT)"
    if "n_var" in where or "same" in where:
        assert unit is not None  # repeated ids need a unit column
        ctes += _dedupe_ctes(d, rel, spec, unit)
        if source is None:
            sql = with_ctes(ctes) + (
                f"\nSELECT {no_pos} AS pos, du.u AS u, du.n_rows AS n_rows"
                + "".join(f", 0 AS e_{j}" for j in range(n_cols))
                + "".join(f", CAST(NULL AS {d.text_type}) AS r_{j}" for j in range(n_cols))
                + f" FROM du WHERE {where} ORDER BY {d.code_point('u')} LIMIT {limit}"
            )
            return sql, p.values
        hits = (
            f"SELECT dr.*, du.n_rows AS n_rows, "
            "ROW_NUMBER() OVER (PARTITION BY dr.u ORDER BY dr.pos) AS rn "
            f"FROM dr JOIN du ON du.u = dr.u WHERE {where}"
        )
        sql = with_ctes([*ctes, ("hits", hits)]) + (
            f"\nSELECT pos, u, n_rows{extra} FROM hits WHERE rn > 1 ORDER BY pos LIMIT {limit}"
        )
        return sql, p.values
    if source is not None:
        pos, order = "pos", "pos"
    else:
        keys = ["u"] if unit else [f"r_{j}" for j in range(n_cols)]
        pos, order = no_pos, ", ".join(d.code_point(k) for k in keys)
    sql = with_ctes(ctes) + (
        f"\nSELECT {pos} AS pos, u, 1 AS n_rows{extra} FROM fl WHERE {where} "
        f"ORDER BY {order} LIMIT {limit}"
    )
    return sql, p.values
