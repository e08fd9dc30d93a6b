"""`segab init`: files it refuses to overwrite, errors that name what was found, every
bundled experiment as a unit table and as an event log, and the split it guesses.

The splits are checked against :func:`scipy.stats.chisquare` (the goodness-of-fit
oracle of :func:`segab.stats.srm.srm_test`, which :mod:`segab.draft.infer` uses).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from segab.cli import cli
from segab.config import load_experiments
from segab.draft.infer import SRM_P, arm_keys, choose_split, find_control, looks_like_control
from segab.errors import DataError

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted(load_experiments(ROOT / "experiments"))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _units(tmp_path: Path, arms: list[str], name: str = "units.csv") -> Path:
    n = len(arms)
    path = tmp_path / name
    pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "arm": arms,
            "bought": [i % 3 == 0 for i in range(n)],
            "spend": [float(i % 7) for i in range(n)],
            "city": [("a", "b", "c")[i % 3] for i in range(n)],
        }
    ).to_csv(path, index=False)
    return path


def test_init_writes_a_config_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    data = _units(tmp_path, ["control", "new"] * 200)
    exps = str(tmp_path / "exps")
    args = ["init", "demo", "--units", str(data), "--variant-column", "arm", "--experiments", exps]
    first = run(*args)
    assert first.exit_code == 0, first.output
    target = tmp_path / "exps" / "demo.yaml"
    before = target.read_text()
    assert "control: control" in before and "--by city" in before
    again = run(*args)
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: ") and "--force" in again.stderr
    assert "Traceback" not in again.output
    assert target.read_text() == before
    forced = run(*args, "--control", "new", "--force")
    assert forced.exit_code == 0, forced.output
    assert "control: new" in target.read_text()


def test_an_unrecognisable_control_is_an_error_listing_the_labels(tmp_path: Path) -> None:
    data = _units(tmp_path, ["gate_30", "gate_40"] * 100)
    out = tmp_path / "x.yaml"
    result = run("init", "g", "--units", str(data), "--variant-column", "arm", "--output", str(out))
    assert result.exit_code == 1
    assert "['gate_30', 'gate_40']" in result.stderr and "--control" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    wrong = run(
        "init", "g", "--units", str(data), "--variant-column", "arm", "--output", str(out),
        "--control", "gate_50",
    )  # fmt: skip
    assert wrong.exit_code == 1 and "gate_30" in wrong.stderr and not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--variant-column", "nope"], "no column 'nope'"),
        (["--variant-column", "user_id"], "distinct values"),
        (["--variant-column", "arm", "--primary", "city"], "not an outcome"),
        (["--variant-column", "arm", "--exposures", "x.csv"], "either a unit table"),
        (["--variant-column", "arm", "--control", "a", "--control", "b"], "one label"),
    ],
)
def test_bad_options_are_located_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    data = _units(tmp_path, ["control", "b"] * 50)
    result = run("init", "k", "--units", str(data), "--output", str(tmp_path / "k.yaml"), *extra)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_errors_for_missing_files_and_bad_keys(tmp_path: Path) -> None:
    missing = run("init", "k", "--units", str(tmp_path / "none.csv"), "--output", "k.yaml")
    assert missing.exit_code == 1 and "none.csv" in missing.stderr
    bad = run("init", "bad key", "--units", "x.csv")
    assert bad.exit_code == 1 and "KEY" in bad.stderr
    half = run("init", "k", "--exposures", "x.csv")
    assert half.exit_code == 1 and "--events" in half.stderr


def test_help_has_an_example() -> None:
    result = run("init", "--help")
    assert result.exit_code == 0 and "Example:" in result.output


def _control_in(key: str, arms: set[str]) -> list[str]:
    exp = load_experiments(ROOT / "experiments")[key]
    return sorted({c.control for c in exp.cells} & arms)


@pytest.mark.parametrize("key", EXAMPLES)
def test_every_example_as_a_unit_table_validates_and_analyses(key: str, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    sim = run(
        "simulate", key, "--units", "3000", "--unit-table", "--out", str(out),
        "--experiments", str(ROOT / "experiments"),
    )  # fmt: skip
    assert sim.exit_code == 0, sim.output
    units = str(out / "units.csv")
    arms = set(pd.read_csv(units)["arm"])
    control = _control_in(key, arms)[:1]
    exps = str(tmp_path / "exps")
    name = f"{key}_units"
    args = ["--units", units, "--variant-column", "arm"]
    init = run("init", name, *args, *(f"--control={c}" for c in control), "--experiments", exps)
    assert init.exit_code == 0, init.output
    valid = run("validate", exps)
    assert valid.exit_code == 0, valid.output
    analysed = run("analyze", name, *args, "--experiments", exps, "--format", "json")
    assert analysed.exit_code == 0, analysed.output
    rows = json.loads(analysed.stdout)["results"]
    assert len(rows) >= len(arms) - 1 >= 1
    assert {r["control"] for r in rows} == set(control)


def test_an_event_log_drafts_cells_per_stage_and_analyses(tmp_path: Path) -> None:
    key, exps = "journey_content", str(ROOT / "experiments")
    out = tmp_path / "demo"
    steps = [
        ("simulate", key, "--units", "3000", "--out", str(out), "--experiments", exps),
        (
            "assign", key, "--input", str(out / "population.csv"),
            "--output", str(out / "assignments.csv"), "--experiments", exps,
        ),
        (
            "simulate", key, "--events-for", str(out / "assignments.csv"), "--out", str(out),
            "--experiments", exps,
        ),
    ]  # fmt: skip
    for step in steps:
        assert run(*step).exit_code == 0, step
    log = ["--exposures", str(out / "assignments.csv"), "--events", str(out / "events.csv")]
    mine = str(tmp_path / "exps")
    controls = ["standard_ad", "feature_list", "plain_checkout", "receipt_only"]
    without = run("init", key, *log, "--experiments", mine)
    assert without.exit_code == 1 and "--control" in without.stderr
    init = run("init", key, *log, *(f"--control={c}" for c in controls), "--experiments", mine)
    assert init.exit_code == 0, init.output
    config = yaml.safe_load((tmp_path / "exps" / f"{key}.yaml").read_text())
    assert config["unit"] == "user_id" and config["iteration"] == 1
    assert {
        m["event"] for m in [config["metrics"]["primary"], *config["metrics"]["secondary"]]
    } >= {
        "stage_conversion",
        "revenue",
    }
    kinds = {config["metrics"]["primary"]["event"]: config["metrics"]["primary"]["kind"]}
    kinds.update({m["event"]: m["kind"] for m in config["metrics"]["secondary"]})
    assert kinds["revenue"] == "continuous" and kinds["stage_conversion"] == "binary"
    valid = run("validate", mine, "--strict")
    assert valid.exit_code == 0, valid.output
    analysed = run("analyze", key, *log, "--experiments", mine, "--format", "json")
    assert analysed.exit_code == 0, analysed.output
    result = json.loads(analysed.stdout)
    assert result["results"] and result["data_quality"]["undeclared_exposures"] == 0
    other = run("init", "another", *log, "--experiments", mine)
    assert other.exit_code == 1 and "journey_content" in other.stderr


def test_a_database_table(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    frame = pd.read_csv(_units(tmp_path, ["control", "b", "b", "control"] * 30))
    with sqlite3.connect(db) as con:
        frame.to_sql("users", con, index=False)
    url = f"sqlite:///{db}"
    exps = str(tmp_path / "exps")
    args = ["--db", url, "--units", "users", "--variant-column", "arm"]
    init = run("init", "d", *args, "--experiments", exps)
    assert init.exit_code == 0, init.output
    text = (tmp_path / "exps" / "d.yaml").read_text()
    assert "kind: binary, column: bought" in text and "--db" in text
    analysed = run("analyze", "d", *args, "--experiments", exps, "--format", "json")
    assert analysed.exit_code == 0, analysed.output
    assert json.loads(analysed.stdout)["results"]


def test_control_names_and_keys() -> None:
    assert [looks_like_control(x) for x in ("CTRL", " baseline ", "Hold-out", "None")] == [True] * 4
    assert not any(looks_like_control(x) for x in ("gate_30", "treatment", "nonexistent"))
    assert find_control(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], None) == "No E-Mail"
    with pytest.raises(DataError, match="all read like a control"):
        find_control(["control", "baseline", "b"], None)
    assert arm_keys([" Control", " Civic Duty", " Neighbors"]) == [
        "control",
        "civic_duty",
        "neighbors",
    ]
    assert arm_keys(["No E-Mail", "no_e-mail"]) == ["no_e-mail_2", "no_e-mail"]


@pytest.mark.parametrize(
    ("counts", "ratios", "how"),
    [
        ([5020, 4980], (1, 1), "equal"),
        ([9012, 988], (9, 1), "design"),
        ([2010, 1995, 1985, 2030], (1, 1, 1, 1), "equal"),
        ([191243, 38218, 38204, 38201, 38218], (5, 1, 1, 1, 1), "design"),
        ([50000, 25100, 24900], (2, 1, 1), "design"),
        ([6000, 3000, 1000], (60, 30, 10), "observed"),
    ],
)
def test_the_split_is_a_plausible_design(
    counts: list[int], ratios: tuple[int, ...], how: str
) -> None:
    split = choose_split(counts)
    assert split.how == how
    total = sum(ratios)
    if how != "observed":
        assert split.ratios == ratios
        expected = [sum(counts) * r / total for r in ratios]
        assert split.p_value == pytest.approx(sps.chisquare(counts, expected).pvalue)
    else:
        assert [round(100 * r / sum(split.ratios)) for r in split.ratios] == [60, 30, 10]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 100_000), min_size=2, max_size=6).filter(lambda c: sum(c) > 0))
def test_a_chosen_design_fits_or_the_split_is_observed(counts: list[int]) -> None:
    """Any chosen design passes the sample-ratio check; else the weights are the percents."""
    split = choose_split(counts)
    assert len(split.ratios) == len(counts) and all(r >= 0 for r in split.ratios)
    if split.how != "observed":
        assert split.p_value > SRM_P
    else:
        shares = [100 * r / sum(split.ratios) for r in split.ratios]
        assert all(
            abs(s - 100 * c / sum(counts)) <= 1.0 for s, c in zip(shares, counts, strict=True)
        )


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=5, unique=True))
@example(["0E0", "1e5"])  # YAML 1.2 floats to segab's loader, plain text to YAML 1.1
@example([".5", "-1E-3"])
def test_any_labels_survive_the_yaml(labels: list[str]) -> None:
    """Keys are unique identifiers; every label comes back exactly from the written YAML."""
    from segab.config.yaml_reader import parse_yaml
    from segab.draft.build import Arm, Draft, DraftCell
    from segab.draft.infer import KEY_PATTERN, Outcome, Split
    from segab.draft.render import Invocation, render_draft

    keys = arm_keys(labels)
    assert len(set(keys)) == len(keys) and all(KEY_PATTERN.match(k) for k in keys)
    arms = tuple(Arm(lab, k, 10) for lab, k in zip(labels, keys, strict=True))
    cell = DraftCell("*", arms, keys[0], Split((1,) * len(arms), "equal", 1.0))
    draft = Draft(
        "k", "units", labels[0], 10, labels[1], None, "none", (), (), None, (cell,),
        (Outcome(labels[0], "m", "binary", labels[1]),), ((labels[1], 2),), ((labels[0], "x"),),
    )  # fmt: skip
    text = render_draft(draft, Invocation(("--units", labels[0])), "out.yaml")
    config = parse_yaml(text)
    got = [v.get("value", v["key"]) for v in config["cells"][0]["variants"]]
    assert got == labels
    assert config["metrics"]["primary"]["column"] == labels[0]
