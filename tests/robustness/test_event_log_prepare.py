"""Event logs: analysis.filter on the exposures and --attributes for --by, in the engine.

Oracle: the exposures prepared in pandas (the filter as a boolean mask, the country
merged on the unit id), analysed by segab without a filter or attributes; and the
exposure counts per (variant, country) by a pandas ``groupby``. On DuckDB (fast path
and generic route), SQLite (attributes; a filter is an error there) and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.config.models import Experiment
from segab.errors import DataError
from segab.sums.aggregate import aggregate_event_log
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from tests.robustness.landing_data import config, landing
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)

PREPARED = ("filtered_out", "missing_attributes", "duplicate_attributes")
FILTER = {  # the exposures' arm column is ``variant``
    "$or": [
        {"variant": "control", "landing_page": "old_page"},
        {"variant": "treatment", "landing_page": {"$in": ["new_page"]}},
    ]
}


def event_experiment(**analysis: Any) -> Experiment:
    raw = config(**analysis)
    raw["metrics"] = {"primary": {"key": "converted", "kind": "binary", "event": "convert"}}
    return parse_experiment(raw)


def event_log() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows, countries = landing(seed=3)
    rows = rows[rows["timestamp"].str.startswith("2024", na=False)]
    rows = rows.drop_duplicates("user_id", keep="first")
    exposures = pd.DataFrame(
        {
            "user_id": rows["user_id"],
            "segment": "all",
            "stage": "awareness",
            "variant": rows["group"],
            "timestamp": rows["timestamp"],
            "landing_page": rows["landing_page"],
        }
    ).reset_index(drop=True)
    bought = rows[rows["converted"] == 1]
    later = pd.to_datetime(bought["timestamp"]) + pd.Timedelta(hours=1)
    events = pd.DataFrame(
        {"user_id": bought["user_id"], "event": "convert", "timestamp": later.astype(str)}
    ).reset_index(drop=True)
    return exposures, events, countries


def oracle(exposures: pd.DataFrame, countries: pd.DataFrame, filtered: bool) -> pd.DataFrame:
    if filtered:
        keep = ((exposures["variant"] == "control") & (exposures["landing_page"] == "old_page")) | (
            (exposures["variant"] == "treatment") & (exposures["landing_page"] == "new_page")
        )
        exposures = exposures[keep]
    single = countries.drop_duplicates("user_id", keep=False)
    return exposures.merge(single, on="user_id", how="left")


def assert_same(agg: Aggregates, want: Aggregates, prepared: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(agg.sums, want.sums, check_dtype=False)
    pd.testing.assert_frame_equal(agg.exposures, want.exposures, check_dtype=False)
    counts = prepared.fillna({"country": "<none>"}).groupby(["variant", "country"]).size()
    got = agg.exposures.fillna({"country": "<none>"}).set_index(["variant", "country"])["n"]
    assert got.to_dict() == counts.to_dict()  # oracle: pandas groupby on the prepared rows
    for key, value in want.data_quality.items():
        if key not in PREPARED:
            assert agg.data_quality[key] == value, key


def expected_counters(
    exposures: pd.DataFrame, prepared: pd.DataFrame, countries: pd.DataFrame
) -> dict[str, int]:
    repeated = countries["user_id"].value_counts()
    return {
        "filtered_out": len(exposures) - len(prepared),
        "missing_attributes": int(prepared["country"].isna().sum()),
        "duplicate_attributes": int(repeated[repeated > 1].sum()),
    }


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_duckdb_filter_and_attributes(route: str) -> None:
    exposures, events, countries = event_log()
    prepared = oracle(exposures, countries, filtered=True)
    agg = aggregate_event_log(
        event_experiment(filter=FILTER),
        exposures,
        events,
        by=("country",),
        attributes=countries,
        route=route,
    )
    want = aggregate_event_log(event_experiment(), prepared, events, by=("country",), route=route)
    assert_same(agg, want, prepared)
    for key, value in expected_counters(exposures, prepared, countries).items():
        assert agg.data_quality[key] == value, key
    assert agg.data_quality["filtered_out"] > 0


def test_sqlite_attributes_and_no_filter(tmp_path: Path) -> None:
    exposures, events, countries = event_log()
    con = sqlite3.connect(tmp_path / "log.db")
    for name, frame in (("exposures", exposures), ("events", events), ("countries", countries)):
        frame.to_sql(name, con, index=False)
    con.close()
    url = f"sqlite:///{tmp_path / 'log.db'}"
    prepared = oracle(exposures, countries, filtered=False)
    with open_engine(url) as eng:
        agg = aggregate_event_log(
            event_experiment(),
            "exposures",
            "events",
            engine=eng,
            by=("country",),
            attributes="countries",
        )
        with pytest.raises(DataError, match=r"analysis\.filter"):
            aggregate_event_log(event_experiment(filter=FILTER), "exposures", "events", engine=eng)
    want = aggregate_event_log(event_experiment(), prepared, events, by=("country",))
    assert_same(agg, want, prepared)
    assert (
        agg.data_quality["missing_attributes"]
        == expected_counters(exposures, prepared, countries)["missing_attributes"]
    )


@pytest.mark.postgres
def test_postgresql_filter_and_attributes(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    exposures, events, countries = event_log()
    engine = sa.create_engine(url)
    for name, frame in (("exposures", exposures), ("events", events), ("countries", countries)):
        frame.to_sql(name, engine, schema=schema, index=False)
    engine.dispose()
    prepared = oracle(exposures, countries, filtered=True)
    with open_engine(url) as eng:
        agg = aggregate_event_log(
            event_experiment(filter=FILTER),
            f"{schema}.exposures",
            f"{schema}.events",
            engine=eng,
            by=("country",),
            attributes=f"{schema}.countries",
        )
    want = aggregate_event_log(event_experiment(), prepared, events, by=("country",))
    assert_same(agg, want, prepared)
    assert {k: agg.data_quality[k] for k in PREPARED} == expected_counters(
        exposures, prepared, countries
    )
