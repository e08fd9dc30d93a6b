"""The same Aggregates from CSV, Parquet, DataFrame, SQLite and PostgreSQL; errors; --by."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from segab.errors import MissingColumnError
from segab.sums.aggregate import Aggregates, aggregate_event_log
from segab.sums.sources import open_engine

PG_URL = os.environ.get("SEGAB_TEST_DATABASE_URL")


def with_dims(x: pd.DataFrame) -> pd.DataFrame:
    return x.assign(
        channel=["social", "email", "social", "social", "email"],
        newbie=["yes", "yes", "no", "yes", "no"],
    )


def normalise(agg: Aggregates) -> dict[str, object]:
    def frame(df: pd.DataFrame) -> list[tuple]:
        df = df.astype({c: object for c in df.columns if df[c].dtype != "float64"})
        return sorted(tuple(r) for r in df.astype(str).itertuples(index=False))

    return {
        "sums": frame(agg.sums.round(9)),
        "exposures": frame(agg.exposures),
        "funnel": frame(agg.funnel),
        "data_quality": agg.data_quality,
        "dimensions": agg.dimensions,
    }


@pytest.fixture
def dirty(exposures: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fixture with one of every data-quality problem and a second stage."""
    x = with_dims(exposures)
    extra = pd.DataFrame(
        [
            ("u2", "exp", 1, "young", "awareness", "b", "2024-01-01", True, "email", "yes"),
            ("u1", "exp", 1, "young", "awareness", "a", "2024-01-01 05:00", True, "social", "yes"),
            ("u1", "exp", 1, "young", "purchase", "a", "2024-01-09", True, "social", "yes"),
            ("", "exp", 1, "young", "awareness", "a", "2024-01-01", True, "social", "yes"),
            ("u9", "other", 1, "young", "awareness", "a", "2024-01-01", True, "social", "yes"),
            ("u7", "exp", 1, "young", "awareness", "a", "2024-01-01", False, "social", "yes"),
        ],
        columns=x.columns,
    )
    e = pd.concat(
        [
            events,
            pd.DataFrame(
                [
                    ("u4", "purchase", None, "2023-12-31"),
                    ("u99", "purchase", None, "2024-01-02"),
                    ("u4", "revenue", 2.5, "2024-01-20"),
                    ("u3", "revenue", None, "2024-01-02"),
                ],
                columns=events.columns,
            ),
        ],
        ignore_index=True,
    )
    return pd.concat([x, extra], ignore_index=True), e


def test_csv_parquet_dataframe_and_sqlite_agree(tmp_path: Path, exp, dirty):
    x, e = dirty
    by = ("channel", "newbie")
    reference = aggregate_event_log(exp, x, e, by=by)
    assert reference.data_quality["multi_variant_units"] == 1
    x.to_csv(tmp_path / "x.csv", index=False)
    e.to_csv(tmp_path / "e.csv", index=False)
    x.to_parquet(tmp_path / "x.parquet")
    e.to_parquet(tmp_path / "e.parquet")
    from_csv = aggregate_event_log(exp, tmp_path / "x.csv", str(tmp_path / "e.csv"), by=by)
    from_pq = aggregate_event_log(exp, tmp_path / "x.parquet", tmp_path / "e.parquet", by=by)
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    x.to_sql("exposures", engine, index=False)
    e.to_sql("events", engine, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        from_sqlite = aggregate_event_log(exp, "exposures", "events", by=by, engine=eng)
    want = normalise(reference)
    for got in (from_csv, from_pq, from_sqlite):
        assert normalise(got) == want


def test_typed_timestamps_match_text_timestamps(tmp_path: Path, exp, exposures, events):
    x = exposures.assign(timestamp=pd.to_datetime(exposures["timestamp"]))
    e = events.assign(timestamp=pd.to_datetime(events["timestamp"], utc=True))
    x.to_parquet(tmp_path / "x.parquet")
    typed = aggregate_event_log(exp, tmp_path / "x.parquet", e)
    assert normalise(typed) == normalise(aggregate_event_log(exp, exposures, events))


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    if not PG_URL:
        pytest.skip(
            "SEGAB_TEST_DATABASE_URL is unset (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    import sqlalchemy as sa

    schema = f"segab_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_URL, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_agrees(pg_schema, exp, dirty):
    import sqlalchemy as sa

    url, schema = pg_schema
    x, e = dirty
    engine = sa.create_engine(url)
    x.to_sql("exposures", engine, schema=schema, index=False)
    e.to_sql("events", engine, schema=schema, index=False)
    engine.dispose()
    by = ("channel", "newbie")
    with open_engine(url) as eng:
        got = aggregate_event_log(exp, f"{schema}.exposures", f"{schema}.events", by=by, engine=eng)
    assert normalise(got) == normalise(aggregate_event_log(exp, x, e, by=by))


def test_missing_column_names_the_file_and_columns(tmp_path: Path, exp, exposures, events):
    path = tmp_path / "exposures.csv"
    exposures.drop(columns="variant").to_csv(path, index=False)
    with pytest.raises(MissingColumnError) as info:
        aggregate_event_log(exp, path, events)
    message = str(info.value)
    assert str(path) in message
    assert "['variant']" in message
    assert "it has ['user_id', 'experiment', 'iteration', 'segment', 'stage'" in message
    assert "expected ['user_id', 'segment', 'stage', 'variant', 'timestamp']" in message


def test_missing_by_column(exp, exposures, events):
    with pytest.raises(MissingColumnError, match="channel"):
        aggregate_event_log(exp, exposures, events, by=["channel"])


def test_missing_file_is_a_data_error(tmp_path: Path, exp, events):
    from segab.errors import DataError

    with pytest.raises(DataError, match="no such file"):
        aggregate_event_log(exp, tmp_path / "nope.csv", events)


def test_two_by_columns_cross(exp, exposures, events):
    agg = aggregate_event_log(exp, with_dims(exposures), events, by=["channel", "newbie"])
    assert agg.dimensions == ("channel", "newbie")
    groups = agg.exposures.set_index(["stage", "variant", "channel", "newbie"])["n"].to_dict()
    assert groups == {
        ("awareness", "a", "email", "yes"): 1,
        ("awareness", "a", "social", "yes"): 1,
        ("awareness", "b", "social", "no"): 1,
        ("awareness", "b", "social", "yes"): 1,
        ("purchase", "b", "email", "no"): 1,
    }
    rev = agg.sums.query("metric == 'rev' and stage == 'awareness'")
    assert rev.set_index(["variant", "channel", "newbie"])["sum"].to_dict() == {
        ("a", "email", "yes"): 0.0,
        ("a", "social", "yes"): 15.0,
        ("b", "social", "no"): 20.0,
        ("b", "social", "yes"): 0.0,
    }
    # pooled over the dimensions, the sums are those of the plain analysis
    plain = aggregate_event_log(exp, exposures, events).sums
    pooled = agg.sums.groupby(["segment", "stage", "variant", "metric"], sort=False)[
        ["n", "sum", "sum_sq"]
    ].sum()
    assert (
        pooled.sort_index().values.tolist()
        == plain.set_index(["segment", "stage", "variant", "metric"])[["n", "sum", "sum_sq"]]
        .sort_index()
        .values.tolist()
    )


@pytest.mark.parametrize("suffix", ["+00", "+00:00", "Z", ""])
def test_sqlite_reads_every_utc_offset_spelling(tmp_path: Path, exp, exposures, events, suffix):
    """DuckDB and PostgreSQL print "+00"; SQLite's date functions need "+00:00" (regression)."""
    import sqlalchemy as sa

    def spelled(ts: pd.Series) -> pd.Series:
        return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%d %H:%M:%S") + suffix

    x = exposures.assign(timestamp=spelled(exposures["timestamp"]))
    e = events.assign(timestamp=spelled(events["timestamp"]))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    x.to_sql("exposures", engine, index=False)
    e.to_sql("events", engine, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        got = aggregate_event_log(exp, "exposures", "events", engine=eng)
    assert normalise(got) == normalise(aggregate_event_log(exp, exposures, events))
    assert (
        got.data_quality["events_outside_window"]
        == normalise(aggregate_event_log(exp, exposures, events))["data_quality"][
            "events_outside_window"
        ]
    )
