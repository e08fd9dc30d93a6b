"""SQL conditions agree with the Python evaluator (oracle: segab.conditions.compile_condition).

Every supported operator runs on DuckDB over the same rows as the Python
predicate, with typed columns and (where the operand types fit the columns)
untyped; the same table runs on PostgreSQL and Spark when they are available.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab.conditions import compile_condition
from segab.errors import SqlCompileError
from segab.sql.conditions import ColumnKind, compile_condition_sql
from segab.sql.regex import translate_regex

GROUPS = {"g": ["a", "b", "Social"], "nums": [1, 35]}
KINDS: dict[str, ColumnKind] = {
    "s": "string",
    "n": "number",
    "f": "float",
    "b": "boolean",
    "z": "null",
    "d.x": "string",
}
S_VALUES = ["a", "b", "A", "abc", "", None, "Social", "é", "x\ny", "b\n", "10", "ab", "Éa", "xz"]
N_VALUES = [0, 1, 5, 35, -3, None, 10, 2**40]
F_VALUES = [0.5, 1.0, math.nan, math.inf, -math.inf, None, 35.0, 0.1, -0.0]
B_VALUES = [True, False, None]


def _rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(300):
        rows.append(
            {
                "id": i,
                "s": S_VALUES[i % len(S_VALUES)],
                "n": N_VALUES[int(rng.integers(len(N_VALUES)))],
                "f": F_VALUES[int(rng.integers(len(F_VALUES)))],
                "b": B_VALUES[int(rng.integers(len(B_VALUES)))],
                "z": None,
                "d.x": ["p", "q", None][int(rng.integers(3))],
            }
        )
    return rows


ROWS = _rows()

# (condition, whether the untyped compilation applies: every operand has its column's type)
CASES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"s": "a"}, True),
    ({"s": {"$eq": "a"}}, True),
    ({"s": {"$ne": "a"}}, True),
    ({"s": None}, True),
    ({"s": {"$ne": None}}, True),
    ({"n": 5}, True),
    ({"n": 5.0}, True),
    ({"f": 1}, True),
    ({"f": 0.5}, True),
    ({"f": 0}, True),
    ({"f": math.inf}, True),
    ({"f": math.nan}, True),
    ({"f": {"$ne": 0.5}}, True),
    ({"b": True}, True),
    ({"b": False}, True),
    ({"b": {"$ne": True}}, True),
    ({"n": True}, False),
    ({"s": 1}, False),
    ({"n": "5"}, False),
    ({"b": 1}, False),
    ({"n": {"$gt": 1}}, True),
    ({"n": {"$gte": 1, "$lt": 35}}, True),
    ({"n": {"$lte": 2**40}}, True),
    ({"f": {"$lt": 1}}, True),
    ({"f": {"$gt": 0}}, True),
    ({"f": {"$lte": 0.5}}, True),
    ({"f": {"$gte": -math.inf}}, True),
    ({"s": {"$gt": "a"}}, True),
    ({"s": {"$lt": "b"}}, True),
    ({"s": {"$gte": "A", "$lte": "Z"}}, True),
    ({"s": {"$gt": "z"}}, True),
    ({"n": {"$gt": "a"}}, False),
    ({"s": {"$gt": 3}}, False),
    ({"b": {"$gt": 0}}, False),
    ({"s": {"$in": ["a", "b", None]}}, True),
    ({"s": {"$in": []}}, True),
    ({"s": {"$nin": ["a", "é"]}}, True),
    ({"s": {"$nin": []}}, True),
    ({"n": {"$in": [1, 5.0, 35]}}, True),
    ({"f": {"$in": [0.5, math.nan, 35]}}, True),
    ({"f": {"$nin": [0.5, None]}}, True),
    ({"b": {"$in": [True]}}, True),
    ({"s": {"$in": ["a", 1, True]}}, False),
    ({"n": {"$in": ["5", 5]}}, False),
    ({"s": {"$ini": ["A", "SOCIAL"]}}, True),
    ({"s": {"$nini": ["a", None]}}, True),
    ({"s": {"$exists": True}}, True),
    ({"f": {"$exists": False}}, True),
    ({"z": {"$exists": False}}, False),
    ({"missing": {"$exists": False}}, False),
    ({"missing": None}, False),
    ({"missing": {"$ne": 1}}, False),
    ({"missing": {"$nin": ["a"]}}, False),
    ({"s": {"$type": "string"}}, False),
    ({"f": {"$type": "number"}}, False),
    ({"b": {"$type": "null"}}, False),
    ({"n": {"$type": "string"}}, False),
    ({"s": {"$regex": "^a"}}, True),
    ({"s": {"$regex": "b$"}}, True),
    ({"s": {"$regex": "x.y"}}, True),
    ({"s": {"$regex": "^(?:a|b)+$"}}, True),
    ({"s": {"$regex": "[a-c]{2,}"}}, True),
    ({"s": {"$regex": "[^a-z]"}}, True),
    ({"s": {"$regex": "a{,1}b"}}, True),
    ({"s": {"$regexi": "^soc"}}, True),
    ({"s": {"$regexi": "^a"}}, True),
    ({"n": {"$regex": "1"}}, False),
    ({"n": {"$not": {"$gt": 5}}}, True),
    ({"s": {"$not": "a"}}, True),
    ({"s": {"$inGroup": "g"}}, True),
    ({"s": {"$notInGroup": "g"}}, True),
    ({"n": {"$inGroup": "nums"}}, True),
    ({"$or": [{"s": "a"}, {"n": {"$gt": 5}}]}, True),
    ({"$nor": [{"s": "a"}, {"b": True}]}, True),
    ({"$not": {"s": "a", "n": 1}}, True),
    ({"$and": [{"f": {"$gte": 0}}, {"f": {"$lt": 1}}]}, True),
    ({"d.x": "p"}, True),
    ({"d.x": {"$exists": True}, "s": {"$in": ["a", "b"]}}, True),
]


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: v for k, v in row.items() if "." not in k}
    attrs["d"] = {"x": row["d.x"]}
    return attrs


def _python_ids(cond: dict[str, Any]) -> list[int]:
    match = compile_condition(cond, GROUPS)
    return [r["id"] for r in ROWS if match(_attributes(r))]


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (id INTEGER, s VARCHAR, n BIGINT, f DOUBLE, b BOOLEAN, z INTEGER, "
        '"d.x" VARCHAR)'
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", [tuple(r.values()) for r in ROWS])
    return con


def _ids(con: Any, sql: str) -> list[int]:
    return sorted(int(r[0]) for r in con.execute(f"SELECT id FROM t WHERE {sql}").fetchall())


@pytest.mark.parametrize(("cond", "untyped"), CASES, ids=[str(c) for c, _ in CASES])
def test_duckdb_matches_python(
    duck: duckdb.DuckDBPyConnection, cond: dict[str, Any], untyped: bool
) -> None:
    expected = _python_ids(cond)
    sql = compile_condition_sql(cond, "duckdb", GROUPS, KINDS)
    assert _ids(duck, sql) == expected
    assert duck.execute(f"SELECT count(*) FROM t WHERE ({sql}) IS NULL").fetchone() == (0,)
    lean = compile_condition_sql(cond, "duckdb", GROUPS, KINDS, two_valued=False)
    assert _ids(duck, lean) == expected
    if untyped:
        assert _ids(duck, compile_condition_sql(cond, "duckdb", GROUPS)) == expected


def test_postgres_matches_python(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_url) as con:
        con.execute(
            "CREATE TEMP TABLE t (id INTEGER, s TEXT, n BIGINT, f DOUBLE PRECISION, b BOOLEAN, "
            'z INTEGER, "d.x" TEXT)'
        )
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [tuple(r.values()) for r in ROWS],
            )
        for cond, untyped in CASES:
            expected = _python_ids(cond)
            for two_valued in (True, False):
                sql = compile_condition_sql(
                    cond, "postgresql", GROUPS, KINDS, two_valued=two_valued
                )
                assert _ids(con, sql) == expected, cond
            if untyped:
                assert _ids(con, compile_condition_sql(cond, "postgresql", GROUPS)) == expected, (
                    cond
                )


@pytest.mark.spark
def test_spark_matches_python(spark: Any) -> None:
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    schema = StructType(
        [
            StructField("id", IntegerType()),
            StructField("s", StringType()),
            StructField("n", LongType()),
            StructField("f", DoubleType()),
            StructField("b", BooleanType()),
            StructField("z", IntegerType()),
            StructField("d.x", StringType()),
        ]
    )
    df = spark.createDataFrame([tuple(r.values()) for r in ROWS], schema)
    df.createOrReplaceTempView("t")
    select = []
    for i, (cond, _) in enumerate(CASES):
        select.append(f"{compile_condition_sql(cond, 'spark', GROUPS, KINDS)} AS c{i}")
    rows = spark.sql(f"SELECT id, {', '.join(select)} FROM t").collect()
    for i, (cond, _) in enumerate(CASES):
        got = sorted(int(r["id"]) for r in rows if r[f"c{i}"])
        assert got == _python_ids(cond), cond


@pytest.mark.parametrize(
    ("cond", "fragment"),
    [
        ({"tags": {"$size": 2}}, "when.tags.$size: $size cannot be compiled"),
        ({"tags": {"$all": ["a"]}}, "when.tags.$all: $all"),
        ({"tags": {"$alli": ["a"]}}, "when.tags.$alli: $alli"),
        ({"items": {"$elemMatch": {"sku": "x"}}}, "when.items.$elemMatch: $elemMatch"),
        ({"app": {"$vgte": "1.2"}}, "when.app.$vgte: $vgte cannot be compiled to duckdb SQL"),
        ({"$or": [{"a": 1}, {"tags": ["a", "b"]}]}, "when.$or[1].tags: $eq"),
        ({"a": {"$in": [[1]]}}, "when.a.$in[0]: $in"),
        ({"a": {"$type": "string"}}, "$type needs the column types"),
        ({"a": {"$in": ["1", 1]}}, "when.a.$in: $in cannot be compiled"),
        ({"a": {"$regex": "\\d+"}}, "when.a.$regex: $regex cannot be compiled"),
        ({"a": {"$regex": "a(?=b)"}}, "groups are not portable"),
        ({"a": {"$regex": "\\bword"}}, "\\b is not portable"),
        ({"a": {"$regexi": "(a)\\1"}}, "\\1 is not portable"),
    ],
)
def test_uncompilable_conditions_name_path_and_operator(
    cond: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(SqlCompileError, match=None) as info:
        compile_condition_sql(cond, "duckdb")
    assert fragment in str(info.value)


def test_unknown_group_is_a_compile_error() -> None:
    with pytest.raises(SqlCompileError, match="'eu' is not a defined group"):
        compile_condition_sql({"c": {"$inGroup": "eu"}}, "postgresql", {})


@pytest.mark.parametrize(
    ("pattern", "dialect", "expected"),
    [
        ("^a.b$", "duckdb", "^a[^\\n]b(?:\\n?$)"),
        ("^a.b$", "spark", "^a[^\\n]b(?:\\n?\\z)"),
        ("a{,3}|b{2}", "postgresql", "a{0,3}|b{2}"),
        ("[]a-]", "duckdb", "[\\]a\\-]"),
        ("[&&x]", "spark", "[\\&\\&x]"),
        ("a{}b}", "duckdb", "a\\{\\}b\\}"),
        ("a\\.b\\$", "duckdb", "a\\.b\\$"),
    ],
)
def test_regex_translation(pattern: str, dialect: str, expected: str) -> None:
    assert translate_regex(pattern, dialect) == expected


def test_dialect_spelling() -> None:
    cond = {"score": {"$gte": 0.5}, "name": {"$lt": "m"}}
    pg = compile_condition_sql(cond, "postgresql", columns={"score": "float", "name": "string"})
    assert 'COLLATE "C"' in pg and "DOUBLE PRECISION" in pg
    # a column missing from ``columns`` is a missing attribute: NULL
    assert compile_condition_sql({"device.os": "ios"}, "duckdb", columns={}) == "FALSE"
    assert compile_condition_sql({"device.os": None}, "duckdb", columns={}) == "(NULL IS NULL)"
    spark = compile_condition_sql({"device.os": "it's\\"}, "spark")
    assert spark == "COALESCE(`device.os` = 'it\\'s\\\\', FALSE)"


_SCALARS = st.sampled_from(["a", "b", "A", "", "é", "10", 0, 1, 5, 35, 0.5, -3, True, False, None])
_FIELD_OPS = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists", "$in", "$nin"])


@st.composite
def _field_value(draw: st.DrawFn) -> Any:
    op = draw(_FIELD_OPS)
    if op == "$exists":
        return {op: draw(st.booleans())}
    if op in ("$in", "$nin"):
        return {op: draw(st.lists(_SCALARS, max_size=4))}
    x = draw(_SCALARS)
    if op in ("$gt", "$gte", "$lt", "$lte") and (x is None or isinstance(x, bool)):
        x = 3
    return {op: x} if draw(st.booleans()) else x if op == "$eq" else {op: x}


def _conditions() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.dictionaries(
        st.sampled_from(["s", "n", "f", "b", "z", "missing"]),
        _field_value(),
        min_size=1,
        max_size=2,
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(
                lambda cs, op: {op: cs},
                st.lists(inner, min_size=1, max_size=3),
                st.sampled_from(["$and", "$or", "$nor"]),
            ),
            st.builds(lambda c: {"$not": c}, inner),
        ),
        max_leaves=6,
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cond=_conditions())
def test_random_conditions_match_python(
    duck: duckdb.DuckDBPyConnection, cond: dict[str, Any]
) -> None:
    expected = _python_ids(cond)
    assert _ids(duck, compile_condition_sql(cond, "duckdb", GROUPS, KINDS)) == expected
    lean = compile_condition_sql(cond, "duckdb", GROUPS, KINDS, two_valued=False)
    assert _ids(duck, lean) == expected
