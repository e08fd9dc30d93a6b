"""``segab allocate``'s sums in SQLite and PostgreSQL equal a Python count of the same rows.

Oracle: each arm's units and converters per period counted in Python from the
simulated rows, passed to the pure :func:`segab.lifecycle.allocation.update_cell`
with the recorded seed: the layouts recorded through each engine must be exactly
those, and the probabilities the same.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from segab.config import bandit_cells, declared_period, parse_experiment
from segab.lifecycle.allocation import best_arm_history, cell_seed, update_cell
from segab.lifecycle.allocation_run import run_allocation
from segab.stats.sufficient import ProportionStats
from segab.store import ExposureRow, allocation_periods, import_events, log_exposures
from tests.store.conftest import Target

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
RATES = {"young": (0.08, 0.16, 0.10), "rest": (0.10, 0.10, 0.12)}
EXP = parse_experiment(
    {
        "key": "engines",
        "unit": "user_id",
        "stages": ["buy"],
        "segments": [{"key": "young", "when": {"age": {"$lt": 30}}}],
        "fallback": "rest",
        "allocation": {"mode": "bandit", "burn_in": 30, "floor": 0.05, "seed": 3},
        "cells": [
            {
                "control": "a",
                "variants": [
                    {"key": "a", "weight": 1},
                    {"key": "b", "weight": 1},
                    {"key": "c", "weight": 2},
                ],
            }
        ],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}},
    }
)


def _simulate(target: Target, day: int, seed: int, counts: Counter[tuple[str, ...]]) -> None:
    rng = np.random.default_rng(seed)
    exposures, events = [], []
    for segment, rates in RATES.items():
        for i in range(400):
            k = int(rng.integers(0, 3))
            arm = "abc"[k]
            unit = f"{segment}-{day}-{i}"
            seen = T0 + dt.timedelta(days=day, seconds=37 * i)
            exposures.append(ExposureRow("engines", 1, unit, segment, "buy", arm, first_seen=seen))
            counts[(segment, arm, str(day), "n")] += 1
            if rng.random() < rates[k]:
                counts[(segment, arm, str(day), "y")] += 1
                when = seen + dt.timedelta(minutes=5)
                events.append({"unit_id": unit, "event": "buy", "timestamp": when.isoformat()})
            if rng.random() < 0.05:  # another experiment's event: not counted
                events.append({"unit_id": unit, "event": "other", "timestamp": seen.isoformat()})
    log_exposures(target.engine, exposures)
    import_events(target.engine, pd.DataFrame(events))


def test_recorded_layouts_equal_the_python_oracle(store: Target) -> None:
    counts: Counter[tuple[str, ...]] = Counter()
    oracle: dict[tuple[str, str], list] = {}  # type: ignore[type-arg]
    current = {(c.segment, c.stage): c for c in declared_period(EXP, T0).cells}
    for day in (0, 1):
        _simulate(store, day, 100 + day, counts)
        now = T0 + dt.timedelta(days=day + 1)
        run = run_allocation(EXP, store.engine, store.url, now=now, schema=store.schema)
        assert run.written and run.period.number == day + 1
        for segment, stage, settings in bandit_cells(EXP):
            stats = [
                [
                    ProportionStats(
                        counts[(segment, arm, str(d), "n")], counts[(segment, arm, str(d), "y")]
                    )
                    for d in range(day + 1)
                ]
                for arm in "abc"
            ]
            expected = update_cell(
                current[(segment, stage)],
                stats,
                settings,
                (0.25, 0.25, 0.5),
                seed=cell_seed(3, day + 1, segment, stage),
                history=tuple(oracle.get((segment, stage), [])),
            )
            got = next(c for c in run.cells if (c.segment, c.stage) == (segment, stage))
            assert (
                got.units
                == expected.units
                == tuple(
                    sum(counts[(segment, arm, str(d), "n")] for d in range(day + 1))
                    for arm in "abc"
                )
            )
            assert got.layout == expected.layout
            assert got.best is not None and expected.best is not None
            assert got.best.prob_best == pytest.approx(expected.best.prob_best, abs=1e-12)
            oracle.setdefault((segment, stage), []).append(expected.best)
            current[(segment, stage)] = expected.layout
    periods = allocation_periods(store.engine, "engines", 1)
    assert [p.number for p in periods] == [1, 2]
    assert best_arm_history(periods, "young", "buy") == tuple(oracle[("young", "buy")])
    for p in periods:
        for c in p.cells:
            assert c.slice_buckets == (250, 250, 500)  # 10% at the declared 1/1/2, every period
