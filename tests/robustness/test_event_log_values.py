"""A value segab cannot use is never a number: event-log values and times, on every engine.

Oracle: the same engine's analysis of the same data with the planted rows removed
(issue 15: "an analysis of such data gives exactly the numbers of the same data with
those rows removed, plus the counters"). Planted: NaN, +-inf, an overflowing literal
(1e400), text in the value column, and unreadable or missing times, in the events and
the exposures. The counters and the first locations (CSV line, file or DataFrame row,
or the row's key) are checked by hand.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab.analysis.compute import compute_results
from segab.config import Experiment, parse_experiment
from segab.sums.aggregate import DATA_QUALITY_KEYS, Aggregates, aggregate_event_log

NEW = ("bad_values", "bad_timestamps")  # the counters the planted rows move
X_COLUMNS = ["user_id", "segment", "stage", "variant", "timestamp"]
E_COLUMNS = ["user_id", "event", "value", "timestamp"]


def experiment() -> Experiment:
    return parse_experiment(
        {
            "key": "exp",
            "name": "Robustness",
            "unit": "user_id",
            "stages": ["awareness", "purchase"],
            "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
            "fallback": "rest",
            "cells": [
                {
                    "control": "a",
                    "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
                }
            ],
            "metrics": {
                "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
                "secondary": [
                    {"key": "rev", "kind": "continuous", "event": "revenue"},
                    {
                        "key": "rpc",
                        "kind": "ratio",
                        "event": "revenue",
                        "denominator_event": "click",
                    },
                ],
            },
            "analysis": {"attribution_window": "7d"},
        }
    )


EXP = experiment()


def clean_log(seed: int = 3, n_units: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures and events as text (what a CSV holds); values on a 1/4 grid, so that
    sums are exact in any order and on every engine."""
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2024-01-01")
    x_rows, e_rows = [], []
    for i in range(n_units):
        u, seg = f"u{i}", ("young", "rest")[i % 2]
        stages = ["awareness", "purchase"] if i % 3 == 0 else ["awareness"]
        for j, stage in enumerate(stages):
            t0 = base + pd.Timedelta(hours=int(rng.integers(0, 48)) + 72 * j)
            x_rows.append((u, seg, stage, ("a", "b")[int(rng.integers(2))], str(t0)))
        for _ in range(int(rng.integers(0, 5))):
            event = ("purchase", "revenue", "click")[int(rng.integers(3))]
            value = {"purchase": None, "revenue": str(int(rng.integers(1, 80)) / 4), "click": "1"}
            t = base + pd.Timedelta(hours=int(rng.integers(0, 24 * 12)))
            e_rows.append((u, event, value[event], str(t)))
    x = pd.DataFrame(x_rows, columns=X_COLUMNS, dtype=object)
    return x, pd.DataFrame(e_rows, columns=E_COLUMNS, dtype=object)


# (unit, event, value, timestamp, kind); units u1..u7 exist, so a kept row would count
BAD_EVENTS = [
    ("u1", "revenue", "NaN", "2024-01-03 00:00:00", "nan"),
    ("u2", "revenue", "inf", "2024-01-03 00:00:00", "infinite"),
    ("u3", "click", "-Infinity", "2024-01-03 00:00:00", "infinite"),
    ("u4", "revenue", "1e400", "2024-01-03 00:00:00", "infinite"),
    ("u5", "revenue", "abc", "2024-01-03 00:00:00", "not_a_number"),
    ("u6", "revenue", "12.5", "not a time", "bad_timestamp"),
    ("u7", "purchase", None, "2024-02-30 00:00:00", "bad_timestamp"),
]
BAD_EXPOSURES = [
    ("u8", "rest", "awareness", "b", "yesterday"),  # a repeat of u8's cell, unreadable
    ("u99", "young", "awareness", "a", "2024-13-01 00:00:00"),  # a unit seen only here
]
EXPECTED = {"bad_values": 5, "bad_timestamps": 4}


def plant(
    x: pd.DataFrame, e: pd.DataFrame, every: int = 6
) -> tuple[pd.DataFrame, pd.DataFrame, list[int], list[int]]:
    """The log with the planted rows inserted every ``every`` rows; their row indexes."""

    def insert(df: pd.DataFrame, rows: list[tuple[Any, ...]]) -> tuple[pd.DataFrame, list[int]]:
        out, at = [], []
        bad = iter(rows)
        for i, row in enumerate(df.itertuples(index=False)):
            if i % every == 2:
                extra = next(bad, None)
                if extra is not None:
                    at.append(len(out))
                    out.append(extra)
            out.append(tuple(row))
        for extra in bad:
            at.append(len(out))
            out.append(extra)
        return pd.DataFrame(out, columns=df.columns, dtype=object), at

    ex = [r for r in BAD_EXPOSURES]
    if "user_id" in x.columns and x["user_id"].isin(["u8"]).any():
        seg = x.loc[x["user_id"] == "u8", "segment"].iloc[0]
        var = x.loc[x["user_id"] == "u8", "variant"].iloc[0]
        ex[0] = ("u8", seg, "awareness", var, "yesterday")
    dirty_x, x_at = insert(x, ex)
    dirty_e, e_at = insert(e, [r[:4] for r in BAD_EVENTS])
    return dirty_x, dirty_e, x_at, e_at


def assert_same_numbers(dirty: Aggregates, clean: Aggregates, expected: dict[str, int]) -> None:
    pd.testing.assert_frame_equal(dirty.sums, clean.sums, check_dtype=False)
    pd.testing.assert_frame_equal(dirty.exposures, clean.exposures, check_dtype=False)
    pd.testing.assert_frame_equal(dirty.funnel, clean.funnel, check_dtype=False)
    for key in DATA_QUALITY_KEYS:
        want = expected.get(key, clean.data_quality[key])
        assert dirty.data_quality[key] == want, (key, dirty.data_quality)
    assert clean.issues == ()


def issues_by_kind(agg: Aggregates) -> dict[tuple[str, str, str], tuple[int, tuple[str, ...]]]:
    return {(i.table, i.column, i.kind): (i.count, i.examples) for i in agg.issues}


def expected_counts() -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for *_, kind in BAD_EVENTS:
        column = "timestamp" if kind == "bad_timestamp" else "value"
        out[("events", column, kind)] = out.get(("events", column, kind), 0) + 1
    out[("exposures", "timestamp", "bad_timestamp")] = len(BAD_EXPOSURES)
    return out


# --- DuckDB: CSV, Parquet, DataFrames ---------------------------------------------------


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_csv_bad_rows_are_kept_out_counted_and_located_by_line(route: str, tmp_path: Path) -> None:
    x, e = clean_log()
    dirty_x, dirty_e, x_at, e_at = plant(x, e)
    paths = {}
    for name, df in (("x", x), ("e", e), ("dirty_x", dirty_x), ("dirty_e", dirty_e)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    clean = aggregate_event_log(EXP, paths["x"], paths["e"], route=route)
    dirty = aggregate_event_log(EXP, paths["dirty_x"], paths["dirty_e"], route=route)
    assert_same_numbers(dirty, clean, EXPECTED)
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == expected_counts()
    # the header is line 1: the row at index i is on line i + 2
    lines = {
        (r[0], r[-1]): f"dirty_e.csv line {at + 2} (unit {r[0]}, event {r[1]}"
        for r, at in zip(BAD_EVENTS, e_at, strict=True)
    }
    for (_, kind), where in lines.items():
        column = "timestamp" if kind == "bad_timestamp" else "value"
        assert any(where in ex for ex in found[("events", column, kind)][1]), (where, found)
    nan_example = found[("events", "value", "nan")][1][0]
    assert nan_example.endswith(
        f"dirty_e.csv line {e_at[0] + 2} (unit u1, event revenue, value 'NaN')"
    )
    x_examples = found[("exposures", "timestamp", "bad_timestamp")][1]
    assert [re.search(r"line (\d+)", ex).group(1) for ex in x_examples] == [  # type: ignore[union-attr]
        str(at + 2) for at in x_at
    ]
    assert "(unit u8, timestamp 'yesterday')" in x_examples[0]


def test_csv_line_numbers_count_quoted_line_breaks_and_blank_lines(tmp_path: Path) -> None:
    x, _ = clean_log()
    x.to_csv(tmp_path / "x.csv", index=False)
    body = "user_id,event,value,timestamp\n" + (
        'u1,"click\nthrough",1,2024-01-02 00:00:00\n'  # a name over two lines (not a metric's)
        "\n"
        "u2,revenue,NaN,2024-01-02 00:00:00\n"
    )
    (tmp_path / "e.csv").write_text(body)
    agg = aggregate_event_log(EXP, tmp_path / "x.csv", tmp_path / "e.csv")
    (issue,) = agg.issues
    assert issue.examples[0].endswith("e.csv line 5 (unit u2, event revenue, value 'NaN')")


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_parquet_text_columns_locate_rows(route: str, tmp_path: Path) -> None:
    x, e = clean_log()
    dirty_x, dirty_e, _, e_at = plant(x, e)
    for name, df in (("x", x), ("e", e), ("dirty_x", dirty_x), ("dirty_e", dirty_e)):
        pq.write_table(
            pa.Table.from_pandas(df.astype(object), preserve_index=False),
            tmp_path / f"{name}.parquet",
        )
    clean = aggregate_event_log(EXP, tmp_path / "x.parquet", tmp_path / "e.parquet", route=route)
    dirty = aggregate_event_log(
        EXP, tmp_path / "dirty_x.parquet", tmp_path / "dirty_e.parquet", route=route
    )
    assert_same_numbers(dirty, clean, EXPECTED)
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == expected_counts()
    (example,) = found[("events", "value", "not_a_number")][1]
    assert example.endswith(f"dirty_e.parquet row {e_at[4]} (unit u5, event revenue, value 'abc')")


def typed(x: pd.DataFrame, e: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
    """Typed columns: float values (NaN and inf kept as such) and UTC timestamps."""
    x_t = pa.table(
        {
            **{c: pa.array(x[c].tolist(), pa.string()) for c in X_COLUMNS[:-1]},
            "timestamp": pa.array(pd.to_datetime(x["timestamp"], utc=True)),
        }
    )
    values = [None if v is None else float(v) for v in e["value"]]
    e_t = pa.table(
        {
            "user_id": pa.array(e["user_id"].tolist(), pa.string()),
            "event": pa.array(e["event"].tolist(), pa.string()),
            "value": pa.array(values, pa.float64(), from_pandas=False),
            "timestamp": pa.array(pd.to_datetime(e["timestamp"], utc=True)),
        }
    )
    return x_t, e_t


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_parquet_typed_nan_inf_and_missing_times(route: str, tmp_path: Path) -> None:
    x, e = clean_log()
    planted = pd.DataFrame(
        [
            ("u1", "revenue", "nan", "2024-01-03 00:00:00"),
            ("u2", "revenue", "inf", "2024-01-03 00:00:00"),
            ("u3", "click", "-inf", "2024-01-03 00:00:00"),
            ("u4", "purchase", None, None),  # no time at all
        ],
        columns=E_COLUMNS,
        dtype=object,
    )
    dirty_e = pd.concat([e.iloc[:10], planted, e.iloc[10:]], ignore_index=True)
    for name, (xx, ee) in {"clean": (x, e), "dirty": (x, dirty_e)}.items():
        x_t, e_t = typed(xx, ee)
        pq.write_table(x_t, tmp_path / f"{name}_x.parquet")
        pq.write_table(e_t, tmp_path / f"{name}_e.parquet")
    read = pq.read_table(tmp_path / "dirty_e.parquet")
    assert read.schema.field("value").type == pa.float64()
    assert math.isnan(read.column("value")[10].as_py())  # a NaN, not a NULL
    clean = aggregate_event_log(
        EXP, tmp_path / "clean_x.parquet", tmp_path / "clean_e.parquet", route=route
    )
    dirty = aggregate_event_log(
        EXP, tmp_path / "dirty_x.parquet", tmp_path / "dirty_e.parquet", route=route
    )
    assert_same_numbers(dirty, clean, {"bad_values": 3, "bad_timestamps": 1})
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == {
        ("events", "value", "nan"): 1,
        ("events", "value", "infinite"): 2,
        ("events", "timestamp", "bad_timestamp"): 1,
    }
    assert found[("events", "timestamp", "bad_timestamp")][1][0].endswith(
        "dirty_e.parquet row 13 (unit u4, event purchase, timestamp NULL)"
    )


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_dataframes_with_text_values_locate_rows(route: str) -> None:
    x, e = clean_log()
    dirty_x, dirty_e, x_at, e_at = plant(x, e)
    clean = aggregate_event_log(EXP, x, e, route=route)
    dirty = aggregate_event_log(EXP, dirty_x, dirty_e, route=route)
    assert_same_numbers(dirty, clean, EXPECTED)
    found = issues_by_kind(dirty)
    assert {k: v[0] for k, v in found.items()} == expected_counts()
    examples = found[("events", "value", "infinite")][1]
    assert examples == tuple(
        f"<events DataFrame> row {at} (unit {r[0]}, event {r[1]}, value {r[2]!r})"
        for r, at in zip(BAD_EVENTS, e_at, strict=True)
        if r[4] == "infinite"
    )
    assert found[("exposures", "timestamp", "bad_timestamp")][1][1] == (
        f"<exposures DataFrame> row {x_at[1]} (unit u99, timestamp '2024-13-01 00:00:00')"
    )


def test_a_float_dataframe_nan_is_a_missing_value_and_inf_a_bad_one() -> None:
    """pandas marks a missing float with NaN, and DuckDB reads it as NULL: a missing
    outcome (it adds nothing, the row stays); inf is a bad value (the row goes)."""
    x, e = clean_log()
    e = e.assign(value=[None if v is None else float(v) for v in e["value"]])
    rev = e.index[e["event"] == "revenue"]
    dirty = e.copy()
    dirty.loc[rev[0], "value"] = float("nan")
    dirty.loc[rev[1], "value"] = float("inf")
    agg = aggregate_event_log(EXP, x, dirty)
    kept = e.copy()
    kept.loc[rev[0], "value"] = None
    clean = aggregate_event_log(EXP, x, kept.drop(index=rev[1]))
    assert_same_numbers(agg, clean, {"bad_values": 1})
    assert agg.data_quality["missing_outcomes"] == clean.data_quality["missing_outcomes"] == 1


# --- the issue's example: three NaN revenue events must not flip a decision ---------------


def test_three_nan_revenue_events_do_not_change_the_analysis(tmp_path: Path) -> None:
    from segab.analysis.api import analyze
    from segab.bulk import assign_file
    from segab.config import load_experiments
    from segab.simulate import default_effects, simulate_events, simulate_population

    exp = load_experiments(Path(__file__).parents[2] / "experiments")["journey_content"]
    simulate_population(exp, 2800, seed=4).to_csv(tmp_path / "population.csv", index=False)
    assign_file(exp, tmp_path / "population.csv", tmp_path / "exposures.csv")
    assignments = pd.read_csv(tmp_path / "exposures.csv", dtype={"unit_id": str})
    events = simulate_events(exp, assignments, default_effects(exp), seed=4)
    assert len(events) > 9000  # the issue's 10,000-event log
    events["value"] = (events["value"] * 64).round() / 64  # sums exact in any order
    revenue = events.index[events["event"] == "revenue"]
    big = events.loc[revenue, "value"].nlargest(3).index  # the events that matter most
    dirty = events.astype({"value": object})
    dirty.loc[big, "value"] = "NaN"
    dirty.to_csv(tmp_path / "dirty.csv", index=False)
    events.drop(index=big).to_csv(tmp_path / "clean.csv", index=False)
    got = analyze(exp, exposures=tmp_path / "exposures.csv", events=tmp_path / "dirty.csv")
    want = analyze(exp, exposures=tmp_path / "exposures.csv", events=tmp_path / "clean.csv")
    got_json, want_json = got.to_dict(), want.to_dict()
    assert got_json.pop("data_quality")["bad_values"] == 3
    assert want_json.pop("data_quality")["bad_values"] == 0
    (issue,) = got_json.pop("data_issues")
    assert (issue["kind"], issue["count"], len(issue["examples"])) == ("nan", 3, 3)
    want_json.pop("data_issues")
    assert got_json == want_json
    assert [r.decision for r in got.results] == [r.decision for r in want.results]
    assert any(r.metric == "clv" for r in got.results)


# --- a property: random bad values and times never move an estimate ---------------------

BAD_VALUES = ["NaN", "nan", "inf", "-Infinity", "1e400", "-1e999", "abc", "1.2.3", "12,5"]
BAD_TIMES = ["garbage", "2024-02-30 00:00:00", "", None, "2024-01-01 25:00:00", "NaN"]
X0, E0 = clean_log(seed=11, n_units=30)
VALUE_ROWS = [i for i, ev in enumerate(E0["event"]) if ev in ("revenue", "click")]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.dictionaries(st.sampled_from(VALUE_ROWS), st.sampled_from(BAD_VALUES), max_size=6),
    times=st.dictionaries(st.integers(0, len(E0) - 1), st.sampled_from(BAD_TIMES), max_size=4),
    x_times=st.dictionaries(st.integers(0, len(X0) - 1), st.sampled_from(BAD_TIMES), max_size=4),
)
def test_random_bad_rows_never_move_an_estimate(
    values: dict[int, str], times: dict[int, Any], x_times: dict[int, Any]
) -> None:
    e, x = E0.copy(), X0.copy()
    for i, v in values.items():
        e.loc[i, "value"] = v
    for i, t in times.items():
        e.loc[i, "timestamp"] = t
    for i, t in x_times.items():
        x.loc[i, "timestamp"] = t
    dirty = aggregate_event_log(EXP, x, e)
    bad_e = set(values) | set(times)
    clean = aggregate_event_log(EXP, X0.drop(index=list(x_times)), E0.drop(index=list(bad_e)))
    expected = {
        "bad_values": len(values),
        "bad_timestamps": len(set(times) - set(values)) + len(x_times),
    }
    assert_same_numbers(dirty, clean, expected)
    got, want = compute_results(EXP, dirty).to_dict(), compute_results(EXP, clean).to_dict()
    for doc in (got, want):
        doc.pop("data_quality")
        doc.pop("data_issues")
    assert got == want
