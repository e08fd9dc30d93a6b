"""Fixtures: a fresh store on SQLite and on PostgreSQL (isolated in its own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segab.store import init_store, make_engine

PG_ENV = "SEGAB_TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"


@dataclass
class Target:
    """Where a test's store lives: URL, PostgreSQL schema, and an engine on it."""

    backend: str
    url: str
    schema: str | None
    engine: Engine

    def engine_again(self, **kwargs: object) -> Engine:
        """Another engine on the same store (as another process would make)."""
        return make_engine(self.url, schema=self.schema, **kwargs)  # type: ignore[arg-type]

    def count(self, table: str, where: str = "") -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar_one())

    def scalar(self, sql: str) -> object:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()


def pg_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def new_schema() -> str:
    return "segab_test_" + uuid.uuid4().hex[:12]


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        admin.dispose()


def _target(backend: str, tmp_path: Path, *, init: bool) -> Iterator[Target]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(url)
        if init:
            init_store(engine)
        yield Target("sqlite", url, None, engine)
        engine.dispose()
        return
    url = pg_url()
    if url is None:
        pytest.skip(PG_SKIP)
    schema = new_schema()
    engine = make_engine(url, schema=schema)
    try:
        if init:
            init_store(engine)
        else:  # an empty schema, as a fresh database would be
            admin = make_engine(url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            admin.dispose()
        yield Target("postgresql", url, schema, engine)
    finally:
        engine.dispose()
        drop_schema(url, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """An initialised, empty store on each backend."""
    yield from _target(request.param, tmp_path, init=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """A database (or schema) with no store in it yet, on each backend."""
    yield from _target(request.param, tmp_path, init=False)


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())
