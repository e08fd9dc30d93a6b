"""``segab allocate``: the next allocation period of an experiment's bandit cells, from the store.

:func:`run_allocation` reads the iteration's periods (:func:`current_periods`: the
recorded ones, after the declared period 0), refuses an update inside the cadence
(unless forced), computes each bandit cell's sums per period inside the store's
database with the per-cell sums of ``segab analyze --db``
(:func:`segab.sums.aggregate.aggregate_event_log` with
:class:`~segab.sums.periods.PeriodLayout`: a unit belongs to the last period that
started at or before its first exposure), updates every cell
(:func:`segab.lifecycle.allocation.update_cell`) and records the new period
(:func:`segab.store.record_allocation_period`) unless it is a dry run.

Example:
    >>> from datetime import datetime
    >>> cadence_left(datetime(2026, 1, 1, 12), datetime(2026, 1, 2), "1d")
    datetime.timedelta(seconds=43200)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.assignment import plan_of
from segab.config import bandit_cells, declared_period, resolve_cell_index
from segab.config.checks import duration_seconds
from segab.config.models import Experiment
from segab.errors import LifecycleError
from segab.lifecycle.allocation import CellUpdate, best_arm_history, cell_seed, update_cell
from segab.stats.sufficient import MeanStats, ProportionStats
from segab.store import allocation_periods, get_experiment, record_allocation_period

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AllocationRun", "cadence_left", "current_periods", "run_allocation"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def cadence_left(last_start: dt.datetime, now: dt.datetime, cadence: str) -> dt.timedelta:
    """How long until the cadence allows the next period (zero or less: now).

    Example:
        >>> from datetime import datetime
        >>> cadence_left(datetime(2026, 1, 1), datetime(2026, 1, 3), "1d").days
        -1
    """
    due = _aware(last_start) + dt.timedelta(seconds=duration_seconds(cadence))
    return due - _aware(now)


def current_periods(exp: Experiment, engine: Engine) -> list[AllocationPeriod]:
    """An iteration's periods in number order: the recorded ones, after the declared
    period 0 (:func:`segab.config.declared_period`) when it is not recorded.

    An unrecorded period 0 starts at the epoch (1970-01-01 UTC): every exposure
    before period 1 belongs to it, whatever the times an application logged.

    Example:
        >>> from segab.config import parse_experiment
        >>> from segab.store import open_store
        >>> exp = parse_experiment({"key": "e", "unit": "id", "stages": ["buy"],
        ...     "allocation": {"mode": "bandit"},
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> [(p.number, p.started_at.year) for p in current_periods(exp, open_store("sqlite://",
        ...     create=True))]
        [(0, 1970)]
    """
    recorded = allocation_periods(engine, exp.key, exp.iteration)
    if recorded and recorded[0].number == 0:
        return recorded
    start = min([EPOCH, *(_aware(p.started_at) for p in recorded[:1])])
    return [declared_period(exp, start), *recorded]


@dataclass(frozen=True)
class AllocationRun:
    """The outcome of one ``segab allocate``: the new period and each cell's update.

    ``written`` is false for a dry run, and when no cell changed (every one in
    burn-in or graduated earlier): then nothing is recorded.

    Example:
        >>> AllocationRun.__dataclass_fields__["written"].type
        'bool'
    """

    experiment: str
    iteration: int
    period: AllocationPeriod
    previous: int
    cells: tuple[CellUpdate, ...]
    written: bool
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict.

        Example:
            >>> AllocationRun.to_dict.__name__
            'to_dict'
        """
        return {
            "experiment": self.experiment,
            "iteration": self.iteration,
            "period": self.period.number,
            "previous_period": self.previous,
            "started_at": _aware(self.period.started_at).isoformat(),
            "written": self.written,
            "dry_run": self.dry_run,
            "cells": [dict(c) for c in self.period.summary.get("cells", [])],
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per (cell, arm) for tables and CSV.

        Example:
            >>> AllocationRun.rows.__name__
            'rows'
        """
        out = []
        for c in self.cells:
            for k, v in enumerate(c.variants):
                out.append(
                    {
                        "segment": c.segment,
                        "stage": c.stage,
                        "status": c.status,
                        "variant": v,
                        "units": c.units[k],
                        "previous_weight": c.previous.buckets[k] / 10_000,
                        "weight": c.layout.buckets[k] / 10_000,
                        "slice_buckets": c.layout.slice_buckets[k],
                        "prob_best": None if c.best is None else c.best.prob_best[k],
                        "expected_loss": None if c.best is None else c.best.expected_loss[k],
                        "graduated": bool(c.graduation and c.graduation["graduated"]),
                    }
                )
        return out


def _cell_stats(
    periods: pd.DataFrame | None,
    segment: str,
    stage: str,
    variants: Sequence[str],
    metric: str,
    kind: str,
    numbers: Sequence[int],
) -> list[list[ProportionStats | MeanStats]]:
    """``stats[k][t]``: arm ``k`` in period ``numbers[t]``, slice and adaptive units together."""
    sums: dict[tuple[str, int], tuple[int, float, float]] = {}
    if periods is not None and len(periods):
        rows = periods[
            (periods["segment"] == segment)
            & (periods["stage"] == stage)
            & (periods["metric"] == metric)
        ]
        grouped = rows.groupby(["variant", "period"], as_index=False)[["n", "sum", "sum_sq"]].sum()
        for v, p, n, s, sq in grouped[["variant", "period", "n", "sum", "sum_sq"]].to_numpy():
            sums[(str(v), int(p))] = (int(n), float(s), float(sq))
    out: list[list[ProportionStats | MeanStats]] = []
    for v in variants:
        arm: list[ProportionStats | MeanStats] = []
        for number in numbers:
            n, s, sq = sums.get((v, number), (0, 0.0, 0.0))
            arm.append(ProportionStats(n, round(s)) if kind == "binary" else MeanStats(n, s, sq))
        out.append(arm)
    return out


def _period_sums(
    exp: Experiment,
    db_url: str,
    periods: Sequence[AllocationPeriod],
    now: Any,
    schema: str | None,
) -> Any:
    from segab.sums.aggregate import aggregate_event_log  # the sums stack, when needed
    from segab.sums.periods import PeriodLayout
    from segab.sums.sources import open_engine

    prefixes = {k: c.prefix for k, c in plan_of(exp).cells.items()}
    layout = PeriodLayout.of(list(periods), prefixes)
    with open_engine(db_url) as eng:
        x, e = (f"{schema}.{t}" if schema else t for t in ("exposures", "events"))
        agg = aggregate_event_log(exp, x, e, engine=eng, now=now, periods=layout)
    return agg.periods


def _check_cadence(exp: Experiment, last: AllocationPeriod, now: dt.datetime) -> None:
    if last.number == 0:
        return  # the first update waits for burn-in only
    cadence = min((s.cadence for _, _, s in bandit_cells(exp)), key=duration_seconds, default="1d")
    left = cadence_left(last.started_at, now, cadence)
    if left > dt.timedelta(0):
        due = (
            _aware(last.started_at) + dt.timedelta(seconds=duration_seconds(cadence))
        ).isoformat()
        raise LifecycleError(
            f"{exp.key!r} iteration {exp.iteration}: period {last.number} started at "
            f"{_aware(last.started_at).isoformat()}, less than the cadence {cadence} ago: "
            f"the next update is due at {due}; --force updates now"
        )


def run_allocation(
    exp: Experiment,
    store: Engine,
    db_url: str,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
    schema: str | None = None,
) -> AllocationRun:
    """Compute (and, unless ``dry_run``, record) the next allocation period of ``exp``.

    ``store`` is the store's engine and ``db_url`` its URL (the sums run in that
    database; ``schema``: the store's PostgreSQL schema). ``now`` (default: the
    current time) is the new period's start and the analysis time: later exposures
    and events are ignored. Raises
    :class:`LifecycleError` for an experiment without bandit cells, a stopped or
    concluded iteration, or an update inside the cadence without ``force``.

    Example:
        >>> run_allocation.__name__   # tests/lifecycle/test_allocate.py runs it end to end
        'run_allocation'
    """
    cells = bandit_cells(exp)
    if not cells:
        raise LifecycleError(
            f"{exp.key!r} has no bandit cell: set `allocation: {{mode: bandit}}` on the "
            "experiment or on a cell"
        )
    record = get_experiment(store, exp.key, exp.iteration)
    if record is not None and record.status in ("stopped", "concluded"):
        raise LifecycleError(
            f"{exp.key!r} iteration {exp.iteration} is {record.status}: nothing to allocate"
        )
    now = _aware(now or dt.datetime.now(dt.UTC))
    periods = current_periods(exp, store)
    last = periods[-1]
    if not force:
        _check_cadence(exp, last, now)
    if now < _aware(last.started_at):
        raise LifecycleError(
            f"--now {now.isoformat()} is before period {last.number}'s start "
            f"({_aware(last.started_at).isoformat()}): expected a later time"
        )
    sums = _period_sums(exp, db_url, periods, now, schema)
    numbers = [p.number for p in periods]
    declared = {(c.segment, c.stage): c for c in declared_period(exp, now).cells}
    by_key = {m.key: m for m in exp.metrics.all()}
    updates: list[CellUpdate] = []
    summaries: list[dict[str, Any]] = []
    for segment, stage, settings in cells:
        cell = exp.cells[resolve_cell_index(exp.cells, segment, stage) or 0]
        metric = by_key[settings.metric or exp.metrics.primary.key]
        current: CellAllocation = last.cell(segment, stage) or declared[(segment, stage)]
        total = sum(v.weight for v in cell.variants)
        base = settings.seed if settings.seed is not None else exp.seed
        u = update_cell(
            current,
            _cell_stats(sums, segment, stage, current.variants, metric.key, metric.kind, numbers),
            settings,
            tuple(v.weight / total for v in cell.variants),
            seed=cell_seed(base, last.number + 1, segment, stage),
            history=best_arm_history(periods, segment, stage),
            lower_is_better=metric.direction == "decrease",
        )
        updates.append(u)
        summaries.append({**u.to_dict(), "metric": metric.key})
    summary = {"source": "segab allocate", "previous_period": last.number, "cells": summaries}
    period = AllocationPeriod(
        exp.key,
        exp.iteration,
        last.number + 1,
        now,
        tuple(u.layout for u in updates),
        summary,
    )
    changed = any(u.best is not None for u in updates)
    if changed and not dry_run:
        period = record_allocation_period(store, period)
    return AllocationRun(
        exp.key,
        exp.iteration,
        period,
        last.number,
        tuple(updates),
        changed and not dry_run,
        dry_run,
    )
