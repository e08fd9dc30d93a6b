"""Sticky assignment for applications: where a unit's earlier variant comes from.

:func:`segab.assign` stays pure: it takes the variant a unit has already seen in
a cell as its ``previous`` argument. This module is the seam that supplies it:

- :class:`StickyLookup`, the protocol: ``previous(experiment, iteration,
  unit_id, segment, stage)`` returns the variant the unit was exposed to in that
  cell, or ``None``. The segment is part of the question: a unit whose
  attributes moved it to another segment is in another cell and gets a fresh
  draw there (docs/hashing.md, "When a unit's segment changes").
- :class:`InMemoryStickyLookup`, a dictionary (tests, a cache in front of a
  store, and what bulk assignment in Python reads);
- the store-backed one, reading the store's exposures, is
  :class:`segab.store.sticky.StoreStickyLookup`;
- :func:`assign_sticky`: resolve the unit's segment, ask the lookup, then
  :func:`segab.assign` with the answer and the current allocation period.

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({
    ...     "key": "e", "name": "E", "unit": "id", "status": "running",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> seen = InMemoryStickyLookup()
    >>> first = assign_sticky(exp, "u1", {}, "purchase", lookup=seen)
    >>> first.variant, first.reason
    ('b', <Reason.ASSIGNED: 'assigned'>)
    >>> seen.remember(first)
    >>> again = assign_sticky(exp, "u1", {}, "purchase", lookup=seen)
    >>> again.variant, again.reason, again.in_experiment
    ('b', <Reason.STICKY: 'sticky'>, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from segab.allocation_types import AllocationPeriod
from segab.assignment import assign, plan_of, resolve_segment
from segab.assignment_types import Assignment
from segab.config.models import Experiment

__all__ = ["InMemoryStickyLookup", "StickyLookup", "assign_sticky"]


@runtime_checkable
class StickyLookup(Protocol):
    """Where a unit's earlier variant in a cell is found (an exposure store, a cache).

    Example:
        >>> isinstance(InMemoryStickyLookup(), StickyLookup)
        True
    """

    def previous(
        self, experiment: str, iteration: int, unit_id: str, segment: str, stage: str
    ) -> str | None:
        """The variant the unit was exposed to in cell ``(segment, stage)``, or ``None``."""
        ...


class InMemoryStickyLookup:
    """Earlier variants in a dictionary: ``{(experiment, iteration, unit_id, stage): (segment,
    variant)}``, the key of the store's exposures; the first one remembered wins, as in the store.

    Example:
        >>> m = InMemoryStickyLookup([("e", 1, "u1", "young", "buy", "a")])
        >>> m.previous("e", 1, "u1", "young", "buy"), m.previous("e", 1, "u1", "older", "buy")
        ('a', None)
        >>> len(m)
        1
    """

    def __init__(self, rows: Iterable[tuple[str, int, str, str | None, str, str]] = ()) -> None:
        self.seen: dict[tuple[str, int, str, str], tuple[str | None, str]] = {}
        for experiment, iteration, unit_id, segment, stage, variant in rows:
            self.seen.setdefault((experiment, iteration, unit_id, stage), (segment, variant))

    def __len__(self) -> int:
        return len(self.seen)

    def previous(
        self, experiment: str, iteration: int, unit_id: str, segment: str, stage: str
    ) -> str | None:
        """The remembered variant, if the unit was seen in this segment at this stage.

        Example:
            >>> InMemoryStickyLookup().previous("e", 1, "u1", "all", "buy") is None
            True
        """
        hit = self.seen.get((experiment, iteration, unit_id, stage))
        if hit is None or hit[0] != segment:
            return None
        return hit[1]

    def remember(self, assignment: Assignment) -> None:
        """Keep an assignment that is in the experiment (what an exposure logger stores).

        Example:
            >>> from segab.assignment_types import Reason
            >>> m = InMemoryStickyLookup()
            >>> m.remember(Assignment("e", 1, "u1", "all", "buy", "b", 17, True, Reason.ASSIGNED))
            >>> m.remember(Assignment("e", 1, "u2", "all", "buy", "a", 3, False, Reason.HOLDOUT))
            >>> m.previous("e", 1, "u1", "all", "buy"), len(m)
            ('b', 1)
        """
        if assignment.in_experiment and assignment.variant is not None:
            key = (
                assignment.experiment,
                assignment.iteration,
                assignment.unit_id,
                assignment.stage,
            )
            self.seen.setdefault(key, (assignment.segment, assignment.variant))

    def for_iteration(self, experiment: str, iteration: int) -> dict[tuple[str, str], Any]:
        """``{(unit_id, stage): (segment, variant)}`` of one experiment iteration (bulk paths).

        Example:
            >>> InMemoryStickyLookup([("e", 1, "u1", "s", "buy", "a")]).for_iteration("e", 1)
            {('u1', 'buy'): ('s', 'a')}
        """
        return {
            (u, st): hit
            for (e, it, u, st), hit in self.seen.items()
            if (e, it) == (experiment, iteration)
        }


def assign_sticky(
    experiment: Experiment,
    unit_id: str | int,
    attributes: Mapping[str, Any],
    stage: str,
    *,
    lookup: StickyLookup,
    period: AllocationPeriod | None = None,
) -> Assignment:
    """:func:`segab.assign` with the unit's earlier variant in its cell taken from ``lookup``.

    The segment is resolved first (one look-up, only for a targeted unit); the
    answer goes to ``assign(..., previous=..., period=period)``. Log the result
    as usual (``ExposureLogger``) so that the store remembers it.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "status": "running",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> seen = InMemoryStickyLookup([("e", 1, "u1", "all", "purchase", "a")])
        >>> assign_sticky(exp, "u1", {}, "purchase", lookup=seen)[5:]
        ('a', 8966, True, <Reason.STICKY: 'sticky'>)
    """
    plan = plan_of(experiment)
    previous = None
    segment, by_stage = resolve_segment(plan, attributes)
    if segment is not None and stage in by_stage:
        uid = unit_id if isinstance(unit_id, str) else str(unit_id)
        previous = lookup.previous(plan.key, plan.iteration, uid, segment, stage)
    return assign(experiment, unit_id, attributes, stage, period=period, previous=previous)
