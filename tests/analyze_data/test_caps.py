"""Capped metrics: the cap and the capped sums in every engine against numpy.

Oracle: ``numpy.percentile`` (default linear interpolation) of the raw per-unit
values (the unit table's column; the unit's sum of event values in its window),
over the config's arms, NULLs left out (and zeros with ``ignore_zeros``); then
pandas sums of ``min(value, cap)`` per arm, and the count of values above the cap.
Equivalence across DuckDB (DataFrame, CSV, the event log's fast path falling back
and the generic route), SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segab.config import parse_experiment
from segab.sums.aggregate import aggregate_event_log
from segab.sums.result import Aggregates
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
from tests.robustness.test_unit_table_values import pg_schema  # noqa: F401  (fixture)
from tests.sql.conftest import spark  # noqa: F401  (the shared Spark session fixture)

COLS = UnitColumns(variant="arm")
ARMS = [{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "value": "B arm"}]


def exp_units(p: float = 0.9, zeros: bool = True) -> Any:
    return parse_experiment({
        "key": "c", "unit": "id", "stages": ["buy"],
        "cells": [{"variants": ARMS, "control": "a"}],
        "metrics": {
            "primary": {"key": "rev", "kind": "continuous", "column": "rev",
                        "cap": {"percentile": p, "ignore_zeros": zeros}},
            "secondary": [
                {"key": "rps", "kind": "ratio", "column": "rev", "denominator_column": "visits",
                 "cap": {"value": 40.0}},
                {"key": "raw", "kind": "continuous", "column": "rev"},
            ]},
    })  # fmt: skip


def units(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rev = np.round(rng.lognormal(2.0, 1.2, n), 3)
    rev[rng.random(n) < 0.3] = 0.0
    df = pd.DataFrame({
        "id": [f"u{i}" for i in range(n)],
        "arm": rng.choice(["a", "B arm", "zz"], n, p=[0.45, 0.45, 0.1]),
        "rev": rev,
        "visits": rng.integers(1, 6, n).astype(float),
    })  # fmt: skip
    df.loc[[3, 17], "rev"] = np.nan  # missing outcomes: out of n and of the percentile
    return df


def unit_oracle(df: pd.DataFrame, p: float, zeros: bool) -> tuple[float, pd.DataFrame]:
    known = df[df["arm"].isin(["a", "B arm"])]
    vals = known["rev"].dropna()
    cap = float(np.percentile(vals[vals != 0] if zeros else vals, p * 100))
    y = known.dropna(subset=["rev"])
    g = y.assign(c=np.minimum(y["rev"], cap), k=(y["rev"] > cap).astype(int))
    return cap, g.groupby("arm").agg(n=("c", "size"), sum=("c", "sum"), k=("k", "sum"))


def check_units(agg: Aggregates, df: pd.DataFrame, p: float = 0.9, zeros: bool = True) -> None:
    cap, want = unit_oracle(df, p, zeros)
    got = {c.metric: c for c in agg.caps}
    assert set(got) == {"rev", "rps"}
    assert got["rev"].value == pytest.approx(cap, rel=1e-12)
    assert got["rps"].value == 40.0
    arm = {"a": "a", "b": "B arm"}
    assert got["rev"].by_arm() == {k: int(want.loc[v, "k"]) for k, v in arm.items()}
    rows = agg.sums[agg.sums["metric"] == "rev"].set_index("variant")
    for key, label in arm.items():
        assert rows.loc[key, "n"] == want.loc[label, "n"]
        assert rows.loc[key, "sum"] == pytest.approx(want.loc[label, "sum"], rel=1e-12)
    # the ratio's numerator is capped at 40, its denominator is not
    known = df[df["arm"].isin(["a", "B arm"])].dropna(subset=["rev"])
    rps = agg.sums[agg.sums["metric"] == "rps"].set_index("variant")
    for key, label in arm.items():
        part = known[known["arm"] == label]
        assert rps.loc[key, "sum"] == pytest.approx(np.minimum(part["rev"], 40).sum(), rel=1e-12)
        assert rps.loc[key, "den_sum"] == pytest.approx(part["visits"].sum())
        assert got["rps"].by_arm()[key] == int((part["rev"] > 40).sum())
    raw = agg.sums[agg.sums["metric"] == "raw"].set_index("variant")
    assert raw.loc["a", "sum"] == pytest.approx(known[known["arm"] == "a"]["rev"].sum())


@pytest.mark.parametrize(("p", "zeros"), [(0.9, True), (0.5, False), (0.999, False)])
def test_duckdb_dataframe(p: float, zeros: bool) -> None:
    df = units()
    check_units(aggregate_units(exp_units(p, zeros), df, columns=COLS), df, p, zeros)


def test_duckdb_csv_and_sqlite(tmp_path: Path) -> None:
    import sqlite3

    df = units()
    df.to_csv(tmp_path / "u.csv", index=False)
    check_units(aggregate_units(exp_units(), tmp_path / "u.csv", columns=COLS), df)
    con = sqlite3.connect(tmp_path / "u.db")
    df.to_sql("units", con, index=False)
    con.close()
    for p, zeros in ((0.9, True), (0.5, False), (0.999, False), (0.01, True)):
        with open_engine(f"sqlite:///{tmp_path / 'u.db'}") as eng:
            agg = aggregate_units(exp_units(p, zeros), "units", engine=eng, columns=COLS)
        check_units(agg, df, p, zeros)


def test_sqlite_percentile_small_sets(tmp_path: Path) -> None:
    """The row-number formula at the edges: one value, two values, ties (numpy oracle)."""
    import sqlite3

    for values in ([5.0], [1.0, 3.0], [2.0, 2.0, 2.0, 7.0], [0.0, 0.0, 1.0]):
        df = pd.DataFrame({"id": [f"u{i}" for i in range(len(values))], "arm": "a",
                           "rev": values, "visits": 1.0})  # fmt: skip
        path = tmp_path / f"s{len(values)}.db"
        con = sqlite3.connect(path)
        df.to_sql("units", con, index=False)
        con.close()
        for p in (0.01, 0.5, 0.75, 0.99):
            with open_engine(f"sqlite:///{path}") as eng:
                agg = aggregate_units(exp_units(p, False), "units", engine=eng, columns=COLS)
            want = float(np.percentile(values, p * 100))
            assert agg.caps[0].value == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_a_unit_table_duplicates_and_no_values() -> None:
    """Repeated identical rows count once for the percentile too; no values: no cap."""
    df = units(60)
    doubled = pd.concat([df, df.iloc[:5]], ignore_index=True)
    check_units(aggregate_units(exp_units(), doubled, columns=COLS), df)
    empty = df.assign(rev=0.0)
    agg = aggregate_units(exp_units(), empty, columns=COLS)
    assert agg.caps[0].value is None and agg.caps[0].by_arm() == {"a": 0, "b": 0}


@pytest.mark.postgres
def test_postgresql_units(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    df = units()
    engine = sa.create_engine(url)
    df.to_sql("units", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        check_units(aggregate_units(exp_units(), f"{schema}.units", engine=eng, columns=COLS), df)


@pytest.mark.spark
def test_spark_units(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    df = units()
    with open_spark_engine(spark) as eng:
        check_units(aggregate_units(exp_units(), df, engine=eng, columns=COLS), df)


# --- event logs: the per-unit value is the sum of the unit's revenue in its window ---

EXP_LOG = parse_experiment({
    "key": "c", "unit": "user_id", "stages": ["buy"],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": {"primary": {"key": "rev", "kind": "continuous", "event": "revenue",
                            "cap": {"percentile": 0.95}}},
    "analysis": {"attribution_window": "7d"},
})  # fmt: skip


def log(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    ids = [f"u{i}" for i in range(n)]
    x = pd.DataFrame(
        {
            "user_id": ids,
            "segment": "all",
            "stage": "buy",
            "variant": rng.choice(["a", "b"], n),
            "timestamp": "2024-01-01 00:00:00",
        }
    )
    rows = []
    for i in range(n):
        for _ in range(int(rng.poisson(1.5))):
            day = int(rng.integers(-2, 10))  # before exposure, in the window, after it
            rows.append(
                (
                    ids[i],
                    "revenue",
                    float(np.round(rng.lognormal(2, 1.3), 2)),
                    f"2024-01-{3 + day:02d} 00:00:00" if day >= -1 else "2023-12-31 00:00:00",
                )
            )
    e = pd.DataFrame(rows, columns=["user_id", "event", "value", "timestamp"])
    return x, e  # fmt: skip


def log_oracle(x: pd.DataFrame, e: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    t = pd.to_datetime(e["timestamp"])
    inside = e[(t >= "2024-01-01") & (t < "2024-01-08")]
    per_unit = inside.groupby("user_id")["value"].sum()
    y = x.set_index("user_id").assign(y=per_unit).fillna({"y": 0.0})
    cap = float(np.percentile(y["y"], 95))
    y = y.assign(c=np.minimum(y["y"], cap), k=(y["y"] > cap).astype(int))
    return cap, y.groupby("variant").agg(n=("c", "size"), sum=("c", "sum"), k=("k", "sum"))


def check_log(agg: Aggregates, x: pd.DataFrame, e: pd.DataFrame) -> None:
    cap, want = log_oracle(x, e)
    (got,) = agg.caps
    assert got.value == pytest.approx(cap, rel=1e-12)
    assert got.by_arm() == {"a": int(want.loc["a", "k"]), "b": int(want.loc["b", "k"])}
    rows = agg.sums.set_index("variant")
    for v in ("a", "b"):
        assert rows.loc[v, "n"] == want.loc[v, "n"]
        assert rows.loc[v, "sum"] == pytest.approx(want.loc[v, "sum"], rel=1e-12)


@pytest.mark.parametrize("route", ["auto", "generic"])
def test_event_log_duckdb(route: str) -> None:
    x, e = log()
    check_log(aggregate_event_log(EXP_LOG, x, e, route=route), x, e)


def test_event_log_sqlite(tmp_path: Path) -> None:
    import sqlite3

    x, e = log()
    con = sqlite3.connect(tmp_path / "l.db")
    x.to_sql("expo", con, index=False)
    e.to_sql("evs", con, index=False)
    con.close()
    with open_engine(f"sqlite:///{tmp_path / 'l.db'}") as eng:
        check_log(aggregate_event_log(EXP_LOG, "expo", "evs", engine=eng), x, e)


@pytest.mark.postgres
def test_event_log_postgresql(pg_schema: tuple[str, str]) -> None:  # noqa: F811
    import sqlalchemy as sa

    url, schema = pg_schema
    x, e = log()
    engine = sa.create_engine(url)
    x.to_sql("expo", engine, schema=schema, index=False)
    e.to_sql("evs", engine, schema=schema, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        check_log(aggregate_event_log(EXP_LOG, f"{schema}.expo", f"{schema}.evs", engine=eng), x, e)


@pytest.mark.spark
def test_event_log_spark(spark: Any) -> None:  # noqa: F811
    from segab.sums.spark import open_spark_engine

    x, e = log()
    with open_spark_engine(spark) as eng:
        check_log(aggregate_event_log(EXP_LOG, x, e, engine=eng), x, e)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_caps_with_several_breakdowns(engine: str, tmp_path: Path) -> None:
    """Grouping sets: the cap and the units capped come from the plain cells' rows once."""
    import sqlite3

    df = units().assign(channel=lambda d: np.where(d.index % 2, "email", "web"),
                        tier=lambda d: np.where(d.index % 3, "gold", "basic"))  # fmt: skip
    source: Any = df
    if engine == "sqlite":
        con = sqlite3.connect(tmp_path / "u.db")
        df.to_sql("units", con, index=False)
        con.close()
        source = "units"
    with open_engine(None if engine == "duckdb" else f"sqlite:///{tmp_path / 'u.db'}") as eng:
        agg = aggregate_units(exp_units(), source, engine=eng, columns=COLS,
                              breakdowns=[("channel",), ("tier",)])  # fmt: skip
    plain = agg.sums[agg.sums["breakdown"] == 0].drop(columns=["breakdown", "channel", "tier"])
    check_units(Aggregates(plain, agg.exposures, agg.funnel, {}, (), caps=agg.caps), df)
    by_channel = agg.sums[(agg.sums["breakdown"] == 1) & (agg.sums["metric"] == "rev")]
    total = agg.sums[(agg.sums["breakdown"] == 0) & (agg.sums["metric"] == "rev")]
    assert by_channel["sum"].sum() == pytest.approx(total["sum"].sum(), rel=1e-12)
