"""The persistent store: experiment registry, exposure log, events and analysis history.

SQLite by default (``sqlite:///segab.db``, WAL mode), PostgreSQL for
production (``postgresql://...`` through psycopg 3). Safe under many
concurrent writers: exposure logging is idempotent on (experiment,
iteration, unit, stage), and a re-exposure to a different variant is
recorded as a conflict, never dropped silently.

Example:
    >>> from segab.store import make_engine, init_store, log_exposures, ExposureRow
    >>> engine = make_engine("sqlite://")
    >>> init_store(engine)
    2
    >>> log_exposures(engine, [ExposureRow("e", 1, "u1", "young", "buy", "a")]).inserted
    1
"""

from __future__ import annotations

from segab.store.allocations import (
    allocation_period_dict,
    allocation_periods,
    record_allocation_period,
)
from segab.store.engine import (
    DEFAULT_URL,
    ENV_VAR,
    check_schema,
    engine_schema,
    init_store,
    make_engine,
    mask_url,
    open_store,
    resolve_url,
    store_status,
    validate_identifier,
)
from segab.store.events import BadRow, ImportResult, import_events
from segab.store.exposures import (
    ExposureRow,
    LogResult,
    exposure_row,
    log_exposures,
    validate_exposure,
)
from segab.store.logger import ExposureLogger, LoggerStats
from segab.store.models import SCHEMA_VERSION
from segab.store.repository import (
    ExperimentRecord,
    SnapshotRecord,
    canonical_json,
    config_fingerprint,
    get_experiment,
    get_snapshot,
    list_experiments,
    list_snapshots,
    register_checked,
    register_experiment,
    save_snapshot,
    set_status,
)

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "BadRow",
    "ExperimentRecord",
    "ExposureLogger",
    "ExposureRow",
    "ImportResult",
    "LogResult",
    "LoggerStats",
    "SnapshotRecord",
    "allocation_period_dict",
    "allocation_periods",
    "canonical_json",
    "check_schema",
    "config_fingerprint",
    "engine_schema",
    "exposure_row",
    "get_experiment",
    "get_snapshot",
    "import_events",
    "init_store",
    "list_experiments",
    "list_snapshots",
    "log_exposures",
    "make_engine",
    "mask_url",
    "open_store",
    "record_allocation_period",
    "register_checked",
    "register_experiment",
    "resolve_url",
    "save_snapshot",
    "set_status",
    "store_status",
    "validate_exposure",
    "validate_identifier",
]
