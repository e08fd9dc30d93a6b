"""Allocation periods and sticky variants in assignment (pure core).

:func:`segab.assign` takes two optional inputs for adaptive (bandit) cells:

- ``period``, an :class:`~segab.allocation_types.AllocationPeriod`: a cell the
  period lays out draws its variant from that layout instead of the declared
  weights. The bucket is the same hash v1 bucket as always; only the map from
  bucket to variant changes (:func:`layout_table`). The uniform slice, buckets
  ``[0, S)``, is split the same way in every period, so a unit in the slice keeps
  its slice arm whatever the adaptive weights do.
- ``previous``, the variant the unit has already seen in this cell: when it is
  still one of the cell's variants the unit keeps it (reason ``sticky``), so
  changing weights never moves a unit that has been exposed.

This module compiles a period's layout into a bucket table (once per layout) and
checks that a period belongs to the experiment it is used with. Integer
arithmetic only.

Example:
    >>> from segab.allocation_types import CellAllocation
    >>> layout = CellAllocation("all", "buy", ("a", "b"), (500, 500), (1000, 8000))
    >>> t = layout_table(layout)
    >>> len(t), t[0], t[499], t[500], t[1000], t[1999], t[2000]
    (10000, 'a', 'a', 'b', 'a', 'a', 'b')
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.errors import AssignmentError

__all__ = ["check_layout", "check_period", "layout_table"]


@lru_cache(maxsize=1024)
def layout_table(layout: CellAllocation) -> tuple[str, ...]:
    """The variant of every bucket ``0 .. 9999`` under ``layout`` (built once per layout).

    ``layout_table(c)[b] == c.variant_at(b)`` for every bucket; the table turns
    the look-up into one index. (The cache is keyed by the layout's value; the
    bucket itself never depends on Python's ``hash()``.)

    Example:
        >>> from segab.allocation_types import CellAllocation
        >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (2500, 7500))
        >>> layout_table(c)[2499], layout_table(c)[2500] == c.variant_at(2500)
        ('a', True)
    """
    table: list[str] = []
    for variant, lo, hi in layout.ranges():
        table.extend([variant] * (hi - lo))
    return tuple(table)


def check_period(period: AllocationPeriod, experiment: str, iteration: int) -> None:
    """Refuse a period recorded for another experiment or iteration (:class:`AssignmentError`).

    Example:
        >>> from datetime import datetime
        >>> p = AllocationPeriod("exp", 1, 2, datetime(2026, 1, 1), ())
        >>> check_period(p, "exp", 1)
        >>> check_period(p, "exp", 2)
        Traceback (most recent call last):
        ...
        segab.errors.AssignmentError: allocation period 2 is of experiment 'exp' iteration 1, \
not of experiment 'exp' iteration 2
    """
    if period.experiment != experiment or period.iteration != iteration:
        raise AssignmentError(
            f"allocation period {period.number} is of experiment {period.experiment!r} "
            f"iteration {period.iteration}, not of experiment {experiment!r} iteration {iteration}"
        )


def check_layout(layout: CellAllocation, variants: Iterable[str], number: int) -> None:
    """Refuse a layout whose variants are not the cell's (the config changed since the period).

    Example:
        >>> from segab.allocation_types import CellAllocation
        >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (5000, 5000))
        >>> check_layout(c, ["b", "a"], 1)
        >>> check_layout(c, ["a", "c"], 1)
        Traceback (most recent call last):
        ...
        segab.errors.AssignmentError: allocation period 1, cell (s, t): the period lays out \
variants ['a', 'b'], the config's cell has ['a', 'c']
    """
    declared = sorted(set(variants))
    if sorted(set(layout.variants)) != declared:
        raise AssignmentError(
            f"allocation period {number}, cell ({layout.segment}, {layout.stage}): the period "
            f"lays out variants {sorted(layout.variants)}, the config's cell has {declared}"
        )
