"""Capping (winsorisation) of per-unit values, inside the engine, for every dialect.

A capped metric's per-unit value ``y`` (of an event log's ``uv`` rows, or a unit
table's ``g`` rows) becomes ``min(y, c)`` before anything is summed. The cap ``c``
is the configured ``value``, or the ``percentile`` of the per-unit values over the
whole experiment: every counted (unit, cell) row of the config's arms, all cells
and arms together, NULL outcomes left out, zeros too with ``ignore_zeros``. The
percentile is exact and interpolates linearly between order statistics, as
numpy's default (``h = (n − 1)·q``; ``x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋])``):
DuckDB's ``quantile_cont``, PostgreSQL's ``percentile_cont … WITHIN GROUP``,
Spark's ``percentile`` (:func:`segab.sql.dialect_values.quantile_sql`); SQLite has
none, so the same formula is written with ``ROW_NUMBER`` over the ordered values.
Per group the statements also return ``k_i`` (how many rows the cap lowered) and
``c_i`` (the cap, a group key of one value), which
:func:`applied_caps` turns into :class:`AppliedCap` per metric.

Example:
    >>> from segab.sums.specs import CapSpec, MetricSpec, Params
    >>> m = MetricSpec("rev", "continuous", "revenue", cap=CapSpec(value=500.0))
    >>> [name for name, _ in cap_ctes("uv", ["u"], [m], Params("duckdb"))]
    ['caps', 'uvc']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from segab.config.models import Experiment, Metric
from segab.sql.dialect_values import quantile_sql
from segab.sums.arms import experiment_arm_keys
from segab.sums.specs import CapSpec, MetricSpec, Params

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AppliedCap",
    "applied_caps",
    "cap_columns",
    "cap_ctes",
    "cap_keys",
    "cap_spec",
    "capped",
]


def capped(metrics: Sequence[MetricSpec]) -> list[int]:
    """The positions of the metrics with a cap.

    Example:
        >>> from segab.sums.specs import CapSpec
        >>> capped([MetricSpec("a", "binary", "x"), MetricSpec("b", "continuous", "y",
        ...     cap=CapSpec(value=1.0))])
        [1]
    """
    return [i for i, m in enumerate(metrics) if m.cap is not None]


def _percentile(source: str, y: str, cap: CapSpec, p: Params, where: str) -> str:
    d = p.d
    conds = [f"{y} IS NOT NULL"]
    if cap.arms:
        conds.append(f"variant IN ({', '.join(p(a) for a in cap.arms)})")
    if cap.ignore_zeros:
        conds.append(f"{y} <> 0")
    if where:
        conds.append(where)
    cond = " AND ".join(conds)
    q = repr(float(cap.percentile or 0.0))
    exact = quantile_sql(d.name, y, q)
    if exact is not None:
        return f"(SELECT {exact} FROM {source} WHERE {cond})"
    # no exact percentile function (SQLite): numpy's linear interpolation by row numbers
    ranked = (
        f"SELECT {y} AS v, ROW_NUMBER() OVER (ORDER BY {y}) AS rn, COUNT(*) OVER () AS cnt "
        f"FROM {source} WHERE {cond}"
    )
    at = (
        f"SELECT v, rn, CAST((cnt - 1) * {q} AS INTEGER) + 1 AS lo, "
        f"(cnt - 1) * {q} - CAST((cnt - 1) * {q} AS INTEGER) AS fr FROM ({ranked}) r"
    )
    low = "MAX(CASE WHEN rn = lo THEN v END)"
    high = f"COALESCE(MAX(CASE WHEN rn = lo + 1 THEN v END), {low})"
    return f"(SELECT {low} + MAX(fr) * ({high} - {low}) FROM ({at}) a)"


def cap_ctes(
    source: str, columns: Sequence[str], metrics: Sequence[MetricSpec], p: Params, where: str = ""
) -> list[tuple[str, str]]:
    """``caps`` (one row: ``c_i`` per capped metric) and ``uvc`` (``source`` with ``y_i`` capped).

    ``source`` is the CTE with the per-unit values ``y_i`` (and ``d_i``) and a
    ``variant`` column; ``columns`` its other columns; ``where`` a condition on its
    rows that count (``f = 0`` in a unit table). ``uvc`` adds ``k_i`` (1 when the
    cap lowered the row's value) and ``c_i``.

    Example:
        >>> from segab.sums.specs import CapSpec
        >>> m = MetricSpec("r", "continuous", "v", cap=CapSpec(percentile=0.9))
        >>> caps = dict(cap_ctes("uv", ["u"], [m], Params("postgresql")))["caps"]
        >>> "percentile_cont(0.9) WITHIN GROUP (ORDER BY y_0) FROM uv" in caps
        True
    """
    idx = capped(metrics)
    caps = []
    for i in idx:
        cap = metrics[i].cap
        assert cap is not None  # capped() keeps those with a cap
        if cap.value is not None:
            caps.append(f"{p.d.number(float(cap.value))} AS c_{i}")
        else:
            caps.append(f"{_percentile(source, f'y_{i}', cap, p, where)} AS c_{i}")
    cols = list(columns)
    for i, m in enumerate(metrics):
        if i in idx:
            cols.append(f"CASE WHEN y_{i} > c_{i} THEN c_{i} ELSE y_{i} END AS y_{i}")
            cols.append(f"CASE WHEN y_{i} > c_{i} THEN 1 ELSE 0 END AS k_{i}")
            cols.append(f"c_{i}")
        else:
            cols.append(f"y_{i}")
        if m.den is not None:
            cols.append(f"d_{i}")
    uvc = f"SELECT {', '.join(cols)} FROM {source} CROSS JOIN caps"
    return [("caps", "SELECT " + ", ".join(caps)), ("uvc", uvc)]


def cap_columns(metrics: Sequence[MetricSpec]) -> str:
    """The per-group count of capped units: ``SUM(k_i) AS k_i`` per capped metric.

    Example:
        >>> from segab.sums.specs import CapSpec
        >>> cap_columns([MetricSpec("r", "ratio", "v", "w", cap=CapSpec(value=1.0))])
        ',\\n  SUM(k_0) AS k_0'
    """
    return "".join(f",\n  SUM(k_{i}) AS k_{i}" for i in capped(metrics))


def cap_keys(metrics: Sequence[MetricSpec]) -> list[str]:
    """The caps ``c_i`` as group keys: one value per statement, so they split no group
    and come back on every row (grouping sets included).

    Example:
        >>> from segab.sums.specs import CapSpec
        >>> cap_keys([MetricSpec("r", "continuous", "v", cap=CapSpec(value=1.0))])
        ['c_0']
    """
    return [f"c_{i}" for i in capped(metrics)]


@dataclass(frozen=True)
class AppliedCap:
    """The cap one metric got: its rule, its value, and the units it lowered per cell and arm.

    ``value`` is ``None`` when a percentile had no values to be found from;
    ``units_capped`` holds ``(segment, stage, variant, units)``.

    Example:
        >>> cells = (("all", "buy", "a", 3), ("all", "buy", "b", 2))
        >>> c = AppliedCap("rev", 512.5, 0.99, False, cells)
        >>> c.by_arm()
        {'a': 3, 'b': 2}
    """

    metric: str
    value: float | None
    percentile: float | None
    ignore_zeros: bool
    units_capped: tuple[tuple[str, str, str, int], ...] = ()

    def by_arm(self) -> dict[str, int]:
        """Units capped per arm (variant key), summed over cells.

        Example:
            >>> cells = (("s", "t", "a", 1), ("s2", "t", "a", 2))
            >>> AppliedCap("m", 1.0, None, False, cells).by_arm()
            {'a': 3}
        """
        out: dict[str, int] = {}
        for _, _, variant, n in self.units_capped:
            out[variant] = out.get(variant, 0) + n
        return out


def applied_caps(wide: pd.DataFrame, metrics: Sequence[MetricSpec]) -> tuple[AppliedCap, ...]:
    """The :class:`AppliedCap` of each capped metric from a wide result with ``k_i``, ``c_i``.

    ``wide`` has segment, stage and variant (arm keys) columns; rows of other
    breakdowns add up; with grouping sets only the plain rows (``breakdown`` 0) count.

    Example:
        >>> import pandas as pd
        >>> wide = pd.DataFrame({"segment": "all", "stage": "s", "variant": ["a", "b"],
        ...     "k_0": [2, 1], "c_0": [9.5, 9.5]})
        >>> m = MetricSpec("rev", "continuous", "v", cap=CapSpec(percentile=0.9))
        >>> applied_caps(wide, [m])[0].by_arm(), applied_caps(wide, [m])[0].value
        ({'a': 2, 'b': 1}, 9.5)
    """
    if "breakdown" in wide.columns:
        wide = wide[wide["breakdown"] == 0]
    out = []
    for i in capped(metrics):
        m = metrics[i]
        cap = m.cap
        assert cap is not None
        if len(wide):
            keys = ["segment", "stage", "variant"]
            grouped = wide.groupby(keys, sort=True, as_index=False)[f"k_{i}"].sum()
            touched = tuple(
                (str(a), str(b), str(c), int(n)) for a, b, c, n in grouped.itertuples(index=False)
            )
            found = wide[f"c_{i}"].dropna()
            value = float(found.max()) if len(found) else None
        else:
            touched, value = (), None
        if cap.value is not None:
            value = float(cap.value)
        out.append(AppliedCap(m.key, value, cap.percentile, cap.ignore_zeros, touched))
    return tuple(out)


def cap_spec(metric: Metric, experiment: Experiment) -> CapSpec | None:
    """The :class:`CapSpec` of a metric's ``cap`` (``None`` without one).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1, "value": "A"}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "continuous", "column": "y",
        ...                             "cap": {"percentile": 0.99}}}})
        >>> cap_spec(exp.metrics.primary, exp)
        CapSpec(value=None, percentile=0.99, ignore_zeros=False, arms=('A', 'a'))
    """
    if metric.cap is None:
        return None
    arms = tuple(sorted(experiment_arm_keys(experiment)))
    c = metric.cap
    return CapSpec(c.value, c.percentile, c.ignore_zeros, arms)
