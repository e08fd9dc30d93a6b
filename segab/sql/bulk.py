"""Bulk assignment of a CSV or Parquet file inside DuckDB or Spark (imperative shell).

The same input and output as :func:`segab.bulk.assign_file` (the unit column,
``stage``, attribute columns; the exposure columns out), computed by
:func:`segab.sql.assign.assignment_sql` in an engine instead of row by row in
Python. The column types of the input decide how conditions compare (see
:mod:`segab.sql.conditions`), so a string ``"40"`` never matches ``$gt: 30``.

- ``engine="duckdb"``: Parquet is scanned by DuckDB; CSV is read by pyarrow's
  streaming reader, with the same type inference as the Python path (the unit
  and ``stage`` columns as text), and scanned from Arrow. The output is one
  ``.parquet`` or ``.csv`` file. Row order is not preserved.
- ``engine="spark"``: the file is read by Spark (CSV with ``inferSchema``, the
  unit and ``stage`` columns as strings) and the output is a Spark output
  *directory* of part files at ``output_path`` (read it with
  ``pyarrow.parquet.read_table(path)`` or ``read_parquet('path/*.parquet')``).
  Pass ``spark=`` an existing session, or ``spark_master`` (``local[*]`` by
  default, or a cluster URL).

Bad rows (an empty unit id, an unknown stage) are not written: they are
counted as ``rows_in - rows_out`` and the first few are listed in the report.

Example:
    >>> import os, tempfile
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({
    ...     "key": "e", "name": "E", "unit": "user_id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> d = tempfile.mkdtemp()
    >>> text = "user_id,stage\\nu1,awareness\\n,purchase\\n"
    >>> _ = open(os.path.join(d, "in.csv"), "w").write(text)
    >>> r = assign_file_sql(exp, os.path.join(d, "in.csv"), os.path.join(d, "out.parquet"))
    >>> r.rows_in, r.rows_out, r.bad_rows, r.reasons
    (2, 1, 1, {'assigned': 1})
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from segab.assignment_types import Reason
from segab.bulk import BulkReport, count_rows
from segab.conditions import condition_fields
from segab.config.models import Experiment, SegmentDef
from segab.errors import DataError, MissingColumnError, SqlError
from segab.sql.assign import ASSIGNMENT_COLUMNS, assignment_sql, valid_row_sql
from segab.sql.conditions import ColumnKind, column_kind
from segab.sql.dialects import get_dialect

__all__ = ["Engine", "assign_file_sql", "bad_row_message", "column_kinds"]

Engine = Literal["duckdb", "spark"]
_MAX_REPORTED = 20


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected .csv or .parquet")


def column_kinds(
    experiment: Experiment, schema: Mapping[str, str], source: str = "input"
) -> dict[str, ColumnKind]:
    """Kinds of the columns the experiment reads, from ``{column: engine type name}``.

    The unit and ``stage`` columns must be there (:class:`MissingColumnError`);
    attribute columns that are absent are missing attributes (NULL), as in the
    Python path. A condition column of a type conditions cannot read (a date, a
    list) is a :class:`DataError`.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "old", "when": {"age": {"$gt": 50}}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> column_kinds(exp, {"id": "BIGINT", "stage": "VARCHAR", "age": "DOUBLE"})
        {'id': 'number', 'age': 'float'}
    """
    missing = [c for c in (experiment.unit, "stage") if c not in schema]
    if missing:
        raise MissingColumnError(
            f"{source}: missing column(s) {missing}; the file has {list(schema)}; expected the "
            "unit column, 'stage' and the attribute columns the segments read"
        )
    fields: set[str] = set()
    for seg in experiment.segments:
        if isinstance(seg, SegmentDef):
            fields |= condition_fields(seg.when)
    kinds: dict[str, ColumnKind] = {}
    for name in (experiment.unit, *sorted(fields)):
        if name not in schema:
            continue
        k = column_kind(schema[name])
        if k is None and name != experiment.unit:
            raise DataError(
                f"{source}: column {name!r} has type {schema[name]}; segment conditions in SQL "
                "read number, string and boolean columns"
            )
        if k is not None:
            kinds[name] = k
    return kinds


def _timestamp_sql(schema: Mapping[str, str], now: dt.datetime | None, text: str) -> str:
    if "timestamp" in schema:
        return f'CAST("timestamp" AS {text})'
    return "'" + (now or dt.datetime.now(dt.UTC)).isoformat() + "'"


def assign_file_sql(
    experiment: Experiment,
    input_path: str | Path,
    output_path: str | Path,
    *,
    engine: Engine = "duckdb",
    now: dt.datetime | None = None,
    spark: Any = None,
    spark_master: str | None = None,
    threads: int | None = None,
) -> BulkReport:
    """Assign every row of ``input_path`` in DuckDB or Spark and write ``output_path``.

    Returns the same :class:`~segab.bulk.BulkReport` as the Python path
    (``rows_in``, ``rows_out``, ``bad_rows``, a few ``problems``, ``reasons``).
    ``threads`` caps DuckDB's threads.

    Example:
        >>> assign_file_sql.__name__   # see the module docstring for a full run
        'assign_file_sql'
    """
    input_path, output_path = Path(input_path), Path(output_path)
    in_format, out_format = _format(input_path), _format(output_path)
    if not input_path.exists():
        raise DataError(f"{input_path}: no such file")
    if engine == "duckdb":
        return _duckdb(experiment, input_path, in_format, output_path, out_format, now, threads)
    if engine == "spark":
        from segab.sql.spark import assign_file_spark

        return assign_file_spark(
            experiment, input_path, in_format, output_path, out_format, now, spark, spark_master
        )
    raise SqlError(f"unknown bulk engine {engine!r}; expected duckdb or spark")


def _csv_reader(path: Path, unit: str) -> pa.RecordBatchReader:
    """pyarrow's streaming CSV reader, configured exactly as :mod:`segab.bulk` does."""
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={unit: pa.string(), "stage": pa.string()}
        ),
    )


def _duckdb(
    exp: Experiment,
    input_path: Path,
    in_format: str,
    output_path: Path,
    out_format: str,
    now: dt.datetime | None,
    threads: int | None,
) -> BulkReport:
    d = get_dialect("duckdb")
    con = duckdb.connect()
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        view = f"segab_units_{uuid.uuid4().hex[:8]}"

        def open_source() -> None:
            if in_format == "parquet":
                path = d.literal(str(input_path))
                con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet({path})")
            else:
                con.register(view, _csv_reader(input_path, exp.unit))

        try:
            open_source()
            described = con.execute(f"DESCRIBE {view}").fetchall()
        except (pa.ArrowInvalid, duckdb.Error) as exc:
            raise DataError(f"{input_path}: cannot read: {exc}") from None
        schema = {str(row[0]): str(row[1]) for row in described}
        kinds = column_kinds(exp, schema, str(input_path))
        timestamp = _timestamp_sql(schema, now, "VARCHAR")
        enums = _create_enum_types(con, exp)
        query = assignment_sql(exp, d, view, columns=kinds, timestamp=timestamp, enum_types=enums)
        query = _as_enums(query, enums)
        target = d.literal(str(output_path))
        options = "FORMAT parquet" if out_format == "parquet" else "FORMAT csv, HEADER true"
        try:
            (rows_out,) = con.execute(f"COPY ({query}) TO {target} ({options})").fetchone() or (0,)
        except duckdb.Error as exc:
            raise SqlError(f"{input_path}: DuckDB failed: {exc}") from None
        report = BulkReport(rows_in=count_rows(input_path), rows_out=int(rows_out))
        reader = "read_parquet" if out_format == "parquet" else "read_csv"
        for reason, count in con.execute(
            f"SELECT reason, count(*) FROM {reader}({target}) GROUP BY reason ORDER BY reason"
        ).fetchall():
            report.reasons[str(reason)] = int(count)
        bad = report.rows_in - report.rows_out
        if bad:
            open_source()
            _bad_rows(con, exp, view, kinds, bad, report, input_path)
        return report
    finally:
        con.close()


def _enum_values(exp: Experiment) -> dict[str, list[str]]:
    variants = {v.key for c in exp.cells for v in c.variants} | set(exp.forced.values())
    return {
        "experiment": [exp.key],
        "segment": exp.segment_keys(),
        "stage": list(exp.stages),
        "variant": sorted(variants),
        "reason": [str(r) for r in Reason],
    }


def _create_enum_types(con: duckdb.DuckDBPyConnection, exp: Experiment) -> dict[str, str]:
    """One ENUM type per low-cardinality output column, on this private connection.

    The query writes its segment, variant and reason literals as these types and
    :func:`_as_enums` casts the others: DuckDB then writes their Parquet dictionaries
    directly instead of hashing every string (about twice as fast to write). The
    Parquet and CSV outputs still hold plain strings.
    """
    d = get_dialect("duckdb")
    names = {}
    for column, values in _enum_values(exp).items():
        name = f"segab_{column}_enum"
        members = ", ".join(d.literal(v) for v in dict.fromkeys(values))
        con.execute(f"CREATE TYPE {name} AS ENUM ({members})")
        names[column] = name
    return names


def _as_enums(query: str, enums: Mapping[str, str]) -> str:
    """Select the output columns, the low-cardinality ones as their ENUM types."""
    cols = []
    for name in (*ASSIGNMENT_COLUMNS, "timestamp"):
        if name in enums:
            cols.append(f"CAST({name} AS {enums[name]}) AS {name}")
        else:
            cols.append(get_dialect("duckdb").quote(name))
    return f"SELECT {', '.join(cols)} FROM ({query})"


def _bad_rows(
    con: duckdb.DuckDBPyConnection,
    exp: Experiment,
    view: str,
    kinds: Mapping[str, ColumnKind],
    bad: int,
    report: BulkReport,
    input_path: Path | None = None,
) -> None:
    """List the first bad rows with their line numbers (CSV) or row numbers (Parquet).

    Bad rows are rare, so this rescans only the id and stage columns with pyarrow,
    in file order, which the engine's parallel scan does not keep.
    """
    if input_path is not None:
        _bad_rows_in_order(exp, input_path, report)
        report.bad_rows = bad
        return
    d = get_dialect("duckdb")
    unit, stage = d.quote(exp.unit), d.quote("stage")
    rows = con.execute(
        f"SELECT {unit}, {stage} FROM {view} "
        f"WHERE NOT COALESCE({valid_row_sql(exp, d, kinds)}, FALSE) LIMIT {_MAX_REPORTED}"
    ).fetchall()
    for unit_id, stage_value in rows:
        report.add_problem(bad_row_message(exp, unit_id, stage_value))
    report.bad_rows = bad


def _bad_rows_in_order(exp: Experiment, input_path: Path, report: BulkReport) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    is_csv = _format(input_path) == "csv"
    batches = (
        _csv_reader(input_path, exp.unit)
        if is_csv
        else pq.ParquetFile(input_path).iter_batches(columns=[exp.unit, "stage"])
    )
    stages = pa.array(list(exp.stages), pa.string())
    offset = 0
    for batch in batches:
        units = batch.column(exp.unit)
        stage_col = batch.column("stage")
        if not pa.types.is_string(units.type):
            units = pc.cast(units, pa.string())
        empty = pc.or_kleene(pc.is_null(units), pc.equal(units, ""))
        bad_mask = pc.fill_null(pc.or_kleene(empty, pc.invert(pc.is_in(stage_col, stages))), True)
        for idx in pc.indices_nonzero(bad_mask).to_pylist():
            where = f"line {offset + idx + 2}" if is_csv else f"row {offset + idx + 1}"
            unit_id, stage_value = units[idx].as_py(), stage_col[idx].as_py()
            report.add_problem(f"{where}: {bad_row_message(exp, unit_id, stage_value)}")
            if len(report.problems) >= _MAX_REPORTED:
                return
        offset += batch.num_rows


def bad_row_message(exp: Experiment, unit_id: Any, stage: Any) -> str:
    """Why a row was skipped, in the words of the Python path.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> bad_row_message(exp, "u1", "sell")
        "unit 'u1': unknown stage 'sell' for experiment 'e'; expected one of ['buy']"
    """
    if unit_id is None or unit_id == "":
        return f"empty {exp.unit!r} (stage {stage!r})"
    if stage in exp.stages:
        return f"unit {unit_id!r}: invalid {exp.unit!r}"
    return (
        f"unit {unit_id!r}: unknown stage {stage!r} for experiment {exp.key!r}; "
        f"expected one of {sorted(exp.stages)}"
    )
