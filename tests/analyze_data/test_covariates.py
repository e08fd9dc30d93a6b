"""Regression-adjusted metrics: the covariate sums in every engine, and the analysis on them.

Oracles: the sums of the raw rows (numpy, through ``RegressionStats.from_values``
on the units whose outcome and covariates are all present); statsmodels OLS on the
same rows for the adjusted effect of a cell (Lin 2013: ``y ~ 1 + T + Xc + T·Xc``)
and for a post-stratified pooled row (``y ~ 1 + T + D + T·(D − w)``). Equivalence
across DuckDB (DataFrame, CSV), SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from segab.analysis.compute import compute_results
from segab.config import parse_experiment
from segab.stats.regression import RegressionStats
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

COLS = UnitColumns(variant="arm")
ARMS = [{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "value": "B arm"}]
COVS = ["pre_rev", "age"]


def experiment(**analysis: Any) -> Any:
    return parse_experiment({
        "key": "r", "unit": "id", "stages": ["buy"],
        "segments": [{"key": "young", "when": {}}, {"key": "old", "when": {}}],
        "cells": [{"variants": ARMS, "control": "a"}],
        "metrics": {
            "primary": {"key": "rev", "kind": "continuous", "column": "rev", "covariates": COVS},
            "secondary": [
                {"key": "conv", "kind": "binary", "column": "conv", "covariates": ["pre_rev"]},
                {"key": "plain", "kind": "continuous", "column": "rev"},
            ]},
        "analysis": analysis,
    })  # fmt: skip


def units(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seg = rng.choice(["young", "old"], n)
    pre = np.round(rng.gamma(2.0, 5.0, n), 3)
    age = rng.integers(18, 80, n).astype(float)
    arm = rng.choice(["a", "B arm"], n)
    rev = np.round(2 + 0.8 * pre + 0.05 * age + (seg == "old") * 6 + (arm == "B arm") * 0.7
                   + rng.normal(0, 3, n), 3)  # fmt: skip
    df = pd.DataFrame({
        "id": [f"u{i}" for i in range(n)], "arm": arm, "segment": seg, "stage": "buy",
        "rev": rev, "conv": (rng.random(n) < 0.3).astype(int), "pre_rev": pre, "age": age,
    })  # fmt: skip
    df.loc[[4, 9], "pre_rev"] = np.nan  # a missing covariate: the unit is out of rev and conv
    df.loc[[11], "age"] = np.nan  # out of rev only
    df.loc[[20], "rev"] = np.nan  # a missing outcome
    return df


def oracle(df: pd.DataFrame, metric: str, covs: list[str]) -> dict[tuple[str, str], Any]:
    keep = df.dropna(subset=[metric, *covs])
    out = {}
    for (seg, arm), part in keep.groupby(["segment", "arm"]):
        out[(str(seg), str(arm))] = RegressionStats.from_values(
            part[metric].to_numpy(float), part[covs].to_numpy(float)
        )
    return out


def check_sums(agg: Aggregates, df: pd.DataFrame) -> None:
    arm = {"a": "a", "b": "B arm"}
    for metric, covs in (("rev", COVS), ("conv", ["pre_rev"])):
        want = oracle(df, metric, covs)
        rows = agg.sums[agg.sums["metric"] == metric]
        assert len(rows) == 4
        for rec in rows.to_dict("records"):
            w = want[(rec["segment"], arm[rec["variant"]])]
            assert rec["n"] == w.n
            assert rec["sum"] == pytest.approx(w.y_sum, rel=1e-12)
            got = [rec[f"x_sum_{j}"] for j in range(len(covs))]
            np.testing.assert_allclose(got, w.x_sum, rtol=1e-12)
            got = [rec[f"xy_sum_{j}"] for j in range(len(covs))]
            np.testing.assert_allclose(got, w.xy_sum, rtol=1e-12)
            k = len(covs)
            got = [rec[f"xx_sum_{j}_{m}"] for j in range(k) for m in range(j, k)]
            np.testing.assert_allclose(got, w.xx_sum, rtol=1e-12)
    plain = agg.sums[agg.sums["metric"] == "plain"]
    assert plain["xx_sum_0_0"].isna().all()
    assert int(plain["n"].sum()) == len(df) - 1  # only the missing outcome is out


def test_duckdb_dataframe_and_csv(tmp_path: Path) -> None:
    df = units()
    check_sums(aggregate_units(experiment(), df, columns=COLS), df)
    df.to_csv(tmp_path / "u.csv", index=False)
    check_sums(aggregate_units(experiment(), tmp_path / "u.csv", columns=COLS), df)


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    df = units()
    con = sqlite3.connect(tmp_path / "u.db")
    df.to_sql("units", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'u.db'}") as eng:
        check_sums(aggregate_units(experiment(), "units", engine=eng, columns=COLS), df)


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    df = units()
    engine = sa.create_engine(url)
    df.to_sql("units", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        check_sums(aggregate_units(experiment(), f"{schema}.units", engine=eng, columns=COLS), df)


@pytest.mark.spark
def test_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    df = units()
    with open_spark_engine(spark) as eng:
        check_sums(aggregate_units(experiment(), df, engine=eng, columns=COLS), df)


def test_bad_covariate_value_keeps_the_row_out_and_caps_apply_first() -> None:
    """An infinite covariate is a bad value (row out, counted); a cap caps y before the sums."""
    df = units()
    df.loc[30, "age"] = np.inf
    exp = parse_experiment({
        **experiment().model_dump(exclude={"analysis"}),
        "metrics": {"primary": {"key": "rev", "kind": "continuous", "column": "rev",
                                "covariates": COVS, "cap": {"value": 20.0}}},
    })  # fmt: skip
    agg = aggregate_units(exp, df, columns=COLS)
    assert agg.data_quality["bad_values"] == 1
    kept = df.drop(index=30).assign(rev=lambda d: np.minimum(d["rev"], 20.0))
    want = oracle(kept, "rev", COVS)
    for rec in agg.sums.to_dict("records"):
        w = want[(rec["segment"], {"a": "a", "b": "B arm"}[rec["variant"]])]
        assert rec["n"] == w.n
        assert rec["xy_sum_0"] == pytest.approx(w.xy_sum[0], rel=1e-12)


def _design(part: pd.DataFrame, covs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = part["rev"].to_numpy(float)
    t = (part["arm"] == "B arm").to_numpy(float)
    x = part[covs].to_numpy(float)
    return y, t, x - x.mean(axis=0)


def test_analysis_cell_is_the_interacted_ols() -> None:
    """Oracle: statsmodels OLS of rev on [1, T, Xc, T·Xc] in each segment (Lin 2013)."""
    df = units(1500, seed=5)
    r = compute_results(experiment(), aggregate_units(experiment(), df, columns=COLS))
    keep = df.dropna(subset=["rev", *COVS])
    for row in (x for x in r.results if x.metric == "rev"):
        y, t, xc = _design(keep[keep["segment"] == row.segment], COVS)
        fit = sm.OLS(y, np.column_stack([np.ones_like(y), t, xc, t[:, None] * xc])).fit()
        assert row.comparison.abs_lift == pytest.approx(fit.params[1], rel=1e-9)
        assert row.comparison.test == "lin_regression_t"
        assert row.comparison.variance_reduction > 0.5
    block = {a["metric"]: a for a in r.to_dict()["adjustment"]}
    assert block["rev"]["covariates"] == COVS and block["conv"]["covariates"] == ["pre_rev"]
    assert "plain" not in block
    pooled = next(x for x in r.pooled if x.metric == "rev")
    assert pooled.comparison.test == "lin_regression_t"  # the pooled sums, adjusted


def test_analysis_post_stratified_pooled_row() -> None:
    """Oracle: statsmodels OLS of rev on [1, T, D, T·(D − w)]; and Σ w_s Δ_s of the cells."""
    df = units(1500, seed=6)
    exp = experiment(post_stratify=True)
    r = compute_results(exp, aggregate_units(exp, df, columns=COLS))
    pooled = next(x for x in r.pooled if x.metric == "plain")
    assert pooled.comparison.test == "post_stratified"
    keep = df.dropna(subset=["rev"])
    y, t, _ = _design(keep, [])
    d = (keep["segment"] == "old").to_numpy(float)
    design = np.column_stack([np.ones_like(y), t, d, t * (d - d.mean())])
    fit = sm.OLS(y, design).fit()
    assert pooled.comparison.abs_lift == pytest.approx(fit.params[1], rel=1e-9)
    cells = [x for x in r.results if x.metric == "rev"]
    n = {x.segment: x.comparison.n_control + x.comparison.n_treatment for x in cells}
    total = sum(n.values())
    want = sum(n[x.segment] / total * x.comparison.abs_lift for x in cells)
    adjusted = next(x for x in r.pooled if x.metric == "rev")
    assert adjusted.comparison.abs_lift == pytest.approx(want, rel=1e-12)
    assert adjusted.comparison.test == "post_stratified"
    assert r.to_dict()["pooled"][0]["variance_reduction"] is not None
