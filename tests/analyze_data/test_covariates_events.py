"""Regression adjustment on event logs: pre-exposure event sums as covariates, every engine.

Oracle: pandas on the raw rows: a unit's outcome is the sum of its revenue in
``[t0, t0 + 7d)`` (a binary metric: any purchase there), a covariate the sum of
the event's values before ``t0`` (NULL values as 0); then the per-arm sums of
``RegressionStats.from_values``. Equivalence across DuckDB (the fast path hands
covariates to the generic statements), SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.errors import ConfigError
from segab.stats.regression import RegressionStats
from segab.sums.aggregate import aggregate_event_log
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

METRICS = {
    "primary": {"key": "rev", "kind": "continuous", "event": "revenue",
                "covariates": ["revenue", "visit"]},
    "secondary": [{"key": "conv", "kind": "binary", "event": "purchase", "covariates": ["visit"]}],
}  # fmt: skip
EXP = parse_experiment({
    "key": "c", "unit": "user_id", "stages": ["buy"],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": METRICS, "analysis": {"attribution_window": "7d"},
})  # fmt: skip


def log(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)
    ids = [f"u{i}" for i in range(n)]
    start = pd.Timestamp("2024-01-10")
    t0 = [start + pd.Timedelta(hours=int(h)) for h in rng.integers(0, 72, n)]
    x = pd.DataFrame({"user_id": ids, "segment": "all", "stage": "buy",
                      "variant": rng.choice(["a", "b"], n),
                      "timestamp": [t.strftime("%Y-%m-%d %H:%M:%S") for t in t0]})  # fmt: skip
    rows = []
    for i in range(n):
        for event in ("revenue", "visit", "purchase"):
            for _ in range(int(rng.poisson(1.2))):
                t = t0[i] + pd.Timedelta(hours=int(rng.integers(-200, 250)))
                value = None if event == "purchase" else float(np.round(rng.gamma(2, 5), 2))
                if event == "visit" and rng.random() < 0.2:
                    value = None  # a value-less visit counts 0 in the pre-exposure sum
                rows.append((ids[i], event, value, t.strftime("%Y-%m-%d %H:%M:%S")))
    e = pd.DataFrame(rows, columns=["user_id", "event", "value", "timestamp"])
    return x, e


def oracle(x: pd.DataFrame, e: pd.DataFrame) -> dict[tuple[str, str], RegressionStats]:
    t0 = pd.to_datetime(x.set_index("user_id")["timestamp"])
    ev = e.assign(t=pd.to_datetime(e["timestamp"]), t0=e["user_id"].map(t0))
    pre = ev[ev["t"] < ev["t0"]]
    inside = ev[(ev["t"] >= ev["t0"]) & (ev["t"] < ev["t0"] + pd.Timedelta(days=7))]

    def per_unit(frame: pd.DataFrame, event: str) -> pd.Series:
        return frame[frame["event"] == event].groupby("user_id")["value"].sum(min_count=0)

    units = x.set_index("user_id")
    units["rev"] = per_unit(inside, "revenue")
    units["conv"] = inside[inside["event"] == "purchase"].groupby("user_id").size().gt(0) * 1.0
    units["pre_rev"] = per_unit(pre, "revenue")
    units["pre_visit"] = per_unit(pre, "visit")
    units = units.fillna(0.0)
    out = {}
    for arm, part in units.groupby("variant"):
        out[("rev", str(arm))] = RegressionStats.from_values(
            part["rev"], part[["pre_rev", "pre_visit"]].to_numpy()
        )
        out[("conv", str(arm))] = RegressionStats.from_values(
            part["conv"], part[["pre_visit"]].to_numpy()
        )
    return out


def check(agg: Aggregates, x: pd.DataFrame, e: pd.DataFrame) -> None:
    want = oracle(x, e)
    for rec in agg.sums.to_dict("records"):
        w = want[(rec["metric"], rec["variant"])]
        assert rec["n"] == w.n
        assert rec["sum"] == pytest.approx(w.y_sum, rel=1e-12)
        k = w.k
        np.testing.assert_allclose([rec[f"x_sum_{j}"] for j in range(k)], w.x_sum, rtol=1e-12)
        np.testing.assert_allclose([rec[f"xy_sum_{j}"] for j in range(k)], w.xy_sum, rtol=1e-12)
        got = [rec[f"xx_sum_{j}_{m}"] for j in range(k) for m in range(j, k)]
        np.testing.assert_allclose(got, w.xx_sum, rtol=1e-12)


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_duckdb(route: str) -> None:
    x, e = log()
    check(aggregate_event_log(EXP, x, e, route=route), x, e)


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    x, e = log()
    con = sqlite3.connect(tmp_path / "l.db")
    x.to_sql("expo", con, index=False)
    e.to_sql("evs", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'l.db'}") as eng:
        check(aggregate_event_log(EXP, "expo", "evs", engine=eng), x, e)


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    x, e = log()
    engine = sa.create_engine(url)
    x.to_sql("expo", engine, schema=schema, index=False)
    e.to_sql("evs", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        check(aggregate_event_log(EXP, f"{schema}.expo", f"{schema}.evs", engine=eng), x, e)


@pytest.mark.spark
def test_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    x, e = log()
    with open_spark_engine(spark) as eng:
        check(aggregate_event_log(EXP, x, e, engine=eng), x, e)


def test_config_errors_are_located() -> None:
    base = EXP.model_dump(exclude={"metrics"})
    bad = [
        ({"key": "r", "kind": "ratio", "event": "rev", "denominator_event": "v",
          "covariates": ["pre"]}, "binary and continuous"),
        ({"key": "r", "kind": "binary", "event": "s", "window": {"end": "8d"},
          "covariates": ["pre"]}, "retention 'window'"),
        ({"key": "r", "kind": "continuous", "column": "y", "covariates": ["x", "x"]},
         "more than once"),
        ({"key": "r", "kind": "continuous", "column": "y", "covariates": ["y"]}, "own column"),
    ]  # fmt: skip
    for metric, message in bad:
        with pytest.raises(ConfigError, match=r"metrics\.primary") as info:
            parse_experiment({**base, "metrics": {"primary": metric}})
        assert message in str(info.value)


def test_readme_example_parses() -> None:
    """The README's config example (a YAML block with covariates) is a valid config part."""
    import re

    import yaml

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
                 if "covariates:" in b)  # fmt: skip
    part = yaml.safe_load(block)
    exp = parse_experiment({**EXP.model_dump(exclude={"metrics", "analysis"}), **part})
    assert exp.metrics.primary.covariates == ["spend_before", "tenure_days"]
    assert exp.analysis.post_stratify is True
