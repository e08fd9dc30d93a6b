"""Keys, values and names containing quotes or SQL cannot inject (SQLite and PostgreSQL).

Values always travel as bound parameters or COPY data; the only identifier a
user chooses (the PostgreSQL schema) is validated and quoted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from segab.errors import StoreError
from segab.store import (
    ExposureLogger,
    ExposureRow,
    get_experiment,
    import_events,
    list_snapshots,
    log_exposures,
    make_engine,
    register_experiment,
    save_snapshot,
    set_status,
    validate_identifier,
)
from segab.store.models import EVENTS_TABLE, EXPOSURES_TABLE, STORE_TABLES
from tests.store.conftest import Target, table_names
from tests.store.helpers import assignment

NASTY = [
    "x'); DROP TABLE exposures; --",
    "'; DROP TABLE events; --",
    "quo\"te's",
    "back\\slash\\'",
    "tab\tnew\nline",
    "100% %s %(e)s :e ? $1",
    "ünïcødé ✓ 🎲",
    "\\N",  # COPY's NULL marker in text format
]


def all_tables_intact(target: Target) -> None:
    assert {t.name for t in STORE_TABLES} <= table_names(target.engine)


def test_exposure_values_are_bound(store: Target) -> None:
    rows = [ExposureRow(s, 1, s, s, s, s, 1, s[:64]) for s in NASTY]
    assert log_exposures(store.engine, rows).inserted == len(NASTY)
    assert log_exposures(store.engine, rows).duplicates == len(NASTY)
    conflicting = [r._replace(variant=r.variant + "'") for r in rows]
    assert log_exposures(store.engine, conflicting).conflicts == len(NASTY)
    all_tables_intact(store)
    t = EXPOSURES_TABLE.c
    with store.engine.connect() as conn:
        got = set(conn.execute(sa.select(t.experiment, t.unit_id, t.segment, t.stage, t.variant)))
    assert got == {(s, s, s, s, s) for s in NASTY}


def test_logger_with_nasty_keys(store: Target) -> None:
    with ExposureLogger(store.url, schema=store.schema, flush_interval=3600) as logger:
        for i, s in enumerate(NASTY):
            logger.log(assignment(s, s, exp=s, stage=s + str(i)))
    assert logger.stats().inserted == len(NASTY)
    all_tables_intact(store)


def test_registry_and_snapshot_values_are_bound(store: Target) -> None:
    for s in NASTY:
        register_experiment(store.engine, s, 1, "draft", {"key": s, s: [s]})
        set_status(store.engine, s, 1, s[:32])
        save_snapshot(store.engine, s, 1, {"note": s}, config_fingerprint=s[:64])
    all_tables_intact(store)
    for s in NASTY:
        record = get_experiment(store.engine, s, 1)
        assert record is not None and record.config == {"key": s, s: [s]}
        assert record.status == s[:32]
        assert [snap.result for snap in list_snapshots(store.engine, s)] == [{"note": s}]
    assert get_experiment(store.engine, "' OR '1'='1") is None


def test_event_values_and_column_names_are_data(store: Target, tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "unit'); DROP TABLE events; --": NASTY,
            "event": NASTY,
            "timestamp": ["2024-05-01T00:00:00Z"] * len(NASTY),
        }
    )
    path = tmp_path / "nasty.csv"
    df.to_csv(path, index=False)
    result = import_events(store.engine, path, columns={"unit_id": "unit'); DROP TABLE events; --"})
    assert (result.imported, result.bad_rows) == (len(NASTY), 0)
    all_tables_intact(store)
    t = EVENTS_TABLE.c
    with store.engine.connect() as conn:
        got = conn.execute(sa.select(t.unit_id, t.event).order_by(t.id)).all()
    assert [tuple(r) for r in got] == [(s, s) for s in NASTY]


@pytest.mark.parametrize(
    "name",
    ['x"; DROP SCHEMA public CASCADE; --', "Public", "a b", "1abc", "", "a" * 64, "ä", "a-b"],
)
def test_schema_names_are_validated(name: str) -> None:
    with pytest.raises(StoreError, match="invalid schema name"):
        validate_identifier(name)
    with pytest.raises(StoreError, match="invalid schema name"):
        make_engine("postgresql://u@localhost/db", schema=name)


def test_valid_schema_names_pass() -> None:
    for name in ("segab", "_x", "ab_2024", "a" * 63):
        assert validate_identifier(name) == name
