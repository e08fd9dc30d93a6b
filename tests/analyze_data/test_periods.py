"""Bandit cells' sums per allocation period and uniform slice (segab.sums.periods): the same
in DuckDB (files and DataFrames, both routes), SQLite, PostgreSQL and Spark, equal to a pandas
oracle that places each unit by its first exposure and its slice by the Python hash
(``PeriodLayout.in_slice``, i.e. ``segab.hashing.bucket_of_key``), and adding up to the
ordinary sums, which stay what they are without periods (nothing counted twice)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.assignment import plan_of
from segab.config import parse_experiment
from segab.errors import DataError
from segab.hashing import bucket_of_key
from segab.sums.aggregate import Aggregates, aggregate_event_log
from segab.sums.periods import PeriodLayout
from segab.sums.sources import open_engine
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

EXP = parse_experiment({
    "key": "band", "unit": "user_id", "stages": ["buy"], "seed": "s19",
    "segments": [{"key": "x", "when": {"k": 1}}, {"key": "y", "when": {"k": 2}}],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"},
                "secondary": [{"key": "rev", "kind": "continuous", "event": "rev"}]},
})  # fmt: skip
START = dt.datetime(2026, 1, 1)
LAYOUTS = [((500, 500), (4500, 4500)), ((500, 500), (1000, 8000)), ((500, 500), (7000, 2000))]
PERIODS = [
    AllocationPeriod(
        "band", 1, n, START + dt.timedelta(days=3 * n),
        (CellAllocation("x", "buy", ("a", "b"), sl, ad),),
    )
    for n, (sl, ad) in enumerate(LAYOUTS)
]  # fmt: skip
PREFIXES = {k: c.prefix for k, c in plan_of(EXP).cells.items()}
LAYOUT = PeriodLayout.of(PERIODS, PREFIXES)


def log(n: int = 600) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units exposed over 9 days (some before the first period, some twice), variants drawn
    from their period's layout in the bandit cell and 50/50 in the other."""
    xs, es = [], []
    for i in range(n):
        uid = f"u{i}"
        seg = "x" if i % 3 else "y"
        t = START + dt.timedelta(hours=(i * 37) % (9 * 24) - (6 if i % 50 == 0 else 0))
        index = max(k for k, p in enumerate(PERIODS) if t >= p.started_at or k == 0)
        b = bucket_of_key(PREFIXES[(seg, "buy")] + uid)
        v = PERIODS[index].cells[0].variant_at(b) if seg == "x" else "ab"[b % 2]
        xs.append((uid, seg, "buy", v, t.isoformat(sep=" ")))
        if i % 7 == 0:  # a later repeat of the same exposure: the first one places the unit
            xs.append((uid, seg, "buy", v, (t + dt.timedelta(days=4)).isoformat(sep=" ")))
        if (i * 13) % 10 < 2 + (index if seg == "x" else 0):
            es.append((uid, "buy", None, (t + dt.timedelta(hours=2)).isoformat(sep=" ")))
            es.append((uid, "rev", float(i % 17), (t + dt.timedelta(hours=3)).isoformat(sep=" ")))
    x = pd.DataFrame(xs, columns=["user_id", "segment", "stage", "variant", "timestamp"])
    e = pd.DataFrame(es, columns=["user_id", "event", "value", "timestamp"])
    return x, e


def oracle(x: pd.DataFrame, e: pd.DataFrame) -> pd.DataFrame:
    """Per bandit-cell variant, period, slice part and metric: n, sum, sum_sq (pandas)."""
    first = x.assign(t=pd.to_datetime(x["timestamp"])).groupby("user_id", as_index=False).first()
    first = first[first["segment"] == "x"]
    epoch = (first["t"] - pd.Timestamp("1970-01-01")).dt.total_seconds()
    first = first.assign(
        period=[LAYOUT.period_of(s) for s in epoch],
        in_slice=[LAYOUT.in_slice("x", "buy", u) for u in first["user_id"]],
    )
    et = e.assign(t=pd.to_datetime(e["timestamp"]))
    out = []
    for metric, event in (("conv", "buy"), ("rev", "rev")):
        ev = et[et["event"] == event].merge(first[["user_id", "t"]], on="user_id")
        ev = ev[ev["t_x"] >= ev["t_y"]]
        per_unit = ev.groupby("user_id")["value"].sum() if metric == "rev" else (
            ev.groupby("user_id").size().clip(upper=1).astype(float))  # fmt: skip
        y = first.set_index("user_id").assign(y=per_unit).fillna({"y": 0.0})
        y = y.assign(y2=y["y"] ** 2, metric=metric)
        out.append(y.groupby(["variant", "period", "in_slice", "metric"], as_index=False).agg(
            n=("y", "size"), sum=("y", "sum"), sum_sq=("y2", "sum")))  # fmt: skip
    return pd.concat(out).sort_values(["variant", "period", "in_slice", "metric"])


def check(plain: Aggregates, split: Aggregates, x: pd.DataFrame, e: pd.DataFrame) -> None:
    assert plain.periods is None and split.periods is not None
    keys = ["segment", "stage", "variant", "metric"]

    def ordered(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({k: str for k in keys if k in df.columns})
        return df.sort_values([k for k in keys if k in df.columns]).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(split.sums), ordered(plain.sums), check_dtype=False)
    pd.testing.assert_frame_equal(
        ordered(split.exposures), ordered(plain.exposures), check_dtype=False
    )
    assert split.data_quality == plain.data_quality
    p = split.periods
    assert set(p["segment"]) == {"x"}  # the fixed cell has no period sums
    added = p.groupby(keys, as_index=False)[["n", "sum", "sum_sq"]].sum()
    bandit = ordered(split.sums[split.sums["segment"] == "x"])[[*keys, "n", "sum", "sum_sq"]]
    pd.testing.assert_frame_equal(ordered(added), bandit, check_dtype=False)
    got = p.astype({"variant": str, "metric": str})[
        ["variant", "period", "in_slice", "metric", "n", "sum", "sum_sq"]
    ]
    got = got.sort_values(["variant", "period", "in_slice", "metric"]).reset_index(drop=True)
    want = oracle(x, e).reset_index(drop=True)[got.columns]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert set(got["period"]) == {0, 1, 2} and set(got["in_slice"]) == {True, False}


@pytest.mark.parametrize("route", ["auto", "generic", "cells"])
def test_duckdb_dataframes_and_csv(route: str, tmp_path: Path) -> None:
    x, e = log()
    for xs, es in ((x, e), (tmp_path / "x.csv", tmp_path / "e.csv")):
        x.to_csv(tmp_path / "x.csv", index=False)
        e.to_csv(tmp_path / "e.csv", index=False)
        plain = aggregate_event_log(EXP, xs, es, route=route)
        check(plain, aggregate_event_log(EXP, xs, es, route=route, periods=LAYOUT), x, e)


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    x, e = log()
    con = sqlite3.connect(tmp_path / "l.db")
    x.to_sql("expo", con, index=False)
    e.to_sql("evs", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'l.db'}") as eng:
        plain = aggregate_event_log(EXP, "expo", "evs", engine=eng)
        check(plain, aggregate_event_log(EXP, "expo", "evs", engine=eng, periods=LAYOUT), x, e)


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    x, e = log()
    engine = sa.create_engine(url)
    x.to_sql("expo", engine, schema=schema, index=False)
    e.to_sql("evs", engine, schema=schema, index=False)
    engine.dispose()
    xs, es = f"{schema}.expo", f"{schema}.evs"
    with open_engine(url) as eng:
        plain = aggregate_event_log(EXP, xs, es, engine=eng)
        check(plain, aggregate_event_log(EXP, xs, es, engine=eng, periods=LAYOUT), x, e)


@pytest.mark.spark
def test_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    x, e = log()
    with open_spark_engine(spark) as eng:
        plain = aggregate_event_log(EXP, x, e, engine=eng)
        check(plain, aggregate_event_log(EXP, x, e, engine=eng, periods=LAYOUT), x, e)


def test_with_a_breakdown_and_folds() -> None:
    """Periods ride with a --by column and the folds in one pass; all add back up."""
    x, e = log()
    x = x.assign(channel=["web" if i % 2 else "mail" for i in range(len(x))])
    plain = aggregate_event_log(EXP, x, e, by=["channel"], folds=True)
    split = aggregate_event_log(EXP, x, e, by=["channel"], folds=True, periods=LAYOUT)
    pd.testing.assert_frame_equal(split.sums, plain.sums, check_dtype=False)
    assert split.folds is not None and plain.folds is not None
    assert split.folds["n"].sum() == plain.folds["n"].sum()
    assert split.periods is not None
    assert split.periods["n"].sum() == plain.sums[plain.sums["segment"] == "x"]["n"].sum()


def test_layout_errors_are_located() -> None:
    other = CellAllocation("x", "buy", ("a", "b"), (1000, 1000), (4000, 4000))
    bad = [*PERIODS, AllocationPeriod("band", 1, 3, START + dt.timedelta(days=20), (other,))]
    with pytest.raises(DataError, match="uniform slice of 2000 buckets, expected 1000"):
        PeriodLayout.of(bad, PREFIXES)
    stray = CellAllocation("z", "buy", ("a", "b"), (0, 0), (5000, 5000))
    with pytest.raises(DataError, match=r"cell \(z, buy\) is not a cell"):
        PeriodLayout.of([AllocationPeriod("band", 1, 0, START, (stray,))], PREFIXES)
    with pytest.raises(DataError, match="each number once"):
        PeriodLayout.of([PERIODS[0], PERIODS[0]], PREFIXES)


def test_merging_periods_keeps_covariate_sums_and_missing_values() -> None:
    """The ordinary sums of a bandit experiment are the unsplit ones, covariates included
    (as for folds: one merge, segab.sums.result.merge_split)."""
    from segab.sums.periods import PERIOD_COLUMN, SLICE_COLUMN, split_periods

    sums = pd.DataFrame(
        {
            "segment": "s", "stage": "t", "variant": "a",
            PERIOD_COLUMN: [0, 1, 1], SLICE_COLUMN: [1, 1, 0], "metric": "m",
            "n": [3, 4, 5], "sum": [1.0, 2.0, 4.0], "sum_sq": 1.0, "den_sum": float("nan"),
            "den_sum_sq": float("nan"), "cross_sum": float("nan"),
            "x_sum_0": [0.5, 1.5, 2.0], "xy_sum_0": [1.0, 1.0, 1.0], "xx_sum_0_0": 2.0,
        }
    )  # fmt: skip
    expo = sums[["segment", "stage", "variant", PERIOD_COLUMN, SLICE_COLUMN, "n"]]
    layout = PeriodLayout((4, 7), (0.0, 9.0), (("s", "t", "p", 100),))
    dims = (PERIOD_COLUMN, SLICE_COLUMN)
    merged = split_periods(Aggregates(sums, expo, pd.DataFrame(), {}, dims), layout).sums
    row = merged.iloc[0]
    assert len(merged) == 1 and row["n"] == 12 and row["sum"] == 7.0
    assert (row["x_sum_0"], row["xy_sum_0"], row["xx_sum_0_0"]) == (4.0, 3.0, 6.0)
    assert pd.isna(row["den_sum"])  # a continuous metric's ratio sums stay missing, not 0
