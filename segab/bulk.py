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

import contextlib
import datetime as dt
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segab.assignment import CellPlan, draw, plan_of, resolve_segment
from segab.assignment_types import Reason
from segab.conditions import condition_fields
from segab.config.models import Experiment, SegmentDef
from segab.errors import DataError, MissingColumnError

__all__ = ["OUTPUT_COLUMNS", "BulkReport", "assign_file", "count_rows", "nest_attributes"]

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
CHUNK_BYTES = 2 << 20


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
    notes: list[str] = field(default_factory=list)

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


def nest_attributes(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested attributes from dotted names (``device.os`` → ``{"device": {"os": ...}}``).

    Example:
        >>> nest_attributes([("device.os", "ios"), ("age", 3)])
        {'device': {'os': 'ios'}, 'age': 3}
    """
    out: dict[str, Any] = {}
    for name, value in pairs:
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _attribute_builder(fields: list[str]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    dotted = [f for f in fields if "." in f]
    if not dotted:
        return lambda values: dict(zip(fields, values, strict=True))

    def build(values: tuple[Any, ...]) -> dict[str, Any]:
        return nest_attributes(zip(fields, values, strict=True))

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


class _BatchAssigner:
    """Assigns record batches; one per process (it keeps a memo of segment look-ups)."""

    def __init__(self, experiment: Experiment, header: list[str], timestamp: str) -> None:
        plan_of(experiment)
        self.experiment = experiment
        self.unit_col = experiment.unit
        fields = _needed_fields(experiment, header)
        self.present = [f for f in fields if f in header]
        self.absent = [f for f in fields if f not in header]
        self.build = _attribute_builder(self.present)
        self.has_ts = "timestamp" in header
        self.timestamp = timestamp
        self.memo: dict[tuple[Any, ...], tuple[str | None, dict[str, CellPlan]]] = {}

    def __call__(self, batch: pa.RecordBatch, first_line: int) -> tuple[pa.Table, BulkReport]:
        report = BulkReport(rows_in=batch.num_rows)
        names = (self.unit_col, "stage", *self.present)
        cols = {name: batch.column(name).to_pylist() for name in names}
        ts = batch.column("timestamp").to_pylist() if self.has_ts else None
        rows = _assign_batch(
            self.experiment,
            cols,
            self.unit_col,
            self.present,
            self.build,
            self.memo,
            ts,
            self.timestamp,
            first_line,
            report,
        )
        table = pa.table(rows, schema=_SCHEMA)
        report.rows_out = table.num_rows
        return table, report


_WORKER: _BatchAssigner | None = None


def _init_worker(config: dict[str, Any], source: str, header: list[str], timestamp: str) -> None:
    global _WORKER
    from segab.config.loader import parse_experiment

    _WORKER = _BatchAssigner(parse_experiment(config, source), header, timestamp)


def _work(task: tuple[pa.RecordBatch, int]) -> tuple[pa.Table, BulkReport]:
    if _WORKER is None:  # pragma: no cover - the pool initializer always runs first
        raise DataError("bulk worker used before initialisation")
    return _WORKER(*task)


def _merge(total: BulkReport, part: BulkReport) -> None:
    total.rows_in += part.rows_in
    total.rows_out += part.rows_out
    total.bad_rows += part.bad_rows
    room = MAX_REPORTED - len(total.problems)
    total.problems.extend(part.problems[: max(room, 0)])
    for reason, count in part.reasons.items():
        total.reasons[reason] = total.reasons.get(reason, 0) + count


def assign_file(
    experiment: Experiment,
    input_path: str | Path,
    output_path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
) -> BulkReport:
    """Assign every row of ``input_path`` and write the result to ``output_path``.

    ``progress`` is called with the number of rows done after each chunk.
    ``workers`` processes assign batches in parallel (default: one per core for
    inputs over 200,000 rows, else 1); output order equals input order.

    Example:
        >>> assign_file.__name__   # see the module docstring for a full run
        'assign_file'
    """
    input_path, output_path = Path(input_path), Path(output_path)
    out_format = _format(output_path)
    timestamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    header = _peek_columns(input_path)
    local = _BatchAssigner(experiment, header, timestamp)
    _require(input_path, header, [local.unit_col, "stage"])
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if count_rows(input_path) > 200_000 else 1
    report = BulkReport()
    if local.absent:
        report.notes.append(
            f"columns read by segment conditions but absent from {input_path.name}: "
            f"{local.absent}; those attributes are treated as missing"
        )
    writer: Any = None
    line = 1  # the header line

    def tasks() -> Iterator[tuple[pa.RecordBatch, int]]:
        nonlocal line
        for batch in _batches(input_path, [local.unit_col, "stage"]):
            yield batch, line
            line += batch.num_rows

    try:
        with _pool(workers, experiment, header, timestamp) as pool:
            results = pool.imap(_work, tasks()) if pool else (local(*t) for t in tasks())
            for table, part in results:
                _merge(report, part)
                if writer is None:
                    writer = _open_writer(output_path, out_format)
                writer.write_table(table)
                if progress is not None:
                    progress(part.rows_in)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{input_path}: cannot parse near line {line}: {exc}") from None
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        _open_writer(output_path, out_format).close()
    return report


@contextlib.contextmanager
def _pool(workers: int, experiment: Experiment, header: list[str], timestamp: str) -> Iterator[Any]:
    if workers <= 1:
        yield None
        return
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "forkserver")
    config = experiment.model_dump(mode="json")
    with ctx.Pool(workers, _init_worker, (config, experiment.source, header, timestamp)) as pool:
        yield pool


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
    memo: dict[tuple[Any, ...], tuple[str | None, dict[str, CellPlan]]],
    ts: list[Any] | None,
    timestamp: str,
    first_line: int,
    report: BulkReport,
) -> dict[str, Any]:
    """Assign one batch with the same :func:`draw` as :func:`segab.assign`; segments are
    resolved once per distinct combination of the attributes the conditions read."""
    plan = plan_of(exp)
    stages = plan.stages
    units, stage_col = cols[unit_col], cols["stage"]
    attr_cols = [cols[f] for f in present]
    values_iter = zip(*attr_cols, strict=True) if attr_cols else (() for _ in units)
    out_units: list[str] = []
    out_segments: list[str | None] = []
    out_stages: list[str] = []
    out_variants: list[str | None] = []
    out_buckets: list[int | None] = []
    out_reasons: list[str] = []
    kept: list[int] = []
    assigned = Reason.ASSIGNED.value
    for i, (unit, stage, values) in enumerate(zip(units, stage_col, values_iter, strict=True)):
        if unit is None or unit == "":
            report.add_problem(f"line {first_line + i + 1}: empty {unit_col!r} (stage {stage!r})")
            continue
        if type(unit) is not str:
            if isinstance(unit, float) and not unit.is_integer():
                report.add_problem(f"line {first_line + i + 1}: invalid {unit_col!r} {unit!r}")
                continue
            unit = str(int(unit))
        if stage not in stages:
            report.add_problem(
                f"line {first_line + i + 1}: unit {unit!r}: unknown stage {stage!r} for "
                f"experiment {plan.key!r}; expected one of {sorted(stages)}"
            )
            continue
        hit = memo.get(values)
        if hit is None:
            hit = resolve_segment(plan, build(values))
            if len(memo) < 200_000:
                memo[values] = hit
        a = draw(plan, unit, hit[0], hit[1], stage)
        segment, variant, b, reason = a.segment, a.variant, a.bucket, a.reason.value
        out_units.append(unit)
        out_segments.append(segment)
        out_stages.append(stage)
        out_variants.append(variant)
        out_buckets.append(b)
        out_reasons.append(reason)
        kept.append(i)
    counts = report.reasons
    for reason, count in Counter(out_reasons).items():
        counts[reason] = counts.get(reason, 0) + count
    n = len(out_units)
    return {
        "unit_id": out_units,
        "experiment": pa.repeat(plan.key, n),
        "iteration": pa.repeat(plan.iteration, n),
        "segment": out_segments,
        "stage": out_stages,
        "variant": out_variants,
        "bucket": out_buckets,
        "in_experiment": [r == assigned for r in out_reasons],
        "reason": out_reasons,
        "timestamp": pa.repeat(timestamp, n)
        if ts is None
        else [None if ts[i] is None else str(ts[i]) for i in kept],
    }
