"""Sticky rules and period layouts: the assignment SQL gives exactly the Python rows.

Extends the equivalence tests of test_assign_sql.py (oracle: ``segab.bulk.assign_file``,
i.e. ``segab.assign(..., period=..., previous=...)`` row by row) to an allocation period
laying out every cell and a table of earlier variants (the store's exposures): some
valid, some of a variant the cell no longer has, some stored under another segment.
DuckDB (query and bulk files), PostgreSQL (the store's table joined in the database)
and Spark (bulk files).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.assignment import plan_of
from segab.bulk import assign_file
from segab.bulk.duckdb_engine import assign_file_sql, column_kinds
from segab.config import Experiment, Registry, parse_experiment
from segab.sql.assign import assignment_sql
from segab.sticky import InMemoryStickyLookup
from segab.store.sticky import exposures_sql
from tests.sql.conftest import python_assignments, sort_rows, synthetic_units
from tests.sql.test_assign_sql import _load_postgres


def cases(registry: Registry) -> list[Experiment]:
    """A bandit experiment (journey_content with every cell adaptive, a 10% uniform slice:
    its declared layout is slice-first) and loyalty_offer (forced, excluded, holdout,
    namespace, coverage: the rules that come before the draw)."""
    journey = registry["journey_content"]
    raw = {
        **journey.model_dump(mode="json"),
        "key": "journey_bandit",
        "allocation": {"mode": "bandit", "uniform_slice": 0.1},
    }
    return [parse_experiment(raw, journey.source), registry["loyalty_offer"]]


def period_for(exp: Experiment, seed: int = 5) -> AllocationPeriod:
    """A period laying out every (segment, stage) cell but one, with random integer weights."""
    rng = np.random.default_rng(seed)
    cells = []
    pairs = sorted(plan_of(exp).cells.items())
    for (segment, stage), cell in pairs[1:]:
        variants = tuple(dict.fromkeys(k for k, _, _ in cell.ranges))
        n = len(variants)
        slice_total = int(rng.integers(0, 3)) * 500
        slice_ = [slice_total // n] * n
        slice_[0] += slice_total - sum(slice_)
        cuts = sorted(int(c) for c in rng.integers(0, 10_000 - slice_total + 1, n - 1))
        edges = [0, *cuts, 10_000 - slice_total]
        adaptive = [hi - lo for lo, hi in itertools.pairwise(edges)]
        cells.append(CellAllocation(segment, stage, variants, tuple(slice_), tuple(adaptive)))
    return AllocationPeriod(exp.key, exp.iteration, 3, datetime(2026, 2, 1), tuple(cells))


@pytest.fixture(scope="module")
def units_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 units (the shared fixture has 100,000): every rule still occurs (see
    test_the_oracle_exercises_every_rule) and the PostgreSQL round trip stays short."""
    path = tmp_path_factory.mktemp("sticky_units") / "units.parquet"
    pq.write_table(synthetic_units(20_000, seed=11), path)
    return path


def earlier_variants(exp: Experiment, units: Path, seed: int = 9) -> pa.Table:
    """Stored exposures for 40% of the assigned units: mostly valid, some stale or moved."""
    rng = np.random.default_rng(seed)
    plain = python_assignments(exp, units)
    rows = plain.filter(plain.column("in_experiment")).to_pylist()
    picked = [
        rows[i] for i in sorted(rng.choice(len(rows), size=len(rows) * 2 // 5, replace=False))
    ]
    plan = plan_of(exp)
    segments = exp.segment_keys()
    out = []
    keys = set()
    for row in picked:
        if (row["unit_id"], row["stage"]) in keys:
            continue  # one stored exposure per unit and stage, as in the store
        keys.add((row["unit_id"], row["stage"]))
        cell = plan.cells[(row["segment"], row["stage"])]
        choices = [k for k, _, _ in cell.ranges] + ["retired_variant"]
        variant = choices[int(rng.integers(0, len(choices)))]
        segment = row["segment"]
        if rng.random() < 0.1:
            segment = segments[int(rng.integers(0, len(segments)))]
        out.append(
            {
                "unit_id": row["unit_id"],
                "segment": segment,
                "stage": row["stage"],
                "variant": variant,
            }
        )
    return pa.Table.from_pylist(
        out,
        schema=pa.schema([(c, pa.string()) for c in ("unit_id", "segment", "stage", "variant")]),
    )


_ORACLE: dict[tuple[str, Path], pa.Table] = {}


def sticky_python(exp: Experiment, units: Path) -> pa.Table:
    """The oracle: the Python bulk path with the period and the earlier variants."""
    key = (exp.key, units)
    if key not in _ORACLE:
        seen = earlier_variants(exp, units)
        lookup = InMemoryStickyLookup(
            (exp.key, exp.iteration, r["unit_id"], r["segment"], r["stage"], r["variant"])
            for r in seen.to_pylist()
        )
        out = units.parent / f"sticky_{exp.key}.parquet"
        assign_file(exp, units, out, period=period_for(exp), sticky=lookup)
        _ORACLE[key] = sort_rows(pq.read_table(out))
    return _ORACLE[key]


def test_the_oracle_exercises_every_rule(registry: Registry, units_parquet: Path) -> None:
    for exp in cases(registry):
        key = exp.key
        got, plain = sticky_python(exp, units_parquet), python_assignments(exp, units_parquet)
        reasons = got.column("reason").to_pylist()
        assert {"sticky", "assigned"} <= set(reasons)
        pairs = list(zip(got.to_pylist(), plain.to_pylist(), strict=True))
        assert all(g["unit_id"] == p["unit_id"] and g["stage"] == p["stage"] for g, p in pairs)
        # rules before the draw are untouched; sticky rows are in the experiment
        early = ("forced", "holdout", "excluded", "outside_namespace", "inactive", "not_targeted")
        assert all(g == p for g, p in pairs if p["reason"] in early)
        assert all(g["in_experiment"] for g, _ in pairs if g["reason"] == "sticky")
        changed = sum(g["variant"] != p["variant"] for g, p in pairs)
        assert changed > 1000, key  # the period and the sticky rows do change variants


def test_duckdb_query_matches_python(registry: Registry, units_parquet: Path) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW units AS SELECT * FROM read_parquet('{units_parquet}')")
    schema = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE units").fetchall()}
    for exp in cases(registry):
        key = exp.key
        seen = earlier_variants(exp, units_parquet)
        con.register("seen", seen)
        sql = assignment_sql(
            exp,
            "duckdb",
            columns=column_kinds(exp, schema),
            period=period_for(exp),
            previous="seen",
        )
        assert sort_rows(con.sql(sql).to_arrow_table()).equals(sticky_python(exp, units_parquet)), (
            key
        )
        con.unregister("seen")


def test_duckdb_bulk_files_match_python(registry: Registry, tmp_path: Path) -> None:
    units = tmp_path / "units.parquet"
    pq.write_table(synthetic_units(20_000, seed=4), units)
    csv_in = tmp_path / "units.csv"
    pacsv.write_csv(synthetic_units(20_000, seed=4), csv_in)
    exp = cases(registry)[0]
    seen = earlier_variants(exp, units)
    lookup = InMemoryStickyLookup(
        (exp.key, exp.iteration, r["unit_id"], r["segment"], r["stage"], r["variant"])
        for r in seen.to_pylist()
    )
    period = period_for(exp)
    py = assign_file(exp, csv_in, tmp_path / "py.csv", period=period, sticky=lookup)
    sql = assign_file_sql(exp, csv_in, tmp_path / "sql.parquet", period=period, previous=seen)
    assert (sql.rows_in, sql.rows_out, sql.bad_rows, sql.reasons) == (
        py.rows_in,
        py.rows_out,
        py.bad_rows,
        py.reasons,
    )
    assert sql.reasons["sticky"] > 1000
    options = pacsv.ConvertOptions(strings_can_be_null=True, column_types={"unit_id": pa.string()})
    expected = sort_rows(pacsv.read_csv(tmp_path / "py.csv", convert_options=options))
    assert sort_rows(pq.read_table(tmp_path / "sql.parquet")).equals(expected)


@pytest.mark.postgres
def test_postgres_query_matches_python(
    pg_url: str, registry: Registry, units_parquet: Path
) -> None:
    import psycopg

    name = f"segab_units_{uuid.uuid4().hex[:10]}"
    store = f"segab_exposures_{uuid.uuid4().hex[:10]}"
    _load_postgres(pg_url, pq.read_table(units_parquet), name)
    try:
        with psycopg.connect(pg_url) as con:
            con.execute(
                f"CREATE TABLE {store} (experiment TEXT NOT NULL, iteration INTEGER NOT NULL, "
                "unit_id TEXT NOT NULL, segment TEXT, stage TEXT NOT NULL, variant TEXT NOT NULL, "
                "PRIMARY KEY (experiment, iteration, unit_id, stage))"
            )
            for exp in cases(registry):
                with con.cursor().copy(f"COPY {store} FROM STDIN") as copy:
                    for r in earlier_variants(exp, units_parquet).to_pylist():
                        copy.write_row(
                            (
                                exp.key,
                                exp.iteration,
                                r["unit_id"],
                                r["segment"],
                                r["stage"],
                                r["variant"],
                            )
                        )
                    # another iteration's rows must not count
                    copy.write_row((exp.key, exp.iteration + 1, "u3", "x", "awareness", "y"))
            schema = {
                str(c): str(t)
                for c, t in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = %s",
                    (name,),
                ).fetchall()
            }
            for exp in cases(registry):
                key = exp.key
                sql = assignment_sql(
                    exp,
                    "postgresql",
                    name,
                    columns=column_kinds(exp, schema),
                    period=period_for(exp),
                    previous=exposures_sql("postgresql", exp.key, exp.iteration, store),
                )
                cur = con.execute(sql)
                names = [d.name for d in cur.description or ()]
                got = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in cur])
                assert sort_rows(got).equals(sticky_python(exp, units_parquet)), key
    finally:
        with psycopg.connect(pg_url) as con:
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"DROP TABLE IF EXISTS {store}")


@pytest.mark.spark
def test_spark_matches_python(
    spark: Any, registry: Registry, units_parquet: Path, tmp_path: Path
) -> None:
    exp = cases(registry)[0]
    out = tmp_path / "sticky.parquet"
    seen = earlier_variants(exp, units_parquet)
    report = assign_file_sql(
        exp, units_parquet, out, engine="spark", spark=spark, period=period_for(exp), previous=seen
    )
    expected = sticky_python(exp, units_parquet)
    assert report.rows_out == expected.num_rows and report.reasons["sticky"] > 0
    assert sort_rows(pq.read_table(out)).equals(expected)
