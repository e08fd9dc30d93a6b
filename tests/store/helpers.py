"""Small helpers shared by the store tests (and the spawned worker processes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from segab.assignment_types import Assignment, Reason


def assignment(
    unit: int | str, variant: str = "a", *, exp: str = "e", stage: str = "buy", iteration: int = 1
) -> Assignment:
    """An in-experiment assignment of unit ``u<unit>``."""
    unit_id = unit if isinstance(unit, str) else f"u{unit}"
    return Assignment(exp, iteration, unit_id, "seg", stage, variant, 1, True, Reason.ASSIGNED)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` s (a hang guard, not a timing test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.01)
