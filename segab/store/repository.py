"""The experiment registry and the analysis history.

Plain functions taking an engine: register an experiment iteration with its
config (fingerprinted as SHA-256 of the canonical JSON), read it back, change
its status, save and list analysis snapshots. Every value is a bound
parameter.

Example:
    >>> from segab.store.engine import make_engine, init_store
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> fp = register_experiment(engine, "checkout", 1, "running", {"key": "checkout"})
    >>> get_experiment(engine, "checkout").config_fingerprint == fp
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from segab.errors import DataError, StoreError
from segab.store.engine import write_begin
from segab.store.models import ANALYSIS_SNAPSHOTS_TABLE, EXPERIMENTS_TABLE, utcnow

__all__ = [
    "ExperimentRecord",
    "SnapshotRecord",
    "canonical_json",
    "config_fingerprint",
    "get_experiment",
    "get_snapshot",
    "list_experiments",
    "list_snapshots",
    "register_checked",
    "register_experiment",
    "save_snapshot",
    "set_status",
    "wrap_db_error",
]

_EXPERIMENTS = EXPERIMENTS_TABLE
_SNAPSHOTS = ANALYSIS_SNAPSHOTS_TABLE


@dataclass(frozen=True)
class ExperimentRecord:
    """One registered experiment iteration.

    Example:
        >>> r = ExperimentRecord("e", 1, "ab12", "running", utcnow(), utcnow(), {})
        >>> r.status
        'running'
    """

    key: str
    iteration: int
    config_fingerprint: str
    status: str
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any]


@dataclass(frozen=True)
class SnapshotRecord:
    """One saved analysis result.

    Example:
        >>> SnapshotRecord(1, "e", 1, utcnow(), None, None, None, {"lift": 0.1}).result["lift"]
        0.1
    """

    id: int
    experiment: str
    iteration: int
    created_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    config_fingerprint: str | None
    result: dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"found {type(value).__name__}, expected a JSON value")


def canonical_json(value: Any) -> str:
    """Serialise to canonical JSON: sorted keys, no whitespace, non-ASCII escaped.

    The same form as :func:`segab.config.fingerprint` hashes.

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        '{"a":[1,2],"b":1}'
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise DataError(f"cannot serialise to JSON: {exc}") from exc


def config_fingerprint(config: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a config dict.

    Equals :func:`segab.config.fingerprint` of the experiment whose
    ``model_dump(mode="json")`` is ``config``.

    Example:
        >>> config_fingerprint({"a": 1}) == config_fingerprint({"a": 1})
        True
        >>> len(config_fingerprint({}))
        64
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite keeps UTC without the zone


def _check_key(key: object, iteration: object) -> None:
    if not isinstance(key, str) or not key:
        raise StoreError(f"experiment key: found {key!r}, expected a non-empty string")
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise StoreError(f"iteration: found {iteration!r}, expected an integer >= 0")


def _check_status(status: object) -> str:
    if not isinstance(status, str) or not status or len(status) > 32:
        raise StoreError(f"status: found {status!r}, expected a non-empty string of <= 32 chars")
    return status


def wrap_db_error(action: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
    """A database error as a :class:`StoreError`: ``action`` and the driver's first line.

    Example:
        >>> err = sa.exc.OperationalError("SELECT 1", {}, Exception(" disk full "))
        >>> str(wrap_db_error("cannot read periods", err))
        'cannot read periods: disk full'
    """
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    return StoreError(f"{action}: {first[0] if first else type(orig).__name__}")


def register_experiment(
    engine: Engine, key: str, iteration: int, status: str, config: dict[str, Any]
) -> str:
    """Insert or update an experiment iteration; return its config fingerprint.

    An existing (key, iteration) gets the new config, fingerprint and status;
    its ``created_at`` is kept. To decide *whether* to write from what the
    registry holds, use :func:`register_checked` (one transaction).

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> len(register_experiment(engine, "e", 1, "draft", {"key": "e"}))
        64
    """
    return register_checked(engine, key, iteration, status, config, None)


#: ``check(latest, same)`` of :func:`register_checked`: the latest registered iteration of
#: the key and the registered row of the iteration being written (each ``None`` if absent).
RegistrationCheck = Callable[[ExperimentRecord | None, ExperimentRecord | None], None]


def _lock_key(key: str) -> int:
    """A signed 64-bit number naming the experiment key (a PostgreSQL advisory lock key)."""
    digest = hashlib.sha256(f"segab.experiment:{key}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _read_record(conn: Connection, key: str, iteration: int | None) -> ExperimentRecord | None:
    query = sa.select(_EXPERIMENTS).where(_EXPERIMENTS.c.key == key)
    if iteration is not None:
        query = query.where(_EXPERIMENTS.c.iteration == iteration)
    row = conn.execute(query.order_by(_EXPERIMENTS.c.iteration.desc()).limit(1)).first()
    return None if row is None else _record(row)


def register_checked(
    engine: Engine,
    key: str,
    iteration: int,
    status: str,
    config: dict[str, Any],
    check: RegistrationCheck | None,
) -> str:
    """Register an experiment iteration if ``check`` accepts what the registry holds.

    In one write transaction, serialised per experiment key (SQLite: ``BEGIN
    IMMEDIATE``; PostgreSQL: a transaction-level advisory lock on the key),
    reads the key's latest iteration and the row of ``iteration``, calls
    ``check(latest, same)`` (it raises to refuse; nothing is written then),
    and upserts like :func:`register_experiment`. Concurrent callers for one
    key run one after the other, each seeing what the ones before wrote: of
    two conflicting configs, the check of the second sees the first.
    Returns the config fingerprint.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> def only_once(latest, same):
        ...     if same is not None:
        ...         raise StoreError(f"already registered as {same.config_fingerprint[:12]}")
        >>> fp = register_checked(engine, "e", 1, "running", {"seed": "a"}, only_once)
        >>> register_checked(engine, "e", 1, "running", {"seed": "b"}, only_once)
        Traceback (most recent call last):
        ...
        segab.errors.StoreError: already registered as 9ac07f4baf7e
        >>> get_experiment(engine, "e").config_fingerprint == fp
        True
    """
    _check_key(key, iteration)
    _check_status(status)
    if not isinstance(config, dict):
        raise StoreError(f"config: found {type(config).__name__}, expected a dict")
    text = canonical_json(config)
    fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
    now = utcnow()
    values = {
        "key": key,
        "iteration": iteration,
        "config_fingerprint": fingerprint,
        "status": status,
        "created_at": now,
        "updated_at": now,
        "config_json": text,
    }
    try:
        with write_begin(engine) as conn:
            pg = conn.dialect.name == "postgresql"
            if check is not None:
                if pg:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(key)})
                check(_read_record(conn, key, None), _read_record(conn, key, iteration))
            stmt = postgresql.insert(_EXPERIMENTS) if pg else sqlite.insert(_EXPERIMENTS)
            conn.execute(
                stmt.values(values).on_conflict_do_update(
                    index_elements=["key", "iteration"],
                    set_={
                        "config_fingerprint": fingerprint,
                        "status": status,
                        "updated_at": now,
                        "config_json": text,
                    },
                )
            )
    except sa.exc.SQLAlchemyError as exc:
        action = f"cannot register experiment {key!r} iteration {iteration}"
        raise wrap_db_error(action, exc) from exc
    return fingerprint


def _record(row: sa.Row[Any]) -> ExperimentRecord:
    m = row._mapping
    return ExperimentRecord(
        key=m["key"],
        iteration=int(m["iteration"]),
        config_fingerprint=m["config_fingerprint"],
        status=m["status"],
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        updated_at=_aware(m["updated_at"]),  # type: ignore[arg-type]
        config=json.loads(m["config_json"]),
    )


def get_experiment(
    engine: Engine, key: str, iteration: int | None = None
) -> ExperimentRecord | None:
    """Return an experiment iteration (the latest when ``iteration`` is None), or None.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> get_experiment(engine, "nope") is None
        True
    """
    try:
        with engine.connect() as conn:
            return _read_record(conn, key, iteration)
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot read experiment {key!r}", exc) from exc


def list_experiments(engine: Engine) -> list[ExperimentRecord]:
    """Return every registered experiment iteration, by key then iteration.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> _ = register_experiment(engine, "b", 1, "draft", {})
        >>> [r.key for r in list_experiments(engine)]
        ['b']
    """
    query = sa.select(_EXPERIMENTS).order_by(_EXPERIMENTS.c.key, _EXPERIMENTS.c.iteration)
    try:
        with engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error("cannot list experiments", exc) from exc


def set_status(engine: Engine, key: str, iteration: int, status: str) -> None:
    """Change the status of a registered experiment iteration.

    Raises :class:`StoreError` when the iteration is not registered.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> _ = register_experiment(engine, "e", 1, "draft", {})
        >>> set_status(engine, "e", 1, "running")
        >>> get_experiment(engine, "e", 1).status
        'running'
    """
    _check_key(key, iteration)
    _check_status(status)
    stmt = (
        sa.update(_EXPERIMENTS)
        .where(_EXPERIMENTS.c.key == key, _EXPERIMENTS.c.iteration == iteration)
        .values(status=status, updated_at=utcnow())
    )
    try:
        with write_begin(engine) as conn:
            count = conn.execute(stmt).rowcount
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot set status of {key!r} iteration {iteration}", exc) from exc
    if count == 0:
        raise StoreError(
            f"experiment {key!r} iteration {iteration} is not registered: "
            "expected a registered experiment (register it first)"
        )


def save_snapshot(
    engine: Engine,
    experiment: str,
    iteration: int,
    result: dict[str, Any],
    *,
    config_fingerprint: str | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> int:
    """Save an analysis result (as canonical JSON) and return the snapshot id.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> save_snapshot(engine, "e", 1, {"lift": 0.02})
        1
    """
    _check_key(experiment, iteration)
    if not isinstance(result, dict):
        raise StoreError(f"result: found {type(result).__name__}, expected a dict")
    values = {
        "experiment": experiment,
        "iteration": iteration,
        "created_at": utcnow(),
        "window_start": window_start,
        "window_end": window_end,
        "config_fingerprint": config_fingerprint,
        "result_json": canonical_json(result),
    }
    try:
        with write_begin(engine) as conn:
            new_id = conn.execute(
                sa.insert(_SNAPSHOTS).values(values).returning(_SNAPSHOTS.c.id)
            ).scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot save snapshot of {experiment!r}", exc) from exc
    return int(new_id)


def _snapshot(row: sa.Row[Any]) -> SnapshotRecord:
    m = row._mapping
    return SnapshotRecord(
        id=int(m["id"]),
        experiment=m["experiment"],
        iteration=int(m["iteration"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        window_start=_aware(m["window_start"]),
        window_end=_aware(m["window_end"]),
        config_fingerprint=m["config_fingerprint"],
        result=json.loads(m["result_json"]),
    )


def list_snapshots(
    engine: Engine, experiment: str, iteration: int | None = None
) -> list[SnapshotRecord]:
    """Return the snapshots of an experiment (optionally one iteration), oldest first.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> _ = save_snapshot(engine, "e", 1, {"n": 1}); _ = save_snapshot(engine, "e", 2, {"n": 2})
        >>> [s.result["n"] for s in list_snapshots(engine, "e")]
        [1, 2]
    """
    query = sa.select(_SNAPSHOTS).where(_SNAPSHOTS.c.experiment == experiment)
    if iteration is not None:
        query = query.where(_SNAPSHOTS.c.iteration == iteration)
    query = query.order_by(_SNAPSHOTS.c.created_at, _SNAPSHOTS.c.id)
    try:
        with engine.connect() as conn:
            return [_snapshot(row) for row in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot list snapshots of {experiment!r}", exc) from exc


def get_snapshot(engine: Engine, snapshot_id: int) -> SnapshotRecord | None:
    """Return one snapshot by id, or None.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> get_snapshot(engine, save_snapshot(engine, "e", 1, {"n": 1})).result
        {'n': 1}
    """
    query = sa.select(_SNAPSHOTS).where(_SNAPSHOTS.c.id == snapshot_id)
    try:
        with engine.connect() as conn:
            row = conn.execute(query).first()
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot read snapshot {snapshot_id}", exc) from exc
    return None if row is None else _snapshot(row)
