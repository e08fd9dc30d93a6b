"""A classified difference between two configs (see :mod:`segab.lifecycle.guard`).

Example:
    >>> str(Change("owner", "safe", "a", "b", "metadata"))
    "safe: owner: 'a' -> 'b': metadata"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Change", "Level", "format_changes", "refused"]

Level = Literal["safe", "warning", "unsafe"]


@dataclass(frozen=True)
class Change:
    """One difference between two configs, its level and why.

    Example:
        >>> c = Change("seed", "unsafe", "a", "b", "every unit is re-bucketed")
        >>> str(c)
        "unsafe: seed: 'a' -> 'b': every unit is re-bucketed"
    """

    path: str
    level: Level
    old: Any
    new: Any
    explanation: str

    @property
    def safe(self) -> bool:
        """Whether the edit is allowed in place (``safe`` or ``warning``).

        Example:
            >>> Change("owner", "safe", "a", "b", "metadata").safe
            True
        """
        return self.level != "unsafe"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> Change("owner", "safe", "a", "b", "metadata").to_dict()["level"]
            'safe'
        """
        return {
            "path": self.path,
            "level": self.level,
            "old": self.old,
            "new": self.new,
            "explanation": self.explanation,
        }

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.old!r} -> {self.new!r}: {self.explanation}"


def refused(changes: Sequence[Change], *, strict: bool = False) -> list[Change]:
    """The changes a running experiment refuses: unsafe ones (and warnings when ``strict``).

    Example:
        >>> refused([Change("owner", "safe", "a", "b", "metadata")])
        []
    """
    bad = ("unsafe", "warning") if strict else ("unsafe",)
    return [c for c in changes if c.level in bad]


def format_changes(changes: Sequence[Change]) -> str:
    """One line per change, unsafe first.

    Example:
        >>> format_changes([Change("seed", "unsafe", "a", "b", "re-bucketed")])
        "  - unsafe: seed: 'a' -> 'b': re-bucketed"
    """
    rank = {"unsafe": 0, "warning": 1, "safe": 2}
    ordered = sorted(changes, key=lambda c: rank[c.level])
    return "\n".join(f"  - {c}" for c in ordered)
