"""``segab.analyze()``: the library call behind ``segab analyze``.

Give it an experiment (an :class:`~segab.config.Experiment`, or a key looked up in
``experiments``) and either an event log (``exposures`` and ``events``) or a
one-row-per-unit table (``units`` with ``variant_column``). Each input is a pandas
DataFrame, a CSV/Parquet path, or, with ``db_url``, a table name in that database.
The engine returns per-cell sums only; :func:`~segab.analysis.compute.compute_results`
turns them into lifts, checks and decisions.

Example:
    >>> import pandas as pd
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "spend", "kind": "continuous", "column": "spend"}}})
    >>> units = pd.DataFrame({"arm": ["a", "a", "b", "b"], "spend": [1.0, 3.0, 2.0, 6.0]})
    >>> r = analyze(exp, units=units, variant_column="arm")
    >>> r.results[0].variant, r.results[0].comparison.abs_lift
    ('b', 2.0)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segab.allocation_types import AllocationPeriod
from segab.assignment import plan_of
from segab.config import load_experiments
from segab.config.models import Experiment
from segab.errors import DataError
from segab.sums.aggregate import Aggregates, aggregate_event_log, aggregate_units
from segab.sums.breakdowns import plan_breakdowns
from segab.sums.periods import PeriodLayout
from segab.sums.sources import Engine, Source, open_engine
from segab.sums.specs import UnitColumns

if TYPE_CHECKING:  # the results and statistics stack load after the sums (see _compute)
    from segab.analysis.results import AnalysisResult

__all__ = ["analyze", "resolve_experiment"]


def resolve_experiment(
    experiment: Experiment | str, experiments: str | Path | Sequence[str | Path] = "experiments"
) -> Experiment:
    """An :class:`Experiment` as given, or the one with that key under ``experiments``.

    Example:
        >>> resolve_experiment("journey_content").key    # doctest: +SKIP
        'journey_content'
    """
    if isinstance(experiment, Experiment):
        return experiment
    if not isinstance(experiment, str):
        raise DataError(
            f"experiment: found {type(experiment).__name__}, expected an Experiment or a key"
        )
    roots = [experiments] if isinstance(experiments, str | Path) else list(experiments)
    return load_experiments(*roots)[experiment]


def analyze(
    experiment: Experiment | str,
    *,
    exposures: Source | None = None,
    events: Source | None = None,
    units: Source | None = None,
    attributes: Source | None = None,
    by: Sequence[str] = (),
    breakdowns: Sequence[Sequence[str] | str] = (),
    variant_column: str = "variant",
    segment_column: str | None = None,
    stage_column: str | None = None,
    db_url: str | None = None,
    experiments: str | Path | Sequence[str | Path] = "experiments",
    now: dt.datetime | None = None,
    engine: str | Engine = "auto",
    spark_master: str | None = None,
    periods: Sequence[AllocationPeriod] = (),
) -> AnalysisResult:
    """Analyze an experiment from an event log or a unit table into an :class:`AnalysisResult`.

    ``by`` names attribute columns to break results down by (crossed when several:
    one breakdown). Each item of ``breakdowns`` is one more breakdown, a column or
    a tuple of columns crossed (``[("channel",), ("zip_code", "newbie")]``); all
    are computed in one pass, and each result row's ``dimensions`` holds its own
    breakdown's columns (``AnalysisResult.breakdowns`` lists them).
    ``variant_column``, ``segment_column`` and ``stage_column`` name a unit table's
    columns (see :class:`~segab.sums.specs.UnitColumns`).
    ``attributes`` is a table joined on the unit column (one row per unit), whose
    columns ``by``, the segment rules and ``analysis.filter`` can use.
    ``now`` ignores exposures and events after it (event logs only). ``engine`` is
    an open :class:`~segab.sums.sources.Engine` (from :func:`segab.sums.open_engine`,
    as the command line passes it), or the kind of engine to open for this call:
    ``auto`` (DuckDB for files and DataFrames, the database for ``db_url``) or
    ``spark`` (``spark_master``: a cluster URL, default ``local[*]``). Raises
    :class:`~segab.errors.DataError` when the inputs are missing or ambiguous.
    ``periods``: the allocation periods of the experiment's bandit cells (from the
    store's ``allocation_periods``, or :func:`segab.analysis.period_files.read_periods`);
    their cells are analysed per period and uniform slice (:mod:`segab.analysis.adaptive`),
    event logs only.

    Example:
        >>> analyze.__name__   # see the module docstring for a full run
        'analyze'
    """
    exp = resolve_experiment(experiment, experiments)
    if isinstance(by, str):
        by = (by,)
    has_log = exposures is not None or events is not None
    if units is not None and has_log:
        raise DataError(
            "inputs: found both units and exposures/events, expected either an event log "
            "(exposures and events) or a unit table (units)"
        )
    if units is None and (exposures is None or events is None):
        missing = "exposures" if exposures is None else "events"
        raise DataError(
            f"inputs: {missing} missing, expected exposures and events (an event log) "
            "or units (one row per unit)"
        )
    several = len(plan_breakdowns(by, breakdowns).sets) > 0
    tailoring = exp.analysis.wants_tailoring
    layout = None
    if periods:
        if units is not None:
            raise DataError(
                "periods: found a unit table, expected an event log (exposure times place "
                "each unit in its allocation period)"
            )
        prefixes = {k: c.prefix for k, c in plan_of(exp).cells.items()}
        layout = PeriodLayout.of(list(periods), prefixes)
    with _engine(engine, db_url, spark_master) as eng:

        def sums(
            by: Sequence[str], breakdowns: Sequence[Any], folds: bool, split: bool = True
        ) -> Aggregates:
            if units is not None:
                columns = UnitColumns(variant_column, segment_column, stage_column)
                return aggregate_units(
                    exp,
                    units,
                    engine=eng,
                    columns=columns,
                    by=by,
                    breakdowns=breakdowns,
                    attributes=attributes,
                    folds=folds,
                )
            assert exposures is not None and events is not None  # checked above
            return aggregate_event_log(
                exp,
                exposures,
                events,
                engine=eng,
                by=by,
                breakdowns=breakdowns,
                now=now,
                attributes=attributes,
                folds=folds,
                periods=layout if split else None,
            )

        agg = sums(by, breakdowns, tailoring and not several, not several)
        if several and (tailoring or layout is not None):  # they ride on one crossing
            second = sums((), (), tailoring, True)  # a second pass for them
            agg = replace(agg, folds=second.folds, periods=second.periods)
    return _compute(exp, agg, tuple(periods))


def _engine(
    engine: str | Engine, db_url: str | None, spark_master: str | None
) -> AbstractContextManager[Engine]:
    """The caller's open engine (left open), or one opened for this call."""
    if isinstance(engine, str):
        return open_engine(db_url, kind=engine, spark_master=spark_master)
    if db_url is not None or spark_master is not None:
        raise DataError(
            "engine: found an open engine with db_url or spark_master, expected one or the other"
        )
    return nullcontext(engine)


def _compute(
    exp: Experiment, agg: Aggregates, periods: tuple[AllocationPeriod, ...]
) -> AnalysisResult:
    from segab.analysis.compute import compute_results  # the statistics stack, when needed

    return compute_results(exp, agg, periods=periods)
