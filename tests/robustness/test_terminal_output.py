"""Terminal output shows data, never markup: strings from data print literally, controls escaped.

A ``--by`` value such as ``[link=http://evil.example]US[/link]`` must not become a live
hyperlink in ``--format table`` (rich markup), and an ESC, BEL, CR or bidi override in
the data must not reach the terminal raw in ``table`` or ``csv``. JSON is data: it
keeps every string exactly (its encoder writes control characters as ``\\u001b``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from segab.analysis.results import AnalysisResult
from segab.cli.main import cli
from segab.printable import printable
from segab.report.render import render_table
from segab.report.terminal import cell

CONFIG = {
    "key": "tty_exp",
    "name": "Terminal [bold]output[/bold] \x1b[31m",
    "unit": "user_id",
    "status": "running",
    "stages": ["awareness"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [
        {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
    ],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}},
}
HOSTILE = {
    "link": "[link=http://evil.example]US[/link]",
    "style": "[bold red]loud[/bold red] :smile:",
    "esc": "\x1b[31mred\x1b[0m",
    "osc": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "bell_cr": "bell\x07over\rwrite",
    "bidi": "abc\u202edcba",
    "c1": "x\x9by",
}
# what must never reach a terminal raw: C0 but newline, DEL, C1, bidi overrides, separators
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour/style sequence: the only ESC use allowed


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tty")
    (root / "experiments").mkdir()
    (root / "experiments" / "tty_exp.yaml").write_text(yaml.safe_dump(CONFIG))
    x, ev = [], []
    values = list(HOSTILE.values())
    for i in range(700):
        variant = "ab"[(i // 2) % 2]
        uid = f"u{i}"
        seg = "young" if i % 2 else "rest"
        channel = values[i % len(values)]
        x.append((uid, "tty_exp", 1, seg, "awareness", variant, "2024-01-01 00:00:00", channel))
        if i % 3 == 0 or (variant == "b" and i % 4 == 0):
            ev.append((uid, "purchase", None, "2024-01-02 00:00:00"))
    cols = ["user_id", "experiment", "iteration", "segment", "stage", "variant", "timestamp"]
    pd.DataFrame(x, columns=[*cols, "channel"]).to_parquet(root / "x.parquet")
    pd.DataFrame(ev, columns=["user_id", "event", "value", "timestamp"]).to_parquet(
        root / "e.parquet"
    )
    return {"root": root, "x": root / "x.parquet", "e": root / "e.parquet"}


def analyze(files: dict[str, Path], fmt: str, env: dict[str, str] | None = None) -> str:
    args = ["analyze", "tty_exp", "--exposures", str(files["x"]), "--events", str(files["e"])]
    args += ["--experiments", str(files["root"] / "experiments"), "--by", "channel"]
    result = CliRunner(env=env).invoke(cli, [*args, "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_terminal_safe(text: str) -> None:
    """No raw control character but newline, and ESC only in colour/style sequences."""
    assert not RAW.search(SGR.sub("", text)), repr(RAW.search(SGR.sub("", text)))


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1"}], ids=["plain", "color"])
def test_table_reaches_the_terminal_without_controls(files, env) -> None:
    out = analyze(files, "table", env)
    assert_terminal_safe(out)
    assert "\x1b]8;" not in out  # no OSC 8 hyperlink anywhere
    assert ("\x1b[" in out) == bool(env)  # the colour run really is styled


def test_table_prints_markup_literally_and_controls_escaped(files) -> None:
    out = SGR.sub("", analyze(files, "table", {"FORCE_COLOR": "1", "COLUMNS": "400"}))
    for value in HOSTILE.values():  # wide enough: every cell on one line
        assert f"channel={printable(value)}" in out, value
    assert "Terminal [bold]output[/bold] \\x1b[31m" in out  # the config's name, too


def test_csv_escapes_controls_and_keeps_markup_as_text(files) -> None:
    out = analyze(files, "csv")
    assert_terminal_safe(out)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["by_channel"] for r in rows} - {""} == {printable(v) for v in HOSTILE.values()}


def test_json_keeps_every_string_exactly(files) -> None:
    out = analyze(files, "json")
    assert_terminal_safe(out)  # the encoder writes \u001b, not ESC
    doc = json.loads(out)
    got = {r["dimensions"]["channel"] for r in doc["results"] if r["dimensions"]}
    assert got == set(HOSTILE.values())


def test_render_table_with_a_colour_terminal_has_no_hyperlink() -> None:
    result = AnalysisResult(
        HOSTILE["link"], 1, "frequentist", 0.05, "holm", (), (), (), (), {},
        notes=(HOSTILE["esc"], HOSTILE["osc"]),
    )  # fmt: skip
    out = render_table(result, color=True)
    assert "\x1b]8;" not in out and "http://evil.example]US" in out
    assert_terminal_safe(out)


def test_history_table_escapes_a_crafted_snapshot(tmp_path: Path) -> None:
    from segab.store import open_store, register_experiment, save_snapshot

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url, create=True)
    register_experiment(
        engine, "h", 1, "running", {"seed": "h", "metrics": {"primary": {"key": "m"}}}
    )
    row = {"segment": HOSTILE["link"], "stage": HOSTILE["esc"], "variant": HOSTILE["bidi"]}
    row |= {"control": HOSTILE["bell_cr"], "metric": "m", "dimensions": {}, "decision": "ship"}
    save_snapshot(engine, "h", 1, {"results": [row]})
    engine.dispose()
    result = CliRunner(env={"FORCE_COLOR": "1", "COLUMNS": "300"}).invoke(
        cli, ["history", "h", "--db", url]
    )
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)
    assert HOSTILE["link"] in result.stdout and "\x1b]8;" not in result.stdout
    assert printable(HOSTILE["esc"]) in SGR.sub("", result.stdout)


@given(st.text())
def test_printable_leaves_nothing_raw_and_changes_only_unsafe_characters(text: str) -> None:
    shown = printable(text)
    assert not RAW.search(shown)
    assert "\n" not in shown
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in shown)
    safe = not RAW.search(text) and "\n" not in text and not re.search("[\ud800-\udfff]", text)
    assert (shown == text) == safe


def test_cell_is_never_markup() -> None:
    assert cell("[link=http://evil.example]US[/link]").plain == HOSTILE["link"]
    assert cell(None).plain == ""
