"""Unit tables: a value segab cannot use is never a number, on every engine.

NaN, +-infinity, overflowing literals and text planted in outcome columns keep
their row out whole: the sums equal those of the clean table without those rows
(oracle: a direct pandas computation of n, sum and sum of squares on the prepared
rows, and the clean table analysed), plus ``bad_values`` and located ``data_issues``.
A binary outcome outside 0/1/true/false/yes/no is a located error.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab.config import parse_experiment
from segab.errors import DataError
from segab.sums.result import SUM_COLUMNS, Aggregates
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

EXP = parse_experiment(
    {
        "key": "units_exp",
        "name": "Unit table values",
        "unit": "user_id",
        "segments": [{"key": "all", "when": {}}],
        "cells": [
            {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
        ],
        "metrics": {
            "primary": {"key": "conv", "kind": "binary", "column": "bought"},
            "secondary": [
                {"key": "spend", "kind": "continuous", "column": "spend"},
                {"key": "aov", "kind": "ratio", "column": "spend", "denominator_column": "orders"},
            ],
        },
    }
)
COLS = UnitColumns(variant="arm")
N = 60
# planted rows: row -> (column, value as text); one bad column per row
PLANTED = {
    3: ("spend", "NaN"),
    8: ("spend", "inf"),
    14: ("spend", "-Infinity"),
    20: ("spend", "1e400"),
    27: ("spend", "abc"),
    33: ("orders", "x"),
    41: ("orders", "1,5"),
    50: ("bought", "nan"),
}
KIND = {"NaN": "nan", "nan": "nan", "inf": "infinite", "-Infinity": "infinite"}
KIND |= {"1e400": "infinite", "abc": "not_a_number", "x": "not_a_number", "1,5": "not_a_number"}


def clean_frame(n: int = N, seed: int = 3) -> pd.DataFrame:
    """Units with 0/1 conversions, spends on a 1/64 grid (sums exact in any order), orders."""
    rng = np.random.default_rng(seed)
    spend = rng.integers(0, 640, n) / 64
    spend[rng.random(n) < 0.1] = np.nan  # missing outcomes stay missing
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "arm": rng.choice(["a", "b"], n),
            "bought": rng.integers(0, 2, n),
            "spend": spend,
            "orders": rng.integers(1, 5, n),
        }
    )


def as_text(frame: pd.DataFrame, planted: dict[int, tuple[str, str]]) -> pd.DataFrame:
    """The frame as text (missing values as None), with the planted values written in."""
    text = frame.astype(object)  # object columns: None stays None (pandas' str dtype: NaN)
    for col in ("bought", "orders"):
        text[col] = pd.Series(
            [None if pd.isna(v) else str(int(v)) for v in frame[col]], dtype=object
        )
    spend = [None if pd.isna(v) else repr(float(v)) for v in frame["spend"]]
    text["spend"] = pd.Series(spend, dtype=object)
    for row, (col, value) in planted.items():
        text.loc[row, col] = value
    return text


def pandas_sums(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, ...]]:
    """The oracle: n, sum, sum_sq (and the ratio's denominator sums) by arm, in pandas."""
    out: dict[tuple[str, str], tuple[float, ...]] = {}
    for arm, g in frame.groupby("arm"):
        y = g["bought"].astype(float)
        out[(str(arm), "conv")] = (len(y), float(y.sum()), float((y * y).sum()), 0.0, 0.0, 0.0)
        s = g["spend"].dropna()
        out[(str(arm), "spend")] = (len(s), float(s.sum()), float((s * s).sum()), 0.0, 0.0, 0.0)
        both = g.dropna(subset=["spend", "orders"])
        y, d = both["spend"], both["orders"].astype(float)
        sums = (y.sum(), (y * y).sum(), d.sum(), (d * d).sum(), (y * d).sum())
        out[(str(arm), "aov")] = (len(both), *(float(v) for v in sums))
    return out


def got_sums(agg: Aggregates) -> dict[tuple[str, str], tuple[float, ...]]:
    return {
        (r["variant"], r["metric"]): tuple(float(r[c]) for c in SUM_COLUMNS)
        for r in agg.sums.to_dict("records")
    }


def expected(planted: dict[int, Any], frame: pd.DataFrame | None = None) -> Aggregates:
    """The clean table without the planted rows, analysed (DuckDB on a DataFrame)."""
    frame = clean_frame() if frame is None else frame
    return aggregate_units(EXP, frame.drop(index=list(planted)), columns=COLS)


def assert_same_as_clean(agg: Aggregates, planted: dict[int, Any], bad: int | None = None) -> None:
    clean = expected(planted)
    pd.testing.assert_frame_equal(agg.sums, clean.sums, check_dtype=False)
    pd.testing.assert_frame_equal(agg.exposures, clean.exposures, check_dtype=False)
    quality = dict(agg.data_quality)
    assert quality.pop("bad_values") == (len(planted) if bad is None else bad)
    assert quality == {k: v for k, v in clean.data_quality.items() if k != "bad_values"}


def issue_counts(agg: Aggregates) -> dict[tuple[str, str], int]:
    return {(i.column, i.kind): i.count for i in agg.issues}


def planted_counts(planted: dict[int, tuple[str, str]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for col, value in planted.values():
        key = (col, KIND[value])
        out[key] = out.get(key, 0) + 1
    return out


# text spellings and the double each engine's try_decimal must read them as (None: not a number)
SPELLINGS = {
    "1.5": 1.5, " 1.5 ": 1.5, "1.": 1.0, ".5": 0.5, "+1": 1.0, "007": 7.0, "1e5": 1e5,
    "+3E-2": 0.03, "1e400": float("inf"), "-1e400": float("-inf"), "1e-400": 0.0,
    "4e-324": 5e-324, "1.7976931348623157e308": 1.7976931348623157e308,
    "1.7976931348623159e308": float("inf"), "1e99999": float("inf"), "0e99999": 0.0,
    "1e-99999": 0.0, "abc": None, "1,5": None, "0x10": None, "1_000": None, "nan": None,
    "inf": None, "": None, "1e": None, "\t1": None, "1\n": None, "1.5abc": None, "+-1": None,
    "1d": None, "1 2": None, ".": None,
}  # fmt: skip


def read_numbers(eng: Any) -> dict[str, float | None]:
    """``try_decimal`` of every spelling, as ``eng`` computes it (bound parameters)."""
    from segab.sql.dialects import get_dialect

    d = get_dialect(eng.dialect)
    out = {}
    for text in SPELLINGS:
        _, rows = eng.rows(f"SELECT {d.try_decimal(d.param('p0'))} AS x", {"p0": text})
        out[text] = rows[0][0]
    return out


def test_every_engine_reads_the_same_numbers(tmp_path: Path) -> None:
    urls = [None, f"sqlite:///{tmp_path / 'n.db'}"]
    if os.environ.get("SEGAB_TEST_DATABASE_URL"):
        urls.append(pg_url())
    for url in urls:
        with open_engine(url) as eng:
            assert read_numbers(eng) == SPELLINGS, eng.dialect


def test_csv_bad_values_are_kept_out_counted_and_located_by_line(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    as_text(clean_frame(), PLANTED).to_csv(path, index=False)
    agg = aggregate_units(EXP, path, columns=COLS)
    rest = clean_frame().drop(index=list(PLANTED))
    assert got_sums(agg) == pandas_sums(rest)  # oracle: pandas (sums exact on a 1/64 grid)
    assert_same_as_clean(agg, PLANTED)
    assert issue_counts(agg) == planted_counts(PLANTED)
    examples = {(i.column, i.kind): i.examples for i in agg.issues}
    # header = line 1: row r of the frame is on line r + 2
    assert examples[("spend", "nan")] == (f"{path} line 5 (unit u3)",)
    assert examples[("spend", "infinite")] == tuple(
        f"{path} line {r + 2} (unit u{r})" for r in (8, 14, 20)
    )
    assert examples[("orders", "not_a_number")] == (
        f"{path} line 35 (unit u33): 'x'",
        f"{path} line 43 (unit u41): '1,5'",
    )
    assert examples[("bought", "nan")] == (f"{path} line 52 (unit u50)",)


def test_csv_line_numbers_count_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "user_id,arm,bought,spend,orders,note\n"
        'u0,a,1,1.5,1,"two\nlines"\n'
        "\n"
        "u1,b,0,NaN,1,x\n"
        "u2,a,1,2.0,1,y\n"
    )
    agg = aggregate_units(EXP, path, columns=COLS)
    assert [i.examples for i in agg.issues] == [(f"{path} line 5 (unit u1)",)]


@pytest.mark.parametrize("value", ["0x10", "1.5.5", "abc"])
def test_csv_text_that_duckdb_sampled_as_a_number_is_read_as_text(
    tmp_path: Path, value: str
) -> None:
    """DuckDB types a CSV column from a sample: text it let through fails the read, and
    the outcome columns are then read as text (the first data row is in every sample)."""
    path = tmp_path / "units.csv"
    as_text(clean_frame(), {0: ("spend", value)}).to_csv(path, index=False)
    agg = aggregate_units(EXP, path, columns=COLS)
    assert_same_as_clean(agg, {0: ""})
    assert agg.issues[0].examples == (f"{path} line 2 (unit u0): {value!r}",)


def test_parquet_nan_infinity_and_text_in_a_string_column(tmp_path: Path) -> None:
    frame = clean_frame()
    spend = frame["spend"].tolist()
    orders = [str(v) for v in frame["orders"]]
    planted: dict[int, tuple[str, str]] = {2: ("spend", "NaN"), 9: ("spend", "inf")}
    planted |= {30: ("orders", "abc"), 31: ("orders", "1e400")}
    spend[2], spend[9], orders[30], orders[31] = float("nan"), float("-inf"), "abc", "1e400"
    table = pa.table(
        {
            "user_id": frame["user_id"].tolist(),
            "arm": frame["arm"].tolist(),
            "bought": frame["bought"].tolist(),
            # a real NaN (not null): built by pyarrow, not from pandas
            "spend": pa.array([None if v != v and i != 2 else v for i, v in enumerate(spend)]),
            "orders": orders,  # text: parsed as numbers where it is one
        }
    )
    path = tmp_path / "units.parquet"
    pq.write_table(table, path)
    agg = aggregate_units(EXP, path, columns=COLS)
    assert_same_as_clean(agg, planted)
    assert issue_counts(agg) == {
        ("spend", "nan"): 1,
        ("spend", "infinite"): 1,
        ("orders", "infinite"): 1,
        ("orders", "not_a_number"): 1,
    }
    examples = {(i.column, i.kind): i.examples for i in agg.issues}
    assert examples[("spend", "nan")] == (f"{path} row index 2 (unit u2)",)
    assert examples[("orders", "not_a_number")] == (f"{path} row index 30 (unit u30): 'abc'",)


def test_dataframe_infinity_and_text(tmp_path: Path) -> None:
    """In a DataFrame, NaN in a float column is pandas' missing value (NULL to DuckDB);
    text columns carry NaN as the string ``NaN``."""
    frame = clean_frame()
    frame.loc[5, "spend"] = np.inf
    text = as_text(clean_frame(), {11: ("orders", "NaN"), 12: ("orders", "oops")})
    frame["orders"] = text["orders"]
    agg = aggregate_units(EXP, frame, columns=COLS)
    planted = {5: ("spend", "inf"), 11: ("orders", "NaN"), 12: ("orders", "x")}
    assert_same_as_clean(agg, planted)
    assert issue_counts(agg) == planted_counts(planted)
    assert [i.examples[0] for i in agg.issues] == [
        "<units DataFrame> row index 5 (unit u5)",
        "<units DataFrame> row index 11 (unit u11)",
        "<units DataFrame> row index 12 (unit u12): 'oops'",
    ]


def _sqlite_table(path: Path, text: pd.DataFrame) -> str:
    """A SQLite table with REAL/INTEGER columns holding the planted text (SQLite keeps it)."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE units (user_id TEXT, arm TEXT, bought INTEGER, spend REAL, orders INTEGER)"
    )
    rows = [tuple(r) for r in text.itertuples(index=False)]
    con.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("UPDATE units SET spend = 9e999 WHERE user_id = 'u8'")  # a stored infinity
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_text_in_typed_columns_and_stored_infinity(tmp_path: Path) -> None:
    url = _sqlite_table(tmp_path / "u.db", as_text(clean_frame(), PLANTED))
    with open_engine(url) as eng:
        agg = aggregate_units(EXP, "units", columns=COLS, engine=eng)
    assert_same_as_clean(agg, PLANTED)
    assert issue_counts(agg) == planted_counts(PLANTED)
    examples = {(i.column, i.kind): i.examples for i in agg.issues}
    # no row order in a table: rows are named by unit id, in code-point order
    assert examples[("spend", "infinite")] == tuple(
        f"{url} table units (unit u{r})" for r in (14, 20, 8)
    )
    assert examples[("orders", "not_a_number")][0] == f"{url} table units (unit u33): 'x'"


def pg_url() -> str:
    url = os.environ.get("SEGAB_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "SEGAB_TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    import sqlalchemy as sa

    url, schema = pg_url(), f"segab_units_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def pg_table(
    url: str, schema: str, text: pd.DataFrame, spend_type: str = "DOUBLE PRECISION"
) -> str:
    """``schema.units``: spend as float8 (holding 'NaN' and 'Infinity'), orders as text."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".units (user_id TEXT, arm TEXT, bought TEXT, '
                f"spend {spend_type}, orders TEXT)"
            )
        )
        for r in text.to_dict("records"):
            spend = r["spend"]
            if spend in PG_MOVED:  # float8 cannot hold these: planted in orders instead
                r["orders"], spend = spend, None
            conn.execute(
                sa.text(
                    f'INSERT INTO "{schema}".units VALUES '
                    "(:user_id, :arm, :bought, CAST(:spend AS DOUBLE PRECISION), :orders)"
                ),
                {**r, "spend": spend},
            )
    engine.dispose()
    return f"{schema}.units"


PG_MOVED = ("abc", "1e400")  # text and out-of-range literals: in a text column on PostgreSQL


@pytest.mark.postgres
def test_postgresql_nan_infinity_and_text(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    table = pg_table(url, schema, as_text(clean_frame(), PLANTED))
    planted = {r: ("orders", v) if v in PG_MOVED else (c, v) for r, (c, v) in PLANTED.items()}
    with open_engine(url) as eng:
        agg = aggregate_units(EXP, table, columns=COLS, engine=eng)
    assert_same_as_clean(agg, planted)
    assert issue_counts(agg) == planted_counts(planted)
    examples = {(i.column, i.kind): i.examples for i in agg.issues}
    assert examples[("spend", "nan")] == (f"{eng_label(url, table)} (unit u3)",)


def eng_label(url: str, table: str) -> str:
    import sqlalchemy as sa

    return f"{sa.make_url(url).render_as_string(hide_password=True)} table {table}"


@pytest.mark.parametrize(
    ("value", "shown"), [("2", "'2'"), ("maybe", "'maybe'"), ("-1", "'-1'"), ("0.5", "'0.5'")]
)
def test_binary_outcome_outside_0_1_is_a_located_error(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = tmp_path / "units.csv"
    as_text(clean_frame(), {6: ("bought", value), 9: ("bought", value)}).to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        aggregate_units(EXP, path, columns=COLS)
    assert str(err.value) == (
        f"{path} line 8 (unit u6): column 'bought' of binary metric 'conv' (units_exp): "
        f"found {shown}, expected 0, 1, true, false, yes or no (any case); "
        "2 rows have such values"
    )


def test_binary_error_in_parquet_and_sqlite(tmp_path: Path) -> None:
    frame = clean_frame()
    frame["bought"] = frame["bought"].astype(float)
    frame.loc[4, "bought"] = 2.0
    frame.to_parquet(tmp_path / "u.parquet")
    with pytest.raises(DataError, match=r"u\.parquet row index 4 \(unit u4\): column 'bought'.*"):
        aggregate_units(EXP, tmp_path / "u.parquet", columns=COLS)
    url = _sqlite_table(tmp_path / "u.db", as_text(clean_frame(), {4: ("bought", "2")}))
    with open_engine(url) as eng, pytest.raises(DataError, match=r"\(unit u4\).*found '2'"):
        aggregate_units(EXP, "units", columns=COLS, engine=eng)


def test_yes_no_true_false_read_as_1_and_0(tmp_path: Path) -> None:
    frame = clean_frame()
    words = {1: ["yes", "Yes", "TRUE", "true", "1"], 0: ["no", "NO", "False", "false", "0"]}
    text = as_text(frame, {})
    text["bought"] = [words[int(b)][i % 5] for i, b in enumerate(frame["bought"])]
    text.to_csv(tmp_path / "u.csv", index=False)
    agg = aggregate_units(EXP, tmp_path / "u.csv", columns=COLS)
    assert_same_as_clean(agg, {}, bad=0)


def test_a_table_without_a_unit_column_counts_every_row(tmp_path: Path) -> None:
    """No unit id: rows cannot be told apart, so a repeated row counts twice (as before)."""
    frame = clean_frame().drop(columns="user_id")
    twice = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    agg = aggregate_units(EXP, twice, columns=COLS)
    assert int(agg.exposures["n"].sum()) == N + 1
    assert agg.data_quality["duplicate_units"] == agg.data_quality["empty_ids"] == 0


@pytest.mark.spark
def test_spark_agrees_with_duckdb_on_bad_values(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    frame = clean_frame()
    spend = [None if v != v else v for v in frame["spend"]]
    spend[2], spend[9] = float("nan"), float("inf")
    orders = [str(v) for v in frame["orders"]]
    orders[30], orders[31] = "abc", "2\n"  # Java's $ would match before the newline
    table = pa.table({**{c: frame[c].tolist() for c in ("user_id", "arm", "bought")}})
    table = table.append_column("spend", pa.array(spend, pa.float64()))
    table = table.append_column("orders", pa.array(orders))
    dupes = table.slice(5, 1)  # a unit seen twice, identically
    path = tmp_path / "u.parquet"
    pq.write_table(pa.concat_tables([table, dupes]), path)
    duck = aggregate_units(EXP, path, columns=COLS)
    with open_spark_engine(spark) as eng:
        got = aggregate_units(EXP, str(path), columns=COLS, engine=eng)
        assert read_numbers(eng) == SPELLINGS
    pd.testing.assert_frame_equal(got.sums, duck.sums, check_dtype=False)
    assert got.data_quality == duck.data_quality and got.issues == duck.issues
    clean = expected({2: "", 9: "", 30: "", 31: ""})  # the repeated row counts once
    pd.testing.assert_frame_equal(duck.sums, clean.sums, check_dtype=False)
    assert (duck.data_quality["bad_values"], duck.data_quality["duplicate_units"]) == (4, 1)
    assert duck.issues[-1].examples == (f"{path} row index {N} (unit u5)",)


BAD = ["NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e999", "abc", "1,5", "1.5.5"]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.integers(0, N - 1),
        st.tuples(st.sampled_from(["spend", "orders", "bought"]), st.sampled_from(BAD)),
        max_size=12,
    )
)
def test_random_bad_values_never_move_an_estimate(planted: dict[int, tuple[str, str]]) -> None:
    """Property: wherever bad values land, the sums are the clean run's on the other rows."""
    # a binary column gets only NaN or infinity (text there is an error, tested above)
    planted = {
        r: (c, v)
        if c != "bought" or v.lower().lstrip("+-") in ("nan", "inf", "infinity")
        else ("spend", v)
        for r, (c, v) in planted.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.csv"
        as_text(clean_frame(), planted).to_csv(path, index=False)
        agg = aggregate_units(EXP, path, columns=COLS)
    assert_same_as_clean(agg, planted)
    kinds: dict[tuple[str, str], int] = {}
    for col, value in planted.values():
        lower = value.lower().lstrip("+-")
        kind = "nan" if lower == "nan" else "infinite" if lower in ("inf", "infinity") else None
        kind = kind or ("infinite" if value in ("1e400", "-1e999") else "not_a_number")
        kinds[(col, kind)] = kinds.get((col, kind), 0) + 1
    assert issue_counts(agg) == kinds
