"""Event filters and retention windows: the same sums on DuckDB (DataFrames, CSV), SQLite,
PostgreSQL and Spark, against an oracle computed directly on the rows with pandas (filter
the events, find each unit's first exposure, keep the events in its window, count a
retention metric's unit only when ``t0 + end <= analysis time``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.errors import ConfigError, DataError
from segab.sums.aggregate import aggregate_event_log
from segab.sums.sources import open_engine
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

DAY = 86400
START = pd.Timestamp("2024-01-01")
METRICS: dict[str, Any] = {
    "primary": {"key": "d7", "kind": "binary", "event": "session",
                "window": {"start": "7d", "end": "8d"}},
    "secondary": [
        {"key": "d1", "kind": "binary", "event": "session", "window": {"end": "1d"}},
        {"key": "conv", "kind": "binary", "event": "purchase"},
        {"key": "email_rev", "kind": "continuous", "event": "purchase",
         "where": {"channel": "email"}},
        {"key": "not_email", "kind": "binary", "event": "purchase",
         "where": {"channel": {"$ne": "email"}}},
        {"key": "big", "kind": "continuous", "event": "purchase",
         "where": {"amount": {"$gt": 50}, "channel": {"$in": ["email", "web"]}}},
    ],
}  # fmt: skip
RETENTION_ONLY: dict[str, Any] = {
    "primary": METRICS["primary"],
    "secondary": [METRICS["secondary"][0], METRICS["secondary"][1]],
}
# (key, event, window seconds or None, pandas filter or None, binary)
ORACLE = {
    "d7": ("session", (7 * DAY, 8 * DAY), None, True),
    "d1": ("session", (0, DAY), None, True),
    "conv": ("purchase", None, None, True),
    "email_rev": ("purchase", None, lambda e: e["channel"] == "email", False),
    "not_email": ("purchase", None, lambda e: e["channel"] != "email", True),
    "big": (
        "purchase",
        None,
        lambda e: (e["amount"] > 50) & e["channel"].isin(["email", "web"]),
        False,
    ),
}


def experiment(metrics: dict[str, Any] = METRICS, **analysis: Any) -> Any:
    return parse_experiment({
        "key": "ret", "unit": "user_id", "stages": ["visit"],
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": metrics, "analysis": analysis,
    })  # fmt: skip


def stamp(seconds: np.ndarray) -> list[str]:
    return [str(START + pd.Timedelta(seconds=int(s))) for s in seconds]


def data(n: int = 120, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units exposed over 20 days (some twice), sessions over 24 days, purchases with
    a channel (some missing) and an amount."""
    rng = np.random.default_rng(seed)
    units = [f"u{i}" for i in range(n)]
    t0 = rng.integers(0, 20 * DAY, n)
    x = pd.DataFrame({"user_id": units, "variant": rng.choice(["a", "b"], n), "t": t0})
    again = x.sample(frac=0.2, random_state=seed).assign(t=lambda d: d["t"] + 3600)
    x = pd.concat([x, again], ignore_index=True)
    m = 6 * n
    e = pd.DataFrame({
        "user_id": rng.choice(units, m),
        "event": rng.choice(["session", "session", "purchase"], m),
        "t": rng.integers(0, 24 * DAY, m),
        "channel": rng.choice(["email", "web", "social", None], m),
        "amount": rng.integers(1, 100, m).astype(float),
    })  # fmt: skip
    e["value"] = np.where(e["event"] == "purchase", e["amount"], np.nan)
    exposures = pd.DataFrame({
        "user_id": x["user_id"], "segment": "all", "stage": "visit",
        "variant": x["variant"], "timestamp": stamp(x["t"].to_numpy()),
    })  # fmt: skip
    events = pd.DataFrame({
        "user_id": e["user_id"], "event": e["event"], "value": e["value"],
        "timestamp": stamp(e["t"].to_numpy()), "channel": e["channel"], "amount": e["amount"],
    })  # fmt: skip
    return exposures, events


def oracle(
    x: pd.DataFrame, e: pd.DataFrame, keys: list[str], now: float | None, attribution: int | None
) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(variant, metric) -> (n, sum, sum_sq), directly on the rows."""
    secs = lambda s: (pd.to_datetime(s) - START).dt.total_seconds()  # noqa: E731
    first = (
        x.assign(t=secs(x["timestamp"]))
        .groupby("user_id")
        .agg(variant=("variant", "first"), t0=("t", "min"))
    )
    e = e.assign(t=secs(e["timestamp"]))
    if now is not None:
        e = e[e["t"] <= now]
    read = pd.concat(
        [e[e["event"] == ORACLE[k][0]] if ORACLE[k][2] is None else
         e[(e["event"] == ORACLE[k][0]) & ORACLE[k][2](e)] for k in keys]
    )  # fmt: skip
    horizon = now if now is not None else max(first["t0"].max(), read["t"].max())
    out = {}
    for key in keys:
        event, window, keep, binary = ORACLE[key]
        ev = e[e["event"] == event]
        if keep is not None:
            ev = ev[keep(ev)]
        ev = ev.merge(first, left_on="user_id", right_index=True)
        lo, hi = (0, attribution) if window is None else window
        inside = ev["t"] >= ev["t0"] + lo
        if hi is not None:
            inside &= ev["t"] < ev["t0"] + hi
        per = ev[inside].groupby("user_id")["value" if not binary else "t"]
        y = (per.size() > 0).astype(float) if binary else per.sum()
        values = first.assign(y=y.reindex(first.index).fillna(0.0))
        if window is not None:
            values = values[values["t0"] + window[1] <= horizon]
        for variant, group in values.groupby("variant"):
            out[(variant, key)] = (len(group), group["y"].sum(), (group["y"] ** 2).sum())
    return out


def sums_of(agg: Any) -> dict[tuple[str, str], tuple[int, float, float]]:
    return {(r.variant, r.metric): (int(r.n), r.sum, r.sum_sq) for r in agg.sums.itertuples()}


def same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, (n, s, q) in want.items():
        assert got[k][0] == n, k
        assert got[k][1:] == pytest.approx((s, q), rel=1e-12, abs=1e-9), k


NOW = dt.datetime(2024, 1, 25, tzinfo=dt.UTC)
NOW_S = (pd.Timestamp(NOW).tz_localize(None) - START).total_seconds()


@pytest.mark.parametrize(
    ("now", "attribution"), [(None, None), (NOW, None), (None, "2d"), (NOW, "2d")]
)
def test_duckdb_dataframes_match_the_rows(now: Any, attribution: Any) -> None:
    x, e = data()
    exp = experiment(**({"attribution_window": attribution} if attribution else {}))
    agg = aggregate_event_log(exp, x, e, now=now)
    want = oracle(x, e, list(ORACLE), NOW_S if now else None, 2 * DAY if attribution else None)
    same(sums_of(agg), want)
    block = {b["metric"]: b for b in agg.maturity}
    assert set(block) == {"d7", "d1"}
    exposed = agg.exposures.set_index("variant")["n"]
    for arm in block["d7"]["arms"]:
        assert arm["n_mature"] == want[(arm["variant"], "d7")][0]
        assert arm["n_immature"] == exposed[arm["variant"]] - arm["n_mature"]
    assert block["d7"]["n_immature"] > 0
    assert block["d7"]["as_of_source"] == ("now" if now else "data")
    assert (block["d7"]["window_start"], block["d7"]["window_end"]) == ("7d", "8d")


def test_csv_files_and_the_fast_path_route_agree(tmp_path: Path) -> None:
    x, e = data()
    x.to_csv(tmp_path / "x.csv", index=False)
    e.to_csv(tmp_path / "e.csv", index=False)
    exp = experiment()
    want = sums_of(aggregate_event_log(exp, x, e, route="generic"))
    same(sums_of(aggregate_event_log(exp, x, e, route="auto")), want)
    # CSV cells are text, typed value by value: amount > 50 compares numbers
    same(sums_of(aggregate_event_log(exp, tmp_path / "x.csv", tmp_path / "e.csv")), want)


def test_sqlite_retention_agrees_and_a_filter_is_an_error(tmp_path: Path) -> None:
    import sqlalchemy as sa

    x, e = data()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    x.to_sql("exposures", engine, index=False)
    e.to_sql("events", engine, index=False)
    engine.dispose()
    exp = experiment(RETENTION_ONLY)
    with open_engine(url) as eng:
        got = aggregate_event_log(exp, "exposures", "events", engine=eng, now=NOW)
    same(sums_of(got), oracle(x, e, ["d7", "d1", "conv"], NOW_S, None))
    with open_engine(url) as eng, pytest.raises(DataError, match=r"metrics.email_rev.where"):
        aggregate_event_log(experiment(), "exposures", "events", engine=eng)


@pytest.mark.postgres
def test_postgresql_agrees(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    x, e = data()
    engine = sa.create_engine(url)
    x.to_sql("exposures", engine, schema=schema, index=False)
    e.to_sql("events", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        for now in (None, NOW):
            got = aggregate_event_log(
                experiment(), f"{schema}.exposures", f"{schema}.events", engine=eng, now=now
            )
            same(sums_of(got), oracle(x, e, list(ORACLE), NOW_S if now else None, None))


@pytest.mark.spark
def test_spark_agrees(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    x, e = data(n=60)
    e.to_csv(tmp_path / "e.csv", index=False)
    want = oracle(x, e, list(ORACLE), None, None)
    with open_spark_engine(spark) as eng:
        same(sums_of(aggregate_event_log(experiment(), x, e, engine=eng)), want)
        got = aggregate_event_log(experiment(), x, str(tmp_path / "e.csv"), engine=eng)
        at_now = aggregate_event_log(experiment(RETENTION_ONLY), x, e, engine=eng, now=NOW)
    same(sums_of(got), want)
    same(sums_of(at_now), oracle(x, e, ["d7", "d1", "conv"], NOW_S, None))


def test_config_errors_are_located() -> None:
    bad = {
        "primary": {"key": "d7", "kind": "continuous", "event": "s",
                    "window": {"start": "8d", "end": "7d"}},
        "secondary": [{"key": "f", "kind": "binary", "event": "p",
                       "where": {"channel": {"$eqq": "x"}}},
                      {"key": "c", "kind": "binary", "column": "y", "where": {"a": 1}}],
    }  # fmt: skip
    with pytest.raises(ConfigError) as info:
        experiment(bad)
    text = str(info.value)
    for where in (
        "metrics.d7.window: found a window on a continuous metric",
        "metrics.d7.window: found start 8d not before end 7d",
        "metrics.f.where.channel.$eqq",
        "metrics.c.where: found a where on a metric without 'event'",
    ):
        assert where in text
    with pytest.raises(ConfigError, match=r"window\.end"):
        experiment({"primary": {"key": "d", "kind": "binary", "event": "s",
                                "window": {"end": "7 days"}}})  # fmt: skip


def test_a_filter_on_a_missing_column_names_it() -> None:
    x, e = data(n=10)
    with pytest.raises(DataError, match=r"metrics.email_rev.where .*\['channel'\] not in"):
        aggregate_event_log(experiment(), x, e.drop(columns="channel"))


def test_unit_tables_refuse_a_window_on_a_column() -> None:
    exp = parse_experiment({
        "key": "u", "unit": "id",
        "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        "metrics": {"primary": {"key": "d7", "kind": "binary", "event": "s", "column": "y",
                                "window": {"end": "7d"}}},
    })  # fmt: skip
    units = pd.DataFrame({"id": ["1"], "variant": ["a"], "y": [1]})
    with pytest.raises(DataError, match="expected an event log"):
        aggregate_units(exp, units)


def test_several_breakdowns_keep_the_plain_maturity() -> None:
    x, e = data()
    x = x.assign(
        channel=np.where(x.index % 2, "email", "web"), device=np.where(x.index % 3, "ios", "web")
    )
    exp = experiment()
    plain = aggregate_event_log(exp, x, e)
    split = aggregate_event_log(exp, x, e, breakdowns=["channel", "device"])
    assert split.maturity == plain.maturity
    rows = split.sums[(split.sums["breakdown"] == 0) & (split.sums["metric"] == "d7")]
    assert sorted(rows["n"]) == sorted(plain.sums.query("metric == 'd7'")["n"])
