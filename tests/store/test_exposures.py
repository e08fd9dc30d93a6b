"""log_exposures: idempotence, conflicts, validation; on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab.assignment_types import Assignment, Reason
from segab.errors import DataError
from segab.store import ExposureRow, LogResult, exposure_row, log_exposures, validate_exposure
from segab.store.models import EXPOSURE_CONFLICTS_TABLE, EXPOSURES_TABLE
from tests.store.conftest import Target


def rows(
    exp: str, units: range | list[int], variant: str = "a", stage: str = "buy"
) -> list[ExposureRow]:
    return [ExposureRow(exp, 1, f"u{u}", "seg", stage, variant) for u in units]


def stored(target: Target, exp: str) -> dict[tuple[str, str], str]:
    t = EXPOSURES_TABLE.c
    query = sa.select(t.unit_id, t.stage, t.variant).where(t.experiment == exp)
    with target.engine.connect() as conn:
        return {(u, s): v for u, s, v in conn.execute(query)}


def conflicts(target: Target, exp: str) -> list[tuple[str, str, str, int]]:
    t = EXPOSURE_CONFLICTS_TABLE.c
    query = sa.select(t.unit_id, t.stored_variant, t.variant, t.occurrences).where(
        t.experiment == exp
    )
    with target.engine.connect() as conn:
        return sorted((u, sv, v, int(n)) for u, sv, v, n in conn.execute(query))


def test_first_write_inserts_and_repeat_is_duplicate(store: Target) -> None:
    assert log_exposures(store.engine, rows("e", range(100))) == LogResult(100, 0, 0)
    assert log_exposures(store.engine, rows("e", range(50, 150))) == LogResult(50, 50, 0)
    assert store.count("exposures") == 150
    assert store.count("exposure_conflicts") == 0


def test_other_variant_is_a_counted_conflict_and_keeps_the_first(store: Target) -> None:
    log_exposures(store.engine, rows("e", range(10), "a"))
    assert log_exposures(store.engine, rows("e", range(5), "b")) == LogResult(0, 0, 5)
    assert log_exposures(store.engine, rows("e", range(2), "b")) == LogResult(0, 0, 2)
    assert set(stored(store, "e").values()) == {"a"}
    found = conflicts(store, "e")
    assert [(u, sv, v) for u, sv, v, _ in found] == [(f"u{i}", "a", "b") for i in range(5)]
    assert sum(n for *_, n in found) == 7
    assert {u: n for u, _, _, n in found} == {"u0": 2, "u1": 2, "u2": 1, "u3": 1, "u4": 1}


def test_duplicates_and_conflicts_inside_one_batch(store: Target) -> None:
    batch = [
        ExposureRow("e", 1, "u1", None, "buy", "a"),
        ExposureRow("e", 1, "u1", None, "buy", "a"),
        ExposureRow("e", 1, "u1", None, "buy", "b"),
        ExposureRow("e", 1, "u1", None, "view", "b"),  # another stage: its own exposure
        ExposureRow("e", 2, "u1", None, "buy", "b"),  # another iteration: its own exposure
    ]
    assert log_exposures(store.engine, batch) == LogResult(3, 1, 1)
    assert store.count("exposures") == 3


def test_exposure_fields_round_trip(store: Target) -> None:
    seen = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    log_exposures(store.engine, [ExposureRow("e", 3, "u1", None, "buy", "b", 1, "f" * 64, seen)])
    with store.engine.connect() as conn:
        t = EXPOSURES_TABLE.c
        row = conn.execute(
            sa.select(
                t.experiment,
                t.iteration,
                t.unit_id,
                t.segment,
                t.stage,
                t.variant,
                t.hash_version,
                t.config_fingerprint,
                t.first_seen,
            )
        ).one()
    first_seen = row[8] if row[8].tzinfo else row[8].replace(tzinfo=UTC)
    assert tuple(row[:8]) == ("e", 3, "u1", None, "buy", "b", 1, "f" * 64)
    assert first_seen == seen


def test_exposure_row_from_assignment() -> None:
    a = Assignment("e", 2, "u9", "young", "buy", "b", 17, True, Reason.ASSIGNED)
    row = exposure_row(a, config_fingerprint="abc")
    assert row.key == ("e", 2, "u9", "buy")
    assert (row.variant, row.config_fingerprint, row.hash_version) == ("b", "abc", 1)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (ExposureRow("e", 1, "", None, "s", "a"), "unit_id: found an empty string"),
        (ExposureRow("e", 1, "u", None, "s", None), "variant: found None"),  # type: ignore[arg-type]
        (ExposureRow("e", "1", "u", None, "s", "a"), "iteration: found '1'"),  # type: ignore[arg-type]
        (ExposureRow("e", 1, "u\x00", None, "s", "a"), "without NUL"),
        (ExposureRow("e", 1, 42, None, "s", "a"), "unit_id: found 42, expected a string"),  # type: ignore[arg-type]
    ],
)
def test_invalid_rows_are_refused_before_writing(
    store: Target, row: ExposureRow, problem: str
) -> None:
    assert problem in (validate_exposure(row) or "")
    with pytest.raises(DataError, match=r"exposure row 1: "):
        log_exposures(store.engine, [ExposureRow("e", 1, "ok", None, "s", "a"), row])
    assert store.count("exposures") == 0


def test_empty_batch_is_a_no_op(store: Target) -> None:
    assert log_exposures(store.engine, []) == LogResult(0, 0, 0)


_events = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["buy", "view"]), st.sampled_from("ab")),
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_events, cuts=st.lists(st.integers(1, 10), max_size=6))
def test_any_batching_gives_first_variant_and_exact_counts(
    store: Target, events: list[tuple[int, str, str]], cuts: list[int]
) -> None:
    """Oracle: a dict keeping the first variant per key, fed the rows in order."""
    exp = "prop_" + uuid.uuid4().hex[:8]  # each example writes its own experiment
    expected: dict[tuple[str, str], str] = {}
    n_conflicts = 0
    for unit, stage, variant in events:
        first = expected.setdefault((f"u{unit}", stage), variant)
        n_conflicts += first != variant
    batches, start = [], 0
    for size in itertools.chain(cuts, [len(events)]):
        batches.append(events[start : start + size])
        start += size
    total = LogResult(0, 0, 0)
    for batch in batches:
        result = log_exposures(
            store.engine, [ExposureRow(exp, 1, f"u{u}", None, s, v) for u, s, v in batch]
        )
        assert result.total == len(batch)
        total = LogResult(*(a + b for a, b in zip(total, result, strict=True)))
    assert stored(store, exp) == expected
    assert total.inserted == len(expected)
    assert total.conflicts == n_conflicts
    assert sum(n for *_, n in conflicts(store, exp)) == n_conflicts
