"""The statement that aggregates a one-row-per-unit table into per-cell sums.

Example:
    >>> rel = Relation("t", ("arm", "y"), {})
    >>> sql, _ = units_query("duckdb", rel, UnitSpec("arm", None, None, (),
    ...     (MetricSpec("m", "continuous", "y"),)))
    >>> "GROUP BY segment, stage, variant" in sql
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from segab.sql.dialects import Dialect
from segab.sums.expressions import dim, num_col, sum_columns, text_col, with_ctes
from segab.sums.sources import Relation
from segab.sums.specs import MetricSpec, Params, UnitSpec

__all__ = ["units_query"]


def units_query(
    dialect: Dialect | str, rel: Relation, spec: UnitSpec
) -> tuple[str, dict[str, Any]]:
    """Build the GROUP BY over a one-row-per-unit table.

    Columns: segment, stage, variant, dim_0.., n_units, missing_variant, then per
    metric i ``n_i, s_i, q_i`` (and ``ds_i, dq_i, x_i`` with a denominator column).
    A NULL outcome (or denominator) leaves the unit out of that metric's ``n_i``.

    Example:
        >>> rel = Relation("t", ("arm", "y"), {})
        >>> sql, _ = units_query("sqlite", rel, UnitSpec("arm", None, None, (),
        ...     (MetricSpec("m", "continuous", "y"),)))
        >>> "'all'" in sql
        True
    """
    p = Params(dialect)
    d = p.d
    seg = text_col(d, spec.segment) if spec.segment else "'all'"
    if spec.segment_sql:
        seg = spec.segment_sql
    stage = text_col(d, spec.stage) if spec.stage else "'all'"
    dims = "".join(f", {d.quote(c)} AS {dim(i)}" for i, c in enumerate(spec.dims))
    values = []
    for i, m in enumerate(spec.metrics):
        y, den = num_col(d, rel, m.source), (num_col(d, rel, m.den) if m.den else None)
        ok = f"{y} IS NOT NULL" + (f" AND {den} IS NOT NULL" if den else "")
        values.append(f"CASE WHEN {ok} THEN 1 ELSE 0 END AS k_{i}")
        values.append(f"CASE WHEN {ok} THEN {y} END AS y_{i}")
        if den:
            values.append(f"CASE WHEN {ok} THEN {den} END AS d_{i}")
    vals = "".join(", " + v for v in values)
    ur = (
        f"SELECT {seg} AS segment, {stage} AS stage, "
        f"{text_col(d, spec.variant)} AS variant{dims}{vals}\nFROM {rel.sql}"
    )
    dcols = "".join(f", {dim(i)}" for i in range(len(spec.dims)))
    counts = "".join(f",\n  SUM(k_{i}) AS n_{i}" for i in range(len(spec.metrics)))
    sql = (
        with_ctes([("ur", ur)])
        + f"\nSELECT segment, stage, variant{dcols}, COUNT(*) AS n_units{counts}"
        + sum_columns(spec.metrics, ratio_den=True)
        + f"\nFROM ur WHERE variant IS NOT NULL GROUP BY segment, stage, variant{dcols}"
        + "\nUNION ALL\nSELECT NULL, NULL, NULL"
        + ", NULL" * len(spec.dims)
        + ", COUNT(*)"
        + "".join(", NULL" for _ in _count_cols(spec.metrics))
        + "\nFROM ur WHERE variant IS NULL"
    )
    return sql, p.values


def _count_cols(metrics: Sequence[MetricSpec]) -> list[str]:
    cols = []
    for i, m in enumerate(metrics):
        cols += [f"n_{i}", f"s_{i}", f"q_{i}"]
        if m.den is not None:
            cols += [f"ds_{i}", f"dq_{i}", f"x_{i}"]
    return cols
