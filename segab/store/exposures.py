"""Idempotent, batched exposure logging with conflict detection.

:func:`log_exposures` writes a batch in one transaction:

1. the first row of each (experiment, iteration, unit, stage) key goes into
   a per-connection temporary staging table (PostgreSQL: binary ``COPY``;
   SQLite: one ``executemany``);
2. the staged rows are inserted into ``exposures`` with ``INSERT ... SELECT
   ... ON CONFLICT DO NOTHING``, in key order (so concurrent writers take
   row locks in one order and cannot deadlock);
3. if fewer rows were inserted than staged, the stored variant of the keys
   that already existed is read back (in the same transaction, after any
   concurrent insert of the same key has committed);
4. every row whose variant differs from the stored one is a *conflict*: it
   is recorded in ``exposure_conflicts`` (an upsert adding to
   ``occurrences``) and counted.

So ``inserted + duplicates + conflicts == len(rows)`` for every batch, and a
row logged twice, by one process or by many at once, is stored once.
All values are bound parameters or ``COPY`` data; no value is ever pasted
into SQL text.

Example:
    >>> from segab.store.engine import make_engine, init_store
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> rows = [ExposureRow("e", 1, "u1", None, "buy", "a", 1),
    ...         ExposureRow("e", 1, "u1", None, "buy", "b", 1)]
    >>> log_exposures(engine, rows)
    LogResult(inserted=1, duplicates=0, conflicts=1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from segab.assignment_types import Assignment
from segab.errors import DataError, StoreError
from segab.hashing import HASH_VERSION
from segab.store.engine import describe_error, write_begin
from segab.store.models import EXPOSURE_CONFLICTS_TABLE, utcnow

__all__ = [
    "ExposureRow",
    "LogResult",
    "exposure_row",
    "is_transient",
    "log_exposures",
    "log_isolating",
    "validate_exposure",
]

_STAGE = "segab_stage_exposures"
_COLS = (
    "experiment",
    "iteration",
    "unit_id",
    "segment",
    "stage",
    "variant",
    "hash_version",
    "config_fingerprint",
    "first_seen",
)
_KEY = ("experiment", "iteration", "unit_id", "stage")
_COL_LIST = ", ".join(_COLS)
_KEY_LIST = ", ".join(_KEY)

_STAGE_DDL = {
    "postgresql": f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        experiment text NOT NULL, iteration integer NOT NULL, unit_id text NOT NULL,
        segment text, stage text NOT NULL, variant text NOT NULL,
        hash_version integer NOT NULL, config_fingerprint text,
        first_seen timestamptz NOT NULL
    ) ON COMMIT DELETE ROWS""",
    "sqlite": f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        experiment TEXT NOT NULL, iteration INTEGER NOT NULL, unit_id TEXT NOT NULL,
        segment TEXT, stage TEXT NOT NULL, variant TEXT NOT NULL,
        hash_version INTEGER NOT NULL, config_fingerprint TEXT,
        first_seen DATETIME NOT NULL
    )""",
}
_INSERT_STAGED = f"""INSERT INTO exposures ({_COL_LIST})
    SELECT {_COL_LIST} FROM {_STAGE} WHERE true ORDER BY {_KEY_LIST}
    ON CONFLICT ({_KEY_LIST}) DO NOTHING"""
_STORED_ELSEWHERE = f"""SELECT s.experiment, s.iteration, s.unit_id, s.stage, e.variant
    FROM {_STAGE} s JOIN exposures e
      ON e.experiment = s.experiment AND e.iteration = s.iteration
     AND e.unit_id = s.unit_id AND e.stage = s.stage
    WHERE e.variant <> s.variant"""


class ExposureRow(NamedTuple):
    """One exposure to log. ``first_seen`` defaults to the time of writing.

    Example:
        >>> ExposureRow("e", 1, "u1", "seg", "buy", "a", 1).key
        ('e', 1, 'u1', 'buy')
    """

    experiment: str
    iteration: int
    unit_id: str
    segment: str | None
    stage: str
    variant: str
    hash_version: int = HASH_VERSION
    config_fingerprint: str | None = None
    first_seen: datetime | None = None

    @property
    def key(self) -> tuple[str, int, str, str]:
        """The unique key (experiment, iteration, unit_id, stage)."""
        return (self.experiment, self.iteration, self.unit_id, self.stage)


class LogResult(NamedTuple):
    """What :func:`log_exposures` did with a batch.

    ``inserted``: new exposures; ``duplicates``: rows already stored with
    the same variant; ``conflicts``: rows whose variant differs from the
    stored one (recorded in ``exposure_conflicts``).

    Example:
        >>> LogResult(3, 1, 0).total
        4
    """

    inserted: int
    duplicates: int
    conflicts: int

    @property
    def total(self) -> int:
        """Rows handled: inserted + duplicates + conflicts."""
        return self.inserted + self.duplicates + self.conflicts


def exposure_row(
    assignment: Assignment,
    *,
    config_fingerprint: str | None = None,
    hash_version: int = HASH_VERSION,
    seen_at: datetime | None = None,
) -> ExposureRow:
    """Build the exposure row of an assignment (which should be ``in_experiment``).

    Example:
        >>> from segab.assignment_types import Reason
        >>> a = Assignment("e", 2, "u9", "young", "buy", "b", 17, True, Reason.ASSIGNED)
        >>> exposure_row(a).key
        ('e', 2, 'u9', 'buy')
    """
    return ExposureRow(
        assignment.experiment,
        assignment.iteration,
        assignment.unit_id,
        assignment.segment,
        assignment.stage,
        assignment.variant,  # type: ignore[arg-type]  # None is rejected by validate_exposure
        hash_version,
        config_fingerprint,
        seen_at,
    )


def validate_exposure(row: Sequence[Any]) -> str | None:
    """Return why a row cannot be stored, or ``None`` when it can.

    Text fields must be strings without NUL characters (PostgreSQL cannot
    store them) that UTF-8 can encode (no lone surrogates, which every driver
    refuses); ``config_fingerprint`` at most 64 characters; ``iteration`` and
    ``hash_version`` integers in 0 .. 2**31 - 1 (the columns are 32-bit: a
    larger number would fail, or be truncated by a binary ``COPY``).

    Example:
        >>> validate_exposure(ExposureRow("e", 1, "u1", None, "buy", "a", 1)) is None
        True
        >>> validate_exposure(ExposureRow("e", 1, "", None, "buy", None, 1))
        'unit_id: found an empty string, expected a non-empty string'
        >>> validate_exposure(ExposureRow("e", 1, "u" + chr(0xD800), None, "buy", "a", 1))
        "unit_id: found 'u\\\\ud800', expected text UTF-8 can encode (no lone surrogates)"
        >>> validate_exposure(ExposureRow("e", 2**40, "u1", None, "buy", "a", 1))
        'iteration: found 1099511627776, expected an integer in 0 .. 2147483647'
    """
    try:
        e, it, u, seg, st, v, hv, fp, fs = row
    except (TypeError, ValueError):
        return f"found {row!r}, expected {len(_COLS)} fields ({_COL_LIST})"
    if (  # the fast path: every field of the expected type, no NUL anywhere
        type(e) is str
        and type(u) is str
        and type(st) is str
        and type(v) is str
        and e
        and u
        and st
        and v
        and type(it) is int
        and type(hv) is int
        and 0 <= it <= _INT32_MAX
        and 0 <= hv <= _INT32_MAX
        and (seg is None or type(seg) is str)
        and (fp is None or (type(fp) is str and len(fp) <= _FINGERPRINT_MAX))
        and (fs is None or isinstance(fs, datetime))
        and _storable_text(f"{e}{u}{st}{v}{seg or ''}{fp or ''}")
    ):
        return None
    return _problem(row)


_INT32_MAX = 2**31 - 1
_FINGERPRINT_MAX = 64  # the column's length


def _storable_text(text: str) -> bool:
    """No NUL, and UTF-8 can encode it (ASCII, the usual case, is checked first)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(row: Sequence[Any]) -> str | None:
    if len(row) != len(_COLS):
        return f"found {len(row)} fields, expected {len(_COLS)} ({_COL_LIST})"
    for name, value in zip(_COLS, row, strict=True):
        if name in ("iteration", "hash_version"):
            if not isinstance(value, int) or isinstance(value, bool):
                return f"{name}: found {value!r}, expected an integer"
            if not 0 <= value <= _INT32_MAX:
                return f"{name}: found {value}, expected an integer in 0 .. {_INT32_MAX}"
        elif name == "first_seen":
            if value is not None and not isinstance(value, datetime):
                return f"first_seen: found {value!r}, expected a datetime"
        elif value is None:
            if name not in ("segment", "config_fingerprint"):
                return f"{name}: found None, expected a non-empty string"
        elif not isinstance(value, str):
            return f"{name}: found {value!r}, expected a string"
        elif "\x00" in value:
            return f"{name}: found {value!r}, expected text without NUL characters"
        elif not _storable_text(value):
            return f"{name}: found {value!r}, expected text UTF-8 can encode (no lone surrogates)"
        elif not value and name not in ("segment",):
            return f"{name}: found an empty string, expected a non-empty string"
        elif name == "config_fingerprint" and len(value) > _FINGERPRINT_MAX:
            return (
                f"config_fingerprint: found {len(value)} characters, "
                f"expected at most {_FINGERPRINT_MAX}"
            )
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed if retried unchanged.

    Connection losses, locks, time-outs, deadlocks and missing tables are
    transient; data errors are not: a value the database rejects, or one the
    driver cannot encode or convert (``UnicodeEncodeError``, ``OverflowError``,
    ``TypeError``...), also when SQLAlchemy wraps it.

    Example:
        >>> is_transient(sa.exc.OperationalError("stmt", {}, Exception("refused")))
        True
        >>> is_transient(DataError("bad row"))
        False
        >>> is_transient(sa.exc.StatementError("x", "stmt", {}, OverflowError("too big")))
        False
    """
    import psycopg

    data = (
        DataError,
        sa.exc.DataError,
        sa.exc.IntegrityError,
        psycopg.DataError,
        psycopg.IntegrityError,
        ValueError,  # UnicodeError too
        TypeError,
        ArithmeticError,  # OverflowError
    )
    orig = getattr(exc, "orig", None)
    return not (isinstance(exc, data) or isinstance(orig, data))


def _utc(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_ts(value: datetime) -> str:
    # The storage format of SQLAlchemy's DateTime on SQLite (naive UTC).
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Batch(NamedTuple):
    staged: list[tuple[Any, ...]]  # the first row of each key, with first_seen in UTC
    variant_of: dict[tuple[str, int, str, str], str]  # the staged variant of each key
    rows: list[ExposureRow]  # every row, with first_seen in UTC


def _prepare(rows: Sequence[ExposureRow], now: datetime, validate: bool) -> _Batch:
    variant_of: dict[tuple[str, int, str, str], str] = {}
    staged: list[tuple[Any, ...]] = []
    out: list[ExposureRow] = []
    for i, row in enumerate(rows):
        if validate and (problem := validate_exposure(row)) is not None:
            raise DataError(f"exposure row {i}: {problem}")
        seen = row[8]
        if seen is None:
            seen = now
        elif seen.tzinfo is not UTC:
            seen = _utc(seen, now)
        full = row._replace(first_seen=seen) if seen is not row[8] else row
        out.append(full)
        key = (row[0], row[1], row[2], row[4])
        if key not in variant_of:
            variant_of[key] = row[5]
            staged.append(tuple(full))
    staged.sort(key=lambda r: (r[0], r[1], r[2], r[4]))  # one lock order for every writer
    return _Batch(staged, variant_of, out)


_PG_TYPES = ["text", "int4", "text", "text", "text", "text", "int4", "text", "timestamptz"]


def _stage_postgres(conn: Connection, staged: list[tuple[Any, ...]]) -> None:
    conn.exec_driver_sql(_STAGE_DDL["postgresql"])
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise StoreError("lost the database connection while staging exposures")
    with (
        driver.cursor() as cur,
        cur.copy(f"COPY {_STAGE} ({_COL_LIST}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(_PG_TYPES)
        for row in staged:
            copy.write_row(row)


def _stage_sqlite(conn: Connection, staged: list[tuple[Any, ...]]) -> None:
    conn.exec_driver_sql(_STAGE_DDL["sqlite"])
    conn.exec_driver_sql(f"DELETE FROM {_STAGE}")
    marks = ", ".join("?" * len(_COLS))
    conn.exec_driver_sql(
        f"INSERT INTO {_STAGE} ({_COL_LIST}) VALUES ({marks})",
        [(*r[:8], _sqlite_ts(r[8])) for r in staged],
    )


def _record_conflicts(conn: Connection, found: list[tuple[Any, ...]]) -> None:
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for exp, it, unit, stage, stored, variant, segment, fingerprint, seen in found:
        key = (exp, it, unit, stage, stored, variant)
        entry = grouped.get(key)
        if entry is None:
            grouped[key] = {
                "experiment": exp,
                "iteration": it,
                "unit_id": unit,
                "stage": stage,
                "stored_variant": stored,
                "variant": variant,
                "segment": segment,
                "config_fingerprint": fingerprint,
                "occurrences": 1,
                "first_seen": seen,
                "last_seen": seen,
            }
        else:
            entry["occurrences"] += 1
            entry["first_seen"] = min(entry["first_seen"], seen)
            entry["last_seen"] = max(entry["last_seen"], seen)
    table = EXPOSURE_CONFLICTS_TABLE
    pg = conn.dialect.name == "postgresql"
    stmt = postgresql.insert(table) if pg else sqlite.insert(table)
    ex = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=[*_KEY, "stored_variant", "variant"],
        set_={
            "occurrences": table.c.occurrences + ex.occurrences,
            "first_seen": (sa.func.least if pg else sa.func.min)(table.c.first_seen, ex.first_seen),
            "last_seen": (sa.func.greatest if pg else sa.func.max)(table.c.last_seen, ex.last_seen),
        },
    )
    conn.execute(upsert, [grouped[k] for k in sorted(grouped)])


def log_exposures(
    engine: Engine, rows: Iterable[ExposureRow | Sequence[Any]], *, validate: bool = True
) -> LogResult:
    """Store a batch of exposures idempotently and record conflicting re-exposures.

    Each row is an :class:`ExposureRow` (or a tuple in its field order).
    Raises :class:`~segab.errors.DataError` naming the first invalid row
    (see :func:`validate_exposure`) before writing anything; database
    failures propagate as SQLAlchemy / psycopg errors (see
    :func:`is_transient`) and leave the store unchanged. ``validate=False``
    skips the per-row check for rows already checked with
    :func:`validate_exposure` (the logger does).

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> log_exposures(engine, [ExposureRow("e", 1, "u1", None, "buy", "a")])
        LogResult(inserted=1, duplicates=0, conflicts=0)
        >>> log_exposures(engine, [ExposureRow("e", 1, "u1", None, "buy", "a")])
        LogResult(inserted=0, duplicates=1, conflicts=0)
    """
    batch = [r if isinstance(r, ExposureRow) else ExposureRow(*r) for r in rows]
    if not batch:
        return LogResult(0, 0, 0)
    prepared = _prepare(batch, utcnow(), validate)
    with write_begin(engine) as conn:
        if conn.dialect.name == "postgresql":
            _stage_postgres(conn, prepared.staged)
        else:
            _stage_sqlite(conn, prepared.staged)
        inserted = conn.exec_driver_sql(_INSERT_STAGED).rowcount
        stored = dict(prepared.variant_of)
        if inserted < len(prepared.staged):
            # Some keys were already stored, maybe with another variant: look those up.
            for exp, it, unit, stage, variant in conn.exec_driver_sql(_STORED_ELSEWHERE):
                stored[(exp, it, unit, stage)] = variant
        found = [
            (r[0], r[1], r[2], r[4], stored_variant, r[5], r[3], r[7], r[8])
            for r in prepared.rows
            if (stored_variant := stored[(r[0], r[1], r[2], r[4])]) != r[5]
        ]
        if found:
            _record_conflicts(conn, found)
    conflicts = len(found)
    return LogResult(inserted, len(batch) - inserted - conflicts, conflicts)


def log_isolating(
    engine: Engine, rows: list[ExposureRow]
) -> tuple[LogResult, list[tuple[ExposureRow, str]]]:
    """Like :func:`log_exposures` (rows already validated), but never fails on bad data.

    When the database rejects a batch for its data, the batch is split in
    halves until the rows it rejects are isolated; those are returned with
    the reason and the rest is written. Transient errors propagate.

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> log_isolating(engine, [ExposureRow("e", 1, "u1", None, "buy", "a")])
        (LogResult(inserted=1, duplicates=0, conflicts=0), [])
    """
    if not rows:
        return LogResult(0, 0, 0), []
    try:
        return log_exposures(engine, rows, validate=False), []
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(rows) == 1:
            return LogResult(0, 0, 0), [(rows[0], describe_error(exc))]
        mid = len(rows) // 2
        left, bad_left = log_isolating(engine, rows[:mid])
        right, bad_right = log_isolating(engine, rows[mid:])
        total = LogResult(*(a + b for a, b in zip(left, right, strict=True)))
        return total, bad_left + bad_right
