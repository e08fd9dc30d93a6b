"""Columns that mix types: every engine types each cell on its own, as ``segab.assign()`` sees it.

Oracle: :func:`segab.assign` called row by row on the values
:func:`segab.text_values.read_text` gives each cell, skipping the rows it
refuses. The Python, DuckDB and Spark bulk engines must write exactly those
assignments and report the same bad rows, whatever the other rows hold.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segab import assign
from segab.bulk import assign_file
from segab.bulk.duckdb_engine import assign_file_sql
from segab.bulk.report import BulkReport
from segab.cli import cli
from segab.config import Experiment
from segab.errors import DataError
from segab.text_values import BadValueError, read_text
from tests.conftest import make_experiment

TRICKY = [
    *("", "30", "35", "34.999", "-1", "1e2", "+7", ".5", "5.", "007", "0", "-0", "5"),
    *("1e400", "-1e400", "1e-400", "NaN", "nan", "inf", "Infinity", "null", "NULL"),
    *("true", "True", "TRUE", "false", "FALSE", "tRuE", "yes", " 30", "30 ", "1_000"),
    *("0x10", "unknown", "social", "Social", "email", "s", "a,b", 'say "hi"', "über", "m"),
]
CELL = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=6),
)
COLUMNS = ("age", "score", "vip", "channel")
SEGMENTS: list[dict[str, Any]] = [
    {"key": "young", "when": {"age": {"$lt": 35}}},
    {"key": "flagged", "when": {"vip": True, "age": {"$type": "number"}}},
    {"key": "listed", "when": {"channel": {"$in": ["social", 1, True, None]}}},
    {"key": "s_words", "when": {"channel": {"$regex": "^s"}, "score": {"$exists": True}}},
    {"key": "odd", "when": {"$or": [{"age": "unknown"}, {"score": {"$gt": "m"}}]}},
    {"key": "not_five", "when": {"score": {"$nin": [5, "5", None]}, "vip": {"$ne": False}}},
    {"key": "typed", "when": {"$nor": [{"age": {"$type": "string"}}, {"vip": {"$gte": 1}}]}},
    {"key": "zeros", "when": {"score": {"$in": [0, 7.0, 500]}, "channel": {"$ini": ["EMAIL"]}}},
    {"key": "present", "when": {"vip": {"$exists": True}, "score": {"$lte": 0.5}}},
]


def _experiment(attributes: dict[str, str] | None = None) -> Experiment:
    return make_experiment(
        key="mixed",
        segments=SEGMENTS,
        fallback="rest",
        stages=["awareness", "purchase"],
        attributes=attributes or {},
    )


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["user_id", "stage", *COLUMNS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _oracle(exp: Experiment, rows: list[dict[str, str]]) -> tuple[list[tuple[Any, ...]], list[int]]:
    """``assign()`` on each row's cells as read_text types them; the 1-based lines of bad rows."""
    out, bad = [], []
    for i, row in enumerate(rows):
        line = i + 2
        unit, stage = row["user_id"], row["stage"]
        if unit == "" or stage not in exp.stages:
            bad.append(line)
            continue
        try:
            attrs = {c: read_text(row[c], exp.attributes.get(c)) for c in COLUMNS}  # type: ignore[arg-type]
        except BadValueError:
            bad.append(line)
            continue
        a = assign(exp, unit, attrs, stage)
        out.append((a.unit_id, a.stage, a.segment, a.variant, a.bucket, a.reason.value))
    return sorted(out, key=repr), bad


def _written(path: Path) -> list[tuple[Any, ...]]:
    if path.is_dir() or path.suffix == ".parquet":
        table = pq.read_table(path)
    else:
        types = {"unit_id": pa.string(), "bucket": pa.int64(), "segment": pa.string()}
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        )
    rows = table.select(["unit_id", "stage", "segment", "variant", "bucket", "reason"]).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def _lines(report: BulkReport) -> list[int]:
    return [int(p.split(":")[0].removeprefix("line ")) for p in report.problems]


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "stage": st.sampled_from(["awareness", "purchase", "purchase", "checkout"]),
            **{c: CELL for c in COLUMNS},
        }
    ),
    min_size=1,
    max_size=40,
)


def _units(cells: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"user_id": f"u{i}" if i % 17 != 5 else "", **row} for i, row in enumerate(cells)]


Runner = Callable[[Experiment, Path, Path], BulkReport]


def _check(cells: list[dict[str, str]], declared: bool, engines: dict[str, Runner]) -> None:
    """Each engine writes the oracle's rows and reports its bad rows, on one random file."""
    exp = _experiment({"age": "number", "vip": "boolean", "channel": "string"} if declared else {})
    rows = _units(cells)
    expected, bad_lines = _oracle(exp, rows)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "units.csv"
        _write(src, rows)
        for name, run in engines.items():
            out = Path(tmp) / name
            report = run(exp, src, out)
            assert _written(out) == expected, name
            assert (report.rows_in, report.rows_out) == (len(rows), len(expected)), name
            assert report.bad_rows == len(bad_lines) and _lines(report) == bad_lines[:20], name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=ROWS, declared=st.booleans())
def test_python_and_duckdb_read_each_cell_as_assign_does(
    cells: list[dict[str, str]], declared: bool
) -> None:
    _check(
        cells,
        declared,
        {
            "python.csv": assign_file,
            "duckdb.csv": lambda e, i, o: assign_file_sql(e, i, o, threads=1),
        },
    )


def test_one_bad_cell_changes_no_other_row(tmp_path: Path) -> None:
    """The issue's case: one ``age=unknown`` far down a file of numbers."""
    exp = _experiment()
    cells = {"score": "1", "vip": "false", "channel": "email"}
    rows = [
        {"user_id": f"u{i}", "stage": "awareness", "age": str(20 + i % 40), **cells}
        for i in range(3000)
    ]
    clean_path, dirty_path = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    _write(clean_path, rows)
    rows[2500]["age"] = "unknown"
    _write(dirty_path, rows)
    for engine in ("python", "duckdb"):
        outs = []
        for src in (clean_path, dirty_path):
            out = tmp_path / f"{engine}-{src.stem}.parquet"
            if engine == "python":
                assign_file(exp, src, out)
            else:
                assign_file_sql(exp, src, out)
            outs.append({r[0]: r for r in _written(out)})
        changed = [u for u in outs[0] if outs[0][u] != outs[1][u]]
        assert changed == ["u2500"], engine
    declared = _experiment({"age": "number"})
    for run in (assign_file, assign_file_sql):
        report = run(declared, dirty_path, tmp_path / "declared.csv")
        assert report.bad_rows == 1 and report.problems == [
            "line 2502: unit 'u2500': column 'age': 'unknown' is not a number "
            "(declared in attributes)"
        ]


@pytest.mark.parametrize("declared", [False, True])
def test_attr_on_the_command_line_reads_text_as_a_bulk_cell(tmp_path: Path, declared: bool) -> None:
    """``segab assign --unit ... --attr age=TEXT`` agrees with a bulk row holding TEXT."""
    exp = _experiment({"age": "number", "vip": "boolean"} if declared else {})
    (tmp_path / "mixed.yaml").write_text(yaml.safe_dump(exp.model_dump(mode="json")), "utf-8")
    texts = ["30", "007", "True", "NaN", "", "1e3", "unknown", "-0", "null", "1e400", "tRuE"]
    rows = [
        {"user_id": f"u{i}", "stage": "purchase", "age": t, "score": "1", "vip": t, "channel": t}
        for i, t in enumerate(texts)
    ]
    _write(tmp_path / "units.csv", rows)
    assign_file(exp, tmp_path / "units.csv", tmp_path / "out.csv")
    bulk = {r[0]: r for r in _written(tmp_path / "out.csv")}
    for row in rows:
        attrs = [f"{c}={row[c]}" for c in COLUMNS]
        result = CliRunner().invoke(
            cli,
            ["assign", "mixed", "--unit", row["user_id"], "--stage", "purchase"]
            + [x for a in attrs for x in ("--attr", a)]
            + ["--experiments", str(tmp_path)],
        )
        if row["user_id"] not in bulk:  # a bad row in bulk is a bad --attr
            assert result.exit_code == 2 and "Invalid value for --attr" in result.stderr
            continue
        assert result.exit_code == 0, result.output
        single = json.loads(result.stdout)
        assert bulk[row["user_id"]][2:4] == (single["segment"], single["variant"]), row


def test_line_numbers_count_empty_lines_and_parquet_rows(tmp_path: Path) -> None:
    exp = _experiment({"age": "number"})
    src = tmp_path / "units.csv"
    src.write_text(
        "user_id,stage,age\n\nu1,awareness,30\r\n\nu2,awareness,x\nu3,checkout,1\n"
        'u4,awareness,"1\n\n2"\n"u""5",awareness,y\n',
        "utf-8",
    )
    for run in (assign_file, assign_file_sql):
        report = run(exp, src, tmp_path / "out.csv")
        assert [p.split(":")[0] for p in report.problems] == [
            "line 5",
            "line 6",
            "line 7",
            "line 10",
        ]
        assert "unit 'u\"5': column 'age': 'y'" in report.problems[-1]
    parquet = tmp_path / "units.parquet"
    pq.write_table(
        pa.table({"user_id": ["u1", "u2"], "stage": ["awareness"] * 2, "age": ["1", "x"]}), parquet
    )
    for run in (assign_file, assign_file_sql):
        report = run(exp, parquet, tmp_path / "out.csv")
        assert report.problems == [
            "row 2: unit 'u2': column 'age': 'x' is not a number (declared in attributes)"
        ]


def test_declared_type_must_agree_with_a_typed_column(tmp_path: Path) -> None:
    src = tmp_path / "units.parquet"
    pq.write_table(pa.table({"user_id": ["u1"], "stage": ["awareness"], "age": [True]}), src)
    exp = _experiment({"age": "number"})
    for run in (assign_file, assign_file_sql):
        with pytest.raises(DataError, match=r"(?i)column .age. has type bool.*declares it number"):
            run(exp, src, tmp_path / "out.csv")


@pytest.mark.spark
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=ROWS, declared=st.booleans())
def test_spark_reads_each_cell_as_assign_does(
    spark: Any, cells: list[dict[str, str]], declared: bool
) -> None:
    _check(
        cells,
        declared,
        {"spark.parquet": lambda e, i, o: assign_file_sql(e, i, o, engine="spark", spark=spark)},
    )
