"""Spark: a local or cluster session, and bulk assignment with Spark SQL (imperative shell).

PySpark is the optional extra ``segab[spark]`` and needs Java 17. Everything
here imports ``pyspark`` lazily, so the rest of segab works without it.

Bulk assignment (:func:`assign_file_spark`, reached through
:func:`segab.bulk.duckdb_engine.assign_file_sql` with ``engine="spark"``) reads a CSV file
with every column as text (typed cell by cell by :mod:`segab.text_values`, or as
the experiment's ``attributes`` declare, as the other engines do) or a Parquet
file, and writes a Spark output *directory* of part files at ``output_path``
(read it with ``pyarrow.parquet.read_table(path)`` or
``read_parquet('path/*.parquet')``). The directory is written beside the target
and renamed when complete. Pass ``spark=`` an existing session, or
``spark_master`` (``local[*]`` by default, or a cluster URL): a session the call
starts itself (none was active) is stopped, with its JVM, before it returns.

Example:
    >>> spark_available() in (True, False)
    True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import shutil
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import Any

from segab.allocation_types import AllocationPeriod
from segab.bulk.files import atomic_output, column_reads, typed_source_sql
from segab.bulk.report import BulkReport, find_bad_rows, locate
from segab.config.models import Experiment
from segab.errors import DataError, SqlError
from segab.sql.assign import assignment_sql
from segab.sql.dialects import get_dialect

__all__ = ["assign_file_spark", "spark_available", "spark_session"]


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


def _read(spark: Any, path: Path, fmt: str) -> Any:
    if fmt == "parquet":
        return spark.read.parquet(str(path))
    # every column as text (no inferSchema); quotes doubled inside quoted fields, as in RFC 4180
    return spark.read.csv(str(path), header=True, escape='"')


def assign_file_spark(
    experiment: Experiment,
    input_path: Path,
    in_format: str,
    output_path: Path,
    out_format: str,
    now: dt.datetime | None,
    spark: Any = None,
    spark_master: str | None = None,
    *,
    period: AllocationPeriod | None = None,
    previous: Any = None,
) -> BulkReport:
    """The Spark half of :func:`~segab.bulk.duckdb_engine.assign_file_sql` (a Spark directory).

    ``previous`` (an Arrow table of earlier variants) becomes a temporary view the
    assignment query joins in Spark.

    Example:
        >>> assign_file_spark.__name__
        'assign_file_spark'
    """
    own = spark is None and _active_session() is None
    session = spark if spark is not None else spark_session(spark_master)
    try:
        paths = (input_path, in_format, output_path, out_format)
        return _assign(experiment, session, paths, now, period, previous)
    finally:
        if own:
            _end_session(session)


def _active_session() -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _end_session(session: Any) -> None:
    """Stop a session this module started, and end its JVM (a child process)."""
    from pyspark import SparkContext

    gateway: Any = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        session.stop()
    with contextlib.suppress(Exception):
        gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is None:
        return
    with contextlib.suppress(OSError):
        proc.stdin.close()  # the JVM exits when its stdin closes
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_PREVIOUS_SCHEMA = "unit_id string, segment string, stage string, variant string"


def _assign(
    experiment: Experiment,
    session: Any,
    paths: tuple[Path, str, Path, str],
    now: dt.datetime | None,
    period: AllocationPeriod | None,
    previous: Any,
) -> BulkReport:
    input_path, in_format, output_path, out_format = paths
    d = get_dialect("spark")
    try:
        df = _read(session, input_path, in_format)
    except Exception as exc:  # py4j/analysis errors have no common base class
        raise DataError(f"{input_path}: Spark cannot read it: {exc}") from None
    schema = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    text = in_format == "csv"
    reads = column_reads(experiment, schema, str(input_path), text=text)
    raw, typed, seen = (f"segab_units_{uuid.uuid4().hex[:8]}" for _ in range(3))
    df.createOrReplaceTempView(raw)
    if previous is not None:
        rows = previous.select(["unit_id", "segment", "stage", "variant"]).to_pylist()
        session.createDataFrame(
            [tuple(r.values()) for r in rows], _PREVIOUS_SCHEMA
        ).createOrReplaceTempView(seen)
    if "timestamp" in schema:
        timestamp = f"CAST({d.quote('timestamp')} AS STRING)"
    else:
        timestamp = d.literal((now or dt.datetime.now(dt.UTC)).isoformat())
    kinds = {name: r.kind for name, r in reads.items()}
    try:
        session.sql(
            typed_source_sql(d, experiment, d.quote(raw), reads, schema, empty_is_null=text)
        ).createOrReplaceTempView(typed)
        query = assignment_sql(
            experiment,
            d,
            typed,
            columns=kinds,
            timestamp=timestamp,
            period=period,
            previous=None if previous is None else seen,
        )
        out = session.sql(query)
        with atomic_output(output_path) as tmp:
            writer = out.write.mode("errorifexists")
            if out_format == "parquet":
                writer.parquet(str(tmp))
            else:
                writer.option("header", "true").csv(str(tmp))
            reread = _read(session, tmp, out_format)
            counts = reread.groupBy("reason").count().collect()
        report = BulkReport(rows_in=int(df.count()))
        for row in sorted(counts, key=lambda r: str(r["reason"])):
            report.reasons[str(row["reason"])] = int(row["count"])
        report.rows_out = sum(report.reasons.values())
        bad = report.rows_in - report.rows_out
        if bad:
            find_bad_rows(experiment, input_path, reads, report)
            report.bad_rows = bad
            locate(report, input_path)
    except SqlError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise SqlError(f"{input_path}: Spark failed: {exc}") from None
        raise
    finally:
        session.catalog.dropTempView(typed)
        session.catalog.dropTempView(raw)
        session.catalog.dropTempView(seen)
    return report
