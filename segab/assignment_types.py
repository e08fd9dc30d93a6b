"""The value types returned by assignment.

Example:
    >>> a = Assignment("exp", 1, "u1", "seg", "purchase", "control", 42, True, Reason.ASSIGNED)
    >>> a.variant
    'control'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

__all__ = ["Assignment", "Reason"]


class Reason(StrEnum):
    """Why a unit got the variant it got.

    Example:
        >>> Reason("outside_coverage") is Reason.OUTSIDE_COVERAGE
        True
    """

    ASSIGNED = "assigned"
    FORCED = "forced"
    HOLDOUT = "holdout"
    OUTSIDE_COVERAGE = "outside_coverage"
    NOT_TARGETED = "not_targeted"
    EXCLUDED = "excluded"
    OUTSIDE_NAMESPACE = "outside_namespace"
    INACTIVE = "inactive"
    STICKY = "sticky"


class Assignment(NamedTuple):
    """The frozen result of :func:`segab.assign`.

    ``variant`` is what the unit should see: the assigned variant, the forced
    one, or the cell's control when the unit is not in the experiment (holdout,
    outside coverage, excluded). It is ``None`` only when no cell applies
    (the unit matched no segment and there is no fallback).
    ``in_experiment`` is true only for ``reason`` ``"assigned"`` and ``"sticky"``
    (the unit kept the variant it had already seen in the cell, see
    :func:`segab.assign`): only those units are logged as exposures and analysed.
    ``bucket`` is the variant draw in ``[0, 10000)`` (``None`` when no draw was made).

    Example:
        >>> a = Assignment("e", 1, "u", "s", "awareness", "v", 7, True, Reason.ASSIGNED)
        >>> a.to_dict()["reason"]
        'assigned'
    """

    experiment: str
    iteration: int
    unit_id: str
    segment: str | None
    stage: str
    variant: str | None
    bucket: int | None
    in_experiment: bool
    reason: Reason

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (the reason as its string).

        Example:
            >>> Assignment("e", 1, "u", None, "awareness", None, None, False,
            ...            Reason.NOT_TARGETED).to_dict()["segment"] is None
            True
        """
        d = self._asdict()
        d["reason"] = str(self.reason)
        return d
