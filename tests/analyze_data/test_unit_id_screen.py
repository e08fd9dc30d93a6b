"""The DuckDB screen for repeated unit ids (sorted 64-bit fingerprints) and its fallback.

Oracle: pandas ``duplicated`` on the raw ids, and the exact ``duplicates_query``
(run on SQLite, which has no screen, for the same table).
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.sums import unit_checks
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units

EXP = parse_experiment(
    {
        "key": "e",
        "unit": "id",
        "cells": [
            {"control": "a", "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}
        ],
        "metrics": {"primary": {"key": "y", "kind": "continuous", "column": "y"}},
    }
)


def _table(n: int, repeats: int, empty: int) -> pd.DataFrame:
    rng = np.random.default_rng(n + repeats + empty)
    ids = [f"u{i}" for i in range(n)]
    df = pd.DataFrame({"id": ids, "arm": rng.choice(["a", "b"], n), "y": rng.normal(size=n)})
    df = pd.concat([df, df.iloc[:repeats]], ignore_index=True)  # identical repeats
    df.loc[df.index[-empty:] if empty else [], "id"] = None
    return df


@pytest.mark.parametrize("repeats, empty", [(0, 0), (3, 0), (0, 2), (4, 1)])
def test_screen_runs_the_exact_statement_only_when_ids_repeat_or_are_empty(
    repeats, empty, monkeypatch, tmp_path
):
    df = _table(500, repeats, empty)
    calls = []
    real = unit_checks.duplicates_query
    monkeypatch.setattr(
        unit_checks, "duplicates_query", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    got = aggregate_units(EXP, df, columns=UnitColumns(variant="arm"))
    assert bool(calls) == bool(repeats or empty)
    ids = df["id"].dropna()
    assert got.data_quality["duplicate_units"] == int(ids.duplicated().sum())
    assert got.data_quality["empty_ids"] == empty
    # the same counters and sums as SQLite's exact statement
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as con:
        df.to_sql("units", con, index=False)
    with open_engine(f"sqlite:///{path}") as eng:
        exact = aggregate_units(EXP, "units", engine=eng, columns=UnitColumns(variant="arm"))
    assert got.data_quality == exact.data_quality
    pd.testing.assert_frame_equal(
        got.sums[["variant", "n", "sum"]], exact.sums[["variant", "n", "sum"]], check_dtype=False
    )


@pytest.mark.parametrize("repeats, empty", [(0, 0), (3, 0), (0, 2), (4, 1)])
def test_integer_ids_are_screened_raw_with_the_same_counts(repeats, empty, monkeypatch, tmp_path):
    """A BIGINT id column (Parquet) is fingerprinted as integers (no text copy per id)."""
    df = _table(500, repeats, empty)
    df["id"] = df["id"].str[1:].astype("Int64")  # u17 -> 17, None -> <NA>
    path = tmp_path / "units.parquet"
    df.to_parquet(path, index=False)
    calls, sqls = [], []
    real, real_fp = unit_checks.duplicates_query, unit_checks.id_fingerprints_query
    monkeypatch.setattr(
        unit_checks, "duplicates_query", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    monkeypatch.setattr(
        unit_checks,
        "id_fingerprints_query",
        lambda *a, **k: sqls.append(real_fp(*a, **k)[0]) or real_fp(*a, **k),
    )
    got = aggregate_units(EXP, str(path), columns=UnitColumns(variant="arm"))
    assert sqls and "hash(ui)" in sqls[0] and "ui IS NULL" in sqls[0]
    assert bool(calls) == bool(repeats or empty)
    ids = df["id"].dropna()
    assert got.data_quality["duplicate_units"] == int(ids.duplicated().sum())
    assert got.data_quality["empty_ids"] == empty
    text = aggregate_units(EXP, df.astype({"id": "string"}), columns=UnitColumns(variant="arm"))
    assert got.data_quality == text.data_quality
    pd.testing.assert_frame_equal(
        got.sums[["variant", "n", "sum"]], text.sums[["variant", "n", "sum"]], check_dtype=False
    )
