"""The fast path's per-unit values: event filters, retention windows and maturity.

Each partition of :mod:`segab.sums._fast.partition` groups its events per (unit,
cell) key and then per cell; :func:`metric_values` writes those aggregates for
every metric, as the generic statements (:mod:`segab.sums.statements`) do:

- an **event filter** reads the staged flag ``w_i`` (the one condition compiler's
  ``CASE``, computed once when the events are staged: :func:`flag_names`);
- a **retention window** ``[start, end)`` reads the event time ``e.t`` against the
  matched cell's first exposure ``t0``, with the same floating-point sums
  (``t0 + start``) as the generic statements; its per-cell sums weight each unit
  by its maturity flag ``m`` (``t0 + end <= T``, ``T`` the analysis time of
  :func:`horizon`), and the mature units of a cell are counted on the exposure
  side (:func:`mature_counts`), so that cells without events count too;
- with a retention window wider than the attribution window, the join reads the
  widest window and the other metrics keep their own (``e.t < t0 + window``).

A capped metric's per-cell sums are left out here: :mod:`segab.sums._fast.capping`
computes them once the cap is known.

Example:
    >>> from segab.sums.specs import EventLogSpec, MetricSpec, Params
    >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "buy"),))
    >>> metric_values(spec, {"buy": 0}, Params("duckdb")).sums
    ['SUM(y_0) AS s_0, SUM(y_0 * y_0) AS q_0']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segab.sums._fast.capping import CapStage
from segab.sums._fast.pre_exposure import pre_value, z_sums
from segab.sums.covariates import covariate_events
from segab.sums.event_metrics import join_window
from segab.sums.expressions import with_ctes
from segab.sums.sources import SqlRunner
from segab.sums.specs import EventLogSpec, Params

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MetricValues",
    "PartSums",
    "flag_names",
    "horizon",
    "mature_counts",
    "metric_values",
    "needs_times",
    "unit_outcomes",
]


@dataclass(frozen=True)
class MetricValues:
    """Per-unit aggregates (``expr AS y_j``), per-cell sums, each capped metric's
    columns ``i -> (y, d, m)`` (numerator, denominator or ``None``, maturity or ``None``)
    a capped metric's covariate columns ``i -> (z, ...)`` (its ``zy`` sums need the cap)
    and the covariate column of each covariate event code (``pre``).

    Example:
        >>> MetricValues(["MAX(1) AS y_0"], []).capped
        {}
    """

    aggregates: list[str]
    sums: list[str]
    capped: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)
    covariates: dict[int, tuple[str, ...]] = field(default_factory=dict)
    pre: dict[int, str] = field(default_factory=dict)


def flag_names(spec: EventLogSpec) -> list[str]:
    """The staged filter flags ``w_i``, one per metric with an event filter.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> flag_names(EventLogSpec("e", 1, "u", "u",
        ...     metrics=(MetricSpec("r", "continuous", "rev", where_sql="1 = 1"),)))
        ['w_0']
    """
    return [f"w_{i}" for i, m in enumerate(spec.metrics) if m.where_sql is not None]


def _own_window(spec: EventLogSpec) -> float | None:
    """The attribution window the unwindowed metrics keep when a retention window
    reaches further (``None``: the join's window is theirs)."""
    if spec.window_seconds is not None and join_window(spec) != spec.window_seconds:
        return float(spec.window_seconds)
    return None


def needs_times(spec: EventLogSpec) -> bool:
    """Whether the per-unit values read event times against the cell's ``t0``.

    Example:
        >>> needs_times(EventLogSpec("e", 1, "u", "u"))
        False
    """
    return _own_window(spec) is not None or any(m.window for m in spec.metrics)


def _binder(p: Params) -> Callable[[float | None], str]:
    """``num(value)``: ``value`` bound once in ``p`` as a DOUBLE parameter (each value once)."""
    bound: dict[float | None, str] = {}

    def num(value: float | None) -> str:
        if value not in bound:
            bound[value] = f"CAST({p(value)} AS DOUBLE)"
        return bound[value]

    return num


def _condition(
    spec: EventLogSpec,
    i: int,
    ev_code: dict[str, int],
    num: Callable[[float | None], str],
    t0: str,
) -> str:
    """The condition of an event (``e``) counting in metric ``i``'s per-unit value, ``t0``
    the first exposure of the cell it joins: its event, filter flag, and its retention
    window or the attribution window (when the join reads a wider one)."""
    m = spec.metrics[i]
    cond = f"e.k = {ev_code[m.source]}"
    if m.where_sql is not None:
        cond += f" AND e.w_{i} = 1"
    if m.window is not None:
        start, end = num(m.window[0]), num(m.window[1])
        cond += f" AND e.t >= {t0} + {start} AND e.t < {t0} + {end}"
    else:
        own = _own_window(spec)
        if own is not None:
            cond += f" AND e.t < {t0} + {num(own)}"
    return cond


def metric_values(
    spec: EventLogSpec,
    ev_code: dict[str, int],
    p: Params,
    t0: str = "e.t0",
    hz: float | None = None,
) -> MetricValues:
    """Per-unit value aggregates (each distinct one once) and the per-cell sums over them.

    The aggregates read the event code ``e.k``, value ``e.value``, time ``e.t`` and
    flags ``e.w_i``; ``t0`` is the matched cell's first exposure, ``hz`` the
    analysis time (retention windows). A capped metric gets no ``s/q/x`` sums.
    A metric with covariates gets their sums too (:func:`~segab.sums._fast.pre_exposure.z_sums`):
    each covariate is the per-unit sum of its event's values on the pre-exposure
    rows (``e.pk``, the event code of such a row, :mod:`segab.sums._fast.pre_exposure`).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u", window_seconds=60.0,
        ...     metrics=(MetricSpec("d", "binary", "buy", window=(0.0, 120.0)),))
        >>> v = metric_values(spec, {"buy": 0}, Params("duckdb"), hz=500.0)
        >>> v.sums
        ['SUM(y_0 * y_1) AS s_0, SUM(y_0 * y_0 * y_1) AS q_0']
    """
    exprs: dict[str, str] = {}
    num = _binder(p)

    def alias(expr: str) -> str:
        return exprs.setdefault(expr, f"y_{len(exprs)}")

    own = _own_window(spec)
    own_sql = f" AND e.t < {t0} + {num(own)}" if own is not None else ""
    sums: list[str] = []
    capped: dict[int, tuple[str, str | None, str | None]] = {}
    zs = {n: alias(pre_value(ev_code[n])) for n in covariate_events(spec.metrics)}
    covs: dict[int, tuple[str, ...]] = {}
    for i, m in enumerate(spec.metrics):
        cond = _condition(spec, i, ev_code, num, t0)
        if m.kind == "binary":
            y = alias(f"MAX(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END)")
        else:
            y = alias(f"COALESCE(SUM(CASE WHEN {cond} THEN e.value END), 0.0)")
        mature = None
        if m.window is not None:
            when = f"{t0} + {num(m.window[1])} <= {num(hz)}"
            mature = alias(f"MAX(CASE WHEN {when} THEN 1.0 ELSE 0.0 END)")
        d = None
        if m.den is not None:
            d = alias(
                f"COALESCE(SUM(CASE WHEN e.k = {ev_code[m.den]}{own_sql} THEN e.value END), 0.0)"
            )
        if m.cap is not None:
            capped[i] = (y, d, mature)
        elif mature is not None:
            sums.append(f"SUM({y} * {mature}) AS s_{i}, SUM({y} * {y} * {mature}) AS q_{i}")
        else:
            sums.append(f"SUM({y}) AS s_{i}, SUM({y} * {y}) AS q_{i}")
        if d is not None:
            cross = "" if m.cap is not None else f", SUM({y} * {d}) AS x_{i}"
            sums.append(f"SUM({d}) AS ds_{i}, SUM({d} * {d}) AS dq_{i}{cross}")
        if m.covariates:
            z = tuple(zs[c] for c in m.covariates)
            sums += z_sums(i, z, None if m.cap is not None else y)
            if m.cap is not None:
                covs[i] = z
    values = [f"{expr} AS {name}" for expr, name in exprs.items()]
    pre = {ev_code[n]: z for n, z in zs.items()}
    return MetricValues(values, sums, capped, covs, pre)


def unit_outcomes(
    spec: EventLogSpec,
    ev_code: dict[str, int],
    p: Params,
    n_stages: int,
    join: Callable[[int], str],
) -> tuple[list[str], dict[int, int]]:
    """Each uncapped adjusted metric's per-unit value at every stage, from one row per unit.

    The columns ``o{c}_{j}`` aggregate a unit's events (``e``, joined to its row ``k``
    of ``segab_uj``): the value metric ``i`` gives the unit's (unit, cell) row at stage
    ``c`` (:func:`metric_values`, ``t0`` the stage's first exposure ``k.t{c}``), an event
    counting when ``join(c)`` (the join's window condition at that stage) holds. An
    event joins every stage whose window holds it, as a unit with overlapping windows
    does; without overlap at most one window holds it, so this is its one match. Returns
    the columns and, per metric, its ``j`` (metrics with the same value share one).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> m = MetricSpec("r", "continuous", "rev", covariates=("rev",))
        >>> cols, names = unit_outcomes(EventLogSpec("e", 1, "u", "u", metrics=(m,)),
        ...     {"rev": 0}, Params("duckdb"), 1, lambda c: f"e.t >= k.t{c}")
        >>> cols, names
        (['COALESCE(SUM(e.value) FILTER (WHERE e.t >= k.t0 AND e.k = 0), 0.0) AS o0_0'], {0: 0})
    """
    num = _binder(p)
    found: dict[str, int] = {}
    cols: list[str] = []
    names: dict[int, int] = {}
    for i, m in enumerate(spec.metrics):
        if not m.covariates or m.cap is not None:
            continue
        agg = "MAX(1.0)" if m.kind == "binary" else "SUM(e.value)"
        exprs = [
            f"COALESCE({agg} FILTER (WHERE {join(c)} AND "
            f"{_condition(spec, i, ev_code, num, f'k.t{c}')}), 0.0)"
            for c in range(n_stages)
        ]
        if exprs[0] not in found:
            found[exprs[0]] = len(found)
            cols += [f"{e} AS o{c}_{found[exprs[0]]}" for c, e in enumerate(exprs)]
        names[i] = found[exprs[0]]
    return cols, names


def mature_counts(spec: EventLogSpec, t0: str, p: Params, hz: float | None) -> str:
    """``, COUNT(*) FILTER (..) AS n_i``: a windowed metric's mature cells (first exposure
    ``t0``), for the exposure side's cell counts.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u",
        ...     metrics=(MetricSpec("d", "binary", "s", window=(0.0, 60.0)),))
        >>> mature_counts(spec, "t0", Params("duckdb"), 99.0)
        ', COUNT(*) FILTER (WHERE t0 + CAST($p0 AS DOUBLE) <= CAST($p1 AS DOUBLE)) AS n_0'
    """
    out = []
    for i, m in enumerate(spec.metrics):
        if m.window is not None:
            end, when = f"CAST({p(m.window[1])} AS DOUBLE)", f"CAST({p(hz)} AS DOUBLE)"
            out.append(f", COUNT(*) FILTER (WHERE {t0} + {end} <= {when}) AS n_{i}")
    return "".join(out)


def horizon(
    eng: SqlRunner | None,
    spec: EventLogSpec,
    staged: str | None,
    parts: int,
    inputs: list[tuple[str, dict[str, Any]]],
) -> float | None:
    """The analysis time ``T`` of the retention windows, as the generic ``hz`` CTE has it.

    ``now`` when given; else the latest time of a valid exposure or a usable event:
    from the staged partitions' ``t`` columns (``staged``), else from ``inputs``
    (statements and their parameters; column ``t``). ``None`` without a window or data.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> d7 = MetricSpec("d7", "binary", "s", window=(604800.0, 691200.0))
        >>> horizon(None, EventLogSpec("e", 1, "u", "u", now_epoch=5.0, metrics=(d7,)), None, 1, [])
        5.0
    """
    if not any(m.window for m in spec.metrics):
        return None
    if spec.now_epoch is not None:
        return float(spec.now_epoch)
    if staged is not None:
        inputs = []
        for name in ("x", "e"):
            files = [
                f"'{staged}/{name}/part={i}/*.parquet'"
                for i in range(parts)
                if os.path.isdir(f"{staged}/{name}/part={i}")
            ]
            if files:
                inputs.append((f"SELECT t FROM read_parquet([{', '.join(files)}])", {}))
    found = []
    for sql, params in inputs:
        assert eng is not None
        _, rows = eng.rows(f"SELECT MAX(t) AS t FROM ({sql}) hz0", params)
        if rows and rows[0][0] is not None:
            found.append(float(rows[0][0]))
    return max(found) if found else None


class PartSums:
    """What a partition's sums need besides its rows: the values' SQL, the analysis time
    ``hz`` and the caps (:class:`~segab.sums._fast.capping.CapStage`).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "buy"),))
        >>> ps = PartSums(spec, {"buy": 0}, CapStage(spec, {}, []))
        >>> ps.flags, ps.times
        ([], False)
    """

    def __init__(
        self,
        spec: EventLogSpec,
        ev_code: dict[str, int],
        caps: CapStage,
        hz: float | None = None,
    ) -> None:
        self.spec, self.ev_code, self.caps, self.hz = spec, ev_code, caps, hz
        self.flags = flag_names(spec)
        self.times = needs_times(spec)

    def values(self, p: Params, t0: str) -> MetricValues:
        """:func:`metric_values` of this run (``t0``: the matched cell's first exposure)."""
        return metric_values(self.spec, self.ev_code, p, t0, self.hz)

    def mature(self, t0: str, p: Params) -> str:
        """:func:`mature_counts` of this run."""
        return mature_counts(self.spec, t0, p, self.hz)

    def run(
        self,
        eng: SqlRunner,
        ctes: Sequence[tuple[str, str]],
        params: dict[str, Any],
        final: Callable[[str], str],
        cell: tuple[str, str, str],
        matched: str,
        columns: dict[int, tuple[str, str | None, str | None]],
        covariates: dict[int, tuple[str, ...]] | None = None,
    ) -> pd.DataFrame:
        """The per-cell sums ``final(source)`` over the CTE ``uv`` (the last of ``ctes``).

        With capped metrics (``columns``) ``uv`` becomes the temporary table
        ``segab_uv``, read by the sums and by
        :meth:`~segab.sums._fast.capping.CapStage.collect` (cell codes ``cell``,
        rows ``matched``; ``covariates``: a capped metric's covariate columns); else one
        statement.
        """
        if not columns:
            return eng.query(with_ctes(ctes) + "\n" + final("uv"), params)
        eng.execute(
            "CREATE OR REPLACE TEMP TABLE segab_uv AS\n" + with_ctes(ctes) + "\nSELECT * FROM uv",
            params,
        )
        try:
            out = eng.query(final("segab_uv"), {})
            self.caps.collect(eng, "segab_uv", cell, matched, columns, covariates or {})
        finally:
            eng.execute("DROP TABLE IF EXISTS segab_uv", {})
        return out
