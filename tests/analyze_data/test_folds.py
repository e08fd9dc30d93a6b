"""The two folds of the tailoring value: the same split in Python, DuckDB, SQLite,
PostgreSQL and Spark (golden vectors of hash v1 with the fold salt), and fold sums
that add up to the unsplit sums (oracle: pandas sums over the Python fold of each id)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.hashing import bucket_of_key
from segab.sums.aggregate import aggregate_event_log
from segab.sums.folds import fold_of
from segab.sums.sources import Engine, open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

# golden vectors: fold = (int(md5("segab-fold|" + id)[:8], 16) % 10000) % 2
GOLDEN = {"u0": 1, "u1": 0, "user_42": 0, "007": 1, "12345": 0, "émile": 1, "a|b": 1, "": 0}

EXP = parse_experiment({
    "key": "f", "unit": "id", "stages": ["buy"],
    "segments": [{"key": "x", "when": {"k": 1}}, {"key": "y", "when": {"k": 2}}],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "column": "conv"},
                "secondary": [{"key": "rev", "kind": "continuous", "column": "rev"}]},
})  # fmt: skip
COLS = UnitColumns(variant="arm")


def test_golden_vectors() -> None:
    for unit, fold in GOLDEN.items():
        assert fold_of(unit) == fold == bucket_of_key(f"segab-fold|{unit}") % 2
    assert sum(fold_of(f"u{i}") for i in range(10_000)) == 5000  # a fair split


def units() -> pd.DataFrame:
    ids = [*GOLDEN, *(f"u{i}" for i in range(2, 400))]
    ids = [i for i in ids if i]  # an empty id is counted out, not folded
    return pd.DataFrame({
        "id": ids,
        "segment": ["x" if i % 3 else "y" for i in range(len(ids))],
        "stage": "buy",
        "arm": ["ab"[(i * 7 // 3) % 2] for i in range(len(ids))],
        "conv": [int(i % 5 == 0) for i in range(len(ids))],
        "rev": [float(i % 11) for i in range(len(ids))],
    })  # fmt: skip


def oracle(df: pd.DataFrame) -> pd.DataFrame:
    """Per segment, variant, fold and metric: n, sum, sum_sq (pandas, Python folds)."""
    df = df.assign(fold=df["id"].map(fold_of))
    out = []
    for metric in ("conv", "rev"):
        g = df.assign(y=df[metric].astype(float), y2=df[metric].astype(float) ** 2)
        s = g.groupby(["segment", "arm", "fold"], as_index=False).agg(
            n=("y", "size"), sum=("y", "sum"), sum_sq=("y2", "sum")
        )
        out.append(s.assign(metric=metric).rename(columns={"arm": "variant"}))
    return pd.concat(out).sort_values(["segment", "variant", "fold", "metric"])


def check(eng: Engine | None, source: Any, df: pd.DataFrame) -> None:
    plain = aggregate_units(EXP, source, engine=eng, columns=COLS)
    split = aggregate_units(EXP, source, engine=eng, columns=COLS, folds=True)
    assert plain.folds is None and split.folds is not None
    pd.testing.assert_frame_equal(split.sums, plain.sums, check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(split.exposures, plain.exposures, check_dtype=False)
    assert split.data_quality == plain.data_quality
    got = split.folds[["segment", "variant", "fold", "metric", "n", "sum", "sum_sq"]]
    got = got.astype({"segment": str, "variant": str}).sort_values(
        ["segment", "variant", "fold", "metric"]
    )
    want = oracle(df)[got.columns]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )


def test_duckdb_dataframe_and_csv(tmp_path: Path) -> None:
    df = units()
    check(None, df, df)
    df.to_csv(tmp_path / "u.csv", index=False)
    check(None, tmp_path / "u.csv", df)


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    df = units()
    con = sqlite3.connect(tmp_path / "u.db")
    df.to_sql("units", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'u.db'}") as eng:
        check(eng, "units", df)


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    df = units()
    engine = sa.create_engine(url)
    df.to_sql("units", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        check(eng, f"{schema}.units", df)


@pytest.mark.spark
def test_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    df = units()
    with open_spark_engine(spark) as eng:
        check(eng, df, df)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    from tests.analyze_data.conftest import events_df, exposures_df

    exposures_df().to_csv(tmp_path / "x.csv", index=False)
    events_df().to_csv(tmp_path / "e.csv", index=False)
    yield tmp_path / "x.csv", tmp_path / "e.csv"


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_event_log_fold_sums_add_up(log: tuple[Path, Path], route: str) -> None:
    from tests.analyze_data.conftest import make_exp

    exp = make_exp()
    plain = aggregate_event_log(exp, *log, route=route)
    split = aggregate_event_log(exp, *log, route=route, folds=True)
    pd.testing.assert_frame_equal(split.sums, plain.sums, check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(split.exposures, plain.exposures, check_dtype=False)
    assert split.folds is not None and set(split.folds["fold"]) <= {0, 1}
    keys = ["segment", "stage", "variant", "metric"]
    added = split.folds.groupby(keys, as_index=False)[["n", "sum", "sum_sq"]].sum()
    merged = plain.sums.merge(added, on=keys, suffixes=("", "_f"))
    assert len(merged) == len(plain.sums)
    assert (merged["n"] == merged["n_f"]).all()
    assert ((merged["sum"] - merged["sum_f"]).abs() < 1e-9).all()
    # the exposures' units in fold 1 are exactly those whose Python fold is 1
    x = pd.read_csv(log[0], dtype=str)
    ids = x[x["experiment"] == exp.key]["user_id"].dropna().unique()
    assert {fold_of(i) for i in ids} == {0, 1}
