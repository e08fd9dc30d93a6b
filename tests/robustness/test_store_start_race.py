"""Conflicting ``segab start``s: exactly one wins, the others are refused (issue 15, item 8).

Six processes start the same experiment at once, alternating two configs that
differ in one weight. Before, both configs printed "started" in 9 of 25 SQLite
and 2 of 31 PostgreSQL trials (each read the registry, then wrote in another
transaction). Now the check and the write are one transaction serialised per
key, so the first start wins and every start of the other config is refused
naming the fingerprint in the store; starting the winning config again is
idempotent (today's semantics). The processes import everything first and
then wait for one signal file, so their database work overlaps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from segab.cli.main import cli
from segab.errors import StoreError
from segab.store import get_experiment, make_engine, open_store, register_checked
from segab.store.repository import ExperimentRecord
from tests.store.conftest import PG_SKIP, Target, drop_schema, pg_url
from tests.store.conftest import store as store  # the fixture

REPO = Path(__file__).resolve().parents[2]
KEY = "loyalty_offer"
WEIGHTS = ("weight: 0.5}\n      - {key: double_points, weight: 0.5",
           "weight: 0.6}\n      - {key: double_points, weight: 0.4")  # fmt: skip
# Import the CLI and the start command, then wait for the signal file, then run.
WORKER = """
import os, sys, time
from segab.cli.main import cli
import segab.cli.lifecycle_cmds, segab.lifecycle.commands, segab.store  # noqa
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.005)
cli.main(sys.argv[2:], prog_name="segab")
"""


def configs(root: Path) -> list[Path]:
    """Two experiment dirs whose loyalty_offer configs differ in one weight."""
    dirs = []
    text = (REPO / "experiments" / f"{KEY}.yaml").read_text()
    assert WEIGHTS[0] in text
    for name, weights in zip("ab", WEIGHTS, strict=True):
        d = root / name
        d.mkdir()
        shutil.copy(REPO / "experiments" / "segments.yaml", d)
        (d / f"{KEY}.yaml").write_text(text.replace(WEIGHTS[0], weights))
        dirs.append(d)
    return dirs


def pg_store_url(schema: str) -> str:
    """A URL whose connections use ``schema`` (the lifecycle commands take only --db)."""
    url = pg_url()
    assert url is not None
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    return f"{url}?options=-csearch_path%3D{schema}"


def race(url: str, dirs: list[Path], tmp: Path, n: int = 6) -> list[tuple[int, str, str, int]]:
    go = tmp / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(go),
                "start",
                KEY,
                "--experiments",
                str(dirs[i % 2]),
                "--db",
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(n)
    ]
    time.sleep(0.5)  # let them import (not required for correctness: only widens the race)
    go.touch()
    return [(i % 2, *p.communicate(timeout=300), p.returncode) for i, p in enumerate(procs)]


def check_one_winner(outcomes: list[tuple[int, str, str, int]], stored: str) -> None:
    winners = {config for config, _, _, code in outcomes if code == 0}
    assert len(winners) == 1, outcomes
    for config, out, err, code in outcomes:
        assert "Traceback" not in err
        if code == 0:
            assert out == f"started {KEY} iteration 1 (fingerprint {stored[:12]})\n"
        else:
            assert code == 1 and config not in winners, (config, out, err)
            assert err.startswith("Error: ") and out == ""
            assert f"config fingerprint {stored[:12]} in the store" in err
            assert "would move already-assigned units" in err


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parallel_conflicting_starts_exactly_one_config_wins(backend: str, tmp_path: Path) -> None:
    dirs = configs(tmp_path)
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'segab.db'}"
    else:
        if pg_url() is None:
            pytest.skip(PG_SKIP)
        schema = "segab_test_" + uuid.uuid4().hex[:12]
        url = pg_store_url(schema)
    try:
        outcomes = race(url, dirs, tmp_path)
        engine = open_store(url)
        record = get_experiment(engine, KEY)
        assert record is not None and record.status == "running"
        check_one_winner(outcomes, record.config_fingerprint)
        if schema is not None:  # the store went where the URL said
            with engine.connect() as conn:
                where = (
                    conn.exec_driver_sql(
                        "SELECT table_schema FROM information_schema.tables "
                        "WHERE table_name = 'experiments'"
                    )
                    .scalars()
                    .all()
                )
            assert schema in where
        engine.dispose()
    finally:
        if schema is not None:
            drop_schema(pg_url() or "", schema)


def test_register_checked_runs_one_check_at_a_time_per_key(store: Target) -> None:
    """Two threads: the second check starts only after the first registration committed."""
    log: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def start(name: str, seed: str) -> None:
        engine = store.engine_again()

        def check(latest: ExperimentRecord | None, same: ExperimentRecord | None) -> None:
            with lock:
                log.append(("enter", name, None if same is None else same.config["seed"]))
            time.sleep(0.3)  # without serialisation the other check runs meanwhile
            if same is not None and same.config["seed"] != seed:
                raise StoreError(f"{name}: refused, the store runs {same.config_fingerprint[:12]}")
            with lock:
                log.append(("exit", name, None))

        try:
            register_checked(engine, "race", 1, "running", {"seed": seed}, check)
        except StoreError as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start, args=(n, s)) for n, s in (("t1", "a"), ("t2", "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    first, second = log[0][1], log[2][1]
    assert [e[0] for e in log] == ["enter", "exit", "enter"]  # never interleaved
    assert log[0][2] is None and log[2][2] == ("a" if first == "t1" else "b")
    assert len(errors) == 1 and str(errors[0]).startswith(f"{second}: refused")
    record = get_experiment(store.engine, "race")
    assert record is not None and record.config["seed"] == ("a" if first == "t1" else "b")


def test_loser_is_told_the_fingerprint_and_the_same_config_restarts(tmp_path: Path) -> None:
    a, b = configs(tmp_path)
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    runner = CliRunner()
    first = runner.invoke(cli, ["start", KEY, "--experiments", str(a), "--db", url])
    assert first.exit_code == 0, first.output
    fp = first.stdout.split("fingerprint ")[1][:12]
    again = runner.invoke(cli, ["start", KEY, "--experiments", str(a), "--db", url])
    assert (again.exit_code, again.stdout) == (0, first.stdout)
    other = runner.invoke(cli, ["start", KEY, "--experiments", str(b), "--db", url])
    assert other.exit_code == 1
    assert f"running with config fingerprint {fp} in the store (this file: " in other.stderr
    with make_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT config_fingerprint FROM experiments")).scalars().all()
    assert [r[:12] for r in rows] == [fp]
