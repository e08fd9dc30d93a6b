"""Experiment registry and analysis snapshots, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from segab.config import fingerprint
from segab.errors import DataError, StoreError
from segab.store import (
    canonical_json,
    config_fingerprint,
    get_experiment,
    get_snapshot,
    list_experiments,
    list_snapshots,
    register_experiment,
    save_snapshot,
    set_status,
)
from tests.conftest import make_experiment
from tests.store.conftest import Target


def test_fingerprint_matches_the_config_fingerprint() -> None:
    exp = make_experiment()
    config = exp.model_dump(mode="json")
    assert config_fingerprint(config) == fingerprint(exp)
    assert (
        canonical_json({"b": [1, {"d": 1, "c": 2}], "a": "é"})
        == '{"a":"\\u00e9","b":[1,{"c":2,"d":1}]}'
    )


def test_register_get_and_update(store: Target) -> None:
    config = make_experiment().model_dump(mode="json")
    fp = register_experiment(store.engine, "exp", 1, "running", config)
    record = get_experiment(store.engine, "exp", 1)
    assert record is not None
    assert (record.key, record.iteration, record.status, record.config_fingerprint) == (
        "exp",
        1,
        "running",
        fp,
    )
    assert record.config == config
    assert record.created_at.tzinfo is not None
    assert store.scalar("SELECT config_json FROM experiments") == canonical_json(config)

    changed = {**config, "name": "Renamed"}
    fp2 = register_experiment(store.engine, "exp", 1, "running", changed)
    again = get_experiment(store.engine, "exp", 1)
    assert again is not None and fp2 != fp
    assert again.config_fingerprint == fp2 and again.config["name"] == "Renamed"
    assert again.created_at == record.created_at
    assert again.updated_at >= record.updated_at
    assert store.count("experiments") == 1


def test_latest_iteration_and_listing(store: Target) -> None:
    register_experiment(store.engine, "b", 1, "concluded", {"i": 1})
    register_experiment(store.engine, "b", 2, "running", {"i": 2})
    register_experiment(store.engine, "a", 1, "draft", {})
    latest = get_experiment(store.engine, "b")
    assert latest is not None and latest.iteration == 2
    assert get_experiment(store.engine, "missing") is None
    assert [(r.key, r.iteration) for r in list_experiments(store.engine)] == [
        ("a", 1),
        ("b", 1),
        ("b", 2),
    ]


def test_set_status(store: Target) -> None:
    register_experiment(store.engine, "e", 1, "draft", {})
    set_status(store.engine, "e", 1, "running")
    record = get_experiment(store.engine, "e", 1)
    assert record is not None and record.status == "running"
    with pytest.raises(StoreError, match="experiment 'e' iteration 2 is not registered"):
        set_status(store.engine, "e", 2, "running")


@pytest.mark.parametrize(
    ("key", "iteration", "status", "message"),
    [
        ("", 1, "draft", "experiment key: found ''"),
        ("e", -1, "draft", "iteration: found -1"),
        ("e", 1, "", "status: found ''"),
        ("e", 1, "x" * 33, "status: found"),
    ],
)
def test_registry_arguments_are_validated(
    store: Target, key: str, iteration: int, status: str, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        register_experiment(store.engine, key, iteration, status, {})


def test_snapshots_round_trip_in_order(store: Target) -> None:
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 8, tzinfo=UTC)
    first = save_snapshot(
        store.engine,
        "e",
        1,
        {"lift": 0.1, "n": [1, 2]},
        config_fingerprint="f" * 64,
        window_start=start,
        window_end=end,
    )
    second = save_snapshot(store.engine, "e", 1, {"lift": 0.2})
    save_snapshot(store.engine, "e", 2, {"lift": 0.3})
    save_snapshot(store.engine, "other", 1, {"lift": 9})
    snaps = list_snapshots(store.engine, "e", 1)
    assert [s.id for s in snaps] == [first, second]
    assert snaps[0].result == {"lift": 0.1, "n": [1, 2]}
    assert (snaps[0].window_start, snaps[0].window_end) == (start, end)
    assert snaps[0].config_fingerprint == "f" * 64
    assert [s.iteration for s in list_snapshots(store.engine, "e")] == [1, 1, 2]
    got = get_snapshot(store.engine, second)
    assert got is not None and got.result == {"lift": 0.2}
    assert get_snapshot(store.engine, 10**9) is None


def test_snapshot_serialises_numpy_and_dates(store: Target) -> None:
    np = pytest.importorskip("numpy")
    sid = save_snapshot(
        store.engine,
        "e",
        1,
        {"x": np.float64(0.5), "v": np.arange(3), "at": datetime(2024, 1, 1, tzinfo=UTC)},
    )
    got = get_snapshot(store.engine, sid)
    assert got is not None
    assert got.result == {"x": 0.5, "v": [0, 1, 2], "at": "2024-01-01T00:00:00+00:00"}
    with pytest.raises(DataError, match="cannot serialise to JSON"):
        save_snapshot(store.engine, "e", 1, {"bad": object()})
    assert (
        json.loads(store.scalar(f"SELECT result_json FROM analysis_snapshots WHERE id = {sid}"))[
            "x"
        ]
        == 0.5
    )  # type: ignore[arg-type]
