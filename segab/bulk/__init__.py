"""Bulk assignment of files: one engine per kind (Python, DuckDB, Spark) and what they share.

- :mod:`segab.bulk.python`: the Python engine (:func:`assign_file`), streaming
  pyarrow batches through the pure :func:`segab.assign` rules;
- :mod:`segab.bulk.duckdb_engine`: the same rows from the assignment SQL of
  :mod:`segab.sql` run in DuckDB (:func:`segab.bulk.duckdb_engine.assign_file_sql`);
- :mod:`segab.bulk.spark_engine`: the same on a Spark session;
- :mod:`segab.bulk.files` and :mod:`segab.bulk.report`: file formats, typed reads,
  atomic output, bad-row reports: one copy, used by every engine.

Example:
    >>> from segab.bulk import assign_file
    >>> assign_file.__name__
    'assign_file'
"""

from __future__ import annotations

from segab.bulk.python import OUTPUT_COLUMNS, BulkReport, assign_file, count_rows, nest_attributes

__all__ = ["OUTPUT_COLUMNS", "BulkReport", "assign_file", "count_rows", "nest_attributes"]
