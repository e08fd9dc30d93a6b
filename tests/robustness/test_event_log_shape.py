"""Nothing is dropped or counted twice without a counter; degenerate event logs are answers.

- exposures whose segment or stage the config does not declare: excluded, counted
  (``undeclared_exposures``) and named with their counts;
- exact duplicate event rows: counted (``duplicate_events``); kept by default, dropped
  with ``analysis: {duplicate_events: drop}``;
- no exposures for the experiment, header-only files, no events: a result with no
  rows (or no outcomes) and a note saying why, exit code 0, no traceback.

Oracle: the same engine's analysis of the data with those rows removed (or, for kept
duplicates, the same rows); the counters by hand.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from segab.analysis.api import analyze
from segab.cli import cli
from segab.config import parse_experiment
from segab.errors import ConfigError
from segab.sums.aggregate import DATA_QUALITY_KEYS, Aggregates, aggregate_event_log
from segab.sums.sources import open_engine
from tests.robustness.test_event_log_values import EXP, clean_log

RAW: dict[str, Any] = {
    "key": "exp",
    "name": "Robustness",
    "unit": "user_id",
    "stages": ["awareness", "purchase"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [
        {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
    ],
    "metrics": {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
        "secondary": [{"key": "rev", "kind": "continuous", "event": "revenue"}],
    },
}


def assert_same(got: Aggregates, want: Aggregates, counters: dict[str, int]) -> None:
    pd.testing.assert_frame_equal(got.sums, want.sums, check_dtype=False)
    pd.testing.assert_frame_equal(got.exposures, want.exposures, check_dtype=False)
    pd.testing.assert_frame_equal(got.funnel, want.funnel, check_dtype=False)
    for key in DATA_QUALITY_KEYS:
        assert got.data_quality[key] == counters.get(key, want.data_quality[key]), key


# --- undeclared segments and stages -------------------------------------------------------

UNDECLARED = [
    ("v1", "legacy", "awareness", "a", "2024-01-01 00:00:00"),
    ("v2", "legacy", "awareness", "b", "2024-01-01 00:00:00"),
    ("v3", "legacy", "checkout", "b", "2024-01-01 00:00:00"),  # both: counted as a segment
    ("u0", "young", "checkout", "a", "2024-01-02 00:00:00"),
]


@pytest.mark.parametrize("route", ["auto", "generic", "sqlite"])
def test_undeclared_segments_and_stages_are_excluded_counted_and_named(
    route: str, tmp_path: Path
) -> None:
    x, e = clean_log()
    extra = pd.DataFrame(UNDECLARED, columns=x.columns, dtype=object)
    dirty_x = pd.concat([x, extra], ignore_index=True)
    events = pd.DataFrame(
        [("v1", "purchase", None, "2024-01-02 00:00:00")], columns=e.columns, dtype=object
    )
    e = pd.concat([e, events], ignore_index=True)  # v1's event: an unknown unit either way
    if route == "sqlite":
        for name, xx in (("clean", x), ("dirty", dirty_x)):
            with sqlite3.connect(tmp_path / f"{name}.db") as con:
                xx.to_sql("exposures", con, index=False)
                e.to_sql("events", con, index=False)
        with open_engine(f"sqlite:///{tmp_path / 'clean.db'}") as eng:
            clean = aggregate_event_log(EXP, "exposures", "events", engine=eng)
        with open_engine(f"sqlite:///{tmp_path / 'dirty.db'}") as eng:
            dirty = aggregate_event_log(EXP, "exposures", "events", engine=eng)
    else:
        clean = aggregate_event_log(EXP, x, e, route=route)
        dirty = aggregate_event_log(EXP, dirty_x, e, route=route)
    assert_same(dirty, clean, {"undeclared_exposures": 4})
    assert clean.data_quality["events_unknown_units"] >= 1
    issues = {i.kind: i for i in dirty.issues}
    assert set(issues) == {"undeclared_segment", "undeclared_stage"}
    segment, stage = issues["undeclared_segment"], issues["undeclared_stage"]
    assert (segment.table, segment.column, segment.count) == ("exposures", "segment", 3)
    assert segment.examples == ("segment 'legacy' (3 rows)",)
    assert (stage.column, stage.count, stage.examples) == (
        "stage",
        1,
        ("stage 'checkout' (1 row)",),
    )


# --- duplicate events ----------------------------------------------------------------------


def with_duplicates() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The clean log, and its events with three rows repeated (one of them twice)."""
    x, e = clean_log()
    rev = e.index[e["event"] == "revenue"]
    repeats = e.loc[[rev[0], rev[0], rev[1], e.index[e["event"] == "purchase"][0]]]
    return x, e, pd.concat([e, repeats], ignore_index=True)


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_duplicate_events_are_counted_and_kept_by_default(route: str) -> None:
    x, e, dup = with_duplicates()
    agg = aggregate_event_log(EXP, x, dup, route=route)
    # kept: the same numbers as when the repeats are distinct rows (a second later)
    distinct = dup.copy()
    distinct.loc[len(e) :, "timestamp"] = [
        str(pd.Timestamp(t) + pd.Timedelta(seconds=1 + i))
        for i, t in enumerate(distinct.loc[len(e) :, "timestamp"])
    ]
    assert_same(agg, aggregate_event_log(EXP, x, distinct, route=route), {"duplicate_events": 4})
    (issue,) = agg.issues
    assert (issue.table, issue.kind, issue.count) == ("events", "duplicate_row", 4)
    assert issue.column == "user_id, event, value, timestamp"
    assert any(": 3 rows)" in ex for ex in issue.examples), issue.examples


@pytest.mark.parametrize("route", ["auto", "generic", "partitions", "sqlite"])
def test_duplicate_events_dropped_when_the_config_says_so(
    route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = parse_experiment(
        {**EXP.model_dump(exclude_none=True), "analysis": {"duplicate_events": "drop"}}
    )
    x, e, dup = with_duplicates()
    if route == "sqlite":
        for name, ee in (("clean", e), ("dup", dup)):
            with sqlite3.connect(tmp_path / f"{name}.db") as con:
                x.to_sql("exposures", con, index=False)
                ee.to_sql("events", con, index=False)
        results = []
        for name in ("dup", "clean"):
            with open_engine(f"sqlite:///{tmp_path / f'{name}.db'}") as eng:
                results.append(aggregate_event_log(exp, "exposures", "events", engine=eng))
        got, want = results
    else:
        if route == "partitions":
            import segab.sums._fast.hashed as hashed

            monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 20)
        kind = "generic" if route == "generic" else "auto"
        got = aggregate_event_log(exp, x, dup, route=kind)
        want = aggregate_event_log(exp, x, e, route=kind)
    assert_same(got, want, {"duplicate_events": 4})
    assert want.data_quality["duplicate_events"] == 0


def test_a_bad_duplicate_events_setting_is_a_located_error() -> None:
    with pytest.raises(ConfigError, match=r"analysis\.duplicate_events: found 'dedupe'"):
        parse_experiment({**RAW, "analysis": {"duplicate_events": "dedupe"}})
    assert parse_experiment(RAW).analysis.duplicate_events == "keep"


# --- degenerate event logs: answers, not crashes -------------------------------------------

X_HEADER = "user_id,experiment,iteration,segment,stage,variant,timestamp\n"
E_HEADER = "user_id,event,value,timestamp\n"


def run_cli(tmp_path: Path, exposures: str, events: str, fmt: str) -> tuple[int, str, str]:
    (tmp_path / "exp.yaml").write_text(json.dumps(RAW))
    (tmp_path / "x.csv").write_text(exposures)
    (tmp_path / "e.csv").write_text(events)
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "exp",
            "--experiments",
            str(tmp_path / "exp.yaml"),
            "--exposures",
            str(tmp_path / "x.csv"),
            "--events",
            str(tmp_path / "e.csv"),
            "--format",
            fmt,
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


DEGENERATE = {
    "other experiment only": (
        X_HEADER + "u1,other,1,young,awareness,a,2024-01-01\n",
        E_HEADER + "u1,purchase,,2024-01-02\n",
        "no exposures of experiment 'exp' (iteration 1) to analyze; excluded: "
        "1 row of other experiments or iterations",
    ),
    "header-only files": (
        X_HEADER,
        E_HEADER,
        "no exposures of experiment 'exp' (iteration 1) to analyze: the exposures input "
        "has no rows",
    ),
    "no valid exposure": (
        X_HEADER + "u1,exp,1,young,awareness,a,never\n,exp,1,young,awareness,b,2024-01-01\n",
        E_HEADER,
        "no exposures of experiment 'exp' (iteration 1) to analyze; excluded: "
        "1 row with an empty unit id, 1 row with a missing or unreadable time",
    ),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_no_exposures_is_an_empty_result_with_a_note(case: str, tmp_path: Path) -> None:
    exposures, events, note = DEGENERATE[case]
    code, out, err = run_cli(tmp_path, exposures, events, "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["results"] == [] and doc["pooled"] == []
    code, out, err = run_cli(tmp_path, exposures, events, "table")
    assert code == 0, err
    assert "note: no exposures" in out
    result = analyze(parse_experiment(RAW), exposures=tmp_path / "x.csv", events=tmp_path / "e.csv")
    assert result.results == () and result.notes == (note,)


def test_no_events_is_a_note_not_a_crash(tmp_path: Path) -> None:
    exposures = (
        X_HEADER + "u1,exp,1,young,awareness,a,2024-01-01\nu2,exp,1,young,awareness,b,2024-01-01\n"
    )
    code, out, err = run_cli(tmp_path, exposures, E_HEADER, "table")
    assert code == 0, err
    assert "note: no rows of the metrics' events (purchase, revenue)" in out.replace("\n", " ")
    result = analyze(parse_experiment(RAW), exposures=tmp_path / "x.csv", events=tmp_path / "e.csv")
    assert result.results and all(r.comparison.control_mean == 0 for r in result.results)


@pytest.mark.parametrize("route", ["auto", "generic", "partitions"])
def test_header_only_parquet_and_no_exposure_of_this_experiment(
    route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, e = clean_log()
    x.iloc[:0].to_parquet(tmp_path / "x.parquet")
    e.iloc[:0].to_parquet(tmp_path / "e.parquet")
    if route == "partitions":
        import segab.sums._fast.hashed as hashed

        monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 1)
    kind = "generic" if route == "generic" else "auto"
    agg = aggregate_event_log(EXP, tmp_path / "x.parquet", tmp_path / "e.parquet", route=kind)
    assert agg.sums.empty and agg.exposures.empty and agg.funnel.empty
    assert all(v == 0 for v in agg.data_quality.values())
    other = x.assign(experiment="another")
    agg = aggregate_event_log(EXP, other, e, route=kind)
    assert agg.sums.empty and agg.data_quality["exposures_other_experiment"] == len(x)
