"""Quantile metrics: the engine's order statistics per group against the raw per-unit values.

Oracle: :func:`segab.stats.quantile.quantile_stats` on the raw per-unit values of
each group (itself checked against ``numpy.quantile`` in tests/stats/test_quantile.py):
the plain cells, the cells per breakdown value, and the pooled groups (per stage,
over everything, over everything per breakdown value), each pooled group over the
cells that hold both arms of its pair. Per-unit values: the unit table's column
(NULLs left out, unknown arms left out), the unit's sum of event values in its
attribution window (0 without events). Equivalence across DuckDB (DataFrame, CSV,
the fast path and the generic route), SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segab.analysis.compute import compute_results
from segab.config import parse_experiment
from segab.stats.quantile import compare_quantiles, quantile_stats
from segab.sums.aggregate import aggregate_event_log
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

COLS = UnitColumns(variant="arm")
LABELS = {"a": "a", "B arm": "b", "c": "c"}
Q = (0.5, 0.9)


def experiment(unit_table: bool) -> Any:
    source = {"column": "spend"} if unit_table else {"event": "revenue"}
    two = [{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "value": "B arm"}]
    return parse_experiment({
        "key": "q", "unit": "user_id", "stages": ["buy", "use"],
        "segments": [{"key": "s1", "when": {}}, {"key": "s2", "when": {}}],
        "cells": [{"segment": "s1", "variants": two, "control": "a"},
                  {"segment": "s2", "variants": [*two, {"key": "c", "weight": 1}],
                   "control": "a"}],
        "metrics": {
            "primary": {"key": "p50", "kind": "continuous", "quantile": Q[0], **source},
            "secondary": [{"key": "p90", "kind": "continuous", "quantile": Q[1], **source},
                          {"key": "mean", "kind": "continuous", **source}]},
        "analysis": {"attribution_window": "7d"},
    })  # fmt: skip


def _arms(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    two = rng.choice(["a", "B arm", "zz"], len(segment), p=[0.47, 0.47, 0.06])
    three = rng.choice(["a", "B arm", "c"], len(segment))
    return np.where(segment == "s1", two, three)


def units(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    segment = rng.choice(["s1", "s2"], n)
    spend = np.round(rng.lognormal(2.0, 1.0, n), 2)
    spend[rng.random(n) < 0.2] = 0.0
    spend[rng.random(n) < 0.05] = np.nan  # missing outcomes: out of n
    df = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(n)], "segment": segment,
        "stage": rng.choice(["buy", "use"], n), "arm": _arms(rng, segment),
        "ch": rng.choice(["email", "web", "app"], n), "spend": spend,
    })  # fmt: skip
    # a rare value: in (s1, buy) only arm a has it (no pair there); a and b in s2's cells
    rare = [("s1", "buy", "a", 3), ("s2", "buy", "a", 4), ("s2", "buy", "B arm", 4),
            ("s2", "use", "a", 3), ("s2", "use", "B arm", 3)]  # fmt: skip
    for segment_, stage, arm, k in rare:
        rows = df[(df["segment"] == segment_) & (df["stage"] == stage) & (df["arm"] == arm)
                  & df["spend"].notna()].index[:k]  # fmt: skip
        df.loc[rows, "ch"] = "rare"
    return df


def log(n: int = 500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(9)
    segment = rng.choice(["s1", "s2"], n)
    ids = [f"u{i}" for i in range(n)]
    x = pd.DataFrame({
        "user_id": ids, "segment": segment, "stage": rng.choice(["buy", "use"], n),
        "variant": _arms(rng, segment), "ch": rng.choice(["email", "web"], n),
        "timestamp": "2024-01-01 00:00:00",
    })  # fmt: skip
    rows = []
    for i in range(n):
        for _ in range(int(rng.poisson(1.2))):
            day = int(rng.integers(0, 10))  # in the 7-day window, or after it
            value = float(np.round(rng.lognormal(2, 1.1), 2))
            rows.append((ids[i], "revenue", value, f"2024-01-{1 + day:02d} 12:00:00"))
    return x, pd.DataFrame(rows, columns=["user_id", "event", "value", "timestamp"])


def per_unit_units(df: pd.DataFrame) -> pd.DataFrame:
    known = df[df["arm"].isin(list(LABELS))].dropna(subset=["spend"])
    return pd.DataFrame({"segment": known["segment"], "stage": known["stage"],
                         "variant": known["arm"].map(LABELS), "ch": known["ch"],
                         "y": known["spend"]})  # fmt: skip


def per_unit_log(x: pd.DataFrame, e: pd.DataFrame) -> pd.DataFrame:
    t = pd.to_datetime(e["timestamp"])
    inside = e[t < pd.Timestamp("2024-01-08")]
    y = inside.groupby("user_id")["value"].sum()
    known = x[x["variant"].isin(list(LABELS))].set_index("user_id")
    return pd.DataFrame({"segment": known["segment"], "stage": known["stage"],
                         "variant": known["variant"].map(LABELS), "ch": known["ch"],
                         "y": y.reindex(known.index).fillna(0.0)})  # fmt: skip


def oracle(values: pd.DataFrame) -> dict[tuple[Any, ...], tuple[int, float, float, float]]:
    """Each group's (n, quantile, lower, upper), keyed as the rows of ``Aggregates.quantiles``."""
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    arms_in = values.groupby(["segment", "stage"])["variant"].agg(set)
    arms_by = values.groupby(["segment", "stage", "ch"])["variant"].agg(set)
    for rec in values.itertuples(index=False):
        groups[("cell", 0, rec.segment, rec.stage, rec.variant, "", None)].append(rec.y)
        groups[("cell", 1, rec.segment, rec.stage, rec.variant, "", rec.ch)].append(rec.y)
        for other in arms_in[(rec.segment, rec.stage)] - {rec.variant}:
            pair = "|".join(sorted((rec.variant, other)))
            groups[("stage", 0, None, rec.stage, rec.variant, pair, None)].append(rec.y)
            groups[("all", 0, None, None, rec.variant, pair, None)].append(rec.y)
        # per breakdown value: the cells holding both arms with that value
        for other in arms_by[(rec.segment, rec.stage, rec.ch)] - {rec.variant}:
            pair = "|".join(sorted((rec.variant, other)))
            groups[("all", 1, None, None, rec.variant, pair, rec.ch)].append(rec.y)
    out = {}
    for key, ys in groups.items():
        for metric, q in zip(("p50", "p90"), Q, strict=True):
            s = quantile_stats(ys, q)
            out[(*key, metric)] = (s.n, s.value, s.lower, s.upper)
    return out


def check(agg: Aggregates, values: pd.DataFrame) -> None:
    want = oracle(values)
    got = agg.quantiles
    assert got is not None
    cols = ["scope", "breakdown", "segment", "stage", "variant", "pair", "ch", "metric"]
    found = {}
    for rec in got.to_dict("records"):
        key = tuple(None if pd.isna(rec[c]) else rec[c] for c in cols)
        found[key] = (rec["n"], rec["quantile"], rec["lower"], rec["upper"])
    assert set(found) == set(want)
    for key, (n, value, lower, upper) in want.items():
        assert found[key][0] == n, key
        assert found[key][1:] == pytest.approx((value, lower, upper), rel=1e-12, abs=1e-12), key


def test_duckdb_dataframe_and_csv(tmp_path: Path) -> None:
    df = units()
    check(aggregate_units(experiment(True), df, columns=COLS, by=["ch"]), per_unit_units(df))
    df.to_csv(tmp_path / "u.csv", index=False)
    agg = aggregate_units(experiment(True), tmp_path / "u.csv", columns=COLS, by=["ch"])
    check(agg, per_unit_units(df))


def test_unit_table_repeated_rows_count_once() -> None:
    df = units(200)
    doubled = pd.concat([df, df.iloc[:7]], ignore_index=True)
    check(aggregate_units(experiment(True), doubled, columns=COLS, by=["ch"]), per_unit_units(df))


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    df = units()
    x, e = log()
    con = sqlite3.connect(tmp_path / "q.db")
    df.to_sql("units", con, index=False)
    x.to_sql("expo", con, index=False)
    e.to_sql("evs", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'q.db'}") as eng:
        agg = aggregate_units(experiment(True), "units", engine=eng, columns=COLS, by=["ch"])
        check(agg, per_unit_units(df))
        agg = aggregate_event_log(experiment(False), "expo", "evs", engine=eng, by=["ch"])
        check(agg, per_unit_log(x, e))


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_event_log_duckdb(route: str) -> None:
    x, e = log()
    agg = aggregate_event_log(experiment(False), x, e, route=route, by=["ch"])
    check(agg, per_unit_log(x, e))


def test_several_breakdowns_and_no_breakdown() -> None:
    """Grouping sets: each breakdown's rows read only their own columns; none: cells and pools."""
    x, e = log(300)
    agg = aggregate_event_log(experiment(False), x, e, breakdowns=["ch", "stage"])
    got = agg.quantiles
    assert got is not None and set(got["breakdown"]) == {0, 1, 2}
    ch = got[(got["breakdown"] == 1) & (got["scope"] == "cell")]
    assert ch["ch"].notna().all() and ch["stage (by)"].isna().all()
    values = per_unit_log(x, e)
    want = oracle(values)
    row = ch[(ch["segment"] == "s2") & (ch["variant"] == "c") & (ch["metric"] == "p90")
             & (ch["ch"] == "web") & (ch["stage"] == "use")].iloc[0]  # fmt: skip
    n, value, lower, upper = want[("cell", 1, "s2", "use", "c", "", "web", "p90")]
    assert row["n"] == n
    assert (row["quantile"], row["lower"], row["upper"]) == pytest.approx((value, lower, upper))
    plain = aggregate_event_log(experiment(False), x, e).quantiles
    assert plain is not None and set(plain["breakdown"]) == {0}


def test_comparisons_read_their_own_groups() -> None:
    """Cells and pooled rows: compare_quantiles of the oracle's groups (not of pooled sums)."""
    df = units()
    exp = experiment(True)
    res = compute_results(exp, aggregate_units(exp, df, columns=COLS))
    want = oracle(per_unit_units(df))

    def stats(key: tuple[Any, ...]) -> Any:
        from segab.stats.quantile import QuantileStats

        n, value, lower, upper = want[key]
        return QuantileStats(n, 0.5, value, lower, upper)

    rows = [r for r in res.results if r.metric == "p50"]
    assert len(rows) == 6  # 2 stages x (s1: b; s2: b and c)
    for r in rows:
        c = stats(("cell", 0, r.segment, r.stage, r.control, "", None, "p50"))
        t = stats(("cell", 0, r.segment, r.stage, r.variant, "", None, "p50"))
        assert r.comparison.p_value == pytest.approx(compare_quantiles(c, t).p_value, rel=1e-9)
        assert r.comparison.test == "quantile_z"
    pooled = {(r.stage, r.variant): r for r in res.pooled if r.metric == "p50"}
    pair = "a|b"
    for stage in ("buy", "use"):
        r = pooled[(stage, "b")]
        c = stats(("stage", 0, None, stage, "a", pair, None, "p50"))
        t = stats(("stage", 0, None, stage, "b", pair, None, "p50"))
        assert r.comparison.abs_lift == pytest.approx(t.value - c.value, rel=1e-12)
        assert r.comparison.p_value == pytest.approx(compare_quantiles(c, t).p_value, rel=1e-9)
    # c is only in segment s2: its pooled control is a over the s2 cells alone
    r = pooled[(None, "c")]
    ctl = stats(("all", 0, None, None, "a", "a|c", None, "p50"))
    assert r.comparison.control_mean == pytest.approx(ctl.value, rel=1e-12)
    assert ctl.n < want[("all", 0, None, None, "a", "a|b", None, "p50")][0]
    # per breakdown value: over the cells holding both arms with that value only
    by = compute_results(exp, aggregate_units(exp, df, columns=COLS, by=["ch"]))
    rare = next(r for r in by.pooled if r.metric == "p50" and r.dimensions == {"ch": "rare"}
                and r.variant == "b")  # fmt: skip
    ctl = stats(("all", 1, None, None, "a", "a|b", "rare", "p50"))
    assert ctl.n == 7 and rare.comparison.control_mean == pytest.approx(ctl.value, rel=1e-12)
    mean = next(r for r in res.results if r.metric == "mean")
    assert mean.comparison.test != "quantile_z"


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    df = units()
    x, e = log()
    engine = sa.create_engine(url)
    df.to_sql("units", engine, schema=schema, index=False)
    x.to_sql("expo", engine, schema=schema, index=False)
    e.to_sql("evs", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        agg = aggregate_units(
            experiment(True), f"{schema}.units", engine=eng, columns=COLS, by=["ch"]
        )
        check(agg, per_unit_units(df))
        agg = aggregate_event_log(
            experiment(False), f"{schema}.expo", f"{schema}.evs", engine=eng, by=["ch"]
        )
        check(agg, per_unit_log(x, e))


@pytest.mark.spark
def test_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    df = units()
    x, e = log()
    with open_spark_engine(spark) as eng:
        check(aggregate_units(experiment(True), df, engine=eng, columns=COLS, by=["ch"]),
              per_unit_units(df))  # fmt: skip
        check(aggregate_event_log(experiment(False), x, e, engine=eng, by=["ch"]),
              per_unit_log(x, e))  # fmt: skip
