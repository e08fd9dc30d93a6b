"""Store URLs, engines, schema creation and the schema-version check.

The store URL comes from ``--db``, else the ``SEGAB_DB`` environment
variable, else ``sqlite:///segab.db``. SQLite runs in WAL mode with a busy
timeout; PostgreSQL goes through psycopg 3 (a plain ``postgresql://`` URL is
translated to ``postgresql+psycopg://``). A PostgreSQL store can live in its
own schema (``schema=``, validated and quoted; the connection's
``search_path`` is set to it).

Nothing here keeps a module-global engine: callers create one with
:func:`make_engine` and pass it in.

A store of an older schema version is upgraded in place by :func:`init_store`
(``segab db init``) when every step is in :data:`MIGRATIONS`; the other
functions refuse it until then.

Example:
    >>> engine = make_engine("sqlite://")
    >>> init_store(engine)
    2
    >>> store_status(engine)["schema_version"]
    2
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from segab.errors import SchemaVersionError, StoreError
from segab.store.models import (
    ALLOCATION_PERIODS_TABLE,
    SCHEMA_VERSION,
    SCHEMA_VERSION_TABLE,
    STORE_TABLES,
    utcnow,
)

__all__ = [
    "DB_ERRORS",
    "DEFAULT_URL",
    "ENV_VAR",
    "MIGRATIONS",
    "check_schema",
    "describe_error",
    "engine_schema",
    "init_store",
    "make_engine",
    "mask_url",
    "open_store",
    "resolve_url",
    "store_status",
    "validate_identifier",
    "write_begin",
]

DEFAULT_URL = "sqlite:///segab.db"
ENV_VAR = "SEGAB_DB"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_INIT_LOCK_KEY = 0x5E6AB5  # pg_advisory_xact_lock key serialising init_store

#: Exceptions a database operation can raise: SQLAlchemy's, and psycopg's
#: from ``COPY`` (which runs on the driver connection).
DB_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, psycopg.Error)


def resolve_url(url: str | None) -> str:
    """Return the store URL: ``url`` if given, else ``$SEGAB_DB``, else the default.

    Example:
        >>> resolve_url("sqlite:///x.db")
        'sqlite:///x.db'
        >>> import os; os.environ.pop("SEGAB_DB", None) and None
        >>> resolve_url(None)
        'sqlite:///segab.db'
    """
    if url:
        return url
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def mask_url(url: str | sa.URL) -> str:
    """Return the URL with its password replaced by ``***``.

    Example:
        >>> mask_url("postgresql://bob:secret@db:5432/ab")
        'postgresql://bob:***@db:5432/ab'
    """
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", str(url))


def validate_identifier(name: str, what: str = "schema name") -> str:
    """Check that ``name`` is a safe SQL identifier and return it.

    Lowercase letters, digits and ``_``, starting with a letter or ``_``,
    at most 63 characters. Anything else raises :class:`StoreError`.

    Example:
        >>> validate_identifier("segab_prod")
        'segab_prod'
        >>> validate_identifier('x"; DROP TABLE exposures; --')
        Traceback (most recent call last):
        ...
        segab.errors.StoreError: invalid schema name 'x"; DROP TABLE exposures; --': expected \
lowercase letters, digits and _ (at most 63, not starting with a digit)
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise StoreError(
            f"invalid {what} {name!r}: expected lowercase letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )
    return name


def _normalise(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"invalid store URL {mask_url(url)!r}: expected sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(
            f"unsupported store URL {mask_url(parsed)!r}: found driver {parsed.drivername!r}, "
            "expected sqlite:///PATH or postgresql://..."
        )
    return parsed


def make_engine(
    url: str | None = None,
    *,
    schema: str | None = None,
    busy_timeout: float = 30.0,
    connect_timeout: int = 10,
) -> Engine:
    """Create an engine for a store URL (resolved with :func:`resolve_url`).

    ``busy_timeout`` is how many seconds a statement waits for a lock before
    it fails (SQLite's busy timeout; PostgreSQL's ``lock_timeout``), so a
    held lock becomes an error that names the time-out instead of a hang.
    SQLite: WAL journal and write transactions opened with ``BEGIN IMMEDIATE``
    (see :func:`write_begin`). PostgreSQL: psycopg 3, pre-ping on checkout,
    ``connect_timeout`` seconds, and ``search_path`` set to ``schema`` if given.
    Creating the engine does not connect.

    Example:
        >>> make_engine("sqlite:///:memory:").dialect.name
        'sqlite'
        >>> make_engine("postgresql://u@localhost/db").dialect.driver
        'psycopg'
    """
    parsed = _normalise(resolve_url(url))
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise StoreError(
                f"schema {schema!r} given for a SQLite store: schemas are for PostgreSQL"
            )
        engine = sa.create_engine(
            parsed, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _sqlite_events(engine, parsed.database or "", busy_timeout)
        return engine
    connect_args: dict[str, Any] = {"application_name": "segab"}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = connect_timeout
    # The URL's own options (which may set another lock_timeout) come after ours.
    given = parsed.query.get("options", ())
    options = [f"-clock_timeout={max(1, int(busy_timeout * 1000))}"]
    options += [given] if isinstance(given, str) else list(given)
    if schema is not None:
        options.append(f"-csearch_path={validate_identifier(schema)}")
    connect_args["options"] = " ".join(options)
    engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    if schema is not None:
        _SCHEMAS[engine] = schema
    return engine


def _wal(cur: Any, busy_timeout: float) -> None:
    """Switch the database to WAL unless it is already (the mode persists in the file).

    SQLite does not run the busy handler for this switch: while another connection
    creates or switches the same new file it fails at once with "database is
    locked", so it is retried for up to ``busy_timeout`` seconds.
    """
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def _sqlite_events(engine: Engine, database: str, busy_timeout: float) -> None:
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if not in_memory:
            _wal(cur, busy_timeout)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("segab_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def engine_schema(engine: Engine) -> str | None:
    """Return the PostgreSQL schema an engine was made for (``None``: default).

    Example:
        >>> engine_schema(make_engine("postgresql://u@h/db", schema="ab"))
        'ab'
    """
    return _SCHEMAS.get(engine)


def write_begin(engine: Engine) -> Any:
    """Open a write transaction (``BEGIN IMMEDIATE`` on SQLite).

    Use as ``with write_begin(engine) as conn: ...``; commits on success,
    rolls back on error.

    Example:
        >>> with write_begin(make_engine("sqlite://")) as conn:
        ...     conn.exec_driver_sql("SELECT 1").scalar()
        1
    """
    return engine.execution_options(segab_write=True).begin()


def _where(engine: Engine) -> str:
    schema = engine_schema(engine)
    return mask_url(engine.url) + (f" (schema {schema})" if schema else "")


def _read_version(conn: Connection, engine: Engine) -> int | None:
    """The stored schema version, or ``None`` when the table does not exist."""
    if not sa.inspect(conn).has_table(SCHEMA_VERSION_TABLE.name):
        return None
    row = conn.execute(sa.select(SCHEMA_VERSION_TABLE.c.version)).first()
    if row is None:
        raise StoreError(
            f"store at {_where(engine)} has an empty schema_version table: "
            "expected one row; it was not initialised by segab"
        )
    return int(row[0])


def _migrate_1_to_2(conn: Connection) -> None:
    ALLOCATION_PERIODS_TABLE.create(conn, checkfirst=True)


#: ``{version: step}``: the step upgrades a store of that version to the next one
#: (in the transaction of :func:`init_store`, which then records the new version).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1_to_2}


def _migratable(version: int) -> bool:
    return all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION))


def _compare(version: int, engine: Engine) -> None:
    if version < SCHEMA_VERSION:
        how = (
            "Upgrade it with `segab db init --db URL` (it adds the newer tables)"
            if _migratable(version)
            else "Migrate it with that segab's export, or use a new store"
        )
        raise SchemaVersionError(
            f"store at {_where(engine)} has schema version {version}, older than the "
            f"version {SCHEMA_VERSION} this segab expects: it was written by an older segab. "
            f"{how}; it was left unchanged."
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store at {_where(engine)} has schema version {version}, newer than the "
            f"version {SCHEMA_VERSION} this segab expects: it was written by a newer segab. "
            "Upgrade segab to use it; it was left unchanged."
        )


def init_store(engine: Engine) -> int:
    """Create the store's tables (and schema) if missing; return the schema version.

    Safe to call concurrently and on an existing store. A store of an older
    version is upgraded by the steps of :data:`MIGRATIONS` (in one transaction);
    refuses, without touching anything, a store of a newer version or one no
    migration reaches, and a database that already has tables with the store's
    names but no ``schema_version``.

    Example:
        >>> engine = make_engine("sqlite://")
        >>> init_store(engine), init_store(engine)
        (2, 2)
    """
    from segab import __version__

    try:
        with write_begin(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INIT_LOCK_KEY})
                schema = engine_schema(engine)
                if schema is not None:
                    quoted = engine.dialect.identifier_preparer.quote_schema(schema)
                    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            version = _read_version(conn, engine)
            if version is not None and version < SCHEMA_VERSION and _migratable(version):
                for step in range(version, SCHEMA_VERSION):
                    MIGRATIONS[step](conn)
                conn.execute(
                    sa.update(SCHEMA_VERSION_TABLE).values(
                        version=SCHEMA_VERSION, segab_version=__version__, updated_at=utcnow()
                    )
                )
                return SCHEMA_VERSION
            if version is not None:
                _compare(version, engine)
                return version
            inspector = sa.inspect(conn)
            clashes = [t.name for t in STORE_TABLES if inspector.has_table(t.name)]
            if clashes:
                raise StoreError(
                    f"database at {_where(engine)} already has tables {', '.join(clashes)} "
                    "but no schema_version table: expected an empty database or a segab store. "
                    "Use another database or a dedicated PostgreSQL schema (--schema)."
                )
            STORE_TABLES[0].metadata.create_all(conn, tables=STORE_TABLES)
            conn.execute(
                sa.insert(SCHEMA_VERSION_TABLE),
                {
                    "id": 1,
                    "version": SCHEMA_VERSION,
                    "segab_version": __version__,
                    "updated_at": utcnow(),
                },
            )
            return SCHEMA_VERSION
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot initialise store at {_where(engine)}: {_short(exc)}") from exc


def check_schema(engine: Engine) -> int:
    """Check that the store exists and has this segab's schema version.

    Raises :class:`StoreError` when the store is not initialised and
    :class:`SchemaVersionError` when it is older or newer. Reads only.

    Example:
        >>> engine = make_engine("sqlite://")
        >>> check_schema(engine)
        Traceback (most recent call last):
        ...
        segab.errors.StoreError: no segab store at sqlite://: the schema_version table is \
missing. Create it with `segab db init --db URL`.
        >>> init_store(engine); check_schema(engine)
        2
        2
    """
    try:
        with engine.connect() as conn:
            version = _read_version(conn, engine)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot open store at {_where(engine)}: {_short(exc)}") from exc
    if version is None:
        raise StoreError(
            f"no segab store at {_where(engine)}: the schema_version table is missing. "
            "Create it with `segab db init --db URL`."
        )
    _compare(version, engine)
    return version


def open_store(
    url: str | None = None, *, schema: str | None = None, create: bool = False
) -> Engine:
    """Make an engine for a store and check (``create``: initialise) it.

    The usual way for a command or an analysis to get at a store: raises
    :class:`StoreError` / :class:`SchemaVersionError` up front instead of
    failing on the first query.

    Example:
        >>> engine = open_store("sqlite://", create=True)
        >>> check_schema(engine)
        2
    """
    engine = make_engine(url, schema=schema)
    if create:
        init_store(engine)
    else:
        check_schema(engine)
    return engine


def store_status(engine: Engine) -> dict[str, Any]:
    """Describe a store: masked URL, dialect, schema version and rows per table.

    Raises like :func:`check_schema` when the store is missing or incompatible.

    Example:
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> status = store_status(engine)
        >>> status["tables"]["exposures"], status["dialect"]
        (0, 'sqlite')
    """
    version = check_schema(engine)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for table in STORE_TABLES:
                counts[table.name] = int(
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                )
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot read store at {_where(engine)}: {_short(exc)}") from exc
    return {
        "url": mask_url(engine.url),
        "dialect": engine.dialect.name,
        "schema": engine_schema(engine),
        "schema_version": version,
        "expected_schema_version": SCHEMA_VERSION,
        "tables": counts,
    }


def _short(exc: BaseException) -> str:
    """First line of a driver error, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """One line naming a (driver) error and its first message line.

    Example:
        >>> describe_error(ValueError("bad value"))
        'ValueError: bad value'
    """
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {_short(exc)}"
