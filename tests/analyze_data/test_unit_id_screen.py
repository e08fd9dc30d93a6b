"""The DuckDB screens for repeated unit ids (a bitmap of integer ids, sorted 64-bit
fingerprints of the others) and their fallback.

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


def _located(issues) -> list[tuple]:
    """Each issue's kind, count and rows, without the source's name."""
    return [(i.kind, i.count, [e.split(" row index ")[1] for e in i.examples]) for i in issues]


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the SQL of each call of ``unit_checks.<name>``."""
    sqls: list[str] = []
    real = getattr(unit_checks, name)

    def spy(*a, **k):
        out = real(*a, **k)
        sqls.append(out if isinstance(out, str) else out[0])
        return out

    monkeypatch.setattr(unit_checks, name, spy)
    return sqls


@pytest.mark.parametrize("repeats, empty", [(0, 0), (3, 0), (0, 2), (4, 1)])
@pytest.mark.parametrize("scale", [1, 10**12])
def test_integer_ids_are_screened_raw_with_the_same_counts(
    repeats, empty, scale, monkeypatch, tmp_path
):
    """A BIGINT id column (Parquet) is screened as integers (no text copy per id): by a
    bitmap when the ids' range is compact, by fingerprints of the integers when not."""
    df = _table(500, repeats, empty)
    df["id"] = df["id"].str[1:].astype("Int64") * scale  # u17 -> 17 * scale, None -> <NA>
    path = tmp_path / "units.parquet"
    df.to_parquet(path, index=False)
    calls = _spy(monkeypatch, "duplicates_query")
    bitmaps = _spy(monkeypatch, "id_bitmap_query")
    fingerprints = _spy(monkeypatch, "id_fingerprints_query")
    got = aggregate_units(EXP, str(path), columns=UnitColumns(variant="arm"))
    if scale == 1:
        assert bitmaps and "bitstring_agg" in bitmaps[0] and not fingerprints
    else:
        assert not bitmaps and "hash(ui)" in fingerprints[0] and "ui IS NULL" in fingerprints[0]
    assert bool(calls) == bool(repeats or empty)
    ids = df["id"].dropna()
    assert got.data_quality["duplicate_units"] == int(ids.duplicated().sum())
    assert got.data_quality["empty_ids"] == empty
    text = aggregate_units(EXP, df.astype({"id": "string"}), columns=UnitColumns(variant="arm"))
    assert got.data_quality == text.data_quality
    assert _located(got.issues) == _located(text.issues)  # the same rows reported
    pd.testing.assert_frame_equal(
        got.sums[["variant", "n", "sum"]], text.sums[["variant", "n", "sum"]], check_dtype=False
    )


def test_bitmap_screen_reads_every_row_and_the_exact_statement_decides(monkeypatch, tmp_path):
    """An id repeated only by a row kept out (an infinite outcome, no arm) and an empty id on a
    row without an arm: the bitmap sees them, the exact statement then counts what SQLite's
    does (no repeated unit, no empty id among the counted rows)."""
    df = _table(300, 0, 0)
    df["id"] = df["id"].str[1:].astype("Int64")
    extra = pd.DataFrame(
        {"id": pd.array([5, 6, None], dtype="Int64"), "arm": ["a", None, None],
         "y": [float("inf"), 1.0, 2.0]}
    )  # fmt: skip
    df = pd.concat([df, extra], ignore_index=True)
    path = tmp_path / "units.parquet"
    df.to_parquet(path, index=False)
    calls = _spy(monkeypatch, "duplicates_query")
    bitmaps = _spy(monkeypatch, "id_bitmap_query")
    got = aggregate_units(EXP, str(path), columns=UnitColumns(variant="arm"))
    assert bitmaps and calls  # the screen saw repeats and an empty id: the exact statement ran
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as con:
        df.to_sql("units", con, index=False)
    with open_engine(f"sqlite:///{db}") as eng:
        exact = aggregate_units(EXP, "units", engine=eng, columns=UnitColumns(variant="arm"))
    assert got.data_quality == exact.data_quality
    assert got.data_quality["duplicate_units"] == 0 and got.data_quality["empty_ids"] == 0
    assert got.data_quality["bad_values"] == 1 and got.data_quality["missing_variant"] == 2
    pd.testing.assert_frame_equal(
        got.sums[["variant", "n", "sum"]], exact.sums[["variant", "n", "sum"]], check_dtype=False
    )


def test_bitmap_screen_falls_back_when_its_statement_fails(monkeypatch, tmp_path):
    """An id outside the range given to the bitmap makes DuckDB fail: the fingerprints decide."""
    df = _table(200, 2, 0)
    df["id"] = df["id"].str[1:].astype("Int64")
    path = tmp_path / "units.parquet"
    df.to_parquet(path, index=False)
    real = unit_checks.id_bitmap_query
    monkeypatch.setattr(
        unit_checks, "id_bitmap_query", lambda d, r, s, u, lo, hi: real(d, r, s, u, lo, hi - 1)
    )
    fingerprints = _spy(monkeypatch, "id_fingerprints_query")
    got = aggregate_units(EXP, str(path), columns=UnitColumns(variant="arm"))
    assert fingerprints
    assert got.data_quality["duplicate_units"] == int(df["id"].duplicated().sum()) == 2
