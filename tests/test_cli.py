"""The CLI through click's CliRunner: outputs, errors without tracebacks, help examples."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from segab import assign, load_experiments
from segab.cli import cli

EXPERIMENTS = str(Path(__file__).parents[1] / "experiments")
ASSIGNMENT_FIELDS = [
    "experiment",
    "iteration",
    "unit_id",
    "segment",
    "stage",
    "variant",
    "bucket",
    "in_experiment",
    "reason",
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok() -> None:
    code, out, _ = run("validate", EXPERIMENTS)
    assert code == 0 and "4 experiment(s) valid" in out


def test_validate_reports_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: bad\nname: Bad\nunit: id\nsegments: []\ncells: []\n", encoding="utf-8")
    code, _, err = run("validate", str(bad))
    assert code == 1
    assert f"{bad}: segments" in err and f"{bad}: metrics" in err and f"{bad}: cells" in err
    assert err.rstrip().endswith("problem(s) found") and "Traceback" not in err


def test_schema_prints_json() -> None:
    code, out, _ = run("schema")
    assert code == 0 and json.loads(out)["title"] == "Experiment"


def test_assign_single_json_has_exactly_the_fields() -> None:
    code, out, _ = run(
        "assign",
        "journey_content",
        "--unit",
        "u42",
        "--stage",
        "awareness",
        "--attr",
        "age=28",
        "--attr",
        "channel=social",
        "--experiments",
        EXPERIMENTS,
    )
    assert code == 0
    data = json.loads(out)
    assert list(data) == ASSIGNMENT_FIELDS
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    assert data == assign(exp, "u42", {"age": 28, "channel": "social"}, "awareness").to_dict()


def test_assign_nested_attributes_and_table() -> None:
    code, out, _ = run(
        "assign",
        "loyalty_offer",
        "--unit",
        "c-1",
        "--stage",
        "post_purchase",
        "--attr",
        "loyalty.tier=gold",
        "--attr",
        "loyalty.active=true",
        "--experiments",
        EXPERIMENTS,
        "--format",
        "table",
    )
    assert code == 0 and "loyal_members" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["assign", "nope", "--unit", "u", "--stage", "awareness"],
            "Error: unknown experiment 'nope'",
        ),
        (
            ["assign", "journey_content", "--unit", "u", "--stage", "checkout"],
            "Error: unknown stage",
        ),
        (["assign", "journey_content", "--unit", "u"], "Error: give --unit and --stage"),
        (
            ["assign", "journey_content", "--unit", "u", "--stage", "awareness", "--attr", "x"],
            "expected NAME=VALUE",
        ),
        (["validate", "/nonexistent/dir"], "no such file or directory"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    if args[0] == "assign":
        args = [*args, "--experiments", EXPERIMENTS]
    code, _, err = run(*args)
    assert code != 0 and message in err and "Traceback" not in err


def _population(path: Path) -> None:
    rows = ["user_id,stage,age,channel"]
    rows += [f"u{i},{['awareness', 'purchase'][i % 2]},{20 + i % 50},social" for i in range(500)]
    rows += [",awareness,30,social", "u-bad,checkout,30,social", "007,awareness,30,email"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.parametrize("engine", ["python", "duckdb"])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_bulk_assign_reports_bad_rows_and_matches_single(
    tmp_path: Path, suffix: str, engine: str
) -> None:
    src, out = tmp_path / "users.csv", tmp_path / f"out.{suffix}"
    _population(src)
    code, stdout, err = run(
        "assign",
        "journey_content",
        "--input",
        str(src),
        "--output",
        str(out),
        "--experiments",
        EXPERIMENTS,
        "--quiet",
        "--engine",
        engine,
    )
    assert code == 0, err
    assert "assigned 501 of 503 rows" in stdout and "2 bad rows" in stdout
    assert "line 502: empty 'user_id'" in err
    assert "line 503: unit 'u-bad': unknown stage 'checkout'" in err
    if suffix == "parquet":
        table = pq.read_table(out)
    else:
        opts = pacsv.ConvertOptions(column_types={"unit_id": pa.string(), "bucket": pa.int64()})
        table = pacsv.read_csv(out, convert_options=opts)
    rows = {(r["unit_id"], r["stage"]): r for r in table.to_pylist()}
    assert len(rows) == 501
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    for i in range(500):
        stage = ["awareness", "purchase"][i % 2]
        expected = assign(exp, f"u{i}", {"age": 20 + i % 50, "channel": "social"}, stage)
        row = rows[(f"u{i}", stage)]
        assert (row["segment"], row["variant"], row["bucket"], row["reason"]) == (
            expected.segment,
            expected.variant,
            expected.bucket,
            expected.reason.value,
        )
    kept = rows[("007", "awareness")]  # the id stays text: no "7"
    assert (
        kept["segment"] == assign(exp, "007", {"age": 30, "channel": "email"}, "awareness").segment
    )


def test_bulk_missing_column(tmp_path: Path) -> None:
    src = tmp_path / "users.csv"
    src.write_text("id,stage\nu1,awareness\n", encoding="utf-8")
    code, _, err = run(
        "assign",
        "journey_content",
        "--input",
        str(src),
        "--output",
        str(tmp_path / "o.csv"),
        "--experiments",
        EXPERIMENTS,
    )
    assert (
        code == 1
        and "missing column(s) ['user_id'" in err
        and "the file has ['id', 'stage']" in err
    )


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the root group loads its commands lazily
        command = group.get_command(ctx, name)
        assert command is not None, name
        out.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, f"{prefix}{name} "))
    return out


@pytest.mark.parametrize(
    ("name", "command"), _commands(cli), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    code, out, _ = run(*name.split(), "--help")
    assert code == 0 and "Example" in out, f"segab {name} --help has no example"


def test_every_command_is_listed_and_loads() -> None:
    names = [name for name, _ in _commands(cli)]
    assert len(names) == 21
    assert {"allocate", "analyze", "assign", "db init", "init", "sql assign"} <= set(names)


def test_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "segab", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "segab" in proc.stdout


def test_validate_with_a_store_refuses_unsafe_edits_of_running_experiments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXPERIMENTS, tmp_path / "experiments")
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert run("db", "init", "--db", db)[0] == 0
    assert run("start", "journey_content", "--db", db)[0] == 0
    assert run("validate", "experiments", "--db", db)[0] == 0
    path = tmp_path / "experiments" / "journey_content.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("seed: ", "seed: x").replace(
            "iteration: 1\n", "iteration: 1\nseed: reshuffled\n"
        ),
        encoding="utf-8",
    )
    code, _, err = run("validate", "experiments", "--db", db)
    assert code == 1 and "would move already-assigned units" in err and "seed" in err
