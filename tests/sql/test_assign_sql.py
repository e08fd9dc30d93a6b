"""Assignment in SQL gives exactly the Python results (oracle: segab.bulk.assign_file, i.e.
``segab.assign()`` row by row) for 100,000 synthetic units on DuckDB, PostgreSQL and Spark."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from segab.bulk import assign_file
from segab.bulk.duckdb_engine import assign_file_sql, column_kinds
from segab.cli.main import cli
from segab.config import Experiment, Registry
from segab.errors import DataError, MissingColumnError, SqlCompileError
from segab.sql.assign import assignment_sql
from tests.conftest import make_experiment
from tests.sql.conftest import EXPERIMENTS, python_assignments, sort_rows, synthetic_units


def _extra_experiments() -> list[Experiment]:
    """Paths the example configs do not take: inactive, no fallback, missing cells."""
    segments = [
        {"key": "young", "when": {"age": {"$lt": 35}, "channel": {"$ne": "email"}}},
        {"key": "older", "when": {"$or": [{"age": {"$gte": 50}}, {"channel": "email"}]}},
    ]
    stopped = make_experiment(
        key="stopped",
        status="stopped",
        forced={"u5": "a"},
        segments=segments,
        cells=[{"control": "a", "variants": [{"key": "a", "weight": 1.0}]}],
    )
    partial = make_experiment(
        key="partial",
        seed="s33d",
        segments=segments,
        fallback=None,
        stages=["awareness", "purchase"],
        holdout=0.1,
        cells=[
            {
                "segment": "young",
                "stage": "purchase",
                "control": "a",
                "coverage": 0.35,
                "variants": [
                    {"key": "a", "weight": 0.2},
                    {"key": "b", "weight": 0.3},
                    {"key": "c", "weight": 0.5},
                ],
            },
            {
                "segment": "older",
                "control": "x",
                "variants": [{"key": "x", "weight": 0.6}, {"key": "y", "weight": 0.4}],
            },
        ],
    )
    return [stopped, partial]


def _experiments(registry: Registry) -> list[Experiment]:
    return [registry[k] for k in EXPERIMENTS] + _extra_experiments()


def test_duckdb_query_matches_python(registry: Registry, units_parquet: Path) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW units AS SELECT * FROM read_parquet('{units_parquet}')")
    schema = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE units").fetchall()}
    for exp in _experiments(registry):
        expected = python_assignments(exp, units_parquet)
        assert expected.num_rows > 20_000
        typed = assignment_sql(exp, "duckdb", columns=column_kinds(exp, schema))
        assert sort_rows(con.sql(typed).to_arrow_table()).equals(expected), exp.key
        untyped = assignment_sql(exp, "duckdb")
        assert sort_rows(con.sql(untyped).to_arrow_table()).equals(expected), exp.key


def test_every_reason_is_exercised(registry: Registry, units_parquet: Path) -> None:
    reasons: set[str] = set()
    for exp in _experiments(registry):
        reasons |= set(python_assignments(exp, units_parquet).column("reason").to_pylist())
    assert reasons == {
        "assigned",
        "forced",
        "holdout",
        "outside_coverage",
        "not_targeted",
        "excluded",
        "outside_namespace",
        "inactive",
    }


def test_duckdb_bulk_files_match_python(registry: Registry, tmp_path: Path) -> None:
    table = synthetic_units(20_000, seed=3)
    csv_in = tmp_path / "units.csv"
    pacsv.write_csv(table, csv_in)
    for exp in _experiments(registry):
        py_report = assign_file(exp, csv_in, tmp_path / "py.csv")
        report = assign_file_sql(exp, csv_in, tmp_path / "sql.csv", engine="duckdb", threads=2)
        assert (report.rows_in, report.rows_out, report.bad_rows, report.reasons) == (
            py_report.rows_in,
            py_report.rows_out,
            py_report.bad_rows,
            py_report.reasons,
        )
        assert len(report.problems) == min(20, report.bad_rows)
        options = pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={"unit_id": pa.string()}
        )
        expected = sort_rows(pacsv.read_csv(tmp_path / "py.csv", convert_options=options))
        got = pacsv.read_csv(tmp_path / "sql.csv", convert_options=options)
        assert sort_rows(got).equals(expected)
        out = tmp_path / "sql.parquet"
        assign_file_sql(exp, csv_in, out, engine="duckdb")
        written = pq.read_table(out)
        assert written.column_names[-1] == "timestamp"
        assert sort_rows(written).equals(expected)


def test_bulk_input_errors(registry: Registry, tmp_path: Path) -> None:
    exp = registry["journey_content"]
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["u1"], "stage": ["awareness"]}), path)
    with pytest.raises(MissingColumnError, match=r"missing column.*user_id"):
        assign_file_sql(exp, path, tmp_path / "out.parquet")
    pq.write_table(
        pa.table({"user_id": ["u1"], "stage": ["awareness"], "age": pa.array([0], pa.date32())}),
        path,
    )
    with pytest.raises(DataError, match="column 'age' has type DATE"):
        assign_file_sql(exp, path, tmp_path / "out.parquet")


def _load_postgres(url: str, table: pa.Table, name: str) -> None:
    import psycopg

    types = {pa.string(): "TEXT", pa.int64(): "BIGINT", pa.float64(): "DOUBLE PRECISION"}
    types[pa.bool_()] = "BOOLEAN"
    cols = ", ".join(f'"{f.name}" {types[f.type]}' for f in table.schema)
    with psycopg.connect(url) as con:
        con.execute(f"CREATE TABLE {name} ({cols})")
        with con.cursor().copy(f"COPY {name} FROM STDIN") as copy:
            for row in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
                copy.write_row(row)


@pytest.mark.postgres
def test_postgres_query_matches_python(
    pg_url: str, registry: Registry, units_parquet: Path
) -> None:
    import psycopg

    name = f"segab_units_{uuid.uuid4().hex[:10]}"
    table = pq.read_table(units_parquet)
    _load_postgres(pg_url, table, name)
    try:
        with psycopg.connect(pg_url) as con:
            schema = {
                str(c): str(t)
                for c, t in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = %s",
                    (name,),
                ).fetchall()
            }
            for exp in _experiments(registry):
                sql = assignment_sql(exp, "postgresql", name, columns=column_kinds(exp, schema))
                cur = con.execute(sql)
                names = [d.name for d in cur.description or ()]
                got = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in cur])
                assert sort_rows(got).equals(python_assignments(exp, units_parquet)), exp.key
    finally:
        with psycopg.connect(pg_url) as con:
            con.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.spark
def test_spark_matches_python(
    spark: Any, registry: Registry, units_parquet: Path, tmp_path: Path
) -> None:
    # the bulk path (read, assign, write, report) on the richest config
    exp = registry["loyalty_offer"]
    out = tmp_path / "loyalty_offer.parquet"
    report = assign_file_sql(exp, units_parquet, out, engine="spark", spark=spark)
    expected = python_assignments(exp, units_parquet)
    assert report.rows_out == expected.num_rows
    assert report.rows_in == pq.ParquetFile(units_parquet).metadata.num_rows
    assert report.bad_rows == report.rows_in - report.rows_out and report.problems
    assert sort_rows(pq.read_table(out)).equals(expected)
    # the other configs in one Spark job: the queries of each, UNION ALL
    others = [registry["journey_content"], registry["channel_tailoring"], _extra_experiments()[1]]
    df = spark.read.parquet(str(units_parquet))
    schema = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    df.createOrReplaceTempView("units")
    union = "\nUNION ALL\n".join(
        f"SELECT * FROM ({assignment_sql(e, 'spark', columns=column_kinds(e, schema))})"
        for e in others
    )
    got = spark.sql(union).toArrow()
    for e in others:
        mine = got.filter(pc.equal(got.column("experiment"), e.key))
        assert sort_rows(mine).equals(python_assignments(e, units_parquet)), e.key


def test_cli_prints_runnable_sql(units_parquet: Path, registry: Registry) -> None:
    result = CliRunner().invoke(
        cli, ["sql", "assign", "loyalty_offer", "--dialect", "duckdb", "--source", "units"]
    )
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    con.execute(f"CREATE VIEW units AS SELECT * FROM read_parquet('{units_parquet}')")
    got = sort_rows(con.sql(result.output.rstrip().rstrip(";")).to_arrow_table())
    assert got.equals(python_assignments(registry["loyalty_offer"], units_parquet))
    for dialect in ("postgresql", "spark"):
        result = CliRunner().invoke(
            cli,
            ["sql", "assign", "journey_content", "--dialect", dialect, "--column", "age=number"],
        )
        assert result.exit_code == 0 and "md5(" in result.output


def test_cli_reports_uncompilable_condition(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "key: e\nname: E\nunit: id\n"
        "segments: [{key: new_app, when: {app: {$vgte: '2.0'}}}]\n"
        "cells: [{control: a, variants: [{key: a, weight: 1.0}]}]\n"
        "metrics: {primary: {key: m, kind: binary, event: x}}\n"
    )
    result = CliRunner().invoke(
        cli, ["sql", "assign", "e", "--dialect", "spark", "--experiments", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "Error: segments[0] (new_app).when.app.$vgte: $vgte cannot be compiled" in result.output
    with pytest.raises(SqlCompileError):
        assignment_sql(
            make_experiment(segments=[{"key": "s", "when": {"t": {"$size": 1}}}]), "duckdb"
        )
    bad = CliRunner().invoke(cli, ["sql", "assign", "e", "--dialect", "duckdb", "--column", "x"])
    assert bad.exit_code == 2 and "NAME=KIND" in bad.output
