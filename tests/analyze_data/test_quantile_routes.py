"""Quantile statements: DuckDB's statement over pieces against the generic window statement.

Oracle: :func:`segab.sums.quantiles.quantile_statement` with ``pieces=False`` (the
statement SQLite, PostgreSQL and Spark run, itself checked against numpy on raw
rows in tests/analyze_data/test_quantiles.py), run by DuckDB on the same rows and
by SQLite. Data: ties, NULL values and NULL breakdown values, excluded rows
(``f = 1``), groups of one and two values, cells with one to four arms (so pairs
whose pooled groups differ), two breakdowns crossed or as grouping sets, a metric
that is not a quantile between quantile ones, and levels 0 and 1.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segab.sql.dialects import get_dialect
from segab.sums.quantiles import quantile_statement
from segab.sums.specs import MetricSpec

METRICS = (
    MetricSpec("p50", "continuous", "y0", quantile=0.5),
    MetricSpec("mean", "continuous", "y1"),
    MetricSpec("p90", "continuous", "y1", quantile=0.9),
    MetricSpec("p0", "continuous", "y2", quantile=0.0),
    MetricSpec("p100", "continuous", "y2", quantile=1.0),
)
VALUES = "y0 AS y_0, y1 AS y_1, y1 AS y_2, y2 AS y_3, y2 AS y_4"  # y_i: metric i's values
SHAPES = [(0, ()), (1, ()), (2, ()), (2, ((0,), (1,)))]  # n_dims, grouping sets


def rows(seed: int) -> pd.DataFrame:
    """Cells of 1 to 4 arms, of 1 to 40 rows per arm (many of 1 or 2)."""
    rng = np.random.default_rng(seed)
    out = []
    for segment in ("s1", "s2", "s3"):
        for stage in ("t1", "t2"):
            k = int(rng.integers(1, 5))
            for arm in rng.choice(["a", "b", "c", "d"], k, replace=False):
                n = int(rng.choice([1, 2, 3, int(rng.integers(4, 40))]))
                out.append(pd.DataFrame({
                    "segment": segment, "stage": stage, "variant": arm,
                    "dim_0": rng.choice(np.array(["x", "y", None], dtype=object), n),
                    "dim_1": rng.integers(1, 3, n),
                    "f": (rng.random(n) < 0.1).astype(int),
                    "y0": np.where(rng.random(n) < 0.15, np.nan, rng.integers(0, 4, n)),
                    "y1": np.round(rng.lognormal(1.0, 1.0, n), 1),
                    "y2": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0, 1, n)),
                }))  # fmt: skip
    return pd.concat(out, ignore_index=True)


def run_duckdb(
    df: pd.DataFrame, n_dims: int, sets: tuple[tuple[int, ...], ...], pieces: bool
) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    con.register("units", df)
    cols = ["segment", "stage", "variant", *[f"dim_{i}" for i in range(n_dims)], "f"]
    ctes = [("g", f"SELECT {', '.join(cols)}, {VALUES} FROM units")]
    sql = quantile_statement(
        get_dialect("duckdb"), ctes, "g", METRICS, n_dims, sets, "f = 0", pieces=pieces
    )
    assert ("PARTITION BY sid" in sql) is pieces
    return ordered(con.execute(sql).df())


def ordered(out: pd.DataFrame) -> pd.DataFrame:
    out = out.astype({"n": "int64", "mi": "int64", "lvl": "int64"})
    keys = [c for c in out.columns if c not in ("n", "quantile", "lower", "upper")]
    key = out[keys].astype(str)
    return out.loc[key.sort_values(keys).index].reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("n_dims", "sets"), SHAPES)
def test_pieces_equal_the_generic_statement(seed: int, n_dims: int, sets: tuple) -> None:
    df = rows(seed)
    got = run_duckdb(df, n_dims, sets, pieces=True)
    want = run_duckdb(df, n_dims, sets, pieces=False)
    assert len(want) > 0 and set(want["lvl"]) >= {0, 100, 200}
    assert (want["n"] <= 2).any()  # tiny groups are in the data
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_pieces_equal_sqlite(tmp_path: Path) -> None:
    df = rows(4)
    got = run_duckdb(df, 2, ((0,), (1,)), pieces=True)
    con = sqlite3.connect(tmp_path / "q.db")
    df.to_sql("units", con, index=False)
    ctes = [("g", f"SELECT *, {VALUES} FROM units")]
    sql = quantile_statement(get_dialect("sqlite"), ctes, "g", METRICS, 2, ((0,), (1,)), "f = 0")
    con.create_function("SQRT", 1, np.sqrt)
    want = ordered(pd.read_sql_query(sql, con).astype({"dim_1": "float64"}))
    con.close()
    got = got.astype({"dim_1": "float64"})
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-13, atol=1e-13)


def test_no_counted_rows() -> None:
    df = rows(5).assign(f=1)
    got = run_duckdb(df, 1, (), pieces=True)
    assert len(got) == 0 and len(run_duckdb(df, 1, (), pieces=False)) == 0
