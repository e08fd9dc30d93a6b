"""The report of a bulk run and its bad rows, with their true locations (imperative shell).

Every bulk engine returns a :class:`BulkReport` and words a bad row the same
way (:func:`bad_row_message`, :func:`bad_value_message`). The SQL engines count
bad rows as rows in less rows out and call :func:`find_bad_rows` to say which
they were; :func:`locate` turns row indexes into locations:

- in a CSV file, ``line N`` is the line of the file where the row starts,
  counted from 1 with the header as line 1 (empty lines, which the readers
  skip, and line breaks inside quoted values are counted);
- in a Parquet file, ``row N`` is the N-th row, counted from 1.

Example:
    >>> r = BulkReport(rows_in=3, rows_out=2)
    >>> r.add_problem("empty 'id'", row=1)
    >>> r.bad_rows, r.pending
    (1, [(1, "empty 'id'")])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segab.bulk.files import ColumnRead, csv_reader, file_format
from segab.config.models import Experiment
from segab.text_values import AttributeType, BadValueError, read_text

__all__ = [
    "MAX_REPORTED",
    "BulkReport",
    "bad_row_message",
    "bad_value_message",
    "find_bad_rows",
    "locate",
]

MAX_REPORTED = 20


@dataclass
class BulkReport:
    """What a bulk run did: rows read and written, bad rows with their locations.

    ``problems`` holds the first few bad rows' messages; ``pending`` holds those
    whose location (a 0-based data row index) :func:`locate` has not yet turned
    into a line number.

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
    pending: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def add_problem(self, message: str, row: int | None = None) -> None:
        """Count a bad row and keep its message (the first few only), at data row ``row``.

        Example:
            >>> r = BulkReport(); r.add_problem("line 3: empty id"); r.bad_rows
            1
        """
        self.bad_rows += 1
        if len(self.problems) + len(self.pending) >= MAX_REPORTED:
            return
        if row is None:
            self.problems.append(message)
        else:
            self.pending.append((row, message))

    def merge(self, part: BulkReport) -> None:
        """Add the counts and the first problems of a later part of the same file.

        Example:
            >>> a, b = BulkReport(rows_in=2), BulkReport(rows_in=3, reasons={"assigned": 3})
            >>> a.merge(b); a.rows_in, a.reasons
            (5, {'assigned': 3})
        """
        self.rows_in += part.rows_in
        self.rows_out += part.rows_out
        self.bad_rows += part.bad_rows
        room = max(MAX_REPORTED - len(self.problems) - len(self.pending), 0)
        self.problems.extend(part.problems[:room])
        room = max(MAX_REPORTED - len(self.problems) - len(self.pending), 0)
        self.pending.extend(part.pending[:room])
        for reason, count in part.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


def bad_row_message(exp: Experiment, unit_id: Any, stage: Any) -> str:
    """Why a row with this unit id and stage is skipped (every engine says it this way).

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


def bad_value_message(unit_id: Any, column: str, exc: BadValueError) -> str:
    """Why a row whose attribute cell does not fit its type is skipped.

    Example:
        >>> bad_value_message("u1", "age", BadValueError("'x' is not a number"))
        "unit 'u1': column 'age': 'x' is not a number"
    """
    return f"unit {unit_id!r}: column {column!r}: {exc}"


def _bad_units(units: pa.Array) -> pa.Array:
    """A mask of unit ids the engines refuse: NULL, empty, or a float that is not an integer."""
    if pa.types.is_floating(units.type):
        whole = pc.and_kleene(pc.is_finite(units), pc.equal(pc.floor(units), units))
        return pc.fill_null(pc.invert(whole), True)
    text = units if pa.types.is_string(units.type) else pc.cast(units, pa.string())
    return pc.fill_null(pc.equal(text, ""), True)


def _bad_cells(column: pa.Array, declared: AttributeType | None) -> pa.Array:
    """A mask of text cells :func:`read_text` refuses (each distinct value read once)."""
    distinct = pc.unique(column).to_pylist()
    bad = []
    for value in distinct:
        try:
            read_text(value, declared)
        except BadValueError:
            bad.append(value)
    if not bad:
        return pa.array([False] * len(column))
    return pc.fill_null(pc.is_in(column, pa.array(bad, pa.string())), False)


def find_bad_rows(
    experiment: Experiment, path: Path, reads: Mapping[str, ColumnRead], report: BulkReport
) -> None:
    """Rescan ``path`` in file order and put its first bad rows in ``report.pending``.

    A row is bad when its unit id is empty, its stage unknown, or a text cell does
    not fit its type (:class:`~segab.text_values.BadValueError`). The SQL engines count
    bad rows as rows in less rows out, and call this to say which they were.

    Example:
        >>> find_bad_rows.__name__
        'find_bad_rows'
    """
    unit = experiment.unit
    checked = {name: r for name, r in reads.items() if r.text}
    columns = list(dict.fromkeys([unit, "stage", *checked]))
    if file_format(path) == "csv":
        batches: Iterable[pa.RecordBatch] = csv_reader(path, columns)
    else:
        batches = pq.ParquetFile(path).iter_batches(columns=columns)
    stages = pa.array(list(experiment.stages), pa.string())
    offset = 0
    for batch in batches:
        units, stage_col = batch.column(unit), batch.column("stage")
        bad = pc.or_kleene(_bad_units(units), pc.invert(pc.is_in(stage_col, stages)))
        for name, r in checked.items():
            bad = pc.or_kleene(bad, _bad_cells(batch.column(name), r.declared))
        for idx in pc.indices_nonzero(pc.fill_null(bad, True)).to_pylist():
            unit_id, stage = units[idx].as_py(), stage_col[idx].as_py()
            message = _row_problem(experiment, unit_id, stage, batch, idx, checked)
            report.pending.append((offset + idx, message))
            if len(report.problems) + len(report.pending) >= MAX_REPORTED:
                return
        offset += batch.num_rows


def _row_problem(
    exp: Experiment,
    unit_id: Any,
    stage: Any,
    batch: pa.RecordBatch,
    idx: int,
    checked: Mapping[str, ColumnRead],
) -> str:
    unit_ok = unit_id is not None and unit_id != ""
    if isinstance(unit_id, float):
        unit_ok = unit_id.is_integer()
    if not unit_ok or stage not in exp.stages:
        return bad_row_message(exp, unit_id, stage)
    for name, r in checked.items():
        try:
            read_text(batch.column(name)[idx].as_py(), r.declared)
        except BadValueError as exc:
            return bad_value_message(unit_id, name, exc)
    return bad_row_message(exp, unit_id, stage)  # pragma: no cover - the mask said it was bad


def _physical_lines(path: Path, rows: Iterable[int]) -> dict[int, int]:
    """The file line (1-based) where each 0-based data row starts.

    Counts the empty lines the readers skip, and the lines of a quoted value that
    holds line breaks (quotes are RFC 4180's: ``"`` doubled inside a quoted value,
    so a line with an odd number of them opens or closes one).
    """
    wanted = sorted(set(rows))
    out: dict[int, int] = {}
    if not wanted:
        return out
    record = -1  # the header is record -1, the first data row record 0
    quoted = False
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not quoted:
                if line in (b"\n", b"\r\n"):
                    continue
                if record == wanted[len(out)]:
                    out[record] = number
                    if len(out) == len(wanted):
                        break
                record += 1
            if line.count(b'"') % 2:
                quoted = not quoted
    return out


def locate(report: BulkReport, path: Path) -> None:
    """Turn the pending bad rows' indexes into ``line N`` (CSV) or ``row N`` (Parquet).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "u.csv"
        >>> _ = p.write_text("id,stage\\n\\nu1,buy\\n,buy\\n")
        >>> r = BulkReport(); r.add_problem("empty 'id'", row=1); locate(r, p); r.problems
        ["line 4: empty 'id'"]
    """
    pending = sorted(report.pending)
    report.pending = []
    if file_format(path) == "parquet":
        report.problems.extend(f"row {row + 1}: {message}" for row, message in pending)
        return
    lines = _physical_lines(path, (row for row, _ in pending))
    report.problems.extend(f"line {lines.get(row, row + 2)}: {message}" for row, message in pending)
