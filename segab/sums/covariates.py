"""Regression-adjusted metrics: the covariate sums each engine computes, as SQL pieces.

A metric with ``covariates`` (:class:`~segab.sums.specs.MetricSpec`) gets, per
cell and variant, beside its ``n_i, s_i, q_i``:

- ``zs_i_j = Σx_j``, ``zy_i_j = Σx_j·y`` for each covariate ``j``;
- ``zz_i_j_l = Σx_j·x_l`` for ``j ≤ l`` (:func:`segab.stats.regression.pair_index`),

the ``X'X`` and ``X'y`` of the regression (:mod:`segab.stats.regression`). The
per-unit covariate values are ``z_i_j`` (CTE of the unit table's values); a unit
whose outcome or any covariate is NULL is left out of the metric (``n_i``), so
every sum is over the same units. Everything is a SUM, so the sums pool by
addition and breakdowns' grouping sets add them like the others.

In the long sums (:func:`~segab.sums.result.long_sums`) the columns are
``x_sum_j``, ``xy_sum_j`` and ``xx_sum_j_l`` (missing for metrics without covariates).

Example:
    >>> m = MetricSpec("rev", "continuous", "rev", covariates=("pre", "age"))
    >>> [c.split(" AS ")[1] for c in covariate_values([m], {"rev": 0, "pre": 1, "age": 2})]
    ['y_0', 'z_0_0', 'z_0_1']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from segab.sums.specs import MetricSpec, Params

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "adjusted",
    "covariate_columns",
    "covariate_events",
    "covariate_sums",
    "covariate_values",
    "long_columns",
    "long_covariates",
    "pre_exposure_ctes",
]


def _pairs(k: int) -> list[tuple[int, int]]:
    return [(j, m) for j in range(k) for m in range(j, k)]


def adjusted(metrics: Sequence[MetricSpec]) -> list[int]:
    """The indexes of the metrics with covariates.

    Example:
        >>> b = MetricSpec("b", "binary", "b", covariates=("x",))
        >>> adjusted([MetricSpec("a", "binary", "a"), b])
        [1]
    """
    return [i for i, m in enumerate(metrics) if m.covariates]


def covariate_values(metrics: Sequence[MetricSpec], index: Mapping[str, int]) -> list[str]:
    """The per-unit ``y_i`` and ``z_i_j`` of each metric with covariates (unit tables).

    ``index`` maps a column to its value column ``x_<index>`` in the unit rows.

    Example:
        >>> m = MetricSpec("y", "continuous", "y", covariates=("x",))
        >>> covariate_values([m], {"y": 0, "x": 1})[1]
        'CASE WHEN x_0 IS NOT NULL AND x_1 IS NOT NULL THEN x_1 END AS z_0_0'
    """
    out = []
    for i in adjusted(metrics):
        m = metrics[i]
        cols = [f"x_{index[m.source]}", *(f"x_{index[c]}" for c in m.covariates)]
        every = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        out.append(f"CASE WHEN {every} THEN {cols[0]} END AS y_{i}")
        out += [f"CASE WHEN {every} THEN {c} END AS z_{i}_{j}" for j, c in enumerate(cols[1:])]
    return out


def covariate_columns(metrics: Sequence[MetricSpec]) -> list[str]:
    """The ``z_i_j`` columns a later CTE must carry (the caps' ``uvc``).

    Example:
        >>> covariate_columns([MetricSpec("y", "continuous", "y", covariates=("a", "b"))])
        ['z_0_0', 'z_0_1']
    """
    return [f"z_{i}_{j}" for i in adjusted(metrics) for j in range(len(metrics[i].covariates))]


def covariate_sums(metrics: Sequence[MetricSpec]) -> str:
    """The SUM columns of the covariates (``, SUM(...) AS zs_i_j, ...``).

    Example:
        >>> sql = covariate_sums([MetricSpec("y", "continuous", "y", covariates=("a",))])
        >>> [c.strip() for c in sql.split(",")][2:]
        ['SUM(z_0_0 * y_0) AS zy_0_0', 'SUM(z_0_0 * z_0_0) AS zz_0_0_0']
    """
    cols = []
    for i in adjusted(metrics):
        k = len(metrics[i].covariates)
        cols += [f"SUM(z_{i}_{j}) AS zs_{i}_{j}" for j in range(k)]
        cols += [f"SUM(z_{i}_{j} * y_{i}) AS zy_{i}_{j}" for j in range(k)]
        cols += [f"SUM(z_{i}_{j} * z_{i}_{m}) AS zz_{i}_{j}_{m}" for j, m in _pairs(k)]
    return "".join(",\n  " + c for c in cols) if cols else ""


def long_columns(metrics: Sequence[MetricSpec]) -> list[str]:
    """The covariate columns of the long sums, for the most covariates any metric has.

    Example:
        >>> long_columns([MetricSpec("y", "continuous", "y", covariates=("a", "b"))])
        ['x_sum_0', 'x_sum_1', 'xy_sum_0', 'xy_sum_1', 'xx_sum_0_0', 'xx_sum_0_1', 'xx_sum_1_1']
    """
    k = max((len(m.covariates) for m in metrics), default=0)
    if k == 0:
        return []
    return [
        *(f"x_sum_{j}" for j in range(k)),
        *(f"xy_sum_{j}" for j in range(k)),
        *(f"xx_sum_{j}_{m}" for j, m in _pairs(k)),
    ]


def long_covariates(
    part: pd.DataFrame, wide: pd.DataFrame, i: int, metrics: Sequence[MetricSpec]
) -> pd.DataFrame:
    """``part`` (metric ``i``'s long rows) with its covariate sums (NaN beyond its own).

    Example:
        >>> import pandas as pd
        >>> m = MetricSpec("y", "continuous", "y", covariates=("a",))
        >>> wide = pd.DataFrame({"zs_0_0": [2.0], "zy_0_0": [3.0], "zz_0_0_0": [4.0]})
        >>> long_covariates(pd.DataFrame({"n": [2]}), wide, 0, [m])["xx_sum_0_0"].tolist()
        [4.0]
    """
    names = long_columns(metrics)
    if not names:
        return part
    k = len(metrics[i].covariates)
    values = {}
    for j in range(k):
        values[f"x_sum_{j}"] = f"zs_{i}_{j}"
        values[f"xy_sum_{j}"] = f"zy_{i}_{j}"
    for j, m in _pairs(k):
        values[f"xx_sum_{j}_{m}"] = f"zz_{i}_{j}_{m}"
    for name in names:
        if name in values:
            part[name] = wide[values[name]].astype("float64").fillna(0.0).to_numpy()
        else:
            part[name] = float("nan")
    return part


def covariate_events(metrics: Sequence[MetricSpec]) -> list[str]:
    """The events whose pre-exposure sums are covariates (event logs), once each.

    Example:
        >>> covariate_events([MetricSpec("y", "continuous", "buy", covariates=("buy", "visit"))])
        ['buy', 'visit']
    """
    return list(dict.fromkeys(c for m in metrics for c in m.covariates))


def pre_exposure_ctes(metrics: Sequence[MetricSpec], p: Params, uv: str) -> list[tuple[str, str]]:
    """``pre`` (per unit and cell: each covariate event's value sum before ``t0``) and
    ``uvz`` (``uv`` with the ``z_i_j`` of every metric, 0 without such events).

    Event logs: a covariate names an event, and its value for a unit is the sum of
    that event's values (NULLs as 0) strictly before the unit's first exposure in the
    cell, all of its history (the events table's ``ev`` rows, read for these names).

    Example:
        >>> from segab.sums.specs import Params
        >>> m = MetricSpec("y", "continuous", "buy", covariates=("buy",))
        >>> [name for name, _ in pre_exposure_ctes([m], Params("duckdb"), "uv")]
        ['pre', 'uvz']
    """
    names = covariate_events(metrics)
    zero = f"CAST(0 AS {p.d.double_type})"
    sums = ", ".join(
        f"SUM(CASE WHEN e.event = {p(n)} THEN e.value END) AS zp_{k}" for k, n in enumerate(names)
    )
    pre = (
        f"SELECT c.segment, c.stage, c.u, {sums}\n"
        "FROM cells c JOIN ev e ON e.u = c.u AND e.t < c.t0\n"
        "GROUP BY c.segment, c.stage, c.u"
    )
    index = {n: k for k, n in enumerate(names)}
    zs = ", ".join(
        f"COALESCE(pr.zp_{index[c]}, {zero}) AS z_{i}_{j}"
        for i in adjusted(metrics)
        for j, c in enumerate(metrics[i].covariates)
    )
    uvz = (
        f"SELECT {uv}.*, {zs} FROM {uv} LEFT JOIN pre pr ON pr.u = {uv}.u "
        f"AND pr.segment = {uv}.segment AND pr.stage = {uv}.stage"
    )
    return [("pre", pre), ("uvz", uvz)]
