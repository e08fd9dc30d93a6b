"""ExposureLogger: batching, flushing, never raising, bad rows, exit and fork; both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

import segab.store.exposures as exposures_module
from segab.assignment_types import Assignment, Reason
from segab.errors import DataError
from segab.store import ExposureLogger, log_exposures
from segab.store.models import EXPOSURES_TABLE
from tests.store.conftest import Target
from tests.store.helpers import assignment, wait_for


def make_logger(target: Target, **kwargs: object) -> ExposureLogger:
    return ExposureLogger(target.url, schema=target.schema, **kwargs)  # type: ignore[arg-type]


def test_logs_in_batches_by_size(store: Target) -> None:
    logger = make_logger(store, batch_size=100, flush_interval=3600)
    for i in range(250):
        assert logger.log(assignment(i))
    wait_for(lambda: logger.stats().delivered == 200, what="two full batches")
    stats = logger.stats()
    assert (stats.pending, stats.batches) == (50, 2)
    assert store.count("exposures") == 200
    assert logger.close()
    assert logger.stats().delivered == 250 and store.count("exposures") == 250


def test_logs_by_time_without_reaching_batch_size(store: Target) -> None:
    logger = make_logger(store, batch_size=1000, flush_interval=0.05)
    for i in range(5):
        logger.log(assignment(i))
    wait_for(lambda: logger.stats().delivered == 5, what="the time-based flush")
    assert store.count("exposures") == 5
    logger.close()


def test_context_manager_flushes_and_counts(store: Target) -> None:
    with make_logger(store, flush_interval=3600, config_fingerprint="f" * 64) as logger:
        logger.log(assignment(1, "a"))
        logger.log(assignment(1, "a"))  # duplicate
        logger.log(assignment(1, "b"))  # conflict
        logger.log(assignment(2, "a"), config_fingerprint="0" * 64)
        holdout = Assignment("e", 1, "u3", "seg", "buy", "a", None, False, Reason.HOLDOUT)
        assert logger.log(holdout) is False  # not in the experiment: not an exposure
    stats = logger.stats()
    assert (stats.delivered, stats.inserted, stats.duplicates, stats.conflicts) == (4, 2, 1, 1)
    assert (stats.pending, stats.dropped, stats.last_error) == (0, 0, None)
    t = EXPOSURES_TABLE.c
    with store.engine.connect() as conn:
        got = dict(conn.execute(sa.select(t.unit_id, t.config_fingerprint)).all())
    assert got == {"u1": "f" * 64, "u2": "0" * 64}
    assert store.count("exposure_conflicts") == 1


def test_flush_waits_for_delivery(store: Target) -> None:
    logger = make_logger(store, flush_interval=3600)
    logger.log_many(assignment(i) for i in range(10))
    assert logger.flush(timeout=30)
    assert store.count("exposures") == 10
    logger.close()


def test_log_never_raises_into_the_app(store: Target) -> None:
    logger = make_logger(store)
    assert logger.log(None) is False  # type: ignore[arg-type]
    assert logger.log("not an assignment") is False  # type: ignore[arg-type]

    def broken() -> object:
        yield assignment(1)
        raise RuntimeError("iterator failed")

    assert logger.log_many(broken()) == 1  # type: ignore[arg-type]
    stats = logger.stats()
    assert stats.dropped == 3
    assert stats.last_error is not None and "iterator failed" in stats.last_error
    assert logger.close()
    assert logger.log(assignment(2)) is False  # after close: dropped, not raised
    assert logger.stats().dropped == 4


def test_invalid_rows_are_rejected_and_counted_not_blocking(store: Target) -> None:
    logger = make_logger(store, flush_interval=3600)
    logger.log(assignment(1))
    logger.log(assignment("bad\x00unit"))
    logger.log(Assignment("e", 1, "u9", "seg", "buy", None, None, True, Reason.ASSIGNED))
    logger.log(assignment(2))
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.rejected, stats.dropped, stats.pending) == (2, 2, 2, 0)
    assert store.count("exposures") == 2


def test_rows_the_database_rejects_are_isolated_by_bisection(
    store: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = exposures_module.log_exposures

    def picky(engine: sa.Engine, rows: list, **kwargs: bool) -> object:  # type: ignore[type-arg]
        if any(r.unit_id == "u13" for r in rows):
            raise DataError("value out of range")  # what a database DataError looks like
        return real(engine, rows, **kwargs)

    monkeypatch.setattr(exposures_module, "log_exposures", picky)
    logger = make_logger(store, batch_size=32, flush_interval=3600)
    logger.log_many(assignment(i) for i in range(32))
    assert logger.close()
    stats = logger.stats()
    assert (stats.delivered, stats.rejected, stats.dropped) == (31, 1, 1)
    assert "u13" in (stats.last_error or "")
    assert store.count("exposures") == 31


def test_interpreter_exit_flushes(store: Target, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from segab.store import ExposureLogger
        from tests.store.helpers import assignment
        logger = ExposureLogger({store.url!r}, schema={store.schema!r}, flush_interval=3600)
        for i in range(25):
            logger.log(assignment(i))
        # no close(): the atexit hook must deliver the rows
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert store.count("exposures") == 25


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_logs_its_own_rows_only(store: Target) -> None:
    logger = make_logger(store, flush_interval=3600)
    logger.log_many(assignment(i) for i in range(5))  # pending in the parent
    pid = os.fork()
    if pid == 0:  # child: a fresh buffer and writer thread
        code = 1
        try:
            logger.log_many(assignment(i) for i in range(100, 103))
            ok = logger.close(timeout=60)
            code = 0 if ok and logger.stats().delivered == 3 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.count("exposures") == 3
    assert logger.close()
    assert logger.stats().delivered == 5
    assert store.count("exposures") == 8


def test_log_exposures_direct_and_logger_agree(store: Target) -> None:
    log_exposures(store.engine, [])
    with make_logger(store) as logger:
        logger.log(assignment(1))
    assert logger.stats().inserted == 1


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        ExposureLogger("sqlite://", batch_size=10, max_buffer=5)
    with pytest.raises(ValueError, match="flush_interval"):
        ExposureLogger("sqlite://", flush_interval=0)
