"""What the bulk assignment engines share: reading the input, writing the output (shell).

:mod:`segab.bulk` (Python), :mod:`segab.bulk.duckdb_engine` (DuckDB) and
:mod:`segab.bulk.spark_engine` (Spark) import this module and :mod:`segab.bulk.report`;
neither imports an engine.

- **Input**: the format of a path, its header and row count, a CSV reader that
  keeps every cell as text, and how each attribute column is read
  (:func:`column_reads`): a typed column (Parquet) as it is, a text column cell
  by cell (:mod:`segab.text_values`), or as the experiment's ``attributes``
  declare.
- **Output**: :func:`check_paths` refuses an output that is the input file, and
  :func:`atomic_output` (from :mod:`segab.atomic`, one mechanism for every
  output) writes beside the target and renames on success, so an error,
  Ctrl-C, SIGTERM or a full disk never leaves a partial file at the target and
  never touches an earlier one.
- The report of a run and its bad rows live in :mod:`segab.bulk.report`.

Example:
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "out.csv"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("unit_id\\n")
    ...     target.exists()
    False
    >>> target.read_text(), os.listdir(target.parent)
    ('unit_id\\n', ['out.csv'])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segab.atomic import atomic_output
from segab.conditions import condition_fields
from segab.config.models import Experiment, SegmentDef
from segab.errors import DataError, MissingColumnError
from segab.sql.conditions import ColumnKind, column_kind
from segab.sql.dialects import Dialect
from segab.sql.text_values import bad_text_sql, typed_text_sql
from segab.text_values import AttributeType

__all__ = [
    "ColumnRead",
    "atomic_output",
    "check_paths",
    "column_reads",
    "condition_columns",
    "count_rows",
    "csv_reader",
    "file_format",
    "read_header",
    "typed_source_sql",
]

# --------------------------------------------------------------------------- input


def file_format(path: Path) -> str:
    """``csv`` or ``parquet``, from the file name's suffix.

    Example:
        >>> file_format(Path("units.PQ")), file_format(Path("units.txt"))
        ('parquet', 'csv')
    """
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected .csv or .parquet")


def count_rows(path: str | Path) -> int:
    """Number of data rows in a CSV (newline count less the header) or Parquet file.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "u.csv"
        >>> _ = p.write_text("id,stage\\nu1,buy\\nu2,buy")
        >>> count_rows(p)
        2
    """
    path = Path(path)
    if file_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def read_header(path: Path) -> list[str]:
    """The column names of a CSV or Parquet file.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "u.csv"
        >>> _ = p.write_text('id,"device.os"\\n')
        >>> read_header(p)
        ['id', 'device.os']
    """
    if file_format(path) == "parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise DataError(f"{path}: empty first line; expected a header row")
    try:
        return pacsv.read_csv(
            pa.py_buffer(first), read_options=pacsv.ReadOptions(autogenerate_column_names=False)
        ).column_names
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path}: line 1: cannot read the header: {exc}") from None


def csv_reader(
    path: Path, columns: Sequence[str] | None = None, block_size: int = 8 << 20
) -> pa.RecordBatchReader:
    """Stream a CSV file with every cell as text (an empty cell is NULL), in file order.

    No column is typed from its other cells: :mod:`segab.text_values` types
    the attribute cells one by one. A quoted value may hold line breaks.
    ``columns`` selects columns.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "u.csv"
        >>> _ = p.write_text("id,age\\n007,30\\n,x\\n")
        >>> csv_reader(p).read_all().to_pydict()
        {'id': ['007', None], 'age': ['30', 'x']}
    """
    header = read_header(path)
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=block_size),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            include_columns=list(columns) if columns is not None else None,
        ),
    )


def condition_columns(experiment: Experiment) -> set[str]:
    """The attribute paths the experiment's segment conditions read.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "old", "when": {"age": {"$gt": 50}}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> condition_columns(exp)
        {'age'}
    """
    fields: set[str] = set()
    for seg in experiment.segments:
        if isinstance(seg, SegmentDef):
            fields |= condition_fields(seg.when)
    return fields


def require_columns(source: Any, have: Sequence[str], experiment: Experiment) -> None:
    """Raise :class:`MissingColumnError` unless the unit and ``stage`` columns are there.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> require_columns("u.csv", ["id", "stage"], exp)
    """
    missing = [c for c in (experiment.unit, "stage") if c not in have]
    if missing:
        raise MissingColumnError(
            f"{source}: missing column(s) {missing}; the file has {list(have)}; expected the "
            "unit column, 'stage' and the attribute columns the segments read"
        )


@dataclass(frozen=True)
class ColumnRead:
    """How one input column is read: the kind conditions see, and whether its cells are
    text typed one by one (``text``) as ``declared`` says (``None``: per value).

    Example:
        >>> ColumnRead("mixed", text=True)
        ColumnRead(kind='mixed', text=True, declared=None)
    """

    kind: ColumnKind
    text: bool = False
    declared: AttributeType | None = None


_DECLARABLE: dict[AttributeType, tuple[str, ...]] = {
    "number": ("number", "float"),
    "boolean": ("boolean",),
    "string": ("string",),
}


def column_reads(
    experiment: Experiment, schema: Mapping[str, str], source: Any = "input", *, text: bool = False
) -> dict[str, ColumnRead]:
    """How to read the unit column and each attribute column the conditions read.

    ``schema`` maps column names to engine type names; ``text`` says every
    column is text (a CSV file). A text attribute column is typed cell by cell
    (kind ``mixed``) unless ``experiment.attributes`` declares it; a typed
    column is read as it is, and must agree with a declaration (a string column
    declared ``number`` or ``boolean`` is read as text). Attribute columns that
    are absent are missing attributes (NULL).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "attributes": {"vip": "boolean"},
        ...     "segments": [{"key": "s", "when": {"age": {"$gt": 50}, "vip": True}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> reads = column_reads(exp, {"id": "VARCHAR", "stage": "VARCHAR", "age": "VARCHAR",
        ...                            "vip": "VARCHAR"}, text=True)
        >>> {name: (r.kind, r.declared) for name, r in reads.items()}
        {'id': ('string', None), 'age': ('mixed', None), 'vip': ('boolean', 'boolean')}
    """
    require_columns(source, list(schema), experiment)
    unit = experiment.unit
    for name in experiment.attributes:
        if name in (unit, "stage"):
            raise DataError(
                f"{experiment.source}: attributes.{name}: the unit and 'stage' columns are "
                "always read as text; declare only attribute columns"
            )
    unit_kind = "string" if text else column_kind(schema[unit])
    reads = {unit: ColumnRead(unit_kind)} if unit_kind is not None else {}
    for name in sorted(condition_columns(experiment)):
        if name not in schema:
            continue
        declared = experiment.attributes.get(name)
        kind = "string" if text else column_kind(schema[name])
        if kind is None:
            raise DataError(
                f"{source}: column {name!r} has type {schema[name]}; segment conditions "
                "read number, string and boolean columns"
            )
        if kind == "string" and (text or declared in ("number", "boolean")):
            if name == unit and declared is None:
                reads[name] = ColumnRead("mixed", text=True)  # hashed as text, typed per cell
            else:
                reads[name] = ColumnRead(declared or "mixed", text=True, declared=declared)
        elif declared is not None and kind not in _DECLARABLE[declared] + ("null",):
            raise DataError(
                f"{source}: column {name!r} has type {schema[name]} but "
                f"{experiment.source}: attributes.{name} declares it {declared}"
            )
        else:
            reads[name] = ColumnRead(kind)
    return reads


def typed_source_sql(
    d: Dialect,
    experiment: Experiment,
    source: str,
    reads: Mapping[str, ColumnRead],
    schema: Mapping[str, str],
    *,
    empty_is_null: bool,
) -> str:
    """A ``SELECT`` of the columns assignment reads, typed as ``reads`` says, without the
    rows whose text cells do not fit their type (:func:`find_bad_rows` lists them).

    With ``empty_is_null`` an empty string is NULL in every column (Spark reads a
    quoted ``""`` in a CSV file as an empty string; pyarrow's reader, used for
    DuckDB, already reads every empty cell as NULL).

    Example:
        >>> from segab.config import parse_experiment
        >>> from segab.sql.dialects import get_dialect
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "attributes": {"vip": "boolean"},
        ...     "segments": [{"key": "s", "when": {"vip": True}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> schema = {"id": "VARCHAR", "stage": "VARCHAR", "vip": "VARCHAR"}
        >>> reads = column_reads(exp, schema, text=True)
        >>> d = get_dialect("duckdb")
        >>> sql = typed_source_sql(d, exp, "units", reads, schema, empty_is_null=True)
        >>> print(sql)
        SELECT NULLIF("id", '') AS "id", NULLIF("stage", '') AS "stage", CASE WHEN "vip" IN ('true', 'True', 'TRUE') THEN TRUE WHEN "vip" IN ('false', 'False', 'FALSE') THEN FALSE END AS "vip"
        FROM units
        WHERE NOT COALESCE(("vip" IS NOT NULL AND "vip" <> '' AND NOT "vip" IN ('true', 'True', 'TRUE', 'false', 'False', 'FALSE')), FALSE)
    """  # noqa: E501
    names = [experiment.unit, "stage", *(["timestamp"] if "timestamp" in schema else [])]
    names += [n for n in reads if n not in names]
    select, bad = [], []
    for name in names:
        col, r = d.quote(name), reads.get(name)
        if r is not None and r.text and r.declared in ("number", "boolean"):
            expr = typed_text_sql(d, col, r.declared)
        elif empty_is_null:
            expr = f"NULLIF({col}, '')"
        else:
            expr = col
        select.append(f"{expr} AS {col}")
        if r is not None and r.text:
            check = bad_text_sql(d, col, r.declared)
            if check != "FALSE":
                bad.append(check)
    where = f"\nWHERE NOT COALESCE({' OR '.join(bad)}, FALSE)" if bad else ""
    return f"SELECT {', '.join(select)}\nFROM {source}{where}"


# --------------------------------------------------------------------------- output


def check_paths(input_path: Path, output_path: Path) -> None:
    """Refuse a missing input, and an output that is the input file (also via a link).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); p = d / "u.csv"; _ = p.write_text("id\\n")
        >>> try:
        ...     check_paths(p, d / "." / "u.csv")
        ... except DataError as exc:
        ...     print(str(exc).split("; ")[-1])
        write the assignments to another file
    """
    if not input_path.is_file():
        raise DataError(f"{input_path}: no such file")
    if output_path.exists() and os.path.samefile(input_path, output_path):
        raise DataError(
            f"{output_path}: this output is the input file {input_path}; "
            "write the assignments to another file"
        )
