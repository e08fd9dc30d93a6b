"""Bulk assignment of a CSV or Parquet file inside DuckDB or Spark (imperative shell).

The same input and output as :func:`segab.bulk.assign_file` (the unit column,
``stage``, attribute columns; the exposure columns out), computed by
:func:`segab.sql.assign.assignment_sql` in an engine instead of row by row in
Python. The column types of a typed input (Parquet) decide how conditions compare (see
:mod:`segab.sql.conditions`), so a string ``"40"`` never matches ``$gt: 30``.

- ``engine="duckdb"``: Parquet is scanned by DuckDB; CSV is read by the same
  pyarrow streaming reader as the Python path (every cell as text) and scanned
  from Arrow. The output is one ``.parquet`` or ``.csv`` file. Row order is not
  preserved.
- ``engine="spark"``: see :mod:`segab.bulk.spark_engine` (the output is a directory).

``period`` (an allocation period) and ``previous`` (earlier variants as an Arrow
table ``unit_id, segment, stage, variant``, e.g. the store's exposures from
:func:`segab.store.sticky.exposures_arrow`) apply the adaptive rules of
``segab.assign(period=..., previous=...)``: the table is registered in the
engine and joined there by :func:`segab.sql.assign.assignment_sql`.

Text cells are typed one by one as :mod:`segab.text_values` says (the
``mixed`` column kind), or as the experiment's ``attributes`` declare, exactly
as the Python path does. Bad rows (an empty unit id, an unknown stage, a cell
that does not fit its declared type) are not written: they are counted as
``rows_in - rows_out`` and the first few are listed, with their line numbers,
in the report. The output appears only when complete
(:func:`segab.bulk.files.atomic_output`); an output that is the input file is
refused.

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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from segab.allocation_types import AllocationPeriod
from segab.assignment_types import Reason
from segab.bulk.files import (
    atomic_output,
    check_paths,
    column_reads,
    csv_reader,
    file_format,
    typed_source_sql,
)
from segab.bulk.report import BulkReport, bad_row_message, find_bad_rows, locate
from segab.config.models import Experiment
from segab.errors import DataError, SqlError
from segab.sql.assign import ASSIGNMENT_COLUMNS, assignment_sql
from segab.sql.conditions import ColumnKind
from segab.sql.dialects import get_dialect

__all__ = ["Engine", "assign_file_sql", "bad_row_message", "column_kinds"]

Engine = Literal["duckdb", "spark"]


def column_kinds(
    experiment: Experiment, schema: Mapping[str, str], source: str = "input", *, text: bool = False
) -> dict[str, ColumnKind]:
    """Kinds of the columns the experiment reads, from ``{column: engine type name}``.

    The unit and ``stage`` columns must be there (:class:`MissingColumnError`);
    attribute columns that are absent are missing attributes (NULL), as in the
    Python path. A condition column of a type conditions cannot read (a date, a
    list) is a :class:`DataError`. With ``text`` (a CSV file, every column text)
    undeclared attribute columns are ``mixed``: typed cell by cell.
    See :func:`segab.bulk.files.column_reads`.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "old", "when": {"age": {"$gt": 50}}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> column_kinds(exp, {"id": "BIGINT", "stage": "VARCHAR", "age": "DOUBLE"})
        {'id': 'number', 'age': 'float'}
        >>> column_kinds(exp, {"id": "VARCHAR", "stage": "VARCHAR", "age": "VARCHAR"}, text=True)
        {'id': 'string', 'age': 'mixed'}
    """
    return {n: r.kind for n, r in column_reads(experiment, schema, source, text=text).items()}


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
    period: AllocationPeriod | None = None,
    previous: pa.Table | None = None,
) -> BulkReport:
    """Assign every row of ``input_path`` in DuckDB or Spark and write ``output_path``.

    Returns the same :class:`~segab.bulk.report.BulkReport` as the Python path
    (``rows_in``, ``rows_out``, ``bad_rows``, a few ``problems``, ``reasons``).
    ``threads`` caps DuckDB's threads. A Ctrl-C while DuckDB runs raises
    :class:`KeyboardInterrupt` (DuckDB stops the query); the output is then untouched.

    Example:
        >>> assign_file_sql.__name__   # see the module docstring for a full run
        'assign_file_sql'
    """
    input_path, output_path = Path(input_path), Path(output_path)
    in_format, out_format = file_format(input_path), file_format(output_path)
    check_paths(input_path, output_path)
    adaptive = (period, previous)
    if engine == "duckdb":
        return _duckdb(
            experiment, input_path, in_format, output_path, out_format, now, threads, adaptive
        )
    if engine == "spark":
        from segab.bulk.spark_engine import assign_file_spark

        return assign_file_spark(
            experiment,
            input_path,
            in_format,
            output_path,
            out_format,
            now,
            spark,
            spark_master,
            period=period,
            previous=previous,
        )
    raise SqlError(f"unknown bulk engine {engine!r}; expected duckdb or spark")


class _CountingReader:
    """The CSV file as an Arrow stream that counts the rows DuckDB reads from it.

    A block pyarrow cannot parse ends the stream and is kept in ``error`` (raised
    by :meth:`check` once DuckDB is done), so the message names the file and line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.error: pa.ArrowInvalid | None = None
        self.reader = csv_reader(path)

    def stream(self) -> pa.RecordBatchReader:
        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in self.reader:
                    self.rows += batch.num_rows
                    yield batch
            except pa.ArrowInvalid as exc:
                self.error = exc

        return pa.RecordBatchReader.from_batches(self.reader.schema, batches())

    def check(self) -> None:
        if self.error is not None:
            where = f"line {self.rows + 2}"
            raise DataError(f"{self.path}: cannot read from {where} on: {self.error}")


def _run(con: duckdb.DuckDBPyConnection, sql: str, input_path: Path) -> Any:
    try:
        return con.execute(sql)
    except duckdb.Error as exc:
        raise SqlError(f"{input_path}: DuckDB failed: {exc}") from None
    except RuntimeError as exc:  # DuckDB's answer to Ctrl-C (it catches SIGINT itself)
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise


def _duckdb(
    exp: Experiment,
    input_path: Path,
    in_format: str,
    output_path: Path,
    out_format: str,
    now: dt.datetime | None,
    threads: int | None,
    adaptive: tuple[AllocationPeriod | None, pa.Table | None] = (None, None),
) -> BulkReport:
    d = get_dialect("duckdb")
    period, previous = adaptive
    con = duckdb.connect()
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        raw, typed, seen = (f"segab_units_{uuid.uuid4().hex[:8]}" for _ in range(3))
        if previous is not None:
            con.register(seen, previous)
        text = in_format == "csv"
        counter = None
        try:
            if text:
                counter = _CountingReader(input_path)
                con.register(raw, counter.stream())
            else:
                path = d.literal(str(input_path))
                con.execute(f"CREATE VIEW {raw} AS SELECT * FROM read_parquet({path})")
            described = con.execute(f"DESCRIBE {raw}").fetchall()
        except (pa.ArrowInvalid, duckdb.Error) as exc:
            raise DataError(f"{input_path}: cannot read: {exc}") from None
        schema = {str(row[0]): str(row[1]) for row in described}
        reads = column_reads(exp, schema, str(input_path), text=text)
        # pyarrow's CSV reader already reads empty cells as NULL
        source = typed_source_sql(d, exp, d.quote(raw), reads, schema, empty_is_null=False)
        con.execute(f"CREATE VIEW {typed} AS {source}")
        ts = 'CAST("timestamp" AS VARCHAR)' if "timestamp" in schema else None
        timestamp = ts or d.literal((now or dt.datetime.now(dt.UTC)).isoformat())
        enums = _create_enum_types(con, exp)
        kinds = {name: r.kind for name, r in reads.items()}
        query = assignment_sql(
            exp,
            d,
            typed,
            columns=kinds,
            timestamp=timestamp,
            enum_types=enums,
            period=period,
            previous=None if previous is None else seen,
        )
        query = _as_enums(query, enums)
        options = "FORMAT parquet" if out_format == "parquet" else "FORMAT csv, HEADER true"
        with atomic_output(output_path) as tmp:
            target = d.literal(str(tmp))
            copied = _run(con, f"COPY ({query}) TO {target} ({options})", input_path)
            if counter is not None:
                counter.check()
            (rows_out,) = copied.fetchone() or (0,)
            reader = "read_parquet" if out_format == "parquet" else "read_csv"
            counts = con.execute(
                f"SELECT reason, count(*) FROM {reader}({target}) GROUP BY reason ORDER BY reason"
            ).fetchall()
        if counter is not None:
            rows_in = counter.rows
        else:
            rows_in = pq.ParquetFile(input_path).metadata.num_rows
        report = BulkReport(rows_in=int(rows_in), rows_out=int(rows_out))
        report.reasons = {str(reason): int(count) for reason, count in counts}
        bad = report.rows_in - report.rows_out
        if bad:
            find_bad_rows(exp, input_path, reads, report)
            report.bad_rows = bad
            locate(report, input_path)
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
