"""The logger survives a database that is unavailable for a while, within its buffer bound.

Outages are real, not mocked:

* SQLite, store not reachable: the URL points into a directory that does not
  exist yet ("unable to open database file"); the test creates it later.
* SQLite, store locked: another connection holds ``BEGIN EXCLUSIVE``; the
  logger's busy timeout expires ("database is locked") until it commits.
* PostgreSQL: the logger connects through a loopback TCP forwarder
  (:mod:`tests.store.proxy`) that refuses connections, then forwards, then
  cuts every open connection mid-flight, then forwards again.

The sequence of states is driven by the test, so counts are exact: nothing
can be delivered while the database is away, so a buffer of ``max_buffer``
rows fills exactly and every row beyond it is dropped and counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from segab.store import ExposureLogger, init_store, make_engine
from tests.store.conftest import PG_SKIP, drop_schema, new_schema, pg_url
from tests.store.helpers import assignment, wait_for
from tests.store.proxy import TcpProxy

FAST_RETRY = {"retry_initial": 0.01, "retry_max": 0.05}


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM exposures").scalar_one())


def failing(logger: ExposureLogger, retries: int = 3) -> None:
    wait_for(
        lambda: logger.stats().retries >= retries and logger.stats().last_error is not None,
        what=f"{retries} failed attempts",
    )


def test_sqlite_store_unreachable_then_available(tmp_path: Path) -> None:
    directory = tmp_path / "not_yet"
    url = f"sqlite:///{directory / 'store.db'}"
    logger = ExposureLogger(url, batch_size=10, max_buffer=100, flush_interval=0.01, **FAST_RETRY)
    queued = sum(logger.log(assignment(i)) for i in range(130))
    failing(logger)
    stats = logger.stats()
    assert queued == 100
    assert (stats.delivered, stats.pending, stats.dropped) == (0, 100, 30)
    assert "unable to open database file" in (stats.last_error or "")

    directory.mkdir()  # the database comes back
    assert logger.flush(timeout=60)
    stats = logger.stats()
    assert (stats.delivered, stats.pending, stats.dropped, stats.last_error) == (100, 0, 30, None)
    assert count(make_engine(url)) == 100
    # the first 100 were kept (drops hit rows arriving while the buffer was full)
    with make_engine(url).connect() as conn:
        units = {r[0] for r in conn.exec_driver_sql("SELECT unit_id FROM exposures")}
    assert units == {f"u{i}" for i in range(100)}
    assert logger.close()


def test_sqlite_store_locked_then_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init_store(make_engine(url))
    blocker = make_engine(url).raw_connection()
    blocker.execute("BEGIN EXCLUSIVE")  # type: ignore[attr-defined]
    logger = ExposureLogger(
        url, batch_size=10, max_buffer=50, flush_interval=0.01, busy_timeout=0.02, **FAST_RETRY
    )
    try:
        logger.log_many(assignment(i) for i in range(60))
        failing(logger)
        stats = logger.stats()
        assert (stats.delivered, stats.pending, stats.dropped) == (0, 50, 10)
        assert "database is locked" in (stats.last_error or "")
    finally:
        blocker.rollback()
        blocker.close()
    assert logger.flush(timeout=60)
    assert logger.stats().delivered == 50
    assert count(make_engine(url)) == 50
    assert logger.close()


@pytest.fixture
def pg_proxy() -> object:
    url = pg_url()
    if url is None:
        pytest.skip(PG_SKIP)
    real = sa.make_url(url)
    proxy = TcpProxy(real.port or 5432, real.host or "127.0.0.1")
    schema = new_schema()
    try:
        yield url, real.set(port=proxy.port).render_as_string(hide_password=False), schema, proxy
    finally:
        proxy.close()
        drop_schema(url, schema)


def test_postgresql_down_up_cut_up(pg_proxy: tuple[str, str, str, TcpProxy]) -> None:
    direct_url, proxied_url, schema, proxy = pg_proxy
    direct = make_engine(direct_url, schema=schema)
    logger = ExposureLogger(
        proxied_url,
        schema=schema,
        batch_size=20,
        max_buffer=200,
        flush_interval=0.01,
        **FAST_RETRY,
    )
    # 1. nothing listening: connection refused
    logger.log_many(assignment(i) for i in range(250))
    failing(logger)
    stats = logger.stats()
    assert (stats.delivered, stats.pending, stats.dropped) == (0, 200, 50)
    assert "refused" in (stats.last_error or "")

    # 2. the server comes up: everything buffered is delivered (and the store created)
    proxy.up()
    assert logger.flush(timeout=60)
    assert logger.stats().delivered == 200 and count(direct) == 200

    # 3. the server goes away under open connections
    proxy.cut()
    before = logger.stats().retries
    logger.log_many(assignment(i) for i in range(1000, 1150))
    wait_for(lambda: logger.stats().retries >= before + 3, what="failures after the cut")
    stats = logger.stats()
    assert (stats.delivered, stats.pending, stats.dropped) == (200, 150, 50)
    assert count(direct) == 200

    # 4. back again: the pool reconnects and the rest arrives, once
    proxy.up()
    assert logger.flush(timeout=60)
    stats = logger.stats()
    assert (stats.delivered, stats.inserted, stats.pending, stats.dropped) == (350, 350, 0, 50)
    assert stats.last_error is None
    assert count(direct) == 350
    assert logger.close()
    direct.dispose()


def test_close_during_an_outage_reports_what_is_undelivered(tmp_path: Path) -> None:
    logger = ExposureLogger(
        f"sqlite:///{tmp_path / 'missing' / 's.db'}", flush_interval=0.01, **FAST_RETRY
    )
    logger.log_many(assignment(i) for i in range(7))
    assert logger.close(timeout=0.3) is False
    stats = logger.stats()
    assert (stats.delivered, stats.pending) == (0, 7)
    assert logger.log(assignment(99)) is False
    assert logger.stats().dropped == 1
