"""Event filters and retention windows of event-log metrics, as SQL pieces.

The generic statements (:mod:`segab.sums.statements`) read them (DuckDB's fast path
its own spellings of the same rules: :mod:`segab.sums._fast.values`):

- an **event filter** (``where`` of a metric) is compiled by the one condition
  compiler (:func:`segab.sql.conditions.compile_condition_sql`) over the events
  table's columns (:func:`compile_event_filters`); each filtered metric ``i`` gets a
  flag column ``w_i`` in ``ev_raw``, and only the rows a metric reads are read;
- a **retention window** ``[start, end)`` after the first exposure counts a unit only
  once ``t0 + end <= hz.t`` (``hz``: the analysis time, :func:`horizon_cte`):
  its sums are over mature units (``n_i``), the others counted as immature.

Example:
    >>> from segab.sums.specs import MetricSpec
    >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("d7", "binary", "s",
    ...     window=(604800.0, 691200.0)),))
    >>> windowed(spec), "SUM(m_0) AS n_0" in windowed_sums(spec)
    (True, True)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from segab.conditions import condition_fields
from segab.sql.conditions import ColumnKind, column_kind
from segab.sql.dialects import Dialect
from segab.sums.expressions import row_condition_sql, sum_columns
from segab.sums.specs import EventLogSpec, MetricSpec, Params

if TYPE_CHECKING:
    import pandas as pd

    from segab.config.models import Experiment
    from segab.sums.sources import Relation

__all__ = [
    "compile_event_filters",
    "filter_columns",
    "filter_flags",
    "flag_columns",
    "horizon_cte",
    "join_window",
    "maturity_blocks",
    "read_condition",
    "windowed",
    "windowed_sums",
]


def filter_flags(spec: EventLogSpec) -> list[str]:
    """The flag column of each metric with an event filter: ``w_i`` (1: the row matches).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> filter_flags(EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "b"),
        ...     MetricSpec("r", "continuous", "rev", where_sql="1 = 1"))))
        ['w_1']
    """
    return [f"w_{i}" for i, m in enumerate(spec.metrics) if m.where_sql is not None]


def flag_columns(spec: EventLogSpec) -> str:
    """The ``w_i`` columns computed on the events table's rows (``, CASE ... AS w_i``).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> flag_columns(EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("r", "continuous",
        ...     "rev", where_sql='"c" = 1'),)))
        ', CASE WHEN "c" = 1 THEN 1 ELSE 0 END AS w_0'
    """
    return "".join(
        f", CASE WHEN {m.where_sql} THEN 1 ELSE 0 END AS w_{i}"
        for i, m in enumerate(spec.metrics)
        if m.where_sql is not None
    )


def read_condition(spec: EventLogSpec, p: Params, event: str, names: str) -> str:
    """The event rows a metric reads: by name, and for a filtered metric's event, by filter.

    ``event`` is the event-name expression, ``names`` the bound names of every event read.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("r", "continuous",
        ...     "rev", where_sql='"c" = 1'),))
        >>> read_condition(spec, Params("sqlite"), "event", ":p9")
        '((event = :p0 AND "c" = 1))'
    """
    if not any(m.where_sql is not None for m in spec.metrics):
        return f"{event} IN ({names})"
    plain = [m.source for m in spec.metrics if m.where_sql is None]
    plain += [m.den for m in spec.metrics if m.den is not None]
    plain += [c for m in spec.metrics for c in m.covariates]  # pre-exposure covariates
    parts = [f"{event} IN ({', '.join(p(n) for n in dict.fromkeys(plain))})"] if plain else []
    parts += [
        f"({event} = {p(m.source)} AND {m.where_sql})"
        for m in spec.metrics
        if m.where_sql is not None
    ]
    return "(" + " OR ".join(parts) + ")"


def windowed(spec: EventLogSpec) -> bool:
    """Whether a metric has a retention window (then units count once it has passed).

    Example:
        >>> windowed(EventLogSpec("e", 1, "u", "u"))
        False
    """
    return any(m.window is not None for m in spec.metrics)


def join_window(spec: EventLogSpec) -> float | None:
    """The widest window after ``t0`` any metric reads (``None``: no upper bound).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> join_window(EventLogSpec("e", 1, "u", "u", window_seconds=60.0,
        ...     metrics=(MetricSpec("d", "binary", "s", window=(0.0, 120.0)),)))
        120.0
    """
    if spec.window_seconds is None:
        return None
    return max([spec.window_seconds, *(m.window[1] for m in spec.metrics if m.window)])


def horizon_cte(spec: EventLogSpec, p: Params) -> str:
    """``hz``: one row, ``t``: the analysis time a window must have passed (epoch seconds).

    ``now`` when given, else the latest time of a valid exposure or a usable event
    the metrics read.

    Example:
        >>> horizon_cte(EventLogSpec("e", 1, "u", "u"), Params("sqlite")).split(" FROM ")[0]
        'SELECT MAX(t) AS t'
    """
    if spec.now_epoch is not None:
        return f"SELECT CAST({p(spec.now_epoch)} AS {p.d.double_type}) AS t"
    return (
        "SELECT MAX(t) AS t FROM (SELECT MAX(t_last) AS t FROM per_cell "
        "UNION ALL SELECT MAX(t) AS t FROM ev) hz0"
    )


def windowed_sums(spec: EventLogSpec) -> str:
    """The SUM columns; a windowed metric's count only its mature units (``n_i``).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "b"),))
        >>> windowed_sums(spec).split(",", 1)[1].strip()
        'SUM(y_0) AS s_0, SUM(y_0 * y_0) AS q_0'
    """
    cols = sum_columns(spec.metrics, ratio_den=True)
    for i, m in enumerate(spec.metrics):
        if m.window is not None:
            cols = cols.replace(
                f"SUM(y_{i}) AS s_{i}, SUM(y_{i} * y_{i}) AS q_{i}",
                f"SUM(m_{i}) AS n_{i}, SUM(y_{i} * m_{i}) AS s_{i}, "
                f"SUM(y_{i} * y_{i} * m_{i}) AS q_{i}",
            )
    return cols


def filter_columns(exp: Experiment) -> list[str]:
    """The event columns the metrics' filters read (read as text from CSV files), once each.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x",
        ...                             "where": {"channel": "email"}}}})
        >>> filter_columns(exp)
        ['channel']
    """
    found: list[str] = []
    for m in exp.metrics.all():
        if m.where is not None and m.event is not None:
            found += sorted(condition_fields(m.where))
    return list(dict.fromkeys(found))


def compile_event_filters(
    exp: Experiment,
    d: Dialect,
    rel: Relation,
    specs: list[MetricSpec],
    *,
    text_file: bool,
) -> list[MetricSpec]:
    """``specs`` with each metric's ``where`` compiled over the events table's columns.

    The one condition compiler writes the SQL; no SQL text from the user reaches the
    engine. A column read as text from a CSV file (``text_file``) is typed value by value
    as segment rules type text cells (kind ``mixed``: DuckDB and Spark); other columns
    by their type. SQLite compiles no conditions: a filter there is a
    :class:`~segab.errors.DataError`, never ignored.

    Example:
        >>> from segab.config import parse_experiment
        >>> from segab.sql.dialects import get_dialect
        >>> from segab.sums.sources import Relation
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x",
        ...                             "where": {"channel": "email"}}}})
        >>> rel = Relation("e", ("id", "event", "channel"), {"channel": "VARCHAR"})
        >>> out = compile_event_filters(exp, get_dialect("postgresql"), rel,
        ...     [MetricSpec("m", "binary", "x")], text_file=False)
        >>> print(out[0].where_sql)
        "channel" = 'email'
    """
    conditions = {m.key: m.where for m in exp.metrics.all() if m.where is not None}
    if not any(s.key in conditions for s in specs):
        return specs
    wanted = set(filter_columns(exp))
    kinds: dict[str, ColumnKind] = {}
    for c in rel.columns:
        kind = column_kind(rel.types.get(c, ""))
        if kind == "string" and text_file and c in wanted and d.name in ("duckdb", "spark"):
            kind = "mixed"  # text cells, typed one by one
        if kind is not None:
            kinds[c] = kind
    out = []
    for spec in specs:
        cond = conditions.get(spec.key)
        if cond is None:
            out.append(spec)
            continue
        path = f"metrics.{spec.key}.where"
        sql = row_condition_sql(cond, path, exp, d, rel, kinds, rel.label)
        out.append(replace(spec, where_sql=sql))
    return out


def maturity_blocks(
    exp: Experiment,
    sums: pd.DataFrame,
    exposures: pd.DataFrame,
    as_of: float | None,
    now_given: bool,
) -> tuple[dict[str, Any], ...]:
    """Per retention metric: its window, the analysis time, and mature/immature units per arm.

    ``sums`` (long, per metric) count a windowed metric's mature units; ``exposures``
    every unit of a cell, so the difference is the units whose window has not passed
    at ``as_of`` (epoch seconds: ``now`` when ``now_given``, else the data's latest time).
    ``--by`` breakdowns are added up per (segment, stage, variant).

    Example:
        >>> import pandas as pd
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "d1", "kind": "binary", "event": "x",
        ...                             "window": {"start": "1d", "end": "2d"}}}})
        >>> keys = {"segment": ["all"], "stage": ["awareness"], "variant": ["a"]}
        >>> sums = pd.DataFrame({**keys, "metric": ["d1"], "n": [7]})
        >>> block = maturity_blocks(exp, sums, pd.DataFrame({**keys, "n": [10]}), 0.0, False)
        >>> block[0]["n_immature"], block[0]["as_of"], block[0]["arms"][0]["n_mature"]
        (3, '1970-01-01T00:00:00+00:00', 7)
    """
    import datetime as dt

    windows = {m.key: m.window for m in exp.metrics.all() if m.window is not None}
    if "breakdown" in sums.columns:  # several breakdowns: the plain cells' rows (each unit once)
        sums = sums[sums["breakdown"] == 0]
        exposures = exposures[exposures["breakdown"] == 0]
    keys = ["segment", "stage", "variant"]
    out = []
    exposed: dict[tuple[Any, ...], int] = {}
    if len(exposures):
        per_arm = exposures.groupby(keys, sort=False, as_index=False)["n"].sum()
        for *cell, n in per_arm[[*keys, "n"]].itertuples(index=False, name=None):
            exposed[tuple(cell)] = int(n)
    for key, window in windows.items():
        mine = sums[sums["metric"] == key]
        if not len(mine):
            continue
        mature = mine.groupby(keys, sort=False, as_index=False)["n"].sum()
        arms: list[dict[str, Any]] = []
        for seg, stage, variant, n in mature[[*keys, "n"]].itertuples(index=False, name=None):
            total = exposed.get((seg, stage, variant), int(n))
            arms.append(
                {
                    "segment": seg,
                    "stage": stage,
                    "variant": variant,
                    "n_mature": int(n),
                    "n_immature": total - int(n),
                }
            )
        when = None
        if as_of is not None and as_of == as_of:
            when = dt.datetime.fromtimestamp(as_of, dt.UTC).isoformat()
        out.append(
            {
                "metric": key,
                "window_start": window.start,
                "window_end": window.end,
                "as_of": when,
                "as_of_source": "now" if now_given else "data",
                "n_mature": sum(a["n_mature"] for a in arms),
                "n_immature": sum(a["n_immature"] for a in arms),
                "arms": arms,
            }
        )
    return tuple(out)
