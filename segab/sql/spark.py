"""Spark: a local or cluster session, and bulk assignment with Spark SQL (imperative shell).

PySpark is the optional extra ``segab[spark]`` and needs Java 17. Everything
here imports ``pyspark`` lazily, so the rest of segab works without it.

Example:
    >>> spark_available() in (True, False)
    True
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import uuid
from pathlib import Path
from typing import Any

from segab.bulk import BulkReport
from segab.config.models import Experiment
from segab.errors import DataError, SqlError
from segab.sql.assign import assignment_sql, valid_row_sql
from segab.sql.dialects import get_dialect

__all__ = ["assign_file_spark", "spark_available", "spark_session"]

_MAX_REPORTED = 20


def spark_available() -> bool:
    """Whether pyspark is installed and a ``java`` executable is on the PATH.

    Example:
        >>> isinstance(spark_available(), bool)
        True
    """
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


def spark_session(master: str | None = None, app_name: str = "segab") -> Any:
    """Get or create a Spark session (``local[*]`` unless ``master`` names a cluster).

    Example:
        >>> spark = spark_session("local[2]")          # doctest: +SKIP
        >>> spark.range(3).count()                       # doctest: +SKIP
        3
    """
    if importlib.util.find_spec("pyspark") is None:
        raise SqlError("the spark engine needs pyspark: pip install 'segab[spark]' (and Java 17)")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(master or "local[*]")
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def _read(spark: Any, path: Path, fmt: str, unit: str) -> Any:
    if fmt == "parquet":
        return spark.read.parquet(str(path))
    from pyspark.sql.types import StringType, StructField, StructType

    inferred = spark.read.csv(str(path), header=True, inferSchema=True).schema
    fields = [
        StructField(f.name, StringType(), True) if f.name in (unit, "stage") else f
        for f in inferred.fields
    ]
    return spark.read.csv(str(path), header=True, schema=StructType(fields))


def assign_file_spark(
    experiment: Experiment,
    input_path: Path,
    in_format: str,
    output_path: Path,
    out_format: str,
    now: dt.datetime | None,
    spark: Any = None,
    spark_master: str | None = None,
) -> BulkReport:
    """The Spark half of :func:`segab.sql.bulk.assign_file_sql` (output: a Spark directory).

    Example:
        >>> assign_file_spark.__name__
        'assign_file_spark'
    """
    from segab.sql.bulk import bad_row_message, column_kinds

    session = spark if spark is not None else spark_session(spark_master)
    d = get_dialect("spark")
    try:
        df = _read(session, input_path, in_format, experiment.unit)
    except Exception as exc:  # py4j/analysis errors have no common base class
        raise DataError(f"{input_path}: Spark cannot read it: {exc}") from None
    schema = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    kinds = column_kinds(experiment, schema, str(input_path))
    view = f"segab_units_{uuid.uuid4().hex[:8]}"
    df.createOrReplaceTempView(view)
    if "timestamp" in schema:
        timestamp = f"CAST({d.quote('timestamp')} AS STRING)"
    else:
        timestamp = d.literal((now or dt.datetime.now(dt.UTC)).isoformat())
    query = assignment_sql(experiment, d, view, columns=kinds, timestamp=timestamp)
    try:
        out = session.sql(query)
        writer = out.write.mode("overwrite")
        if out_format == "parquet":
            writer.parquet(str(output_path))
        else:
            writer.option("header", "true").csv(str(output_path))
        reread = _read(session, output_path, out_format, "unit_id")
        counts = reread.groupBy("reason").count().collect()
        report = BulkReport(rows_in=int(df.count()))
        for row in sorted(counts, key=lambda r: str(r["reason"])):
            report.reasons[str(row["reason"])] = int(row["count"])
        report.rows_out = sum(report.reasons.values())
        bad = report.rows_in - report.rows_out
        if bad:
            unit, stage = d.quote(experiment.unit), d.quote("stage")
            rows = session.sql(
                f"SELECT {unit}, {stage} FROM {view} "
                f"WHERE NOT COALESCE({valid_row_sql(experiment, d, kinds)}, FALSE) "
                f"LIMIT {_MAX_REPORTED}"
            ).collect()
            for row in rows:
                report.add_problem(bad_row_message(experiment, row[0], row[1]))
            report.bad_rows = bad
    except SqlError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise SqlError(f"{input_path}: Spark failed: {exc}") from None
        raise
    finally:
        session.catalog.dropTempView(view)
    return report
