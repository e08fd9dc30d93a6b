"""Bulk assignment of a CSV or Parquet file of units (imperative shell).

The input has the unit column (the experiment's ``unit``), a ``stage`` column
and attribute columns. It is read in chunks with pyarrow, each row is assigned
with :func:`segab.assign`, and the rows are written to CSV or Parquet with the
exposure columns (``unit_id, experiment, iteration, segment, stage, variant,
bucket, in_experiment, reason, timestamp``). A bad row (empty id, unknown
stage) is reported with its line number and counted; the run goes on.

Segment predicates only read the columns their conditions name, and rows with
the same values for those columns share one evaluation (a memo per chunk
stream), so the cost per row is dominated by the MD5 digest.

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({
    ...     "key": "e", "name": "E", "unit": "user_id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> text = "user_id,stage\\nu1,awareness\\n,purchase\\n"
    >>> _ = open(os.path.join(d, "in.csv"), "w").write(text)
    >>> report = assign_file(exp, os.path.join(d, "in.csv"), os.path.join(d, "out.csv"))
    >>> report.rows_in, report.rows_out, report.bad_rows
    (2, 1, 1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segab.assignment import assign, plan_of
from segab.conditions import condition_fields
from segab.config.models import Experiment, SegmentDef
from segab.errors import DataError, MissingColumnError, SegabError

__all__ = ["OUTPUT_COLUMNS", "BulkReport", "assign_file", "count_rows"]

OUTPUT_COLUMNS = (
    "unit_id",
    "experiment",
    "iteration",
    "segment",
    "stage",
    "variant",
    "bucket",
    "in_experiment",
    "reason",
    "timestamp",
)
MAX_REPORTED = 20
CHUNK_BYTES = 8 << 20


@dataclass
class BulkReport:
    """What a bulk run did: rows read and written, bad rows with their line numbers.

    Example:
        >>> BulkReport().bad_rows
        0
    """

    rows_in: int = 0
    rows_out: int = 0
    bad_rows: int = 0
    problems: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def add_problem(self, message: str) -> None:
        """Count a bad row and keep its message (the first few only).

        Example:
            >>> r = BulkReport(); r.add_problem("line 3: empty id"); r.bad_rows
            1
        """
        self.bad_rows += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(message)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected .csv or .parquet")


def count_rows(path: str | Path) -> int:
    """Number of data rows in a CSV (newline count less the header) or Parquet file.

    Example:
        >>> count_rows.__name__
        'count_rows'
    """
    path = Path(path)
    if _format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def _batches(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Stream record batches; the id and stage columns are read as text (``007`` stays ``007``)."""
    if _format(path) == "parquet":
        pfile = pq.ParquetFile(path)
        have = pfile.schema_arrow.names
        _require(path, have, columns)
        yield from pfile.iter_batches(batch_size=65_536)
        return
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES),
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={c: pa.string() for c in columns}
        ),
    )
    _require(path, reader.schema.names, columns)
    yield from reader


def _require(path: Path, have: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in have]
    if missing:
        raise MissingColumnError(
            f"{path}: missing column(s) {missing}; the file has {have}; expected the unit column, "
            f"'stage' and the attribute columns the segments read ({needed})"
        )


def _attribute_builder(fields: list[str]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    dotted = [f for f in fields if "." in f]
    if not dotted:
        return lambda values: dict(zip(fields, values, strict=True))

    def build(values: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(fields, values, strict=True):
            node = out
            *parents, leaf = name.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return out

    return build


def _needed_fields(exp: Experiment, available: list[str]) -> list[str]:
    fields: set[str] = set()
    for seg in exp.segments:
        if isinstance(seg, SegmentDef):
            fields |= condition_fields(seg.when)
    # a dotted path may be a flat column ("device.os") or a prefix of one
    return sorted(
        f for f in fields if f in available or not any(c.startswith(f) for c in available)
    )


def assign_file(
    experiment: Experiment,
    input_path: str | Path,
    output_path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
) -> BulkReport:
    """Assign every row of ``input_path`` and write the result to ``output_path``.

    ``progress`` is called with the number of rows done after each chunk.

    Example:
        >>> assign_file.__name__   # see the module docstring for a full run
        'assign_file'
    """
    input_path, output_path = Path(input_path), Path(output_path)
    out_format = _format(output_path)
    timestamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    plan_of(experiment)
    unit_col = experiment.unit
    header = _peek_columns(input_path)
    fields = _needed_fields(experiment, header)
    _require(input_path, header, [unit_col, "stage", *[f for f in fields if f in header]])
    present = [f for f in fields if f in header]
    build = _attribute_builder(present)
    has_ts = "timestamp" in header
    report = BulkReport()
    memo: dict[tuple[Any, ...], dict[str, Any]] = {}
    writer: Any = None
    line = 1  # header line
    try:
        for batch in _batches(input_path, [unit_col, "stage"]):
            cols = {name: batch.column(name).to_pylist() for name in (unit_col, "stage", *present)}
            ts = batch.column("timestamp").to_pylist() if has_ts else None
            rows = _assign_batch(
                experiment, cols, unit_col, present, build, memo, ts, timestamp, line, report
            )
            line += batch.num_rows
            report.rows_in += batch.num_rows
            table = pa.table(rows, schema=_SCHEMA)
            report.rows_out += table.num_rows
            if writer is None:
                writer = _open_writer(output_path, out_format)
            writer.write_table(table)
            if progress is not None:
                progress(batch.num_rows)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{input_path}: cannot parse near line {line}: {exc}") from None
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        _open_writer(output_path, out_format).close()
    return report


_SCHEMA = pa.schema(
    [
        ("unit_id", pa.string()),
        ("experiment", pa.string()),
        ("iteration", pa.int64()),
        ("segment", pa.string()),
        ("stage", pa.string()),
        ("variant", pa.string()),
        ("bucket", pa.int64()),
        ("in_experiment", pa.bool_()),
        ("reason", pa.string()),
        ("timestamp", pa.string()),
    ]
)


def _open_writer(path: Path, fmt: str) -> Any:
    if fmt == "parquet":
        return pq.ParquetWriter(path, _SCHEMA)
    return pacsv.CSVWriter(path, _SCHEMA)


def _peek_columns(path: Path) -> list[str]:
    if _format(path) == "parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    with path.open("rb") as fh:
        first = fh.readline()
    if not first:
        raise DataError(f"{path}: empty file; expected a header row")
    return pacsv.read_csv(
        pa.py_buffer(first), read_options=pacsv.ReadOptions(autogenerate_column_names=False)
    ).column_names


def _assign_batch(
    exp: Experiment,
    cols: dict[str, list[Any]],
    unit_col: str,
    present: list[str],
    build: Callable[[tuple[Any, ...]], dict[str, Any]],
    memo: dict[tuple[Any, ...], dict[str, Any]],
    ts: list[Any] | None,
    timestamp: str,
    first_line: int,
    report: BulkReport,
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {c: [] for c in OUTPUT_COLUMNS}
    units, stages = cols[unit_col], cols["stage"]
    attr_cols = [cols[f] for f in present]
    values_iter = zip(*attr_cols, strict=True) if attr_cols else (() for _ in units)
    reasons = report.reasons
    for i, (unit, stage, values) in enumerate(zip(units, stages, values_iter, strict=True)):
        if unit is None or unit == "":
            report.add_problem(f"line {first_line + i + 1}: empty {unit_col!r}")
            continue
        if isinstance(unit, float):
            if unit != unit or not unit.is_integer():
                report.add_problem(f"line {first_line + i + 1}: invalid {unit_col!r} {unit!r}")
                continue
            unit = int(unit)
        attrs = memo.get(values)
        if attrs is None:
            attrs = build(values)
            if len(memo) < 100_000:
                memo[values] = attrs
        try:
            a = assign(exp, unit if isinstance(unit, str) else str(unit), attrs, stage)
        except SegabError as exc:
            report.add_problem(f"line {first_line + i + 1}: {exc}")
            continue
        out["unit_id"].append(a.unit_id)
        out["experiment"].append(a.experiment)
        out["iteration"].append(a.iteration)
        out["segment"].append(a.segment)
        out["stage"].append(a.stage)
        out["variant"].append(a.variant)
        out["bucket"].append(a.bucket)
        out["in_experiment"].append(a.in_experiment)
        out["reason"].append(a.reason.value)
        out["timestamp"].append(ts[i] if ts is not None else timestamp)
        reasons[a.reason.value] = reasons.get(a.reason.value, 0) + 1
    if ts is not None:
        out["timestamp"] = [None if t is None else str(t) for t in out["timestamp"]]
    return out
