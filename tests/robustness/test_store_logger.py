"""The exposure logger isolates rows it cannot store and reports time-outs (issue 15, item 7).

A row with a unit id, segment or variant that UTF-8 cannot encode (a lone
surrogate, as ``json.loads('"\\ud800"')`` returns), an iteration beyond the
32-bit column or an over-long fingerprint is counted in ``rejected`` (and
``dropped``); every other row of its batch is delivered. Before, the driver's
``UnicodeEncodeError`` was taken for an outage and the batch retried forever.
A held lock ends in a time-out named in ``last_error``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from segab.assignment_types import Assignment, Reason
from segab.errors import DataError
from segab.store import ExposureLogger, ExposureRow, init_store, log_exposures, make_engine
from tests.store.conftest import PG_SKIP, Target, drop_schema, new_schema, pg_url
from tests.store.conftest import store as store  # the fixture
from tests.store.helpers import assignment, wait_for

SURROGATE = json.loads('"\\ud800"')
FAST_RETRY = {"retry_initial": 0.01, "retry_max": 0.05}


def make_logger(target: Target, **kwargs: object) -> ExposureLogger:
    return ExposureLogger(target.url, schema=target.schema, **kwargs)  # type: ignore[arg-type]


def units(target: Target) -> set[str]:
    with target.engine.connect() as conn:
        return {r[0] for r in conn.exec_driver_sql("SELECT unit_id FROM exposures")}


def test_a_lone_surrogate_unit_id_is_rejected_and_the_rest_delivered(store: Target) -> None:
    logger = make_logger(store, flush_interval=3600, **FAST_RETRY)
    logger.log(assignment(SURROGATE))
    for i in range(2000):
        assert logger.log(assignment(i))
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.inserted, stats.pending) == (2000, 2000, 0)
    assert (stats.rejected, stats.dropped, stats.retries) == (1, 1, 0)
    assert "surrogate" in (stats.last_rejected or "") and "unit_id" in (stats.last_rejected or "")
    assert units(store) == {f"u{i}" for i in range(2000)}


def _a(
    exp: str = "e",
    iteration: int = 1,
    segment: str = "seg",
    stage: str = "buy",
    variant: str = "a",
    unit: str = "x",
) -> Assignment:
    return Assignment(exp, iteration, unit, segment, stage, variant, 1, True, Reason.ASSIGNED)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (_a(segment=SURROGATE), "segment"),
        (_a(variant="a" + SURROGATE), "variant"),
        (_a(stage="b\udfffy"), "stage"),
        (_a(exp="e" + SURROGATE), "experiment"),
        # a 32-bit column: binary COPY used to store 2**40 as 0 on PostgreSQL
        (_a(iteration=2**40), "iteration"),
        (_a(iteration=-1), "iteration"),
    ],
    ids=["segment", "variant", "stage", "experiment", "iteration_overflow", "iteration_negative"],
)
def test_every_unstorable_field_is_rejected_not_retried(
    store: Target, bad: Assignment, field: str
) -> None:
    logger = make_logger(store, batch_size=10, flush_interval=3600, **FAST_RETRY)
    logger.log_many(assignment(i) for i in range(5))
    logger.log(bad)
    logger.log_many(assignment(i) for i in range(5, 10))
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.rejected, stats.dropped, stats.pending) == (10, 1, 1, 0)
    assert stats.retries == 0
    assert f"{field}: found" in (stats.last_rejected or "")
    assert units(store) == {f"u{i}" for i in range(10)}
    iterations = store.scalar("SELECT count(DISTINCT iteration) FROM exposures")
    assert iterations == 1  # nothing truncated into another iteration


def test_an_over_long_fingerprint_is_rejected_on_both_backends(store: Target) -> None:
    logger = make_logger(store, flush_interval=3600)
    logger.log(assignment(1), config_fingerprint="f" * 65)
    logger.log(assignment(2), config_fingerprint="f" * 64)
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.rejected) == (1, 1)
    assert "config_fingerprint: found 65 characters, expected at most 64" in (
        stats.last_rejected or ""
    )


def test_log_exposures_names_the_unencodable_row(store: Target) -> None:
    rows = [
        ExposureRow("e", 1, "u1", None, "buy", "a"),
        ExposureRow("e", 1, SURROGATE, None, "buy", "a"),
    ]
    with pytest.raises(
        DataError, match=r"exposure row 1: unit_id: found '\\ud800', expected text UTF-8"
    ):
        log_exposures(store.engine, rows)
    assert store.count("exposures") == 0  # validated before anything is written


def test_a_bad_row_among_many_batches_never_blocks_later_batches(store: Target) -> None:
    logger = make_logger(store, batch_size=100, max_buffer=1000, flush_interval=0.01)
    for i in range(3000):  # more than max_buffer in total: a stuck batch would drop rows
        if i % 250 == 7:
            logger.log(assignment(f"u{i}{SURROGATE}"))
        logger.log(assignment(i))
        if i % 500 == 499:
            assert logger.flush(timeout=60)
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.rejected, stats.dropped, stats.pending) == (3000, 12, 12, 0)
    assert store.count("exposures") == 3000


def test_sqlite_lock_time_out_is_reported_then_delivered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init_store(make_engine(url))
    blocker = make_engine(url).raw_connection()
    blocker.execute("BEGIN EXCLUSIVE")  # type: ignore[attr-defined]
    logger = ExposureLogger(url, flush_interval=0.01, busy_timeout=0.05, **FAST_RETRY)
    try:
        logger.log_many(assignment(i) for i in range(3))
        wait_for(lambda: logger.stats().retries >= 2, what="failed attempts")
        assert logger.flush(timeout=0.2) is False  # nothing can be written while locked
        error = logger.stats().last_error or ""
        assert error.startswith("flush timed out after 0.2 s with 3 rows pending")
        assert "timed out waiting for the database" in error and "database is locked" in error
    finally:
        blocker.rollback()
        blocker.close()
    assert logger.flush(timeout=60)
    assert logger.stats().last_error is None
    assert logger.close()


def test_postgresql_lock_time_out_is_reported_then_delivered() -> None:
    url = pg_url()
    if url is None:
        pytest.skip(PG_SKIP)
    schema = new_schema()
    engine = make_engine(url, schema=schema)
    init_store(engine)
    blocker = engine.connect()
    tx = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE exposures IN ACCESS EXCLUSIVE MODE"))
    logger = ExposureLogger(url, schema=schema, flush_interval=0.01, busy_timeout=0.2, **FAST_RETRY)
    try:
        logger.log_many(assignment(i) for i in range(3))
        wait_for(lambda: logger.stats().retries >= 1, what="a failed attempt")
        error = logger.stats().last_error or ""
        assert "timed out waiting for the database" in error and "lock timeout" in error
        assert logger.stats().pending == 3
    finally:
        tx.rollback()
        blocker.close()
    try:
        assert logger.flush(timeout=60)
        stats = logger.stats()
        assert (stats.delivered, stats.pending, stats.last_error) == (3, 0, None)
        assert logger.close()
    finally:
        engine.dispose()
        drop_schema(url, schema)


def test_close_that_gives_up_says_so(tmp_path: Path) -> None:
    logger = ExposureLogger(
        f"sqlite:///{tmp_path / 'missing' / 's.db'}", flush_interval=0.01, **FAST_RETRY
    )
    logger.log_many(assignment(i) for i in range(4))
    assert logger.close(timeout=0.2) is False
    error = logger.stats().last_error or ""
    # a write still in flight at the timeout is named before the last failure
    assert error.startswith("close timed out after 0.2 s with 4 rows pending; ")
    assert "; last failure: " in error
    assert "unable to open database file" in error
