"""The statements that aggregate a one-row-per-unit table into per-cell sums.

One builder for every engine (DuckDB, PostgreSQL, SQLite, Spark SQL). Each row is
read once (CTE ``ur``: segment, stage, variant, the ``--by`` columns, the unit id
and, per column a metric reads, its value and code from
:mod:`segab.sums.unit_values`) and given a flag (CTE ``fl``, column ``f``):

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
    >>> "GROUP BY segment, stage, variant" in sql
    True
"""

from __future__ import annotations

from typing import Any

from segab.sql.dialects import Dialect
from segab.sums.expressions import dim, sum_columns, text_col, unit_col, valid_unit, with_ctes
from segab.sums.row_locations import POSITION
from segab.sums.sources import Relation
from segab.sums.specs import Params, UnitSpec
from segab.sums.unit_values import BAD_BINARY, column_read

__all__ = ["duplicates_query", "locate_query", "read_columns", "units_query"]


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
        for c in (m.source, m.den):
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
    raw: bool = False,
) -> list[tuple[str, str]]:
    """``ur`` (each row read) and ``fl`` (with its flag ``f``); ``source``: a positioned FROM."""
    cols = read_columns(spec)
    seg = spec.segment_sql or (text_col(d, spec.segment) if spec.segment else "'all'")
    stage = text_col(d, spec.stage) if spec.stage else "'all'"
    u = unit_col(d, rel, unit) if unit else f"CAST(NULL AS {d.text_type})"
    parts = [f"{seg} AS segment", f"{stage} AS stage", f"{text_col(d, spec.variant)} AS variant"]
    parts += [f"{d.quote(c)} AS {dim(i)}" for i, c in enumerate(spec.dims)]
    parts.append(f"{u} AS u")
    for j, (c, binary) in enumerate(cols):
        read = column_read(d, rel, c, binary)
        parts += [f"{read.value} AS x_{j}", f"{read.code} AS e_{j}"]
        if raw:
            parts.append(f"{text_col(d, c)} AS r_{j}")
    if source is not None:
        parts.append(f"{POSITION} AS pos")
    ur = "SELECT " + ", ".join(parts) + f"\nFROM {source or rel.sql}"
    codes = [f"e_{j}" for j in range(len(cols))]
    flag = ""
    if codes:
        flag += " WHEN " + " OR ".join(f"{e} = {BAD_BINARY}" for e in codes) + f" THEN {BAD_BINARY}"
        flag += " WHEN " + " OR ".join(f"{e} > 0" for e in codes) + " THEN 1"
    flag += " WHEN variant IS NULL THEN 2"
    if unit:
        flag += f" WHEN NOT {valid_unit('u')} THEN 3"
    return [("ur", ur), ("fl", f"SELECT ur.*, CASE{flag} ELSE 0 END AS f FROM ur")]


def _dedupe_ctes(spec: UnitSpec, n_cols: int) -> list[tuple[str, str]]:
    """``dk`` (ids on several counted rows), ``dr`` (their rows), ``du`` (one row per id)."""
    dk = "SELECT u FROM fl WHERE f = 0 GROUP BY u HAVING COUNT(*) > 1"
    dr = "SELECT fl.* FROM fl JOIN dk ON dk.u = fl.u WHERE fl.f = 0"
    same = " AND ".join(
        f"((MIN({c}) = MAX({c}) AND COUNT({c}) = COUNT(*)) OR COUNT({c}) = 0)"
        for c in _kept(spec, n_cols)
    )
    mins = "".join(f", MIN({c}) AS {c}" for c in _kept(spec, n_cols))
    du = (
        "SELECT u, COUNT(*) AS n_rows, MIN(variant) AS variant, "
        "CASE WHEN MIN(variant) = MAX(variant) THEN 1 ELSE 2 END AS n_var, "
        f"CASE WHEN {same} THEN 1 ELSE 0 END AS same{mins}\nFROM dr GROUP BY u"
    )
    return [("dk", dk), ("dr", dr), ("du", du)]


def _kept(spec: UnitSpec, n_cols: int) -> list[str]:
    """The columns whose values a unit's rows must share to be one unit seen twice."""
    return ["segment", "stage", *(dim(i) for i in range(len(spec.dims)))] + [
        f"x_{j}" for j in range(n_cols)
    ]


def units_query(
    dialect: Dialect | str,
    rel: Relation,
    spec: UnitSpec,
    unit: str | None = None,
    *,
    dedupe: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The GROUP BY over a one-row-per-unit table (``unit``: its id column, if any).

    Columns: segment, stage, variant, dim_0.., ``f`` and ``e_0``.. (see the module
    doc; segment/stage/variant/dims are NULL where ``f`` is not 0), n_units, then per
    metric i ``n_i, s_i, q_i`` (and ``ds_i, dq_i, x_i`` with a denominator column),
    zero where ``f`` is not 0. A NULL outcome (or denominator) leaves the unit out
    of that metric's ``n_i``. ``dedupe`` resolves repeated ids (when
    :func:`duplicates_query` found some).

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
    cols = read_columns(spec)
    index = {c: j for j, (c, _) in enumerate(cols)}
    ctes = _ctes(d, rel, spec, unit)
    cell = ["segment", "stage", "variant", *(dim(i) for i in range(len(spec.dims)))]
    codes = [f"e_{j}" for j in range(len(cols))]
    src = "fl"
    if dedupe and unit:
        ctes += _dedupe_ctes(spec, len(cols))
        values = [*cell, "u", *(f"x_{j}" for j in range(len(cols)))]
        rows = (
            f"SELECT {', '.join([*values, *codes, 'f'])} FROM fl\n"
            "WHERE f <> 0 OR NOT EXISTS (SELECT 1 FROM dk WHERE dk.u = fl.u)\nUNION ALL\n"
            f"SELECT {', '.join([*values, *(['0'] * len(codes)), '0'])} FROM du "
            "WHERE n_var = 1 AND same = 1"
        )
        ctes.append(("kept", rows))
        src = "kept"
    keys = [f"CASE WHEN f = 0 THEN {c} END AS {c}" for c in cell]
    values = []
    for i, m in enumerate(spec.metrics):
        y = f"x_{index[m.source]}"
        den = f"x_{index[m.den]}" if m.den else None
        ok = f"f = 0 AND {y} IS NOT NULL" + (f" AND {den} IS NOT NULL" if den else "")
        values += [
            f"CASE WHEN {ok} THEN 1 ELSE 0 END AS k_{i}",
            f"CASE WHEN {ok} THEN {y} END AS y_{i}",
        ]
        if den:
            values.append(f"CASE WHEN {ok} THEN {den} END AS d_{i}")
    g = "SELECT " + ", ".join([*keys, "f", *codes, *values]) + f" FROM {src}"
    group = ", ".join([*cell, "f", *codes])
    counts = "".join(f",\n  SUM(k_{i}) AS n_{i}" for i in range(len(spec.metrics)))
    sql = (
        with_ctes([*ctes, ("g", g)])
        + f"\nSELECT {group}, COUNT(*) AS n_units{counts}"
        + sum_columns(spec.metrics, ratio_den=True)
        + f"\nFROM g GROUP BY {group}"
    )
    return sql, p.values


def duplicates_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec, unit: str
) -> tuple[str, dict[str, Any]]:
    """Ids on several counted rows: ``n_var`` (1 or 2+ variants), ``same``, ``units``, ``rows``.

    ``same`` is 1 when a unit's rows agree on every column the analysis reads
    (segment, stage, ``--by`` columns, the values of the metric columns).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> rel = Relation("t", ("id", "arm", "y"), {})
        >>> spec = UnitSpec("arm", None, None, (), (MetricSpec("m", "continuous", "y"),))
        >>> "HAVING COUNT(*) > 1" in duplicates_query("duckdb", rel, spec, "id")[0]
        True
    """
    p = Params(dialect)
    ctes = _ctes(p.d, rel, spec, unit)[:2] + _dedupe_ctes(spec, len(read_columns(spec)))
    sql = (
        with_ctes(ctes) + "\nSELECT n_var, same, COUNT(*) AS units, SUM(n_rows) AS n_rows "
        "FROM du GROUP BY n_var, same"
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
    """The first rows with a condition: ``pos`` (or NULL), ``u``, ``n_rows``, ``r_0``.. (raw text).

    ``where`` is a condition on the columns of ``fl`` (``e_0 = 3``), or, with
    ``duplicates``, on the summary of a repeated id (``n_var = 2``, ``same = 1``): then
    the rows after each such unit's first are listed (``n_rows``: that unit's rows),
    or without positions the units. With ``source`` (a FROM clause with
    :data:`POSITION`) rows come in file order; without, by unit id (else by value).

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
    ctes = _ctes(d, rel, spec, unit, source=source, raw=True)
    raws = "".join(f", r_{j}" for j in range(n_cols))
    no_pos = "CAST(NULL AS BIGINT)"
    if "n_var" in where or "same" in where:
        ctes += _dedupe_ctes(spec, n_cols)
        if source is None:
            nulls = "".join(f", CAST(NULL AS {d.text_type}) AS r_{j}" for j in range(n_cols))
            sql = with_ctes(ctes) + (
                f"\nSELECT {no_pos} AS pos, u, n_rows{nulls} FROM du WHERE {where} "
                f"ORDER BY {d.code_point('u')} LIMIT {limit}"
            )
            return sql, p.values
        hits = (
            "SELECT dr.pos AS pos, dr.u AS u, du.n_rows AS n_rows"
            + "".join(f", dr.r_{j} AS r_{j}" for j in range(n_cols))
            + ", ROW_NUMBER() OVER (PARTITION BY dr.u ORDER BY dr.pos) AS rn "
            f"FROM dr JOIN du ON du.u = dr.u WHERE {where}"
        )
        sql = with_ctes([*ctes, ("hits", hits)]) + (
            f"\nSELECT pos, u, n_rows{raws} FROM hits WHERE rn > 1 ORDER BY pos LIMIT {limit}"
        )
        return sql, p.values
    pos = "pos" if source is not None else no_pos
    if source is not None:
        order = "pos"
    else:
        order = ", ".join(
            d.code_point(c) for c in (["u"] if unit else [f"r_{j}" for j in range(n_cols)])
        )
    sql = with_ctes(ctes) + (
        f"\nSELECT {pos} AS pos, u, 1 AS n_rows{raws} FROM fl WHERE {where} "
        f"ORDER BY {order} LIMIT {limit}"
    )
    return sql, p.values
