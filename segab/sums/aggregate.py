"""Per-cell sufficient statistics from an event log or a one-row-per-unit table.

:func:`aggregate_event_log` and :func:`aggregate_units` build the SQL of
:mod:`segab.sums.statements`, run it in the engine where the data lives
(:mod:`segab.sums.sources`) and reshape the small GROUP BY result into an
:class:`Aggregates`. No event or unit row is loaded into Python.

Event-log semantics (the exact rules):

- Exposure rows of another ``experiment`` key or ``iteration`` (when those columns
  exist) are ignored and counted (``exposures_other_experiment``); then rows with a
  NULL, empty or ``nan`` unit id are dropped and counted (``empty_ids``, which also
  counts such event rows); then rows with ``in_experiment`` false or NULL, or a
  NULL segment/stage/variant, are ignored (``exposures_not_in_experiment``);
  then rows whose segment or stage the config does not declare are excluded
  (``undeclared_exposures``), then rows with a missing or unreadable time
  (``bad_timestamps``); with ``now``, exposures after it are ignored
  (``exposures_after_now``).
- Per (unit, segment, stage) cell, the first exposure defines ``t0``; extra rows
  of a unit that saw one variant are ``duplicate_exposures`` (rows − 1,
  de-duplicated); a unit with more than one variant in a cell is excluded from that
  cell, all its rows with it, and counted once per (unit, cell) in
  ``multi_variant_units``. A ``--by``
  column takes the smallest value among the unit's rows in the cell.
- An event counts for a cell when ``t0 <= t < t0 + attribution_window`` (no upper
  bound without a window; and ``t <= now`` with ``now``). Only events whose name a
  metric uses are read. Each such event row is classified once: it counts when it
  falls in at least one of its unit's cells; otherwise it is
  ``events_unknown_units`` (no valid exposure of the unit in this experiment),
  ``events_before_exposure`` (before all of the unit's first exposures) or
  ``events_outside_window`` (the rest, including events after ``now``). Events of
  units whose every cell was excluded as multi-variant are not counted again.
  Before that, an event whose value a metric sums and that is present but not a
  finite number (NaN, +-inf, ``1e400``, text) is excluded whole (``bad_values``),
  as is one with a missing or unreadable time (``bad_timestamps``); exact repeats
  of a usable event row (unit, event, value, time) are counted
  (``duplicate_events``) and, with ``analysis.duplicate_events: drop``, counted
  once. Where those rows are is in ``Aggregates.issues``
  (:mod:`segab.sums.issues`); docs/data-quality.md has the rules per engine.
- Per-unit values: binary = 1 if the event happened in the window; continuous =
  sum of the event's ``value`` in the window (0 if none); ratio = numerator sum and
  denominator-event sum, or, with ``cost_per_unit``, den = the variant's cost (so
  ``den_sum = n·c``). An event with a NULL value adds nothing and is counted in
  ``missing_outcomes``. Without a value column the value metrics are an error.

Example:
    >>> import pandas as pd
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "user_id",
    ...     "segments": [{"key": "all", "when": {}}], "stages": ["awareness"],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}}})
    >>> x = pd.DataFrame({"user_id": ["u1", "u2"], "segment": "all", "stage": "awareness",
    ...     "variant": ["a", "b"], "timestamp": ["2024-01-01", "2024-01-01"]})
    >>> ev = pd.DataFrame({"user_id": ["u2"], "event": ["buy"], "timestamp": ["2024-01-02"]})
    >>> agg = aggregate_event_log(exp, x, ev)
    >>> agg.sums[["variant", "n", "sum"]].values.tolist()
    [['a', 1, 0.0], ['b', 1, 1.0]]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segab.config.checks import duration_seconds
from segab.config.models import Experiment
from segab.errors import DataError
from segab.sql.dialects import get_dialect
from segab.sums._fast.hashed import FastPathUnavailableError, run_hashed_event_log, usable_for
from segab.sums.arms import match_arms
from segab.sums.breakdowns import plan_breakdowns
from segab.sums.caps import applied_caps, cap_spec
from segab.sums.event_metrics import compile_event_filters, filter_columns, maturity_blocks
from segab.sums.files import file_kind
from segab.sums.folds import FOLD_COLUMN, split_folds, with_fold
from segab.sums.issues import event_log_issues
from segab.sums.periods import (
    PERIOD_COLUMN,
    SLICE_COLUMN,
    PeriodLayout,
    split_periods,
    with_periods,
)
from segab.sums.prepare import (
    attribute_duplicates_query,
    counts,
    prep_counts_query,
    prepared_from,
    resolve_rows,
)
from segab.sums.quantiles import quantile_dims, quantile_frame, quantile_positions
from segab.sums.result import (
    DATA_QUALITY_KEYS,
    SUM_COLUMNS,
    Aggregates,
    dim_columns,
    given_or_duckdb,
    long_sums,
    rename_dims,
    typed_dims,
)
from segab.sums.sources import Engine, Relation, Source, is_frame, require_columns
from segab.sums.specs import EventLogColumns, EventLogSpec, MetricSpec, RowPrep
from segab.sums.statements import event_log_queries, event_names
from segab.sums.unit_table import aggregate_units

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATA_QUALITY_KEYS",
    "SUM_COLUMNS",
    "Aggregates",
    "aggregate_event_log",
    "aggregate_units",
    "window_seconds",
]

EVENT_LOG_COLUMNS = EventLogColumns()  # the default column names
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def window_seconds(text: str | None) -> float | None:
    """Seconds of an attribution window such as ``7d`` (``None`` stays ``None``).

    Example:
        >>> window_seconds("7d"), window_seconds("12h"), window_seconds(None)
        (604800.0, 43200.0, None)
    """
    if text is None:
        return None
    m = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if m is None:
        raise DataError(f"attribution_window: found {text!r}, expected a duration such as 7d")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def _event_specs(exp: Experiment) -> list[MetricSpec]:
    specs = []
    for m in exp.metrics.all():
        if m.event is None:
            continue  # a unit-table metric: nothing to read in an event log
        den = m.denominator_event if m.kind == "ratio" else None
        if m.kind == "ratio" and den is None and m.cost_per_unit is None:
            raise DataError(
                f"metric {m.key!r}: a ratio needs denominator_event or cost_per_unit "
                "in the event log"
            )
        window = None
        if m.window is not None:
            start, end = duration_seconds(m.window.start), duration_seconds(m.window.end)
            window = (float(start), float(end))
        specs.append(MetricSpec(m.key, m.kind, m.event, den, cap=cap_spec(m, exp), window=window,
                                quantile=m.quantile,
                                covariates=tuple(m.covariates or ())))  # fmt: skip
    return specs


def _unit_column(rel: Relation, exp: Experiment, given: str | None, role: str) -> str:
    if given is not None:
        return given
    for name in (exp.unit, "unit_id", "unit"):
        if rel.has(name):
            return name
    require_columns(rel, [exp.unit], role)
    return exp.unit


def _epoch(now: dt.datetime | None) -> float | None:
    if now is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.timestamp()


def aggregate_event_log(
    experiment: Experiment,
    exposures: Source,
    events: Source,
    *,
    engine: Engine | None = None,
    columns: EventLogColumns = EVENT_LOG_COLUMNS,
    by: Sequence[str] = (),
    breakdowns: Sequence[Sequence[str] | str] = (),
    now: dt.datetime | None = None,
    route: str = "auto",
    attributes: Source | None = None,
    folds: bool = False,
    periods: PeriodLayout | None = None,
) -> Aggregates:
    """Aggregate an exposures table and an events table into per-cell sums.

    ``engine`` runs the SQL where the data lives (:func:`segab.sums.open_engine`
    opens one: DuckDB, a database URL, or Spark); without one, a private in-process
    DuckDB engine reads ``exposures``/``events`` as paths (CSV, Parquet) or pandas
    DataFrames for this call. With a database engine they are table names.
    ``columns`` maps the input column names (:class:`~segab.sums.specs.EventLogColumns`).
    ``by`` names exposure columns to break down by (crossed); each item of
    ``breakdowns`` is one more breakdown (a column or a tuple of columns crossed),
    all computed in one pass (grouping sets; :mod:`segab.sums.breakdowns`). ``route="generic"``
    makes DuckDB run the text-keyed generic route of :mod:`segab.sums.statements` instead of the
    fast path (:mod:`segab.sums._fast`); ``route="cells"`` runs the fast path one row
    per (unit, cell) only, never one row per unit (the same results; for tests and
    comparisons). ``attributes`` (a table joined to the exposures on the unit column)
    and ``analysis.filter`` (a condition on the exposure rows) prepare the exposures
    (:mod:`segab.sums.prepare`); ``analysis.dedupe`` is for unit tables only.
    ``folds`` also returns the sums per fold of units (:mod:`segab.sums.folds`);
    ``periods`` the bandit cells' sums per allocation period and slice
    (:mod:`segab.sums.periods`).

    Example:
        >>> aggregate_event_log.__name__   # see the module docstring for a full run
        'aggregate_event_log'
    """
    if route not in ("auto", "generic", "cells"):
        raise DataError(f"route: found {route!r}, expected auto, generic or cells")
    plan = plan_breakdowns(by, breakdowns)
    if folds and plan.sets:
        raise DataError("folds: found several breakdowns, expected at most one with folds")
    if periods is not None and plan.sets:
        raise DataError("periods: found several breakdowns, expected at most one with periods")
    dims = plan.columns
    specs = _event_specs(experiment)
    exposure_timestamp_column = columns.exposure_timestamp
    event_column, value_column = columns.event, columns.value
    timestamp_column = columns.timestamp
    with given_or_duckdb(engine) as eng:
        # read as text from CSV files, then per value: a number or time that does not
        # parse is a counted bad row, never a reader's error or a guessed column type
        per_value = [exposure_timestamp_column, "first_seen", "in_experiment", "iteration"]
        texts = [experiment.unit, "unit_id", "unit", "segment", "stage", "variant", *dims]
        texts += per_value
        x_rel = eng.relation(exposures, "exposures", texts)
        x_unit = _unit_column(x_rel, experiment, columns.exposure_unit, "exposures")
        store_layout = not x_rel.has("timestamp") and x_rel.has("first_seen")
        if exposure_timestamp_column == "timestamp" and store_layout:
            exposure_timestamp_column = "first_seen"  # the store's exposures table
        x_source: Source = exposures
        x_rel, prep = resolve_rows(eng, experiment, x_rel, x_unit, attributes, texts=dims)
        prepared: dict[str, int] = {}
        if prep is not None:
            x_source, x_rel, prepared = _prepared_exposures(eng, x_rel, prep)
        if periods is not None:  # two more breakdowns, added back by split_periods
            x_rel = with_periods(eng.dialect, x_rel, x_unit, exposure_timestamp_column, periods)
            dims = (*dims, PERIOD_COLUMN, SLICE_COLUMN)
        if folds:  # the fold of each unit: one more breakdown, added back by split_folds
            x_rel, dims = with_fold(eng.dialect, x_rel, x_unit), (*dims, FOLD_COLUMN)
        require_columns(
            x_rel,
            [x_unit, "segment", "stage", "variant", exposure_timestamp_column, *dims],
            "exposures",
        )
        e_texts = [experiment.unit, "unit_id", "unit", event_column, value_column, timestamp_column]
        e_texts += filter_columns(experiment)  # property columns: text, typed per value
        e_rel = eng.relation(events, "events", e_texts)
        text_file = not is_frame(events) and file_kind(str(events)) == "csv"
        specs = compile_event_filters(
            experiment, get_dialect(eng.dialect), e_rel, specs, text_file=text_file
        )
        e_unit = _unit_column(e_rel, experiment, columns.unit, "events")
        needs_value = any(s.kind != "binary" or s.den is not None or s.covariates for s in specs)
        expected = [e_unit, event_column, timestamp_column]
        require_columns(e_rel, [*expected, value_column] if needs_value else expected, "events")
        spec = EventLogSpec(
            experiment=experiment.key,
            iteration=experiment.iteration,
            exp_unit=x_unit,
            ev_unit=e_unit,
            exp_timestamp=exposure_timestamp_column,
            event_col=event_column,
            value_col=value_column if e_rel.has(value_column) else None,
            ev_timestamp=timestamp_column,
            dims=dims,
            metrics=tuple(specs),
            stages=tuple(experiment.stages),
            segments=tuple(experiment.segment_keys()),
            variants=tuple(dict.fromkeys(v.key for c in experiment.cells for v in c.variants)),
            window_seconds=window_seconds(experiment.analysis.attribution_window),
            now_epoch=_epoch(now),
            drop_duplicate_events=experiment.analysis.duplicate_events == "drop",
            sets=plan.sets,
        )
        result = None
        if usable_for(eng.dialect, route):
            try:
                result = run_hashed_event_log(eng, x_rel, e_rel, spec, pivot=route != "cells")
            except FastPathUnavailableError:
                result = None  # the generic route answers
        if result is None:
            result = _generic_event_log(eng, x_rel, e_rel, spec)
        wide, funnel, quality = result
        quantiles = (
            _quantiles(eng, x_rel, e_rel, spec, experiment) if quantile_positions(specs) else None
        )
        if plan.sets:  # a NULL outside a row's breakdown may have made integers floats
            wide = typed_dims(wide, dims, x_rel.types)
        wide = rename_dims(wide, dims).rename(columns={"gid": "breakdown"})
        dims = dim_columns(dims)  # the frames' names of the breakdown columns
        funnel = rename_dims(funnel, ())
        issues = event_log_issues(
            eng, eng.dialect, (x_source, x_rel), (events, e_rel), spec, quality
        )
    as_of = quality.pop("analysis_time", None)
    notes = _notes(experiment, quality, len(wide), spec)
    if len(wide):
        # the arms' unit counts from the plain cells' rows (each unit once)
        plain = wide[wide["breakdown"] == 0] if plan.sets else wide
        frames = {"plain": plain, "wide": wide, "funnel": funnel}
        matched, unknown = match_arms(frames, experiment, "n", source="exposures")
        wide, funnel = matched["wide"], matched["funnel"]
    else:
        unknown = {}
    quality["unknown_arms"] = sum(unknown.values())
    quality["bad_values"] = quality.pop("event_bad_values")
    quality["bad_timestamps"] = quality.pop("exposure_bad_timestamps") + quality.pop(
        "event_bad_timestamps"
    )
    known = quality.pop("events_known")
    attributed = quality.pop("events_attributed")
    quality["events_outside_window"] = known - quality["events_before_exposure"] - attributed
    quality["empty_ids"] = quality.pop("exposure_empty_ids") + quality.pop("event_empty_ids")
    quality["missing_variant"] = 0
    quality.update(prepared)
    keys = ["segment", "stage", "variant", *dims, *(["breakdown"] if plan.sets else [])]
    exposure_counts = wide[[*keys, "n"]].copy()
    exposure_counts["n"] = exposure_counts["n"].astype("int64")
    exposure_counts = exposure_counts.sort_values(keys, kind="stable").reset_index(drop=True)
    funnel = funnel.astype({"n_exposed": "int64", "n_reached": "int64"})
    funnel = _sort_funnel(funnel, experiment)
    sums = long_sums(wide, experiment, specs, tuple(keys[3:]), per_metric_n=False)
    agg = Aggregates(
        sums=sums,
        exposures=exposure_counts,
        funnel=funnel,
        data_quality={k: quality.get(k, 0) for k in DATA_QUALITY_KEYS},
        dimensions=dims,
        issues=issues,
        notes=notes,
        breakdowns=plan.names if plan.sets else (),
        unknown_arms=tuple(unknown.items()),
        maturity=maturity_blocks(experiment, sums, exposure_counts, as_of, now is not None),
        caps=applied_caps(wide, specs),
        quantiles=quantiles,
    )
    agg = split_folds(agg) if folds else agg
    return split_periods(agg, periods) if periods is not None else agg


def _quantiles(
    eng: Any, x_rel: Relation, e_rel: Relation, spec: EventLogSpec, exp: Experiment
) -> pd.DataFrame:
    """The quantile metrics' order statistics (:mod:`segab.sums.quantiles`), by the
    generic statements on every route (the fast path sums no quantiles)."""
    from segab.sums.arms import experiment_arm_keys

    q = event_log_queries(
        eng.dialect, x_rel, e_rel, spec, materialize=eng.dialect in ("duckdb", "sqlite")
    )
    for statement in q.prelude:
        eng.query(statement, q.params)
    raw = eng.query(q.quantiles, q.params)
    dims = dim_columns(spec.dims[: quantile_dims(spec.dims)])
    return quantile_frame(raw, spec.metrics, dims, spec.sets, experiment_arm_keys(exp))


def _prepared_exposures(
    eng: Engine, rel: Relation, prep: RowPrep
) -> tuple[str, Relation, dict[str, int]]:
    """The exposures after the join and the filter: a label (no row positions: the
    rows are not the file's), the relation, and the counters of what was prepared."""
    columns, rows = eng.rows(prep_counts_query(eng.dialect, rel.sql, prep), {})
    found = counts(dict(zip(columns, rows[0], strict=True)))
    out = {"filtered_out": found["filtered_out"]}
    if prep.attributes is not None:
        out["missing_attributes"] = found["missing_attributes"]
        columns, rows = eng.rows(attribute_duplicates_query(prep), {})
        out["duplicate_attributes"] = counts(dict(zip(columns, rows[0], strict=True)))["n_rows"]
    label = f"{rel.label} (prepared)"
    sql = prepared_from(eng.dialect, rel.sql, prep)
    return label, Relation(sql, rel.columns, rel.types, label), out


_EXCLUDED = (  # the aggregation's own counter names (before they are merged)
    ("exposures_other_experiment", "rows of other experiments or iterations"),
    ("exposure_empty_ids", "rows with an empty unit id"),
    ("exposures_not_in_experiment", "rows not in the experiment"),
    ("undeclared_exposures", "rows with a segment or stage the config does not declare"),
    ("exposure_bad_timestamps", "rows with a missing or unreadable time"),
    ("exposures_after_now", "rows after --now"),
    ("multi_variant_units", "units seen in several variants of a cell"),
)
_EVENTS_READ = (
    "events_known",
    "events_unknown_units",
    "event_empty_ids",
    "event_bad_values",
    "event_bad_timestamps",
)


def _notes(
    exp: Experiment, quality: dict[str, int], cells: int, spec: EventLogSpec
) -> tuple[str, ...]:
    """Why there is nothing to compare: no usable exposures, or no events to read."""
    if cells == 0:
        parts = [
            f"{quality[k]:,} {why if quality[k] > 1 else why.replace('s ', ' ', 1)}"
            for k, why in _EXCLUDED
            if quality.get(k)
        ]
        why = "; excluded: " + ", ".join(parts) if parts else ": the exposures input has no rows"
        return (
            f"no exposures of experiment {exp.key!r} (iteration {exp.iteration}) to analyze{why}",
        )
    if not any(quality.get(k) for k in _EVENTS_READ):
        names = ", ".join(event_names(spec)) or "none"
        return (
            f"no rows of the metrics' events ({names}) in the events input: every outcome is 0",
        )
    return ()


def _generic_event_log(
    eng: Any, x_rel: Relation, e_rel: Relation, spec: EventLogSpec
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    q = event_log_queries(
        eng.dialect, x_rel, e_rel, spec, materialize=eng.dialect in ("duckdb", "sqlite")
    )
    for statement in q.prelude:  # every engine (Spark too) has query()
        eng.query(statement, q.params)
    wide = eng.query(q.sums, q.params)
    funnel = eng.query(q.funnel, q.params)
    row = eng.query(q.quality, q.params).iloc[0]
    import pandas as pd

    return (
        wide,
        funnel,
        {
            k: (float(v) if k == "analysis_time" else int(v)) if pd.notna(v) else 0
            for k, v in row.items()
        },
    )


def _sort_funnel(funnel: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(exp.stages)}
    funnel = funnel.assign(_o=funnel["stage"].map(order))
    funnel = funnel.sort_values(["segment", "variant", "_o"], kind="stable")
    cols = ["segment", "variant", "stage", "next_stage", "n_exposed", "n_reached"]
    return funnel.drop(columns="_o").reset_index(drop=True)[cols]
