"""The value types of adaptive allocation: one allocation period's bucket layout per cell.

A bandit cell's traffic is laid out on the 10,000-bucket grid of
:mod:`segab.hashing` in two parts. Buckets ``[0, S)`` are the **uniform slice**:
split at the declared weights in every period (``slice_buckets``, fixed for the
whole experiment), so a unit's slice membership and its slice arm never change.
Buckets ``[S, 10000)`` are the **adaptive part**, split by the period's
``adaptive_buckets``. Within each part the variants take consecutive ranges in
the cell's variant order. ``buckets[k] = slice_buckets[k] + adaptive_buckets[k]``
sums to exactly 10,000.

These are plain values shared by the config, the store, assignment and the
analysis; nothing here does I/O.

Example:
    >>> c = CellAllocation("all", "awareness", ("control", "video"), (500, 500), (3000, 6000))
    >>> c.variant_at(0), c.variant_at(999), c.variant_at(1000), c.variant_at(4000)
    ('control', 'video', 'control', 'video')
    >>> c.in_slice(999), c.in_slice(1000), c.buckets
    (True, False, (3500, 6500))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segab.errors import ConfigError
from segab.hashing import BUCKETS

__all__ = ["AllocationPeriod", "CellAllocation"]


@dataclass(frozen=True, slots=True)
class CellAllocation:
    """One cell's bucket layout in one allocation period.

    ``segment`` and ``stage`` name the cell as assignment does (the keys of
    :attr:`segab.assignment.Plan.cells`). ``variants`` are in the cell's
    declared order; ``slice_buckets`` and ``adaptive_buckets`` are aligned with
    them and together sum to exactly 10,000 (else :class:`ConfigError`).

    Example:
        >>> CellAllocation("all", "purchase", ("a", "b"), (0, 0), (5000, 5000)).slice_total
        0
        >>> CellAllocation("all", "purchase", ("a", "b"), (0, 0), (5000, 4000))
        Traceback (most recent call last):
        ...
        segab.errors.ConfigError: cell (all, purchase): buckets sum to 9000, expected 10000
    """

    segment: str
    stage: str
    variants: tuple[str, ...]
    slice_buckets: tuple[int, ...]
    adaptive_buckets: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.variants)
        if len(self.slice_buckets) != n or len(self.adaptive_buckets) != n:
            raise ConfigError(
                f"cell ({self.segment}, {self.stage}): {n} variants but "
                f"{len(self.slice_buckets)} slice and {len(self.adaptive_buckets)} adaptive buckets"
            )
        if any(b < 0 for b in (*self.slice_buckets, *self.adaptive_buckets)):
            raise ConfigError(f"cell ({self.segment}, {self.stage}): negative bucket count")
        total = sum(self.slice_buckets) + sum(self.adaptive_buckets)
        if total != BUCKETS:
            raise ConfigError(
                f"cell ({self.segment}, {self.stage}): buckets sum to {total}, expected {BUCKETS}"
            )

    @property
    def slice_total(self) -> int:
        """``S``: the number of buckets in the uniform slice (``[0, S)``).

        Example:
            >>> CellAllocation("s", "t", ("a", "b"), (500, 500), (4500, 4500)).slice_total
            1000
        """
        return sum(self.slice_buckets)

    @property
    def buckets(self) -> tuple[int, ...]:
        """Each variant's total buckets (slice plus adaptive part).

        Example:
            >>> CellAllocation("s", "t", ("a", "b"), (500, 500), (1000, 8000)).buckets
            (1500, 8500)
        """
        return tuple(s + a for s, a in zip(self.slice_buckets, self.adaptive_buckets, strict=True))

    def in_slice(self, bucket: int) -> bool:
        """Whether a bucket in ``[0, 10000)`` falls in the uniform slice.

        Example:
            >>> CellAllocation("s", "t", ("a", "b"), (500, 500), (4500, 4500)).in_slice(1000)
            False
        """
        return 0 <= bucket < self.slice_total

    def ranges(self) -> tuple[tuple[str, int, int], ...]:
        """``(variant, start, end)`` half-open bucket ranges: the slice's, then the adaptive part's.

        Empty ranges are left out.

        Example:
            >>> CellAllocation("s", "t", ("a", "b"), (500, 500), (0, 9000)).ranges()
            (('a', 0, 500), ('b', 500, 1000), ('b', 1000, 10000))
        """
        out: list[tuple[str, int, int]] = []
        start = 0
        for part in (self.slice_buckets, self.adaptive_buckets):
            for variant, width in zip(self.variants, part, strict=True):
                if width:
                    out.append((variant, start, start + width))
                start += width
        return tuple(out)

    def variant_at(self, bucket: int) -> str:
        """The variant that owns a bucket in ``[0, 10000)``.

        Example:
            >>> CellAllocation("s", "t", ("a", "b"), (0, 0), (2500, 7500)).variant_at(2500)
            'b'
        """
        if not 0 <= bucket < BUCKETS:
            raise ValueError(f"bucket {bucket} outside [0, {BUCKETS})")
        for variant, lo, hi in self.ranges():
            if lo <= bucket < hi:
                return variant
        raise AssertionError("unreachable: ranges cover [0, 10000)")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class AllocationPeriod:
    """One allocation period of an experiment iteration: when it began and each cell's layout.

    Period ``number`` 0 is the declared split; ``segab allocate`` records 1, 2, ...
    A unit first exposed at time ``t`` belongs to the last period with
    ``started_at <= t``. ``summary`` is the JSON-ready record that produced the
    weights (posterior summary per cell, the seed, the rule), kept for the history.

    Example:
        >>> from datetime import datetime
        >>> cell = CellAllocation("all", "awareness", ("a", "b"), (500, 500), (4500, 4500))
        >>> p = AllocationPeriod("exp", 1, 0, datetime(2026, 1, 1), (cell,))
        >>> p.cell("all", "awareness").buckets, p.cell("all", "purchase") is None
        ((5000, 5000), True)
    """

    experiment: str
    iteration: int
    number: int
    started_at: datetime
    cells: tuple[CellAllocation, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)

    def cell(self, segment: str, stage: str) -> CellAllocation | None:
        """The layout of cell ``(segment, stage)``, or ``None`` if the period does not adapt it.

        Example:
            >>> from datetime import datetime
            >>> AllocationPeriod("e", 1, 0, datetime(2026, 1, 1), ()).cell("a", "b") is None
            True
        """
        for c in self.cells:
            if c.segment == segment and c.stage == stage:
                return c
        return None
