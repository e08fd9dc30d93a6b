"""Store URLs, engines, init, status and the schema-version check, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segab.errors import SchemaVersionError, StoreError
from segab.store import (
    SCHEMA_VERSION,
    check_schema,
    init_store,
    make_engine,
    mask_url,
    open_store,
    resolve_url,
    store_status,
)
from segab.store.models import STORE_TABLES
from tests.store.conftest import Target, table_names


def test_resolve_url_prefers_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGAB_DB", "sqlite:///from_env.db")
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"
    assert resolve_url(None) == "sqlite:///from_env.db"
    monkeypatch.delenv("SEGAB_DB")
    assert resolve_url(None) == "sqlite:///segab.db"


def test_plain_postgresql_url_uses_psycopg() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert make_engine(url).dialect.driver == "psycopg"


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"unsupported store URL 'mysql://u:\*\*\*@h/db'"):
        make_engine("mysql://u:secret@h/db")
    with pytest.raises(StoreError, match="invalid store URL"):
        make_engine("not a url")


def test_mask_url_hides_password() -> None:
    assert mask_url("postgresql://bob:s3cret@db:5432/ab") == "postgresql://bob:***@db:5432/ab"
    assert "s3cret" not in mask_url("postgresql+psycopg://bob:s3cret@db/ab")


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}", busy_timeout=7)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000


def test_schema_option_is_for_postgresql_only() -> None:
    with pytest.raises(StoreError, match="schemas are for PostgreSQL"):
        make_engine("sqlite:///x.db", schema="ab")


def test_init_is_idempotent_and_creates_every_table(empty_db: Target) -> None:
    assert init_store(empty_db.engine) == SCHEMA_VERSION
    assert init_store(empty_db.engine) == SCHEMA_VERSION
    assert {t.name for t in STORE_TABLES} <= table_names(empty_db.engine)
    assert check_schema(empty_db.engine) == SCHEMA_VERSION


def init_concurrently(make: Callable[[], Engine], threads: int = 4) -> list[BaseException]:
    """Run ``init_store`` on ``threads`` engines at once; return what they raised."""
    errors: list[BaseException] = []

    def run() -> None:
        engine = make()
        try:
            init_store(engine)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return errors


def test_concurrent_init_is_safe(empty_db: Target) -> None:
    assert init_concurrently(empty_db.engine_again) == []
    assert empty_db.count("schema_version") == 1


def test_status_counts_rows_and_masks_url(store: Target) -> None:
    status = store_status(store.engine)
    assert status["schema_version"] == SCHEMA_VERSION
    assert status["expected_schema_version"] == SCHEMA_VERSION
    assert status["dialect"] == store.backend
    assert status["schema"] == store.schema
    assert status["tables"] == {
        t.name: (1 if t.name == "schema_version" else 0) for t in STORE_TABLES
    }


def test_missing_store_is_reported_not_created(empty_db: Target) -> None:
    with pytest.raises(StoreError, match=r"no segab store at .*segab db init"):
        check_schema(empty_db.engine)
    with pytest.raises(StoreError, match="no segab store"):
        open_store(empty_db.url, schema=empty_db.schema)
    assert table_names(empty_db.engine) == set()


def _set_version(target: Target, version: int) -> None:
    with target.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": version})


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (
            SCHEMA_VERSION + 1,
            f"newer than the version {SCHEMA_VERSION} this segab expects: it was written by a",
        ),
        (
            0,  # before any migration: refused, not upgraded
            f"older than the version {SCHEMA_VERSION} this segab expects: it was written by an",
        ),
    ],
    ids=["future", "past"],
)
def test_store_of_another_version_is_refused_and_left_unchanged(
    store: Target, version: int, words: str
) -> None:
    _set_version(store, version)
    store.engine.dispose()
    before = table_names(store.engine)
    for call in (check_schema, init_store, store_status):
        with pytest.raises(SchemaVersionError, match=f"schema version {version}, {words}"):
            call(store.engine)
    with pytest.raises(SchemaVersionError, match="left unchanged"):
        open_store(store.url, schema=store.schema, create=True)
    assert table_names(store.engine) == before
    assert store.scalar("SELECT version FROM schema_version") == version


def test_a_version_1_store_is_refused_until_db_init_upgrades_it(store: Target) -> None:
    # a store of schema version 1 (before allocation_periods), with data in it
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE allocation_periods")
        conn.exec_driver_sql(
            "INSERT INTO analysis_snapshots (experiment, iteration, created_at, result_json) "
            "VALUES ('e', 1, CURRENT_TIMESTAMP, '{}')"
        )
    _set_version(store, 1)
    store.engine.dispose()
    for call in (check_schema, store_status):
        with pytest.raises(SchemaVersionError, match=r"schema version 1, older .*segab db init"):
            call(store.engine)
    assert "allocation_periods" not in table_names(store.engine)
    assert init_store(store.engine) == SCHEMA_VERSION
    assert check_schema(store.engine) == SCHEMA_VERSION
    assert "allocation_periods" in table_names(store.engine)
    assert store.count("analysis_snapshots") == 1
    assert init_store(store.engine) == SCHEMA_VERSION


def test_foreign_tables_with_store_names_are_not_adopted(empty_db: Target) -> None:
    with empty_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id integer, payload text)")
    with pytest.raises(StoreError, match="already has tables events but no schema_version"):
        init_store(empty_db.engine)
    assert table_names(empty_db.engine) == {"events"}


def test_unreachable_database_is_a_store_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'missing_dir' / 's.db'}")
    with pytest.raises(StoreError, match=r"cannot open store at sqlite:///.*unable to open"):
        check_schema(engine)


def test_concurrent_first_use_of_new_sqlite_files(tmp_path: Path) -> None:
    """Four engines opening a brand-new SQLite file at once, 50 files over.

    SQLite skips the busy handler when switching a file to WAL, so before the
    retry in ``engine._wal`` about 1 file in 16 failed 'database is locked'
    (measured: 19 of 300); 50 files make a regression show almost surely.
    """
    errors: list[BaseException] = []
    for i in range(50):
        url = f"sqlite:///{tmp_path}/store{i}.db"
        errors += init_concurrently(functools.partial(make_engine, url))
    assert errors == []
