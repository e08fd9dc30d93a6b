"""Screens for repeats by 64-bit fingerprints, sorted in memory instead of hashed in SQL.

A ``GROUP BY`` of ten million ids (or ``COUNT(DISTINCT ...)`` of ten million event
rows) builds a hash table that spills under DuckDB's memory limit; fetching each
row's 64-bit fingerprint and sorting the array in NumPy costs a fraction of it.
Equal values have equal fingerprints, so no repeated fingerprint proves that no
value repeats; a repeated one (a repeat, or a collision) sends the caller to its
exact statement. DuckDB only (its ``hash``): other engines run the exact statement.

Example:
    >>> import numpy as np
    >>> repeats(np.array([5, 1, 5], dtype=np.uint64))
    1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["fingerprint", "repeats"]


def fingerprint(dialect: str, expr: str) -> str | None:
    """SQL for the 64-bit fingerprint of ``expr`` on ``dialect``, or None where the screen
    is not used.

    Example:
        >>> fingerprint("duckdb", "u"), fingerprint("postgresql", "u")
        ('hash(u)', None)
    """
    return f"hash({expr})" if dialect == "duckdb" else None


def repeats(values: np.ndarray) -> int:
    """How many of ``values`` equal another one before them: rows less distinct values.

    Sorts a copy (a query's result may be read-only).

    Example:
        >>> import numpy as np
        >>> repeats(np.array([7, 3, 7, 1, 7], dtype=np.uint64)), repeats(np.array([], dtype=int))
        (2, 0)
    """
    ordered = values.copy()
    ordered.sort()
    return int((ordered[1:] == ordered[:-1]).sum())
