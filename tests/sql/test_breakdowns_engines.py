"""Several breakdowns in one call on PostgreSQL and Spark (GROUPING SETS): the same numbers as
the same breakdowns in separate calls (oracle), and as DuckDB's one call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segab.analysis.api import analyze
from segab.sums.sources import open_engine
from segab.sums.spark import open_spark_engine
from tests.analyze_data.breakdown_data import (
    BREAKDOWNS,
    assert_one_call_equals_separate,
    event_log,
    unit_experiment,
    unit_table,
)
from tests.analyze_data.conftest import make_exp

# the generic event-log statements read every timestamp per value with a regular expression
# and check attribution with correlated subqueries: seconds per statement on PostgreSQL
PG_LOG_UNITS = 200


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    schema = f"segab_bd_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        x, e = event_log(PG_LOG_UNITS)
        unit_table().to_sql("units", engine, schema=schema, index=False)
        x.to_sql("exposures", engine, schema=schema, index=False)
        e.to_sql("events", engine, schema=schema, index=False)
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _json(result: Any) -> str:
    """The JSON but the issues' examples, which name each engine's rows its own way."""
    doc = result.to_dict()
    for issue in doc["data_issues"]:
        issue.pop("examples")
    return json.dumps(doc, sort_keys=True)


@pytest.mark.postgres
def test_postgresql_one_call_equals_separate_calls(pg_url: str, pg_schema: str) -> None:
    exp, s = unit_experiment(), pg_schema
    with open_engine(pg_url) as eng:
        one = analyze(exp, units=f"{s}.units", breakdowns=BREAKDOWNS, engine=eng)
        separate = {b: analyze(exp, units=f"{s}.units", by=b, engine=eng) for b in BREAKDOWNS}
        log = {"exposures": f"{s}.exposures", "events": f"{s}.events"}
        one_log = analyze(make_exp(), **log, breakdowns=BREAKDOWNS, engine=eng)
        separate_log = {b: analyze(make_exp(), **log, by=b, engine=eng) for b in BREAKDOWNS}
    assert_one_call_equals_separate(one, separate)
    assert_one_call_equals_separate(one_log, separate_log)
    assert _json(one) == _json(analyze(exp, units=unit_table(), breakdowns=BREAKDOWNS))
    x, e = event_log(PG_LOG_UNITS)
    duck = analyze(make_exp(), exposures=x, events=e, breakdowns=BREAKDOWNS)
    assert _json(one_log) == _json(duck)


@pytest.mark.spark
def test_spark_one_call_equals_separate_calls(spark: Any, tmp_path: Path) -> None:
    exp = unit_experiment()
    unit_table().to_parquet(tmp_path / "units.parquet")
    x, e = event_log()
    x.to_parquet(tmp_path / "x.parquet")
    e.to_parquet(tmp_path / "e.parquet")
    log = {"exposures": tmp_path / "x.parquet", "events": tmp_path / "e.parquet"}
    with open_spark_engine(spark) as eng:  # the suite's shared session, left running
        one = analyze(exp, units=tmp_path / "units.parquet", breakdowns=BREAKDOWNS, engine=eng)
        # Spark takes seconds a statement: the separate-call oracle on the crossed breakdown
        # only (the one-way ones are checked against DuckDB's one call below, and DuckDB's
        # one call against separate calls in tests/analyze_data/test_breakdowns.py)
        crossed = BREAKDOWNS[-1]
        separate = {crossed: analyze(exp, units=tmp_path / "units.parquet", by=crossed, engine=eng)}
        one_log = analyze(make_exp(), **log, breakdowns=BREAKDOWNS, engine=eng)
    assert_one_call_equals_separate(one, separate, BREAKDOWNS)
    assert _json(one) == _json(analyze(exp, units=unit_table(), breakdowns=BREAKDOWNS))
    duck = analyze(make_exp(), exposures=x, events=e, breakdowns=BREAKDOWNS)
    assert _json(one_log) == _json(duck)
