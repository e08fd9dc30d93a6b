"""Unit tables: the unit column is used. Repeated ids and units in two variants are
counted and kept out, rows without an id are counted, on every engine alike.

Oracle: the clean table without the units that must go, analysed, and a direct
pandas computation of the sums on those rows.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.cli.main import cli
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import (
    COLS,
    EXP,
    N,
    as_text,
    clean_frame,
    got_sums,
    pandas_sums,
    pg_schema,  # noqa: F401  (the PostgreSQL schema fixture)
    pg_table,
)

# what is appended to the clean table, and why; rows N, N+1, ... in this order
EXTRA = [
    ("copy", 5),  # u5 again, identical: one of the two counts
    ("copy", 11),  # u11 three times, identical: one counts
    ("copy", 11),
    ("other_spend", 7),  # u7 again with another spend: nobody can tell which is right
    ("other_arm", 9),  # u9 again in the other arm: in two variants, kept out
    ("empty_id", 12),  # no id: counted in empty_ids, kept out
    ("nan_id", 13),
    ("bad_copy", 14),  # u14 again with spend NaN: the bad row goes first, u14 is then unique
]
GONE = [7, 9]  # the units kept out whole


def with_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for what, r in EXTRA:
        row = frame.loc[r].copy()
        if what == "other_spend":
            row["spend"] = 99.0
        elif what == "other_arm":
            row["arm"] = "b" if row["arm"] == "a" else "a"
        elif what == "empty_id":
            row["user_id"] = "  "
        elif what == "nan_id":
            row["user_id"] = "NaN"
        elif what == "bad_copy":
            row["spend"] = float("nan")
        rows.append(row)
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


def dirty_text() -> pd.DataFrame:
    text = as_text(with_duplicates(clean_frame()), {})
    text.loc[N + 7, "spend"] = "NaN"  # the bad copy, as text
    return text


def assert_duplicates_handled(agg: Aggregates) -> None:
    rest = clean_frame().drop(index=GONE)
    assert got_sums(agg) == pandas_sums(rest)  # oracle: pandas on the prepared rows
    clean = aggregate_units(EXP, rest, columns=COLS)
    pd.testing.assert_frame_equal(agg.sums, clean.sums, check_dtype=False)
    q = agg.data_quality
    assert q["duplicate_units"] == 4  # u5: 1, u11: 2, u7: 1 (rows beyond each unit's first)
    assert (q["multi_variant_units"], q["empty_ids"], q["bad_values"]) == (1, 2, 1)
    counts = {(i.column, i.kind): i.count for i in agg.issues}
    assert counts == {
        ("spend", "nan"): 1,
        ("user_id", "duplicate_row"): 3,
        ("user_id", "duplicate_unit"): 1,
        ("user_id", "multi_variant_unit"): 1,
    }


def examples(agg: Aggregates) -> dict[str, tuple[str, ...]]:
    return {i.kind: i.examples for i in agg.issues}


def test_csv_duplicates_counted_excluded_and_located(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    dirty_text().to_csv(path, index=False)
    agg = aggregate_units(EXP, path, columns=COLS)
    assert_duplicates_handled(agg)
    line = N + 2  # the first appended row (header = line 1)
    assert examples(agg) == {
        "nan": (f"{path} line {line + 7} (unit u14)",),
        "duplicate_row": tuple(
            f"{path} line {line + k} (unit u{u})" for k, u in ((0, 5), (1, 11), (2, 11))
        ),
        "duplicate_unit": (f"{path} line {line + 3} (unit u7)",),
        "multi_variant_unit": (f"{path} line {line + 4} (unit u9)",),
    }


def test_parquet_and_dataframe_agree_with_csv(tmp_path: Path) -> None:
    frame = with_duplicates(clean_frame())
    frame.to_parquet(tmp_path / "u.parquet")
    for source in (tmp_path / "u.parquet", frame):
        agg = aggregate_units(EXP, source, columns=COLS)
        # spend NaN in pandas is a missing value: the copy of u14 is a conflicting duplicate
        q = agg.data_quality
        assert (q["duplicate_units"], q["multi_variant_units"], q["empty_ids"]) == (5, 1, 2)
        rest = clean_frame().drop(index=[*GONE, 14])
        assert got_sums(agg) == pandas_sums(rest)
    assert examples(agg)["multi_variant_unit"] == (
        f"<units DataFrame> row index {N + 4} (unit u9)",
    )


def _sqlite(path: Path, text: pd.DataFrame) -> str:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE units (user_id TEXT, arm TEXT, bought INTEGER, spend REAL, orders INTEGER)"
    )
    con.executemany(
        "INSERT INTO units VALUES (?, ?, ?, ?, ?)", [tuple(r) for r in text.itertuples(index=False)]
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_duplicates(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "u.db", dirty_text())
    with open_engine(url) as eng:
        agg = aggregate_units(EXP, "units", columns=COLS, engine=eng)
    assert_duplicates_handled(agg)
    # no row order in a table: units by id, with their number of rows
    assert examples(agg)["duplicate_row"] == (
        f"{url} table units (unit u11, 3 rows)",
        f"{url} table units (unit u5, 2 rows)",
    )


@pytest.mark.postgres
def test_postgresql_duplicates(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    url, schema = pg_schema
    table = pg_table(url, schema, dirty_text())
    with open_engine(url) as eng:
        agg = aggregate_units(EXP, table, columns=COLS, engine=eng)
    assert_duplicates_handled(agg)


def test_unit_id_or_unit_columns_when_the_config_unit_is_absent(tmp_path: Path) -> None:
    """As in the event log: the config's ``unit``, else ``unit_id``, else ``unit``."""
    frame = with_duplicates(clean_frame())
    for name in ("unit_id", "unit"):
        agg = aggregate_units(EXP, frame.rename(columns={"user_id": name}), columns=COLS)
        assert agg.data_quality["multi_variant_units"] == 1
        assert {i.column for i in agg.issues if i.kind != "nan"} == {name}


def test_numeric_unit_ids(tmp_path: Path) -> None:
    frame = clean_frame().assign(user_id=range(N))
    twice = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    twice.to_csv(tmp_path / "u.csv", index=False)
    agg = aggregate_units(EXP, tmp_path / "u.csv", columns=COLS)
    assert agg.data_quality["duplicate_units"] == 1
    assert got_sums(agg) == pandas_sums(frame)


def test_cli_reports_duplicates_in_json_and_a_binary_error_without_traceback(
    tmp_path: Path,
) -> None:
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    raw: dict[str, Any] = {
        "key": "units_exp",
        "name": "Unit table values",
        "unit": "user_id",
        "segments": [{"key": "all", "when": {}}],
        "cells": [
            {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
        ],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "column": "bought"}},
    }
    (experiments / "units_exp.yaml").write_text(yaml.safe_dump(raw))
    path = tmp_path / "units.csv"
    dirty_text().to_csv(path, index=False)
    args = ["analyze", "units_exp", "--units", str(path), "--variant-column", "arm"]
    args += ["--experiments", str(experiments), "--format", "json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["data_quality"]["multi_variant_units"] == 1
    kinds = {i["kind"]: i["count"] for i in doc["data_issues"]}
    # only bought is read here: the copies of u7 and u14 (other spends) are identical in it
    assert kinds == {"duplicate_row": 5, "multi_variant_unit": 1}
    bad = as_text(clean_frame(), {3: ("bought", "2")})
    bad.to_csv(path, index=False)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith(f"Error: {path} line 5 (unit u3): column 'bought'")
