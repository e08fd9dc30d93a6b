"""Spark aggregation: the analysis JSON equals the DuckDB path's on the same data
(oracle: ``segab.analyze()`` with its default DuckDB engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segab.analysis.api import analyze
from segab.bulk import assign_file
from segab.config import Registry
from segab.simulate import default_effects, simulate_events, simulate_population
from segab.sums.spark import open_spark_engine
from tests.sql.conftest import synthetic_units


def test_spark_sql_is_built_for_spark_not_rewritten() -> None:
    """The plan spells Spark's types, quoting and timestamps itself (no PostgreSQL-isms)."""
    from segab.sums.sources import Relation
    from segab.sums.specs import EventLogSpec, MetricSpec, UnitSpec
    from segab.sums.statements import event_log_queries
    from segab.sums.units import units_query

    x = Relation("`x`", ("u", "segment", "stage", "variant", "timestamp", "experiment"), {})
    e = Relation("`e`", ("u", "event", "value", "timestamp"), {})
    metrics = (MetricSpec("c", "binary", "buy"), MetricSpec("r", "ratio", "rev", "visit"))
    spec = EventLogSpec("exp", 1, "u", "u", metrics=metrics, stages=("a", "b"))
    q = event_log_queries("spark", x, e, spec)
    units, _ = units_query("spark", x, UnitSpec("variant", "segment", None, (), metrics))
    for sql in (q.sums, q.funnel, q.quality, units):
        for postgres_only in ("DOUBLE PRECISION", "TIMESTAMPTZ", "EXTRACT(EPOCH", '"', "VARCHAR"):
            assert postgres_only not in sql
    assert "CAST(CAST(`timestamp` AS TIMESTAMP) AS DOUBLE)" in q.sums
    assert "CAST(`segment` AS STRING)" in q.sums


def _json(result: Any) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


@pytest.mark.spark
def test_event_log_json_equals_duckdb(spark: Any, registry: Registry, tmp_path: Path) -> None:
    exp = registry["journey_content"]
    simulate_population(exp, 1500, seed=1).to_csv(tmp_path / "population.csv", index=False)
    assign_file(exp, tmp_path / "population.csv", tmp_path / "assignments.csv")
    assignments = pd.read_csv(tmp_path / "assignments.csv", dtype={"unit_id": str})
    events = simulate_events(exp, assignments, default_effects(exp), seed=1)
    events["value"] = (events["value"] * 64).round() / 64  # sums exact in double precision
    events.to_csv(tmp_path / "events.csv", index=False)
    inputs = {"exposures": tmp_path / "assignments.csv", "events": tmp_path / "events.csv"}
    expected = _json(analyze(exp, **inputs))
    with open_spark_engine(spark) as eng:  # the suite's shared session, left running
        got = _json(analyze(exp, **inputs, engine=eng))
    assert got == expected
    assert json.loads(got)["results"]


@pytest.mark.spark
def test_unit_table_json_equals_duckdb(spark: Any, registry: Registry, tmp_path: Path) -> None:
    exp = registry["channel_tailoring"]  # segments compiled to SQL from the attributes
    n = 2000
    rng = np.random.default_rng(1)
    table = synthetic_units(n, seed=5)
    arms = ["generic_message", "product_demo_video", "influencer_post", "email_instore_offer"]
    table = table.append_column("variant", pa.array(rng.choice(arms, n)))
    table = table.append_column("conversion", pa.array(rng.integers(0, 2, n).astype(float)))
    table = table.append_column("clv", pa.array(np.round(rng.gamma(1.0, 10.0, n) * 16) / 16))
    pq.write_table(table, tmp_path / "units.parquet")
    expected = _json(analyze(exp, units=tmp_path / "units.parquet"))
    with open_spark_engine(spark) as eng:
        got = _json(analyze(exp, units=tmp_path / "units.parquet", engine=eng))
    assert got == expected
    segments = {r["segment"] for r in json.loads(got)["results"]}
    assert segments == {"young_tech_savvy", "older_traditional", "general_audience"}
