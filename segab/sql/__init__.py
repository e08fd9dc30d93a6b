"""segab's logic as SQL: segment conditions and assignment for DuckDB, PostgreSQL and Spark.

- :func:`compile_condition_sql`: a segment condition as a SQL boolean expression;
- :func:`assignment_sql`: a query with the columns of ``segab assign --input``;
- :func:`segab.bulk.duckdb_engine.assign_file_sql`: bulk assignment of a file in DuckDB or Spark.

Example:
    >>> print(compile_condition_sql({"age": {"$lt": 35}}, "postgresql", columns={"age": "number"}))
    COALESCE("age" < 35, FALSE)
"""

from __future__ import annotations

from segab.sql.assign import assignment_sql, segment_sql, valid_row_sql
from segab.sql.conditions import ColumnKind, column_kind, compile_condition_sql
from segab.sql.dialects import Dialect, get_dialect

__all__ = [
    "ColumnKind",
    "Dialect",
    "assignment_sql",
    "column_kind",
    "compile_condition_sql",
    "get_dialect",
    "segment_sql",
    "valid_row_sql",
]
