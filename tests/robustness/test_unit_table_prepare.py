"""Unit tables: analysis.filter, --attributes and dedupe: first, inside every engine.

Oracle: the rows prepared in pandas (:func:`tests.robustness.landing_data.prepare`:
a boolean mask for the filter, ``sort_values`` + ``groupby().head(1)`` for the first
exposure, ``merge(how="left")`` with the single-row attributes), then the per-arm
count and sum of the outcome by ``groupby``. Every engine (DuckDB on a DataFrame,
CSV and Parquet; SQLite; PostgreSQL; Spark) must give those numbers and counters.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.errors import DataError, MissingColumnError
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.robustness.landing_data import FILTER, FULL, experiment, landing, oracle_sums, prepare
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

COLS = UnitColumns(variant="group")
SETTINGS = {  # (config's analysis settings, with attributes, oracle's filtered and first)
    "all": (FULL, True, True, True),
    "filter": ({"filter": FILTER}, False, True, False),
    "first": ({"dedupe": "first", "time_column": "timestamp"}, False, False, True),
    "attributes": ({}, True, False, False),
}


def got(agg: Aggregates, by: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[int, int]]:
    out = {}
    for r in agg.sums.to_dict("records"):
        key = tuple(None if pd.isna(r[c]) else r[c] for c in ("variant", *by))
        out[key] = (int(r["n"]), int(r["sum"]))
    return out


def check(agg: Aggregates, rows: pd.DataFrame, countries: pd.DataFrame, name: str) -> None:
    _, with_attributes, filtered, first = SETTINGS[name]
    prepared, quality = prepare(
        rows, countries if with_attributes else None, filtered=filtered, first=first
    )
    by = ("country",) if with_attributes else ()
    assert got(agg, by) == oracle_sums(prepared, by)
    for key, value in quality.items():
        assert agg.data_quality[key] == value, key
    if first:
        assert {(i.column, i.kind): i.count for i in agg.issues} == {
            ("timestamp", "bad_timestamp"): quality["bad_timestamps"]
        }


def run(name: str, source: Any, attributes: Any, engine: Any = None) -> Aggregates:
    settings, with_attributes, _, _ = SETTINGS[name]
    return aggregate_units(
        experiment(**settings),
        source,
        columns=COLS,
        by=("country",) if with_attributes else (),
        attributes=attributes if with_attributes else None,
        engine=engine,
    )


@pytest.mark.parametrize("name", ["all", "filter", "first", "attributes"])
def test_dataframes(name: str) -> None:
    rows, countries = landing()
    if name in ("filter", "attributes"):
        rows = rows.drop_duplicates("user_id", keep=False)  # today's rule keeps repeats out
    check(run(name, rows, countries), rows, countries, name)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files(tmp_path: Path, fmt: str) -> None:
    rows, countries = landing(seed=11)
    paths = []
    for frame, stem in ((rows, "ab"), (countries, "countries")):
        path = tmp_path / f"{stem}.{fmt}"
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
        paths.append(path)
    check(run("all", paths[0], paths[1]), rows, countries, "all")


def test_default_rule_for_repeats_is_unchanged() -> None:
    """Without dedupe: first, a user whose rows differ is kept out whole, as before."""
    rows, countries = landing()
    agg = run("filter", rows, countries)
    kinds = {i.kind for i in agg.issues}
    assert "duplicate_unit" in kinds and agg.data_quality["bad_timestamps"] == 0


def _sqlite(tmp_path: Path, rows: pd.DataFrame, countries: pd.DataFrame) -> str:
    path = tmp_path / "ab.db"
    con = sqlite3.connect(path)
    rows.to_sql("ab", con, index=False)
    countries.to_sql("countries", con, index=False)
    con.close()
    return f"sqlite:///{path}"


@pytest.mark.parametrize("name", ["first", "attributes"])
def test_sqlite(tmp_path: Path, name: str) -> None:
    rows, countries = landing()
    if name == "attributes":
        rows = rows.drop_duplicates("user_id", keep=False)
    with open_engine(_sqlite(tmp_path, rows, countries)) as eng:
        check(run(name, "ab", "countries", eng), rows, countries, name)


def test_sqlite_refuses_a_filter_it_cannot_compile(tmp_path: Path) -> None:
    """SQLite compiles no conditions (dynamic types): an error, never an ignored filter."""
    rows, countries = landing()
    url = _sqlite(tmp_path, rows, countries)
    with (
        open_engine(url) as eng,
        pytest.raises(DataError, match=r"analysis\.filter \(landing\): found a filter with"),
    ):
        run("all", "ab", "countries", eng)


@pytest.mark.postgres
def test_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    rows, countries = landing()
    engine = sa.create_engine(url)
    rows.to_sql("ab", engine, schema=schema, index=False)
    countries.to_sql("countries", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        for name in ("all", "first"):
            check(run(name, f"{schema}.ab", f"{schema}.countries", eng), rows, countries, name)


@pytest.mark.spark
def test_spark(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    rows, countries = landing()
    rows.to_csv(tmp_path / "ab.csv", index=False)
    countries.to_csv(tmp_path / "countries.csv", index=False)
    with open_spark_engine(spark) as eng:
        check(
            run("all", tmp_path / "ab.csv", tmp_path / "countries.csv", eng), rows, countries, "all"
        )
        check(run("all", rows, countries, eng), rows, countries, "all")


def test_segment_rules_read_attribute_columns() -> None:
    """The attributes serve the segment rules too (compiled by the one condition compiler)."""
    rows, countries = landing()
    raw = experiment(**FULL).model_dump(exclude_none=True)
    raw["segments"] = [{"key": "uk", "when": {"country": "UK"}}, {"key": "rest", "when": {}}]
    from segab.config import parse_experiment

    agg = aggregate_units(parse_experiment(raw), rows, columns=COLS, attributes=countries)
    prepared, _ = prepare(rows, countries)
    n = agg.sums.groupby("segment")["n"].sum().to_dict()
    assert n == {
        "uk": int((prepared["country"] == "UK").sum()),
        "rest": int((prepared["country"] != "UK").sum()),
    }


def test_errors_name_the_problem() -> None:
    rows, countries = landing()
    exp = experiment(**FULL)
    with pytest.raises(DataError, match=r"column\(s\) \['group'\] of the attributes table"):
        aggregate_units(exp, rows, columns=COLS, attributes=countries.assign(group="x"))
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['user_id'\]"):
        aggregate_units(
            exp, rows, columns=COLS, attributes=countries.rename(columns={"user_id": "id"})
        )
    typo = experiment(filter={"grup": "control"})
    with pytest.raises(
        MissingColumnError, match=r"analysis.filter \(landing\): column\(s\) \['grup'\]"
    ):
        aggregate_units(typo, rows, columns=COLS)
    version = experiment(filter={"landing_page": {"$vgt": "1.0"}})
    with pytest.raises(
        DataError, match=r"analysis.filter.landing_page.\$vgt: \$vgt cannot be compiled"
    ):
        aggregate_units(version, rows, columns=COLS)
    with pytest.raises(MissingColumnError, match="needs a unit id column"):
        aggregate_units(exp, rows.rename(columns={"user_id": "who"}), columns=COLS)
    untimed = experiment(dedupe="first", time_column="seen_at")
    with pytest.raises(MissingColumnError, match=r"\['seen_at'\]"):
        aggregate_units(untimed, rows, columns=COLS)
