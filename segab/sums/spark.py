"""Per-cell sufficient statistics computed in Spark: an engine for :mod:`segab.analysis`.

:class:`SparkEngine` has the interface of :class:`segab.sums.sources.Engine`
(``dialect``, ``relation``, ``query``, ``close``), so the SQL built by
:mod:`segab.sums.plan` runs in Spark and only the small GROUP BY results come
back to Python. The builder is asked for its PostgreSQL flavour (named ``:p0``
parameters, ``CAST``, segment conditions compiled for PostgreSQL), which
:func:`to_spark_sql` rewrites for Spark SQL:

- ``DOUBLE PRECISION`` -> ``DOUBLE``, ``VARCHAR`` -> ``STRING``;
- ``CAST(EXTRACT(EPOCH FROM CAST(x AS TIMESTAMPTZ)) AS ...)`` ->
  ``CAST(CAST(x AS TIMESTAMP) AS DOUBLE)`` (epoch seconds, session time zone UTC);
- ``COLLATE "C"`` is dropped (Spark compares strings by code point);
- string literals are re-escaped (Spark reads backslashes in literals);
- ``"identifiers"`` stay, with ``spark.sql.ansi.doubleQuotedIdentifiers``.

Inputs: a Parquet or CSV path (read by Spark; CSV with ``inferSchema`` and the id
columns as strings), a pandas DataFrame, or the name of a table in the session's
catalog. Sums are in DOUBLE; they equal DuckDB's whenever they are exact in
double precision (counts, binary metrics, values on a binary grid), and otherwise
may differ in the last bits, as two DuckDB runs with different thread counts can.

Example:
    >>> print(to_spark_sql("SELECT CAST(\\"a\\" AS VARCHAR), 'it''s' WHERE x = 1"))
    SELECT CAST("a" AS STRING), 'it\\'s' WHERE x = 1
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from segab.errors import DataError, SqlError
from segab.sql.spark import spark_session
from segab.sums.sources import Relation, Source, quote_ident

__all__ = ["SparkEngine", "open_spark_engine", "to_spark_sql"]

_COUNTER = itertools.count()
_EPOCH = re.compile(
    r"CAST\(EXTRACT\(EPOCH FROM CAST\((?P<x>\"(?:[^\"]|\"\")*\") AS TIMESTAMPTZ\)\) AS DOUBLE\)"
)
_SQL_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^'\"]+")


def _rewrite_code(code: str) -> str:
    """Type names, outside literals and identifiers."""
    return re.sub(r"\bVARCHAR\b", "STRING", code.replace("DOUBLE PRECISION", "DOUBLE"))


def to_spark_sql(sql: str) -> str:
    """Rewrite the PostgreSQL flavour of :mod:`segab.sums.plan` into Spark SQL.

    Example:
        >>> to_spark_sql('SELECT CAST(EXTRACT(EPOCH FROM CAST("t" AS TIMESTAMPTZ)) '
        ...              'AS DOUBLE PRECISION) FROM x WHERE "s" COLLATE "C" < \\'b\\'')
        'SELECT CAST(CAST("t" AS TIMESTAMP) AS DOUBLE) FROM x WHERE "s" < \\'b\\''
    """
    out: list[str] = []
    tokens = _SQL_TOKENS.findall(sql)
    for tok in tokens:
        if tok.startswith("'"):
            text = tok[1:-1].replace("''", "'")
            out.append("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'")
        elif tok.startswith('"'):
            if tok == '"C"' and out and re.search(r"\bCOLLATE\s*$", out[-1]):
                out[-1] = re.sub(r"\s*\bCOLLATE\s*$", "", out[-1])
                continue
            out.append(tok)
        else:
            out.append(_rewrite_code(tok))
    return _EPOCH.sub(lambda m: f"CAST(CAST({m['x']} AS TIMESTAMP) AS DOUBLE)", "".join(out))


class SparkEngine:
    """Runs :mod:`segab.sums.plan` statements in a Spark session.

    ``dialect`` is the builder flavour to request (``postgresql``); every statement
    goes through :func:`to_spark_sql` before Spark parses it.

    Example:
        >>> SparkEngine.dialect
        'postgresql'
    """

    dialect = "postgresql"

    def __init__(self, spark: Any, owns_session: bool = False) -> None:
        self.spark = spark
        self._owns = owns_session
        self._views: list[str] = []
        spark.conf.set("spark.sql.ansi.enabled", "true")
        spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
        spark.conf.set("spark.sql.session.timeZone", "UTC")

    def relation(self, source: Source, role: str, text_columns: Iterable[str]) -> Relation:
        """A temporary view over a path or DataFrame, or a catalog table, as a Relation.

        Example:
            >>> SparkEngine.relation.__name__
            'relation'
        """
        texts = set(text_columns)
        if isinstance(source, pd.DataFrame):
            df = self.spark.createDataFrame(source)
            label = f"<{role} DataFrame>"
        else:
            path = str(source)
            label = path
            lower = path.lower()
            try:
                if lower.endswith((".parquet", ".pq")) or Path(path).is_dir():
                    df = self.spark.read.parquet(path)
                elif lower.endswith((".csv", ".csv.gz", ".txt")):
                    df = self._read_csv(path, texts)
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
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise DataError(f"{path}: Spark cannot read the {role} table: {first}") from None
        view = f"segab_{role}_{next(_COUNTER)}"
        df.createOrReplaceTempView(view)
        self._views.append(view)
        types = {f.name: f.dataType.simpleString().lower() for f in df.schema.fields}
        return Relation(quote_ident(view), tuple(types), types, label)

    def _read_csv(self, path: str, texts: set[str]) -> Any:
        from pyspark.sql.types import StringType, StructField, StructType

        reader = self.spark.read.option("header", "true")
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
            df = self.spark.sql(to_spark_sql(sql), args=args or None)
            rows = df.collect()
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise SqlError(f"spark query failed: {first}") from None
            raise
        return pd.DataFrame([tuple(r) for r in rows], columns=list(df.columns))

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


@contextmanager
def open_spark_engine(spark: Any = None, master: str | None = None) -> Iterator[SparkEngine]:
    """A :class:`SparkEngine` on ``spark``, or on a new session (``master``, default local).

    Example:
        >>> with open_spark_engine(master="local[2]") as eng:   # doctest: +SKIP
        ...     eng.query("SELECT 1 AS x", {})["x"].tolist()
        [1]
    """
    engine = SparkEngine(spark if spark is not None else spark_session(master), spark is None)
    try:
        yield engine
    finally:
        engine.close()
