"""What an aggregation reads: column names, metrics and settings, as small value objects.

- :class:`EventLogColumns` and :class:`UnitColumns`: the input column names a user
  may map (one value object each, instead of one keyword argument per column);
- :class:`MetricSpec`, :class:`EventLogSpec`, :class:`UnitSpec`: what the SQL
  builders of :mod:`segab.sums.statements` and the fast path read;
- :class:`Params`: the bound parameters of one statement, in its dialect.

Example:
    >>> EventLogColumns(value="amount").value, UnitColumns().variant
    ('amount', 'variant')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segab.sql.dialects import Dialect, get_dialect

__all__ = [
    "Attributes",
    "CapSpec",
    "EventLogColumns",
    "EventLogQueries",
    "EventLogSpec",
    "MetricSpec",
    "Params",
    "RowPrep",
    "UnitColumns",
    "UnitSpec",
]


@dataclass(frozen=True)
class EventLogColumns:
    """Column names of an event log (exposures and events tables).

    ``unit`` and ``exposure_unit`` default (``None``) to the config's ``unit``, else
    ``unit_id``, else ``unit``; ``exposure_timestamp`` falls back to ``first_seen``
    on the store's exposures table.

    Example:
        >>> EventLogColumns(unit="user").event
        'event'
    """

    unit: str | None = None
    event: str = "event"
    value: str = "value"
    timestamp: str = "timestamp"
    exposure_unit: str | None = None
    exposure_timestamp: str = "timestamp"


@dataclass(frozen=True)
class UnitColumns:
    """Column names of a one-row-per-unit table.

    ``segment`` and ``stage`` default (``None``) to columns of those names when the
    table has them and no other role (arm, breakdown, outcome) uses them; without a
    segment column the config's conditions decide.

    Example:
        >>> UnitColumns(variant="arm").segment is None
        True
    """

    variant: str = "variant"
    segment: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class CapSpec:
    """A metric's cap as the statements read it (:mod:`segab.sums.caps`).

    ``value`` (absolute) or ``percentile`` (of the per-unit values, zeros left out
    with ``ignore_zeros``) over the rows whose arm label is in ``arms`` (the
    config's labels and keys).

    Example:
        >>> CapSpec(percentile=0.99, arms=("a", "b")).value is None
        True
    """

    value: float | None = None
    percentile: float | None = None
    ignore_zeros: bool = False
    arms: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    """What one metric reads: its kind, numerator source and denominator source.

    ``source`` is an event name (event log) or a column (unit table); ``den`` the
    denominator event or column of a ratio, ``None`` otherwise (ROI costs are
    applied after the query). Event logs only: ``where_sql`` is the metric's
    compiled event filter (a condition on the event rows' columns), ``window`` its
    retention window ``(start, end)`` in seconds after the first exposure.

    Example:
        >>> MetricSpec("clv", "continuous", "revenue").den is None
        True
        >>> MetricSpec("d7", "binary", "session", window=(604800.0, 691200.0)).window[1]
        691200.0
    """

    key: str
    kind: str
    source: str
    den: str | None = None
    where_sql: str | None = None
    window: tuple[float, float] | None = None
    cap: CapSpec | None = None
    quantile: float | None = None  # a quantile metric's level (segab.sums.quantiles)
    covariates: tuple[str, ...] = ()  # regression adjustment (segab.sums.covariates)


@dataclass(frozen=True)
class EventLogSpec:
    """Column names and settings of an event-log aggregation.

    ``segments`` and ``stages`` are the names the config declares (an exposure
    elsewhere is excluded and counted; empty: any name), ``variants`` too (coded
    first by the fast path). ``dims`` and ``sets``: as in :class:`UnitSpec`.

    Example:
        >>> EventLogSpec("e", 1, "unit_id", "user_id").event_col
        'event'
    """

    experiment: str
    iteration: int
    exp_unit: str
    ev_unit: str
    exp_timestamp: str = "timestamp"
    event_col: str = "event"
    value_col: str | None = "value"
    ev_timestamp: str = "timestamp"
    dims: tuple[str, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()
    stages: tuple[str, ...] = ()
    window_seconds: float | None = None
    now_epoch: float | None = None
    segments: tuple[str, ...] = ()  # the declared names (DuckDB's fast path codes them)
    variants: tuple[str, ...] = ()
    drop_duplicate_events: bool = False  # analysis.duplicate_events: drop
    sets: tuple[tuple[int, ...], ...] = ()  # several breakdowns: each one's dims (indexes)


@dataclass(frozen=True)
class Attributes:
    """An attributes table as SQL: its FROM item, its unit id (text) and the columns it adds.

    Example:
        >>> Attributes('"countries"', 'CAST("user_id" AS VARCHAR)', ("country",)).columns
        ('country',)
    """

    sql: str
    key: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class RowPrep:
    """How an input's rows are prepared before any statement reads them (:mod:`segab.sums.prepare`).

    ``key``: the unit id of a row as text (SQL); ``attributes``: the table joined on it;
    ``filter_sql``: the compiled ``analysis.filter``; ``time``: the row's time in epoch
    seconds (SQL), set for ``dedupe: first``, with ``order``: the tie-breakers.

    Example:
        >>> RowPrep(key='"id"').time is None
        True
    """

    key: str
    attributes: Attributes | None = None
    filter_sql: str | None = None
    time: str | None = None
    order: tuple[str, ...] = ()
    ranked: tuple[str, str] | None = None  # (FROM item, the temporary table of its ranked rows)


@dataclass(frozen=True)
class UnitSpec:
    """Column names of a one-row-per-unit aggregation.

    ``dims`` are the breakdown columns: crossed, or with ``sets`` (several
    breakdowns in one scan) the union of the breakdowns' columns.

    Example:
        >>> UnitSpec("arm", None, None, (), ()).variant
        'arm'
    """

    variant: str
    segment: str | None
    stage: str | None
    dims: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]
    segment_sql: str | None = None
    prep: RowPrep | None = None  # the join, filter and first exposures, if any
    sets: tuple[tuple[int, ...], ...] = ()  # several breakdowns: each one's dims (indexes)


@dataclass(frozen=True)
class EventLogQueries:
    """The three event-log statements and their bound parameters.

    ``sums``: segment, stage, variant, dim_0.., n, then per metric i ``s_i, q_i``
    (and ``ds_i, dq_i, x_i`` for ratios with a denominator event).
    ``funnel``: segment, variant, stage, next_stage, n_exposed, n_reached.
    ``quality``: one row of data-quality counters.

    Example:
        >>> EventLogQueries("", "", "", {}).params
        {}
    """

    sums: str
    funnel: str
    quality: str
    params: dict[str, Any] = field(default_factory=dict)
    prelude: list[str] = field(default_factory=list)
    quantiles: str = ""  # the quantile metrics' order statistics (segab.sums.quantiles)


class Params:
    """Bound parameters of one statement: calling it with a value returns its placeholder.

    It carries the statement's :class:`~segab.sql.dialects.Dialect` (``d``), so a
    builder that binds values also knows how to spell types and expressions.

    Example:
        >>> p = Params(get_dialect("duckdb"))
        >>> p("a"), p(2), p.values
        ('$p0', '$p1', {'p0': 'a', 'p1': 2})
    """

    def __init__(self, dialect: Dialect | str) -> None:
        self.d = get_dialect(dialect)
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return self.d.param(name)
