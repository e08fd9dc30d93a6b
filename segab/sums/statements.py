"""The SQL that turns exposures and events (or unit rows) into per-cell sums.

One builder for every engine: DuckDB, PostgreSQL, SQLite and Spark SQL. What
differs between them (quoting, types, bound parameters, timestamps, NaN, temporary
tables) is spelled by the :class:`~segab.sql.dialects.Dialect` the statement is
built for. Every value (experiment key, event names, window, stage names) is a
bound parameter. Per-unit values are computed in a CTE (``uv``) and only then
summed, in double precision, by one GROUP BY; nothing but the grouped result
leaves the engine. The specs it reads are in :mod:`segab.sums.specs`.

The event-log CTEs, in order:

- ``x_raw``: every exposure row, with its unit id as text, its time as epoch
  seconds (NULL when missing or unreadable) and flags (another
  experiment/iteration, not in the experiment, a segment or stage the config
  does not declare);
- ``x``: the valid exposure rows (and, with ``now``, not after it);
- ``per_cell``: one row per (unit, segment, stage): first exposure time, number of
  rows and of distinct variants, ``MIN`` of each ``--by`` column;
- ``cells``: the (unit, cell) pairs with exactly one variant;
- ``ev_raw`` / ``ev``: the event rows whose name a metric uses, with ``bad`` (1: a
  value a metric sums that is not a finite number, 2: a missing or unreadable
  time) / those with a valid id and ``bad = 0`` (once each when duplicate events
  are dropped);
- ``uv``: one row per (unit, cell) with each metric's per-unit value, from the
  events in ``[t0, t0 + window)`` (and ``<= now``); a metric's event filter reads
  the row's flag ``w_i`` (computed in ``ev_raw`` by the one condition compiler); a
  retention metric reads ``[t0 + start, t0 + end)`` and flags ``m_i`` = 1 when
  ``t0 + end <= hz.t`` (``hz``: the analysis time), so its sums count only mature units.

The sums group ``uv`` by cell and variant and the ``--by`` columns (crossed), or,
with several breakdowns (``spec.sets``), by one grouping set per breakdown plus
the plain cells, in the same statement (:func:`~segab.sums.expressions.grouped_select`).

Example:
    >>> from segab.sums.specs import MetricSpec
    >>> x = Relation("x", ("u", "segment", "stage", "variant", "timestamp"), {})
    >>> e = Relation("e", ("u", "event", "value", "timestamp"), {})
    >>> q = event_log_queries("sqlite", x, e, EventLogSpec("exp", 1, "u", "u",
    ...     metrics=(MetricSpec("conv", "binary", "buy"),)))
    >>> "GROUP BY segment, stage, variant" in q.sums
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from segab.sql.dialects import Dialect
from segab.sums.caps import cap_columns, cap_ctes, cap_keys, capped
from segab.sums.covariates import adjusted, covariate_columns, covariate_sums, pre_exposure_ctes
from segab.sums.event_metrics import (
    filter_flags,
    flag_columns,
    horizon_cte,
    join_window,
    read_condition,
    windowed,
    windowed_sums,
)
from segab.sums.expressions import (
    dim,
    epoch_col,
    grouped_select,
    number_col,
    one,
    text_col,
    truthy,
    unit_col,
    unusable,
    valid_unit,
    value_present,
    with_ctes,
    zero,
)
from segab.sums.quantiles import quantile_dims, quantile_positions, quantile_statement
from segab.sums.sources import Relation
from segab.sums.specs import EventLogQueries, EventLogSpec, Params

__all__ = [
    "duplicate_events_sql",
    "event_ctes",
    "event_log_queries",
    "event_names",
    "exposure_ctes",
    "value_event_names",
    "window_condition",
]


def exposure_ctes(
    rel: Relation, spec: EventLogSpec, p: Params, carry: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The exposure CTEs ``x_raw``, ``x``, ``per_cell`` and ``cells`` (see the module doc).

    ``x_raw.undeclared`` is 1 for a segment and 2 for a stage the config does not
    declare (``spec.segments``, ``spec.stages``; an empty tuple declares anything).
    ``carry``: more ``(expression, alias)`` columns of ``x_raw`` (where a row is).

    Example:
        >>> x = Relation("x", ("u", "segment", "stage", "variant", "timestamp"), {})
        >>> spec = EventLogSpec("e", 1, "u", "u")
        >>> [n for n, _ in exposure_ctes(x, spec, Params("duckdb"))]
        ['x_raw', 'x', 'per_cell', 'cells']
    """
    d = p.d
    u = unit_col(d, rel, spec.exp_unit)
    t = epoch_col(d, rel, spec.exp_timestamp)
    other = []
    if rel.has("experiment"):
        other.append(f"{text_col(d, 'experiment')} <> {p(spec.experiment)}")
        other.append(f"{d.quote('experiment')} IS NULL")
    if rel.has("iteration"):  # read per value: an unreadable iteration is not this one
        iteration = number_col(d, rel, "iteration")
        other.append(f"{iteration} <> {p(spec.iteration)}")
        other.append(f"{iteration} IS NULL")
    other_sql = f"CASE WHEN {' OR '.join(other)} THEN 1 ELSE 0 END" if other else "0"
    out_parts = [f"{d.quote(c)} IS NULL" for c in ("segment", "stage", "variant")]
    if rel.has("in_experiment"):
        out_parts.append(f"NOT {truthy(d, 'in_experiment')}")
        out_parts.append(f"{d.quote('in_experiment')} IS NULL")
    dims = "".join(f", {d.quote(c)} AS {dim(i)}" for i, c in enumerate(spec.dims))
    x_raw = (
        f"SELECT {u} AS u, {text_col(d, 'segment')} AS segment, "
        f"{text_col(d, 'stage')} AS stage, {text_col(d, 'variant')} AS variant"
        f"{dims}, {t} AS t, {other_sql} AS other, "
        f"CASE WHEN {' OR '.join(out_parts)} THEN 1 ELSE 0 END AS outside, "
        f"{_undeclared(spec, p)} AS undeclared{_carried(carry)}\nFROM {rel.sql}"
    )
    later = f" AND t <= {p(spec.now_epoch)}" if spec.now_epoch is not None else ""
    dcols = "".join(f", {dim(i)}" for i in range(len(spec.dims)))
    x = (
        f"SELECT u, segment, stage, variant{dcols}, t FROM x_raw\n"
        f"WHERE other = 0 AND {valid_unit('u')} AND outside = 0 AND undeclared = 0 "
        f"AND t IS NOT NULL{later}"
    )
    dmin = "".join(f", MIN({dim(i)}) AS {dim(i)}" for i in range(len(spec.dims)))
    per_cell = (
        # one variant or several: MIN/MAX is a plain aggregate, COUNT(DISTINCT) keeps a set per
        # group (twice the time on 10M exposures)
        f"SELECT u, segment, stage, MIN(variant) AS variant, "
        f"CASE WHEN MIN(variant) = MAX(variant) THEN 1 ELSE 2 END AS n_var, "
        f"COUNT(*) AS n_rows, MIN(t) AS t0, MAX(t) AS t_last{dmin}\n"
        "FROM x GROUP BY u, segment, stage"
    )
    cells = f"SELECT u, segment, stage, variant, t0{dcols} FROM per_cell WHERE n_var = 1"
    return [("x_raw", x_raw), ("x", x), ("per_cell", per_cell), ("cells", cells)]


def _carried(carry: Sequence[tuple[str, str]]) -> str:
    return "".join(f", {expr} AS {alias}" for expr, alias in carry)


def _undeclared(spec: EventLogSpec, p: Params) -> str:
    """1: a segment the config does not declare, 2: a stage, else 0 (NULLs are ``outside``)."""
    whens = []
    for code, (col, names) in enumerate((("segment", spec.segments), ("stage", spec.stages)), 1):
        if names:
            listed = ", ".join(p(n) for n in names)
            whens.append(f"WHEN {text_col(p.d, col)} NOT IN ({listed}) THEN {code}")
    return f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"


def event_names(spec: EventLogSpec) -> list[str]:
    """The event names the metrics read, numerators then denominators, once each.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> ratio = MetricSpec("r", "ratio", "rev", "visit")
        >>> event_names(EventLogSpec("e", 1, "u", "u", metrics=(ratio,)))
        ['rev', 'visit']
    """
    names: list[str] = []
    for m in spec.metrics:
        for name in (m.source, m.den, *m.covariates):
            if name is not None and name not in names:
                names.append(name)
    return names


def value_event_names(spec: EventLogSpec) -> list[str]:
    """The events whose ``value`` a metric sums (a NULL one is a missing outcome), once each.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "buy"),
        ...     MetricSpec("r", "ratio", "rev", "visit")))
        >>> value_event_names(spec)
        ['rev', 'visit']
    """
    names = [m.source for m in spec.metrics if m.kind != "binary"]
    names += [m.den for m in spec.metrics if m.den is not None]
    names += [c for m in spec.metrics for c in m.covariates]  # pre-exposure value sums
    return list(dict.fromkeys(names))


def event_ctes(
    rel: Relation, spec: EventLogSpec, p: Params, carry: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The event CTEs ``ev_raw`` (events a metric reads, with ``bad``) and ``ev`` (usable).

    ``bad`` is 1 when the event's value is summed by a metric and is present but not
    a finite number (NaN, +-inf, an overflowing literal, text), else 2 when its time
    is missing or unreadable, else 0. ``ev`` keeps the rows with a valid unit id and
    ``bad = 0``; with ``spec.drop_duplicate_events``, each distinct row once.
    ``carry``: more ``(expression, alias)`` columns of ``ev_raw``.

    Example:
        >>> e = Relation("e", ("u", "event", "value", "timestamp"), {})
        >>> spec = EventLogSpec("e", 1, "u", "u")
        >>> [n for n, _ in event_ctes(e, spec, Params("duckdb"))]
        ['ev_raw', 'ev']
    """
    d = p.d
    u = unit_col(d, rel, spec.ev_unit)
    t = epoch_col(d, rel, spec.ev_timestamp)
    names = ", ".join(p(n) for n in event_names(spec)) or "NULL"
    event = text_col(d, spec.event_col)
    checked = value_event_names(spec)
    if spec.value_col:
        value = number_col(d, rel, spec.value_col)
        present = value_present(d, rel, spec.value_col)
        bad_value = unusable(d, "value", "vp")
    else:
        value, present, bad_value = one(d), "1 = 1", "1 = 0"
    bad = "CASE WHEN t IS NULL THEN 2 ELSE 0 END"
    if checked and spec.value_col:
        # the names are compared only for the rare unusable value (a CASE branch)
        listed = ", ".join(p(n) for n in checked)
        inner = f"CASE WHEN event IN ({listed}) THEN 1 WHEN t IS NULL THEN 2 ELSE 0 END"
        bad = f"CASE WHEN {bad_value} THEN {inner} WHEN t IS NULL THEN 2 ELSE 0 END"
    kept = "".join(f", {alias}" for _, alias in carry)
    flags = filter_flags(spec)
    wcols = "".join(f", {f}" for f in flags)
    ev_raw = (
        f"SELECT u, event, value, t, {bad} AS bad{wcols}{kept} FROM (\n"
        f"SELECT {u} AS u, {event} AS event, {value} AS value, {present} AS vp, "
        f"{t} AS t{flag_columns(spec)}{_carried(carry)}\nFROM {rel.sql}\n"
        f"WHERE {read_condition(spec, p, event, names)}) r"
    )
    usable = f"SELECT u, event, value, t{wcols} FROM ev_raw WHERE {valid_unit('u')} AND bad = 0"
    if spec.drop_duplicate_events and flags:
        # a repeat is the same unit, event, value and time: once, matching a filter if any copy does
        most = "".join(f", MAX({f}) AS {f}" for f in flags)
        usable = (
            f"SELECT u, event, value, t{most} FROM ev_raw WHERE {valid_unit('u')} AND bad = 0 "
            "GROUP BY u, event, value, t"
        )
    elif spec.drop_duplicate_events:
        usable = usable.replace("SELECT u,", "SELECT DISTINCT u,", 1)
    return [("ev_raw", ev_raw), ("ev", usable)]


def duplicate_events_sql(spec: EventLogSpec, p: Params, source: str = "ev_raw") -> str:
    """Repeats of a usable event row (same unit, event, value and time), beyond the first.

    ``source`` is ``ev_raw`` (of :func:`event_ctes`: the rows before any are
    dropped) or, when duplicates are kept, ``ev`` (the same rows, already filtered).

    Example:
        >>> sql = duplicate_events_sql(EventLogSpec("e", 1, "u", "u"), Params("duckdb"), "ev")
        >>> sql.split("FROM")[1].strip()
        '(SELECT COUNT(*) AS n'
    """
    where = f" WHERE {valid_unit('u')} AND bad = 0" if source == "ev_raw" else ""
    return (
        f"SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {source}{where} "
        "GROUP BY u, event, value, t) dup WHERE n > 1"
    )


def window_condition(spec: EventLogSpec, p: Params, e: str, c: str, t0: str = "t0") -> str:
    """The attribution condition of event alias ``e`` for cell alias ``c``.

    ``t0`` names the cell's first-exposure column. With an attribution window and
    retention windows, the widest of them bounds the join (each metric then keeps
    its own window).

    Example:
        >>> window_condition(EventLogSpec("e", 1, "u", "u"), Params("duckdb"), "e", "c")
        'e.t >= c.t0'
    """
    cond = f"{e}.t >= {c}.{t0}"
    widest = join_window(spec)  # a metric's retention window may reach further
    if widest is not None:
        cond += f" AND {e}.t < {c}.{t0} + {p(float(widest))}"
    if spec.now_epoch is not None:
        cond += f" AND {e}.t <= {p(spec.now_epoch)}"
    return cond


def _uv_cte(spec: EventLogSpec, p: Params) -> str:
    one_, zero_ = one(p.d), zero(p.d)
    dcols = "".join(f", c.{dim(i)}" for i in range(len(spec.dims)))
    values = []
    own = ""
    if spec.window_seconds is not None and join_window(spec) != spec.window_seconds:
        own = f" AND e.t < c.t0 + {p(float(spec.window_seconds))}"
    for i, m in enumerate(spec.metrics):
        ev = f"e.event = {p(m.source)}"
        if m.where_sql is not None:
            ev += f" AND e.w_{i} = 1"
        if m.window is not None:
            ev += f" AND e.t >= c.t0 + {p(m.window[0])} AND e.t < c.t0 + {p(m.window[1])}"
            values.append(
                f"MAX(CASE WHEN c.t0 + {p(m.window[1])} <= h.t THEN 1 ELSE 0 END) AS m_{i}"
            )
        else:
            ev += own
        if m.kind == "binary":
            values.append(f"MAX(CASE WHEN {ev} THEN {one_} ELSE {zero_} END) AS y_{i}")
        else:
            values.append(f"COALESCE(SUM(CASE WHEN {ev} THEN e.value END), {zero_}) AS y_{i}")
        if m.den is not None:
            dv = f"e.event = {p(m.den)}{own}"
            values.append(f"COALESCE(SUM(CASE WHEN {dv} THEN e.value END), {zero_}) AS d_{i}")
    vals = ",\n  ".join(values) if values else "0.0 AS y_none"
    hz = " CROSS JOIN hz h" if windowed(spec) else ""
    return (
        f"SELECT c.segment, c.stage, c.variant{dcols}, c.u,\n  {vals}\n"
        f"FROM cells c{hz} LEFT JOIN ev e ON e.u = c.u AND "
        f"{window_condition(spec, p, 'e', 'c')}\n"
        f"GROUP BY c.segment, c.stage, c.variant{dcols}, c.u"
    )


def event_log_queries(
    dialect: Dialect | str,
    exposures: Relation,
    events: Relation,
    spec: EventLogSpec,
    *,
    materialize: bool = False,
) -> EventLogQueries:
    """Build the sums, funnel and data-quality statements of an event-log analysis.

    With ``materialize`` (DuckDB and SQLite: our own connection) the ``per_cell``
    and ``ev`` CTEs become temporary tables built by the ``prelude`` statements, run
    first, so the exposures and events are read and grouped once for the three
    queries.

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> x = Relation("x", ("unit_id", "segment", "stage", "variant", "timestamp"), {})
        >>> e = Relation("e", ("unit_id", "event", "value", "timestamp"), {})
        >>> spec = EventLogSpec("exp", 1, "unit_id", "unit_id",
        ...     metrics=(MetricSpec("conv", "binary", "purchase"),), window_seconds=86400.0)
        >>> q = event_log_queries("postgresql", x, e, spec)
        >>> sorted(set(q.params.values()), key=str)[:2]
        [86400.0, 'purchase']
    """
    p = Params(dialect)
    base = exposure_ctes(exposures, spec, p) + event_ctes(events, spec, p)
    prelude: list[str] = []
    if materialize:  # compute per_cell and ev once, as temporary tables
        bodies = dict(base)
        for name, deps in (("per_cell", ("x_raw", "x")), ("ev", ("ev_raw",))):
            table = f"segab_{name}"
            body = with_ctes([(d, bodies[d]) for d in deps]) + f"\n{bodies[name]}"
            prelude += p.d.temp_table(table, body, index="u")
            bodies[name] = f"SELECT * FROM {table}"
        base = list(bodies.items())
    if windowed(spec):  # the analysis time windows must have passed
        base = [*base, ("hz", horizon_cte(spec, p))]
    ctes, uv = [*base, ("uv", _uv_cte(spec, p))], "uv"
    if adjusted(spec.metrics):  # covariates: pre-exposure sums (segab.sums.covariates)
        ctes, uv = ctes + pre_exposure_ctes(spec.metrics, p, uv), "uvz"
    keys = ["segment", "stage", "variant"]
    if capped(spec.metrics):  # per-unit values capped before the sums (segab.sums.caps)
        mature = [f"m_{i}" for i, m in enumerate(spec.metrics) if m.window is not None]
        mature += covariate_columns(spec.metrics)
        cols = [*keys, *(dim(i) for i in range(len(spec.dims))), "u", *mature]
        ctes, uv = ctes + cap_ctes(uv, cols, spec.metrics, p), "uvc"  # uvz: covariates
        keys += cap_keys(spec.metrics)  # the caps: constants, so keys that split nothing
    sums = grouped_select(
        p.d,
        ctes,
        uv,
        keys,
        len(spec.dims),
        spec.sets,
        "COUNT(*) AS n"
        + windowed_sums(spec)
        + cap_columns(spec.metrics)
        + covariate_sums(spec.metrics),
    )
    funnel = _funnel(base, spec, p)
    quality = _quality(base, spec, p)
    quantiles = ""
    if quantile_positions(spec.metrics):  # their own groups' order statistics, from uv
        n = quantile_dims(spec.dims)
        uv_ctes = [*base, ("uv", _uv_cte(spec, p))]
        quantiles = quantile_statement(p.d, uv_ctes, "uv", spec.metrics, n, spec.sets)
    return EventLogQueries(sums, funnel, quality, p.values, prelude, quantiles)


def _funnel(base: list[tuple[str, str]], spec: EventLogSpec, p: Params) -> str:
    pairs = list(zip(spec.stages, spec.stages[1:], strict=False))
    if not pairs:
        nothing = f"CAST(NULL AS {p.d.text_type})"
        return (
            f"SELECT {nothing} AS segment, {nothing} AS variant, {nothing} AS stage, "
            f"{nothing} AS next_stage, 0 AS n_exposed, 0 AS n_reached WHERE 1 = 0"
        )
    whens = " ".join(f"WHEN {p(a)} THEN {p(b)}" for a, b in pairs)
    cn = f"SELECT u, segment, stage, variant, t0, CASE stage {whens} END AS next_stage FROM cells"
    nxt = "SELECT u, stage, MAX(t_last) AS t_last FROM per_cell GROUP BY u, stage"
    return (
        with_ctes([*base, ("cn", cn), ("nxt", nxt)])
        + "\nSELECT c.segment, c.variant, c.stage, c.next_stage, COUNT(*) AS n_exposed, "
        "SUM(CASE WHEN n.t_last >= c.t0 THEN 1 ELSE 0 END) AS n_reached\n"
        "FROM cn c LEFT JOIN nxt n ON n.u = c.u AND n.stage = c.next_stage\n"
        "WHERE c.next_stage IS NOT NULL GROUP BY c.segment, c.variant, c.stage, c.next_stage"
    )


def _quality(base: list[tuple[str, str]], spec: EventLogSpec, p: Params) -> str:
    ucell = "SELECT u, MIN(t0) AS t_first FROM cells GROUP BY u"
    ev_k = "SELECT e.u, e.t, k.t_first FROM ev e JOIN ucell k ON k.u = e.u"
    value_events = value_event_names(spec)
    if spec.value_col and value_events:
        names = ", ".join(p(n) for n in value_events)
        missing = f"SELECT COUNT(*) FROM ev WHERE value IS NULL AND event IN ({names})"
    else:
        missing = "SELECT 0"
    now = f" AND t > {p(spec.now_epoch)}" if spec.now_epoch is not None else " AND 1 = 0"
    mine = f"other = 0 AND {valid_unit('u')}"
    counters = {
        "exposures_other_experiment": "SELECT COUNT(*) FROM x_raw WHERE other = 1",
        "exposure_empty_ids": (
            f"SELECT COUNT(*) FROM x_raw WHERE other = 0 AND NOT {valid_unit('u')}"
        ),
        "exposures_not_in_experiment": f"SELECT COUNT(*) FROM x_raw WHERE {mine} AND outside = 1",
        "undeclared_exposures": (
            f"SELECT COUNT(*) FROM x_raw WHERE {mine} AND outside = 0 AND undeclared > 0"
        ),
        "exposure_bad_timestamps": (
            f"SELECT COUNT(*) FROM x_raw WHERE {mine} AND outside = 0 AND undeclared = 0 "
            "AND t IS NULL"
        ),
        "exposures_after_now": (
            f"SELECT COUNT(*) FROM x_raw WHERE {mine} AND outside = 0 AND undeclared = 0{now}"
        ),
        "multi_variant_units": "SELECT COUNT(*) FROM per_cell WHERE n_var > 1",
        # repeats of a unit's one variant in a cell; multi-variant units are excluded whole
        "duplicate_exposures": (
            "SELECT COALESCE(SUM(n_rows - 1), 0) FROM per_cell WHERE n_var = 1"
        ),
        "event_empty_ids": f"SELECT COUNT(*) FROM ev_raw WHERE NOT {valid_unit('u')}",
        "event_bad_values": f"SELECT COUNT(*) FROM ev_raw WHERE {valid_unit('u')} AND bad = 1",
        "event_bad_timestamps": (
            f"SELECT COUNT(*) FROM ev_raw WHERE {valid_unit('u')} AND bad = 2"
        ),
        "duplicate_events": duplicate_events_sql(
            spec, p, "ev_raw" if spec.drop_duplicate_events else "ev"
        ),
        "events_unknown_units": (
            "SELECT COUNT(*) FROM ev e WHERE NOT EXISTS (SELECT 1 FROM per_cell x WHERE x.u = e.u)"
        ),
        "events_known": "SELECT COUNT(*) FROM ev_k",
        "events_before_exposure": "SELECT COUNT(*) FROM ev_k WHERE t < t_first",
        "events_attributed": (
            "SELECT COUNT(*) FROM ev_k e WHERE EXISTS (SELECT 1 FROM cells c "
            f"WHERE c.u = e.u AND {window_condition(spec, p, 'e', 'c')})"
        ),
        "missing_outcomes": missing,
    }
    if windowed(spec):
        counters["analysis_time"] = "SELECT t FROM hz"
    select = ",\n  ".join(f"({sql}) AS {name}" for name, sql in counters.items())
    return with_ctes([*base, ("ucell", ucell), ("ev_k", ev_k)]) + f"\nSELECT\n  {select}"
