"""Allocation periods in the store: round trip, consecutive numbers, concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.errors import AllocationConflictError, DataError, StoreError
from segab.store import allocation_period_dict, allocation_periods, record_allocation_period
from tests.store.conftest import Target

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CELLS = (
    CellAllocation("young", "awareness", ("a", "b", "c"), (250, 250, 500), (3000, 2000, 4000)),
    CellAllocation("rest", "purchase", ("a", "b"), (0, 0), (1, 9999)),
)


def _period(number: int, start: datetime = T0, key: str = "exp") -> AllocationPeriod:
    summary = {"seed": 11 + number, "cells": [{"prob_best": [0.25, 0.75]}], "rule": "thompson"}
    return AllocationPeriod(key, 1, number, start, CELLS, summary)


def test_round_trip_keeps_cells_summary_and_order(store: Target) -> None:
    assert allocation_periods(store.engine, "exp", 1) == []
    for n in (1, 2, 3):
        assert record_allocation_period(store.engine, _period(n, T0 + timedelta(days=n))) == (
            _period(n, T0 + timedelta(days=n))
        )
    record_allocation_period(store.engine, _period(1, key="other"))
    got = allocation_periods(store.engine, "exp", 1)
    assert [p.number for p in got] == [1, 2, 3]
    assert got[2] == _period(3, T0 + timedelta(days=3))
    assert got[0].started_at.tzinfo is not None
    assert allocation_periods(store.engine, "exp", 2) == []
    assert [p.number for p in allocation_periods(store.engine, "other", 1)] == [1]
    assert allocation_period_dict(got[0])["cells"][1]["buckets"] == [1, 9999]


def test_naive_and_other_zone_times_are_stored_as_utc(store: Target) -> None:
    record_allocation_period(store.engine, _period(1, datetime(2026, 3, 1, 12, 0)))
    plus_two = timezone(timedelta(hours=2))
    record_allocation_period(store.engine, _period(2, datetime(2026, 3, 2, 14, 0, tzinfo=plus_two)))
    starts = [p.started_at for p in allocation_periods(store.engine, "exp", 1)]
    assert starts == [T0, T0 + timedelta(days=1)]


def test_numbers_are_consecutive_and_starts_do_not_go_back(store: Target) -> None:
    with pytest.raises(AllocationConflictError, match="expected period 1"):
        record_allocation_period(store.engine, _period(2))
    record_allocation_period(store.engine, _period(1))
    for wrong in (1, 3):
        with pytest.raises(AllocationConflictError, match="expected period 2"):
            record_allocation_period(store.engine, _period(wrong, T0 + timedelta(days=1)))
    with pytest.raises(StoreError, match="before period 1"):
        record_allocation_period(store.engine, _period(2, T0 - timedelta(seconds=1)))
    assert [p.number for p in allocation_periods(store.engine, "exp", 1)] == [1]


def test_a_declared_period_zero_may_be_recorded_first(store: Target) -> None:
    record_allocation_period(store.engine, _period(0))
    record_allocation_period(store.engine, _period(1))
    assert [p.number for p in allocation_periods(store.engine, "exp", 1)] == [0, 1]


def test_bad_values_are_store_errors(store: Target) -> None:
    with pytest.raises(StoreError, match="number: found -1"):
        record_allocation_period(store.engine, _period(-1))
    with pytest.raises(StoreError, match="experiment key"):
        record_allocation_period(store.engine, _period(1, key=""))
    with pytest.raises(DataError, match="cannot serialise"):
        record_allocation_period(
            store.engine, AllocationPeriod("exp", 1, 1, T0, CELLS, {"x": object()})
        )


@pytest.mark.parametrize("writers", [2, 6])
def test_concurrent_writers_of_one_number_exactly_one_wins(store: Target, writers: int) -> None:
    record_allocation_period(store.engine, _period(1))
    barrier = threading.Barrier(writers, timeout=60)
    won: list[int] = []
    lost: list[BaseException] = []

    def write(i: int) -> None:
        engine = store.engine_again()
        try:
            barrier.wait()
            p = _period(2, T0 + timedelta(hours=i + 1))
            record_allocation_period(engine, p)
            won.append(i)
        except BaseException as exc:  # collected and asserted below
            lost.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1, lost
    assert len(lost) == writers - 1
    assert all(isinstance(e, AllocationConflictError) for e in lost), lost
    got = allocation_periods(store.engine, "exp", 1)
    assert [p.number for p in got] == [1, 2]
    assert got[1].started_at == T0 + timedelta(hours=won[0] + 1)
