"""Per-cell sufficient statistics, computed inside the engine where the data lives.

- :mod:`segab.sums.sources`: the :class:`~segab.sums.sources.Engine` protocol (DuckDB,
  SQLAlchemy databases) and how a file, DataFrame or table becomes a relation;
- :mod:`segab.sums.spark`: the same protocol on a Spark session;
- :mod:`segab.sums.statements`: the generic SQL statements (one builder for every dialect);
- :mod:`segab.sums.aggregate`: :func:`aggregate_event_log` and
  :func:`aggregate_units`, which run the SQL and return :class:`Aggregates`;
- :mod:`segab.sums._fast`: the private DuckDB fast path for large event logs.

Nothing here imports :mod:`segab.analysis` or :mod:`segab.report`; statistics run
on the sums there.

Example:
    >>> from segab.sums import aggregate_units
    >>> aggregate_units.__name__
    'aggregate_units'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Aggregates": "segab.sums.result",
    "aggregate_event_log": "segab.sums.aggregate",
    "aggregate_units": "segab.sums.unit_table",
    "open_engine": "segab.sums.sources",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segab.sums' has no attribute {name!r}")
