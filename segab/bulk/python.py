"""Bulk assignment of a CSV or Parquet file of units in Python (imperative shell).

The input has the unit column (the experiment's ``unit``), a ``stage`` column
and attribute columns. It is read in chunks with pyarrow (a CSV file with every
cell as text, typed cell by cell by :mod:`segab.text_values` or as the
experiment's ``attributes`` declare), each row is assigned with the same
decisions as :func:`segab.assign`, and the rows are written to CSV or Parquet
with the exposure columns (``unit_id, experiment, iteration, segment, stage,
variant, bucket, in_experiment, reason, timestamp``). A bad row (empty id,
unknown stage, a cell that does not fit its declared type) is reported with its
line number and counted; the run goes on. The output is written beside the
target and renamed when complete (:func:`segab.bulk.files.atomic_output`).

With an allocation ``period`` the cells it lays out draw from its layout, and
with ``sticky`` (earlier variants, e.g. the store's exposures loaded by
:meth:`segab.store.sticky.StoreStickyLookup.load`) a unit that has already seen
one of its cell's variants keeps it: the rules of ``segab.assign(period=...,
previous=...)``, row by row.

Segment predicates only read the columns their conditions name, and rows with
the same values for those columns share one evaluation (a memo per process),
so the cost per row is dominated by the MD5 digest.

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
    >>> report.rows_in, report.rows_out, report.bad_rows, report.problems
    (2, 1, 1, ["line 3: empty 'user_id' (stage 'purchase')"])
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import getitem
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segab.allocation_types import AllocationPeriod
from segab.assignment import CellPlan, draw, plan_of, resolve_segment
from segab.assignment_types import Reason
from segab.bulk.files import (
    atomic_output,
    check_paths,
    column_reads,
    condition_columns,
    count_rows,
    csv_reader,
    file_format,
    read_header,
)
from segab.bulk.report import BulkReport, bad_row_message, bad_value_message, locate
from segab.config.models import Experiment
from segab.errors import DataError
from segab.sql.assign import ASSIGNMENT_COLUMNS
from segab.sticky import InMemoryStickyLookup
from segab.text_values import BadValueError, nest_attributes, text_reader

__all__ = ["OUTPUT_COLUMNS", "BulkReport", "assign_file", "count_rows", "nest_attributes"]

OUTPUT_COLUMNS = (*ASSIGNMENT_COLUMNS, "timestamp")
CHUNK_BYTES = 2 << 20


def _schema_of(path: Path) -> tuple[dict[str, str], bool]:
    """``{column: type name}`` and whether the file is text (CSV: every cell is text)."""
    if file_format(path) == "parquet":
        schema = pq.ParquetFile(path).schema_arrow
        return {f.name: str(f.type) for f in schema}, False
    return dict.fromkeys(read_header(path), "string"), True


def _attribute_builder(fields: list[str]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    if not any("." in f for f in fields):
        return lambda values: dict(zip(fields, values, strict=True))
    return lambda values: nest_attributes(zip(fields, values, strict=True))


def _needed_fields(exp: Experiment, available: list[str]) -> list[str]:
    # a dotted path may be a flat column ("device.os") or a prefix of one
    return sorted(
        f
        for f in condition_columns(exp)
        if f in available or not any(c.startswith(f) for c in available)
    )


class _TextCache(dict[Any, Any]):
    """A column's attribute value by text cell, read on first use (up to 100,000 texts)."""

    def __init__(self, name: str, read: Callable[[Any], Any], bad_seen: list[bool]) -> None:
        super().__init__()
        self.name, self.read, self.bad_seen = name, read, bad_seen

    def __missing__(self, cell: Any) -> Any:
        try:
            value = self.read(cell)
        except BadValueError as exc:
            value = _Bad(self.name, exc)
            self.bad_seen[0] = True
        if len(self) < 100_000:
            self[cell] = value
        return value


class _Same(dict[Any, Any]):
    """A typed column's cells are its values."""

    def __missing__(self, cell: Any) -> Any:
        return cell


@dataclass(frozen=True, slots=True)
class _Bad:
    """A memo entry: these attribute cells make the row bad."""

    column: str
    error: BadValueError


class _BatchAssigner:
    """Assigns record batches; one per process (it keeps a memo of segment look-ups)."""

    def __init__(
        self,
        experiment: Experiment,
        schema: dict[str, str],
        text: bool,
        timestamp: str,
        period: AllocationPeriod | None = None,
        previous: dict[tuple[str, str], tuple[str | None, str]] | None = None,
    ) -> None:
        plan_of(experiment)
        self.experiment = experiment
        self.period = period
        self.previous = previous
        self.unit_col = experiment.unit
        header = list(schema)
        reads = column_reads(experiment, schema, experiment.source, text=text)
        fields = _needed_fields(experiment, header)
        self.present = [f for f in fields if f in header]
        self.absent = [f for f in fields if f not in header]
        # per attribute column, its values by cell: read from text once, or the cell itself
        self.bad_seen = [False]
        self.caches: list[dict[Any, Any]] = [
            _TextCache(f, text_reader(reads[f].declared), self.bad_seen)
            if reads[f].text
            else _Same()
            for f in self.present
        ]
        self.any_text = any(reads[f].text for f in self.present)
        self.build = _attribute_builder(self.present)
        self.has_ts = "timestamp" in header
        self.columns = list(dict.fromkeys([self.unit_col, "stage", *self.present]))
        if self.has_ts:
            self.columns.append("timestamp")
        self.timestamp = timestamp
        self.memo: dict[tuple[Any, ...], tuple[str | None, dict[str, CellPlan]] | _Bad] = {}

    def resolve(self, cells: tuple[Any, ...]) -> tuple[str | None, dict[str, CellPlan]] | _Bad:
        """The segment of a combination of cells, or why one of them is bad (called once
        per distinct combination; each distinct text of a column is read once)."""
        values = tuple(map(getitem, self.caches, cells)) if self.any_text else cells
        if self.bad_seen[0]:
            for value in values:
                if type(value) is _Bad:
                    return value
        return resolve_segment(plan_of(self.experiment), self.build(values))

    def lookup(self, cells: tuple[Any, ...]) -> tuple[str | None, dict[str, CellPlan]] | _Bad:
        """:meth:`resolve`, memoized across batches (up to 200,000 combinations)."""
        hit = self.memo.get(cells)
        if hit is None:
            hit = self.resolve(cells)
            if len(self.memo) < 200_000:
                self.memo[cells] = hit
        return hit

    def segments(self, batch: pa.RecordBatch) -> list[Any]:
        """Each row's :meth:`lookup`, computed once per distinct combination of cells.

        The combinations are found in Arrow: each attribute column is dictionary
        encoded, and the codes are combined into one integer per row.
        """
        if not self.present:
            return [self.lookup(())] * batch.num_rows
        dictionaries, indices = [], []
        codes: pa.Array | None = None
        size = 1
        for name in self.present:
            encoded = pc.dictionary_encode(batch.column(name), null_encoding="encode")
            dictionaries.append(encoded.dictionary.to_pylist())
            index = encoded.indices.cast(pa.int64())
            indices.append(index)
            k = max(len(dictionaries[-1]), 1)
            if codes is None:
                codes, size = index, k
                continue
            if size * k >= 1 << 62:  # renumber the combinations seen so far
                dense = pc.dictionary_encode(codes)
                codes, size = dense.indices.cast(pa.int64()), len(dense.dictionary)
            codes = pc.add(pc.multiply(codes, k), index)
            size *= k
        distinct = pc.unique(codes)
        first_rows = pc.index_in(distinct, value_set=codes)
        combos = zip(*(pc.take(i, first_rows).to_pylist() for i in indices), strict=True)
        hits = [
            self.lookup(tuple(d[i] for d, i in zip(dictionaries, combo, strict=True)))
            for combo in combos
        ]
        return [hits[k] for k in pc.index_in(codes, value_set=distinct).to_pylist()]

    def __call__(self, batch: pa.RecordBatch, first_row: int) -> tuple[pa.Table, BulkReport]:
        report = BulkReport(rows_in=batch.num_rows)
        cols = {name: batch.column(name).to_pylist() for name in self.columns[:2]}
        if self.has_ts:
            cols["timestamp"] = batch.column("timestamp").to_pylist()
        rows = _assign_batch(self, cols, self.segments(batch), first_row, report)
        table = pa.table(rows, schema=_SCHEMA)
        report.rows_out = table.num_rows
        return table, report


_WORKER: _BatchAssigner | None = None


def _init_worker(
    config: dict[str, Any],
    source: str,
    schema: dict[str, str],
    text: bool,
    timestamp: str,
    period: AllocationPeriod | None,
    previous: dict[tuple[str, str], tuple[str | None, str]] | None,
) -> None:
    global _WORKER
    from segab.config.loader import parse_experiment

    # Ctrl-C reaches the whole process group: the parent stops the pool, workers stay quiet
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exp = parse_experiment(config, source)
    _WORKER = _BatchAssigner(exp, schema, text, timestamp, period, previous)


def _work(task: tuple[pa.RecordBatch, int]) -> tuple[pa.Table, BulkReport]:
    if _WORKER is None:  # pragma: no cover - the pool initializer always runs first
        raise DataError("bulk worker used before initialisation")
    return _WORKER(*task)


def assign_file(
    experiment: Experiment,
    input_path: str | Path,
    output_path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
    period: AllocationPeriod | None = None,
    sticky: InMemoryStickyLookup | None = None,
) -> BulkReport:
    """Assign every row of ``input_path`` and write the result to ``output_path``.

    ``period`` and ``sticky`` (the earlier variants of this experiment iteration)
    apply the rules of ``segab.assign(period=..., previous=...)`` to every row.

    ``progress`` is called with the number of rows done after each chunk.
    ``workers`` processes assign batches in parallel (default: one per core for
    inputs over 200,000 rows, else 1); output order equals input order, and the
    worker processes end before this returns. The output appears only when
    complete; an output path that is the input file is refused.

    Example:
        >>> assign_file.__name__   # see the module docstring for a full run
        'assign_file'
    """
    input_path, output_path = Path(input_path), Path(output_path)
    check_paths(input_path, output_path)
    out_format = file_format(output_path)
    timestamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    schema, text = _schema_of(input_path)
    previous = None
    if sticky is not None:
        previous = sticky.for_iteration(experiment.key, experiment.iteration)
    local = _BatchAssigner(experiment, schema, text, timestamp, period, previous)
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if count_rows(input_path) > 200_000 else 1
    report = BulkReport()
    if local.absent:
        report.notes.append(
            f"columns read by segment conditions but absent from {input_path.name}: "
            f"{local.absent}; those attributes are treated as missing"
        )
    row = 0

    def tasks() -> Iterator[tuple[pa.RecordBatch, int]]:
        nonlocal row
        if text:
            batches: Any = csv_reader(input_path, local.columns, CHUNK_BYTES)
        else:
            batches = pq.ParquetFile(input_path).iter_batches(65_536, columns=local.columns)
        for batch in batches:
            yield batch, row
            row += batch.num_rows

    try:
        with (
            atomic_output(output_path) as tmp,
            _pool(workers, experiment, (schema, text, timestamp, period, previous)) as pool,
            _writer(tmp, out_format) as write,
        ):
            results = pool.imap(_work, tasks()) if pool else (local(*t) for t in tasks())
            for table, part in results:
                report.merge(part)
                write(table)
                if progress is not None:
                    progress(part.rows_in)
    except pa.ArrowInvalid as exc:
        where = f"line {row + 2}" if text else f"row {row + 1}"
        raise DataError(f"{input_path}: cannot read from {where} on: {exc}") from None
    locate(report, input_path)
    return report


@contextlib.contextmanager
def _pool(workers: int, experiment: Experiment, rest: tuple[Any, ...]) -> Iterator[Any]:
    """Worker processes, all ended (joined) when the block ends, with or without an error.

    ``rest``: the arguments of :class:`_BatchAssigner` after the experiment."""
    if workers <= 1:
        yield None
        return
    # spawn: the workers are this process's own children (no fork server outlives the run)
    ctx = multiprocessing.get_context("spawn")
    config = experiment.model_dump(mode="json")
    args = (config, experiment.source, *rest)
    pool = ctx.Pool(workers, _init_worker, args)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


@contextlib.contextmanager
def _writer(path: Path, fmt: str) -> Iterator[Callable[[pa.Table], None]]:
    """Write tables to ``path`` (the file exists, with the header, even with no rows)."""
    writer: Any = pq.ParquetWriter(path, _SCHEMA) if fmt == "parquet" else None
    if writer is None:
        writer = pacsv.CSVWriter(path, _SCHEMA)
    try:
        yield writer.write_table
    finally:
        writer.close()


_TYPES = {"iteration": pa.int64(), "bucket": pa.int64(), "in_experiment": pa.bool_()}
_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in OUTPUT_COLUMNS])


def _assign_batch(
    job: _BatchAssigner,
    cols: dict[str, list[Any]],
    hits: list[Any],
    first_row: int,
    report: BulkReport,
) -> dict[str, Any]:
    """Assign one batch with the same :func:`draw` as :func:`segab.assign`, given each
    row's segment (``hits``, from :meth:`_BatchAssigner.segments`)."""
    exp = job.experiment
    plan = plan_of(exp)
    stages = plan.stages
    units, stage_col = cols[job.unit_col], cols["stage"]
    ts = cols["timestamp"] if job.has_ts else None
    out_units: list[str] = []
    out_segments: list[str | None] = []
    out_stages: list[str] = []
    out_variants: list[str | None] = []
    out_buckets: list[int | None] = []
    out_reasons: list[str] = []
    kept: list[int] = []
    in_experiment = {Reason.ASSIGNED.value, Reason.STICKY.value}
    period, previous = job.period, job.previous
    for i, (unit, stage, hit) in enumerate(zip(units, stage_col, hits, strict=True)):
        if type(unit) is not str and unit is not None:
            if isinstance(unit, float) and not unit.is_integer():
                report.add_problem(bad_row_message(exp, unit, stage), first_row + i)
                continue
            unit = str(int(unit))
        if unit is None or unit == "" or stage not in stages:
            report.add_problem(bad_row_message(exp, unit, stage), first_row + i)
            continue
        if type(hit) is _Bad:
            report.add_problem(bad_value_message(unit, hit.column, hit.error), first_row + i)
            continue
        segment, by_stage = hit
        if previous is None and period is None:
            a = draw(plan, unit, segment, by_stage, stage)
        else:
            seen = previous.get((unit, stage)) if previous is not None else None
            earlier = seen[1] if seen is not None and seen[0] == segment else None
            a = draw(plan, unit, segment, by_stage, stage, period, earlier)
        out_units.append(unit)
        out_segments.append(a.segment)
        out_stages.append(stage)
        out_variants.append(a.variant)
        out_buckets.append(a.bucket)
        out_reasons.append(a.reason.value)
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
        "in_experiment": [r in in_experiment for r in out_reasons],
        "reason": out_reasons,
        "timestamp": pa.repeat(job.timestamp, n)
        if ts is None
        else [None if ts[i] is None else str(ts[i]) for i in kept],
    }
