"""Degenerate stores are answers, not crashes (issue 15, item 5): the store and lifecycle commands.

A missing store, an empty store, an experiment with no exposures or events,
and no saved analysis: every command answers with a message (``Error: ...``
with exit code 1 when it cannot proceed), never a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from segab.cli.main import cli
from segab.store import ExposureRow, log_exposures, open_store

REPO = Path(__file__).resolve().parents[2]
KEY = "loyalty_offer"


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    d = tmp_path / "experiments"
    d.mkdir()
    for name in ("segments.yaml", f"{KEY}.yaml"):
        shutil.copy(REPO / "experiments" / name, d)
    return d


@pytest.mark.parametrize(
    "args",
    [
        ["db", "status"],
        ["status"],
        ["history", KEY],
        ["stop", KEY],
        ["conclude", KEY],
        ["iterate", KEY],
        ["events", "import", "events.csv"],
    ],
    ids=lambda a: "_".join(a[:2]),
)
def test_a_missing_store_is_an_error_message(
    tmp_path: Path, exp_dir: Path, args: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    (tmp_path / "events.csv").write_text("unit_id,event,timestamp\n")
    extra = ["--experiments", str(exp_dir)] if args[0] in ("stop", "conclude", "iterate") else []
    if args[0] == "events":
        args = [*args[:2], str(tmp_path / "events.csv")]
    result = run(*args, *extra, "--db", url)
    assert result.exit_code == 1
    assert (
        result.stderr.startswith("Error: no segab store at ") and "segab db init" in result.stderr
    )


def test_an_empty_store_answers_every_command(tmp_path: Path, exp_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    assert run("db", "init", "--db", url).exit_code == 0
    status = run("status", "--db", url)
    assert status.exit_code == 0
    assert status.stdout.startswith("no experiments registered in the store at sqlite:///")
    assert run("status", "--db", url, "--format", "json").stdout == "[]\n"
    for args in (["history", KEY], ["stop", KEY, "--experiments", str(exp_dir)]):
        result = run(*args, "--db", url)
        assert result.exit_code == 1
        assert (
            result.stderr
            == f"Error: {KEY!r} is not registered in the store: run `segab start {KEY}`\n"
        )


def test_a_started_experiment_without_data(tmp_path: Path, exp_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    assert run("start", KEY, "--experiments", str(exp_dir), "--db", url).exit_code == 0
    history = run("history", KEY, "--db", url)
    assert history.exit_code == 0 and f"note: no analysis of {KEY} saved yet" in history.stderr
    conclude = run("conclude", KEY, "--experiments", str(exp_dir), "--db", url)
    assert conclude.exit_code == 1
    assert "no data to conclude on" in conclude.stderr and conclude.stderr.startswith("Error: ")


def test_exposures_without_any_event_conclude(tmp_path: Path, exp_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    assert run("start", KEY, "--experiments", str(exp_dir), "--db", url).exit_code == 0
    variants = ("thank_you_note", "double_points")
    rows = [
        ExposureRow(KEY, 1, f"u{i}", "loyal_members", "post_purchase", variants[i % 2])
        for i in range(40)
    ]
    engine = open_store(url)
    log_exposures(engine, rows)
    engine.dispose()
    result = run("conclude", KEY, "--experiments", str(exp_dir), "--db", url)
    assert result.exit_code == 0 and result.stdout.startswith(f"concluded {KEY} iteration 1")
