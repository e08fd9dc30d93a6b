"""Data and comparisons shared by the several-breakdowns tests (DuckDB, SQLite, PostgreSQL, Spark).

The oracle of every test: the same breakdowns run in separate calls (one breakdown
each, today's ``--by`` path), whose numbers must equal the one call's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from segab.analysis.results import AnalysisResult
from segab.config import Experiment, parse_experiment
from segab.sums.result import Aggregates

BREAKDOWNS: list[tuple[str, ...]] = [("channel",), ("newbie",), ("zip_code", "newbie")]
# compared on every row; p_adjusted too (each breakdown is its own family)
NUMBERS = (
    "n_control",
    "n_variant",
    "control_mean",
    "variant_mean",
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "p_value",
    "p_adjusted",
)


# three arms, two segments and two stages by column, a metric of each kind
UNIT_CONFIG: dict[str, Any] = {
    "key": "mail",
    "name": "Mail",
    "unit": "user_id",
    "stages": ["visit", "buy"],
    "segments": [{"key": "men", "when": {}}, {"key": "women", "when": {}}],
    "cells": [
        {
            "control": "none",
            "variants": [
                {"key": "none", "weight": 0.25},
                {"key": "mens", "weight": 0.25},
                {"key": "womens", "weight": 0.5},
            ],
        }
    ],
    "metrics": {
        "primary": {"key": "conv", "kind": "binary", "column": "conversion"},
        "secondary": [
            {"key": "spend", "kind": "continuous", "column": "spend"},
            {
                "key": "per_visit",
                "kind": "ratio",
                "column": "spend",
                "denominator_column": "visits",
            },
        ],
    },
}


def unit_experiment() -> Experiment:
    """The experiment of :data:`UNIT_CONFIG`."""
    return parse_experiment(UNIT_CONFIG)


def unit_table(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """Units with a NULL channel on some rows, exact duplicate rows and a NaN outcome."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "segment": rng.choice(["men", "women"], n),
            "stage": rng.choice(["visit", "buy"], n),
            "variant": rng.choice(["none", "mens", "womens"], n, p=[0.25, 0.25, 0.5]),
            "channel": rng.choice(["web", "phone", "multichannel", None], n),
            "zip_code": rng.choice(["urban", "rural", "surburban"], n),
            "newbie": rng.choice([0, 1], n),
            "conversion": rng.integers(0, 2, n),
            # multiples of 1/16: sums exact in any order, so engines agree to the last bit
            "spend": np.round(rng.gamma(1.0, 20.0, n) * 16) / 16,
            "visits": rng.integers(1, 5, n).astype(float),
        }
    )
    df.loc[7, "spend"] = np.inf  # a bad value: the row is kept out and counted
    df.loc[8, "spend"] = np.nan  # a missing outcome
    return pd.concat([df, df.iloc[[10, 11]]], ignore_index=True)  # repeated identical rows


def event_log(n: int = 1500, seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures (of the analyze_data fixture's experiment) with breakdown columns, and events."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i}" for i in range(n)]
    x = pd.DataFrame(
        {
            "user_id": ids,
            "segment": rng.choice(["young", "rest"], n),
            "stage": rng.choice(["awareness", "purchase"], n),
            "variant": rng.choice(["a", "b"], n),
            "timestamp": "2024-01-01 00:00:00",
            "channel": rng.choice(["web", "phone", None], n),
            "zip_code": rng.choice(["urban", "rural"], n),
            "newbie": rng.choice(["yes", "no"], n),
        }
    )
    m = 3 * n
    e = pd.DataFrame(
        {
            "user_id": rng.choice(ids, m),
            "event": rng.choice(["purchase", "revenue", "click"], m),
            "value": np.round(rng.gamma(1.0, 10.0, m) * 16) / 16,
            "timestamp": "2024-01-02 00:00:00",
        }
    )
    return pd.concat([x, x.iloc[[3]]], ignore_index=True), e  # one duplicate exposure


def sums_table(agg: Aggregates) -> list[tuple[Any, ...]]:
    """The sums and exposure counts as sorted tuples (NULL shown as ``<null>``, floats rounded)."""
    out = []
    for frame in (agg.sums, agg.exposures):
        for rec in frame.to_dict("records"):
            out.append(
                tuple(
                    (k, "<null>" if v is None or (isinstance(v, float) and math.isnan(v))
                     else round(v, 9) if isinstance(v, float) else str(v))
                    for k, v in sorted(rec.items())
                )
            )  # fmt: skip
    return sorted(out)


def _key(scope: str, row: dict[str, Any]) -> tuple[Any, ...]:
    dims = tuple(sorted(row["dimensions"].items(), key=lambda kv: kv[0]))
    return (scope, row["segment"], row["stage"], dims, row["metric"], row["variant"])


def rows_by_breakdown(result: AnalysisResult) -> dict[tuple[str, ...], dict[tuple[Any, ...], Any]]:
    """``{breakdown columns (sorted): {row key: row dict}}``; ``()`` holds the plain rows."""
    doc = result.to_dict()
    out: dict[tuple[str, ...], dict[tuple[Any, ...], Any]] = {}
    for scope in ("results", "pooled"):
        for row in doc[scope]:
            names = tuple(sorted(row["dimensions"]))
            out.setdefault(names, {})[_key(scope, row)] = row
    return out


def same_numbers(got: dict[str, Any], want: dict[str, Any], fields: tuple[str, ...]) -> bool:
    for f in fields:
        a, b = got[f], want[f]
        if a is None or b is None:
            if a is not b:
                return False
        elif not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def assert_one_call_equals_separate(
    one: AnalysisResult,
    separate: dict[tuple[str, ...], AnalysisResult],
    breakdowns: list[tuple[str, ...]] | None = None,
) -> None:
    """Each breakdown's rows (cells and pooled) and the plain cells equal the separate calls'.

    ``breakdowns``: the one call's breakdowns when ``separate`` holds only some of them.
    """
    got = rows_by_breakdown(one)
    every = list(separate) if breakdowns is None else breakdowns
    assert one.to_dict()["breakdowns"] == [list(b) for b in every]
    assert set(got) == {(), *(tuple(sorted(b)) for b in every)}
    for b, result in separate.items():
        want = rows_by_breakdown(result)
        names = tuple(sorted(b))
        assert set(got[names]) == set(want[names]), b
        for key, row in want[names].items():
            assert same_numbers(got[names][key], row, NUMBERS), (b, key)
            assert got[names][key]["decision"] == row["decision"], (b, key)
        # the plain cells: the same in every call (pooled ones: their own family, raw p)
        for key, row in want[()].items():
            fields = NUMBERS if key[0] == "results" else NUMBERS[:-1]
            assert same_numbers(got[()][key], row, fields), (b, key)
        assert one.data_quality == result.data_quality
        assert one.srm == result.srm
