"""The tables of the persistent store, as sqlmodel models.

Seven tables, created by :func:`segab.store.init_store`:

========================  ===================================================
``experiments``           registry: key, iteration, config fingerprint,
                          status, timestamps and the canonical config JSON
``exposures``             one row per (experiment, iteration, unit, stage);
                          that unique primary key makes logging idempotent
``exposure_conflicts``    re-exposures of a unit to a *different* variant,
                          one row per (key, stored variant, other variant)
                          with the number of occurrences
``events``                outcome events: unit, event, value, timestamp,
                          and the row key of ``events import``
``analysis_snapshots``    one row per ``segab analyze --save``
``allocation_periods``    one row per allocation period of a bandit experiment
                          iteration (``segab allocate``): start, per-cell
                          bucket layouts and the posterior summary (JSON)
``schema_version``        a single row holding :data:`SCHEMA_VERSION`
========================  ===================================================

The table names are plain; to keep a store apart from other tables in a shared
PostgreSQL database, give it its own schema (``--schema``). Timestamps are
timezone-aware UTC.

Example:
    >>> from segab.store.models import Exposure, STORE_TABLES
    >>> Exposure.__tablename__
    'exposures'
    >>> [t.name for t in STORE_TABLES][:2]
    ['schema_version', 'experiments']
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "ALLOCATION_PERIODS_TABLE",
    "ANALYSIS_SNAPSHOTS_TABLE",
    "EVENTS_TABLE",
    "EXPERIMENTS_TABLE",
    "EXPOSURES_TABLE",
    "EXPOSURE_CONFLICTS_TABLE",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_TABLE",
    "STORE_TABLES",
    "AllocationPeriodRow",
    "AnalysisSnapshot",
    "Event",
    "ExperimentRow",
    "Exposure",
    "ExposureConflict",
    "SchemaVersion",
    "StoreModel",
    "utcnow",
]

#: Version of the table layout written by this segab. Bump it (and add a
#: migration to :data:`segab.store.engine.MIGRATIONS`) whenever a table or column
#: changes. 2: ``allocation_periods``.
SCHEMA_VERSION = 2

# A 64-bit autoincrement key that is a ROWID alias on SQLite.
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime.

    Example:
        >>> utcnow().tzinfo is not None
        True
    """
    return datetime.now(UTC)


class StoreModel(SQLModel, registry=registry()):
    """Base of the store tables, with its own metadata (apart from ``SQLModel.metadata``).

    Example:
        >>> StoreModel.metadata is not SQLModel.metadata
        True
    """


def _ts(*, nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


class SchemaVersion(StoreModel, table=True):
    """The single row recording which table layout a store has.

    Example:
        >>> SchemaVersion(id=1, version=SCHEMA_VERSION, segab_version="0.1.0").version
        2
    """

    __tablename__ = "schema_version"

    id: int = Field(default=1, primary_key=True)
    version: int
    segab_version: str
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ExperimentRow(StoreModel, table=True):
    """One iteration of one experiment in the registry.

    ``config_fingerprint`` is the SHA-256 of ``config_json``, the canonical
    JSON of the config (sorted keys, no whitespace).

    Example:
        >>> ExperimentRow(key="e", iteration=1, config_fingerprint="f", status="running",
        ...               config_json="{}").status
        'running'
    """

    __tablename__ = "experiments"

    key: str = Field(primary_key=True)
    iteration: int = Field(primary_key=True)
    config_fingerprint: str = Field(max_length=64)
    status: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    config_json: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


class Exposure(StoreModel, table=True):
    """The first exposure of a unit to an experiment at one journey stage.

    The primary key (experiment, iteration, unit_id, stage) is the unique
    key that makes logging idempotent; there is no surrogate id (one index
    fewer to maintain per logged row).

    Example:
        >>> Exposure(experiment="e", iteration=1, unit_id="u", stage="s", variant="a",
        ...          hash_version=1).variant
        'a'
    """

    __tablename__ = "exposures"
    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "experiment", "iteration", "unit_id", "stage", name="pk_exposures_unit_stage"
        ),
    )

    experiment: str = Field(primary_key=True)
    iteration: int = Field(primary_key=True)
    unit_id: str = Field(primary_key=True)
    segment: str | None = None
    stage: str = Field(primary_key=True)
    variant: str
    hash_version: int
    config_fingerprint: str | None = Field(default=None, max_length=64)
    first_seen: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ExposureConflict(StoreModel, table=True):
    """A unit re-exposed to a variant other than the one stored for it.

    ``stored_variant`` is the variant in ``exposures``; ``variant`` the one
    logged later; ``occurrences`` counts how often that happened.

    Example:
        >>> ExposureConflict(experiment="e", iteration=1, unit_id="u", stage="s",
        ...                  stored_variant="a", variant="b", occurrences=2).occurrences
        2
    """

    __tablename__ = "exposure_conflicts"
    __table_args__ = (
        sa.UniqueConstraint(
            "experiment",
            "iteration",
            "unit_id",
            "stage",
            "stored_variant",
            "variant",
            name="uq_exposure_conflicts",
        ),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(_BIGID, primary_key=True))
    experiment: str
    iteration: int
    unit_id: str
    stage: str
    stored_variant: str
    variant: str
    segment: str | None = None
    config_fingerprint: str | None = Field(default=None, max_length=64)
    occurrences: int = 1
    first_seen: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_seen: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Event(StoreModel, table=True):
    """An outcome event of a unit (a purchase, a click, a sign-up).

    ``row_key`` (unique) makes ``segab events import`` idempotent: the digest of
    the row's content and its occurrence among identical rows of its import
    (see :mod:`segab.store.event_rows`). Rows written otherwise, or before the
    column existed (it is added on a store's first import), have none.

    Example:
        >>> Event(unit_id="u", event="purchase", value=9.5, timestamp=utcnow()).value
        9.5
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_event_unit", "event", "unit_id"),
        sa.Index("ux_events_row_key", "row_key", unique=True),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(_BIGID, primary_key=True))
    unit_id: str
    event: str
    value: float | None = None
    timestamp: datetime = Field(sa_column=_ts())
    row_key: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))


class AnalysisSnapshot(StoreModel, table=True):
    """The saved result of one ``segab analyze --save`` run.

    Example:
        >>> AnalysisSnapshot(experiment="e", iteration=1, result_json="{}").experiment
        'e'
    """

    __tablename__ = "analysis_snapshots"
    __table_args__ = (sa.Index("ix_snapshots_experiment", "experiment", "iteration"),)

    id: int | None = Field(default=None, sa_column=sa.Column(_BIGID, primary_key=True))
    experiment: str
    iteration: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    window_start: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    window_end: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    config_fingerprint: str | None = Field(default=None, max_length=64)
    result_json: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


class AllocationPeriodRow(StoreModel, table=True):
    """One allocation period of an experiment iteration (see :mod:`segab.allocation_types`).

    ``cells_json`` holds each bandit cell's layout, ``summary_json`` the record of
    what produced it (posterior summary per cell, seed, rule). The primary key
    (experiment, iteration, number) lets exactly one of two concurrent writers
    record a period number.

    Example:
        >>> AllocationPeriodRow(experiment="e", iteration=1, number=1, started_at=utcnow(),
        ...                     cells_json="[]", summary_json="{}").number
        1
    """

    __tablename__ = "allocation_periods"

    experiment: str = Field(primary_key=True)
    iteration: int = Field(primary_key=True)
    number: int = Field(primary_key=True)
    started_at: datetime = Field(sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    cells_json: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    summary_json: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


def _table(model: type[StoreModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


SCHEMA_VERSION_TABLE = _table(SchemaVersion)
EXPERIMENTS_TABLE = _table(ExperimentRow)
EXPOSURES_TABLE = _table(Exposure)
EXPOSURE_CONFLICTS_TABLE = _table(ExposureConflict)
EVENTS_TABLE = _table(Event)
ANALYSIS_SNAPSHOTS_TABLE = _table(AnalysisSnapshot)
ALLOCATION_PERIODS_TABLE = _table(AllocationPeriodRow)

#: Every store table, in creation order.
STORE_TABLES: list[sa.Table] = [
    SCHEMA_VERSION_TABLE,
    EXPERIMENTS_TABLE,
    EXPOSURES_TABLE,
    EXPOSURE_CONFLICTS_TABLE,
    EVENTS_TABLE,
    ANALYSIS_SNAPSHOTS_TABLE,
    ALLOCATION_PERIODS_TABLE,
]
