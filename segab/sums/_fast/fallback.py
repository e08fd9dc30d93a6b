"""The one way the DuckDB fast path says "the generic route must answer instead".

:func:`~segab.sums._fast.hashed.usable_for` answers up front for what can be
known before running (the engine, the route asked for). What can only be seen while
running raises :class:`FastPathUnavailableError` with a reason:

- ``hash_collision``: two different unit ids share the 64-bit unit hash (their
  second hashes differ). Events of such units carry :data:`COLLISION_CLASS`;
- ``too_many_names``: more than ``MAX_CODES`` segment, stage and variant names;
- ``undeclared_name``: a valid exposure shows a name the config does not declare
  (handled inside the fast path, which then scans for the names and stages again);

Event filters, retention windows and caps (absolute or percentile) are computed on
the fast path (:mod:`segab.sums._fast.values`, :mod:`segab.sums._fast.capping`).

Example:
    >>> FastPathUnavailableError("hash_collision").reason
    'hash_collision'
"""

from __future__ import annotations

from typing import Literal

__all__ = ["COLLISION_CLASS", "FastPathUnavailableError", "Reason"]

COLLISION_CLASS = 4  # the event class of an event whose unit's hash collides

Reason = Literal[
    "hash_collision",
    "too_many_names",
    "undeclared_name",
]


class FastPathUnavailableError(Exception):
    """The fast path cannot answer these inputs; run the generic route.

    Example:
        >>> str(FastPathUnavailableError("too_many_names"))
        'the DuckDB fast path cannot answer: too_many_names'
    """

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"the DuckDB fast path cannot answer: {reason}")
        self.reason: Reason = reason
