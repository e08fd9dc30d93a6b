"""Per-cell sufficient statistics computed in Spark: an :class:`~segab.sums.sources.Engine`.

:class:`SparkEngine` runs the SQL that :mod:`segab.sums.statements` builds for the
``spark`` dialect of :mod:`segab.sql.dialects` (backquoted identifiers, ``STRING``
and ``DOUBLE``, timestamps as ``CAST(CAST(x AS TIMESTAMP) AS DOUBLE)`` in the
session's UTC time zone, ``:p0`` parameters), so only the small GROUP BY results
come back to Python. Nothing is rewritten after it is built.

Inputs: a Parquet or CSV path (read by Spark; CSV with ``inferSchema`` and the id
columns as strings), a pandas DataFrame, or the name of a table in the session's
catalog. A local file is checked first as DuckDB's are (:mod:`segab.sums.files`),
CSV is read with the header's delimiter, RFC 4180 quotes and ``mode=FAILFAST`` (a
malformed row is an error, never a row of NULLs), and a file Spark fails to read
is named in the error, with the line for CSV (from
:func:`segab.sums.files.scan_csv`). Spark replaces bytes that are not UTF-8 after
the header instead of failing.

Sums are in DOUBLE; they equal DuckDB's whenever they are exact in double precision
(counts, binary metrics, values on a binary grid), and otherwise may differ in the
last bits, as two DuckDB runs with different thread counts can.

Example:
    >>> SparkEngine.dialect
    'spark'
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from segab.bulk.spark_engine import spark_session
from segab.errors import DataError, SqlError
from segab.sql.dialects import get_dialect
from segab.sums.files import (
    CsvLayout,
    check_parquet,
    csv_layout,
    file_kind,
    input_files,
    scan_csv,
    unique_columns,
)
from segab.sums.sources import Relation, Source

__all__ = ["SparkEngine", "open_spark_engine"]

_COUNTER = itertools.count()


class SparkEngine:
    """Runs :mod:`segab.sums.statements` statements, built for the ``spark`` dialect, in a session.

    Example:
        >>> SparkEngine.dialect
        'spark'
    """

    dialect = "spark"

    def __init__(self, spark: Any, owns_session: bool = False) -> None:
        self.spark = spark
        self._owns = owns_session
        self._views: list[str] = []
        self._csv: dict[str, CsvLayout] = {}  # CSV files read: located when Spark fails
        spark.conf.set("spark.sql.ansi.enabled", "true")
        spark.conf.set("spark.sql.session.timeZone", "UTC")

    def relation(self, source: Source, role: str, text_columns: Iterable[str]) -> Relation:
        """A temporary view over a path or DataFrame, or a catalog table, as a Relation.

        Example:
            >>> SparkEngine.relation.__name__
            'relation'
        """
        texts = set(text_columns)
        if isinstance(source, pd.DataFrame):
            unique_columns(map(str, source.columns), f"<{role} DataFrame>")
            df = self.spark.createDataFrame(source)
            label = f"<{role} DataFrame>"
        else:
            path = str(source)
            label = path
            kind = file_kind(path)
            local = kind is not None and "://" not in path and not Path(path).is_dir()
            files = input_files(path, role) if local else []
            for name in files if kind == "parquet" else []:
                check_parquet(name, role)
            layouts = {name: csv_layout(name, role) for name in files} if kind == "csv" else {}
            self._csv.update({os.path.abspath(name): lay for name, lay in layouts.items()})
            tab = path.lower().endswith((".tsv", ".tsv.gz"))
            delimiter = layouts[files[0]].delimiter if layouts else "\t" if tab else ","
            try:
                if kind == "parquet" or Path(path).is_dir():
                    df = self.spark.read.parquet(path)
                elif kind == "csv":
                    df = self._read_csv(path, texts, delimiter)
                elif self.spark.catalog.tableExists(path):
                    df = self.spark.table(path)
                else:
                    raise DataError(
                        f"{path}: no such file or Spark table ({role} table); expected a CSV "
                        "or Parquet path or a table in the Spark catalog"
                    )
            except DataError:
                raise
            except Exception as exc:  # py4j / analysis errors
                located = self._located(exc)
                first = _spark_message(exc)
                raise DataError(
                    located or f"{path}: Spark cannot read the {role} table: {first}"
                ) from None
        view = f"segab_{role}_{next(_COUNTER)}"
        df.createOrReplaceTempView(view)
        self._views.append(view)
        types = {f.name: f.dataType.simpleString().lower() for f in df.schema.fields}
        return Relation(get_dialect("spark").quote(view), tuple(types), types, label)

    def _read_csv(self, path: str, texts: set[str], delimiter: str) -> Any:
        from pyspark.sql.types import StringType, StructField, StructType

        reader = (
            self.spark.read.option("header", "true")
            .option("sep", delimiter)
            .option("quote", '"')
            .option("escape", '"')
            .option("mode", "FAILFAST")
        )
        inferred = reader.option("inferSchema", "true").csv(path).schema
        fields = [
            StructField(f.name, StringType(), True) if f.name in texts else f
            for f in inferred.fields
        ]
        return reader.schema(StructType(fields)).csv(path)

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """Run one statement in Spark; return its (small) result as a DataFrame.

        Example:
            >>> SparkEngine.query.__name__
            'query'
        """
        used = set(re.findall(r":(p\d+)\b", sql))
        args = {k: v for k, v in params.items() if k in used}
        try:
            df = self.spark.sql(sql, args=args or None)
            rows = df.collect()
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                located = self._located(exc)
                if located is not None:
                    raise DataError(located) from None
                raise SqlError(f"spark query failed: {_spark_message(exc)}") from None
            raise
        return pd.DataFrame([tuple(r) for r in rows], columns=list(df.columns))

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        """Run one statement whose result is not needed.

        Example:
            >>> SparkEngine.execute.__name__
            'execute'
        """
        self.query(sql, params)

    def rows(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement; its column names and rows as tuples.

        Example:
            >>> SparkEngine.rows.__name__
            'rows'
        """
        df = self.query(sql, params)
        return list(df.columns), [tuple(r) for r in df.itertuples(index=False)]

    def _located(self, exc: Exception) -> str | None:
        """For Spark's 'error while reading file X': X, and the line for a CSV file."""
        m = _FAILED_FILE.search(str(exc))
        if m is None:
            return None
        name = m.group(1).rstrip(".").removeprefix("file://")
        layout = self._csv.get(os.path.abspath(name))
        if layout is not None:
            located = scan_csv(name, layout)
            if located is not None:
                return located
            expected = "a well-formed CSV file"
        else:
            kinds = {"csv": "a well-formed CSV file", "parquet": "an intact Parquet file"}
            expected = kinds.get(file_kind(name) or "", "a readable file")
        return f"{name}: Spark cannot read it: {_spark_message(exc)}; expected {expected}"

    def close(self) -> None:
        """Drop the temporary views (and stop the session if this engine started it).

        Example:
            >>> SparkEngine.close.__name__
            'close'
        """
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        if self._owns:
            self.spark.stop()


_FAILED_FILE = re.compile(r"error while reading file (\S+)")
_ERROR_CLASS = re.compile(r"\[[A-Z_.]+\].*")


def _spark_message(exc: Exception) -> str:
    """The informative line of a Spark/py4j error (its ``[ERROR_CLASS] ...`` line if any).

    Example:
        >>> _spark_message(RuntimeError("An error occurred while calling o1.x.\\n: [BAD] why"))
        '[BAD] why'
    """
    text = str(exc).strip()
    m = _ERROR_CLASS.search(text)
    if m is not None:
        return m.group(0).strip()
    return text.splitlines()[0] if text else repr(exc)


@contextmanager
def open_spark_engine(spark: Any = None, master: str | None = None) -> Iterator[SparkEngine]:
    """A :class:`SparkEngine` on ``spark``, or on a new session (``master``, default local).

    Example:
        >>> with open_spark_engine(master="local[2]") as eng:   # doctest: +SKIP
        ...     eng.query("SELECT 1 AS x", {})["x"].tolist()
        [1]
    """
    if spark is None:
        spark = spark_session(master)
        # a file Spark cannot read is reported as one Error line; not as the JVM's stack traces
        spark.sparkContext.setLogLevel("FATAL")
        engine = SparkEngine(spark, owns_session=True)
    else:
        engine = SparkEngine(spark)
    try:
        yield engine
    finally:
        engine.close()
