"""The exception tree of segab.

Every error segab raises on purpose derives from :class:`SegabError`, so an
application can catch them all with one ``except`` clause, and the CLI can turn
each into a one-line ``Error: ...`` message instead of a traceback::

    SegabError
    ├── ConfigError            invalid experiment config (collects every problem)
    │   └── ConditionError     an invalid segment condition
    ├── AssignmentError        a call to assign() that cannot be answered
    │   ├── UnknownExperimentError
    │   └── UnknownStageError
    ├── DataError              bad input data (files, tables, DataFrames)
    │   └── MissingColumnError a table lacks a column the config maps
    ├── StatsError             invalid sufficient statistics or stats settings
    ├── SqlError               SQL generation or execution in an engine
    │   └── SqlCompileError    a condition that cannot be expressed in a dialect
    ├── StoreError             the persistent store (registry, exposures, history)
    │   ├── SchemaVersionError store written by an older or newer segab
    │   └── AllocationConflictError  an allocation period recorded first by another writer
    └── LifecycleError         plan/start/stop/conclude/iterate
        └── UnsafeEditError    an edit that would re-bucket assigned units

Example:
    >>> from segab.errors import ConfigError, SegabError
    >>> issubclass(ConfigError, SegabError)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AllocationConflictError",
    "AssignmentError",
    "ConditionError",
    "ConfigError",
    "ConfigProblem",
    "DataError",
    "LifecycleError",
    "MissingColumnError",
    "SchemaVersionError",
    "SegabError",
    "SqlCompileError",
    "SqlError",
    "StatsError",
    "StoreError",
    "UnknownExperimentError",
    "UnknownStageError",
    "UnsafeEditError",
]


class SegabError(Exception):
    """Base class of every error segab raises on purpose.

    Example:
        >>> try:
        ...     raise SegabError("something went wrong")
        ... except SegabError as exc:
        ...     str(exc)
        'something went wrong'
    """


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a config file.

    ``path`` is the dotted path to the field (``cells[2].variants[0].weight``),
    ``found`` what the file holds and ``expected`` what would be valid.

    Example:
        >>> p = ConfigProblem("exp.yaml", "alpha", "1.5", "a number in (0, 1)")
        >>> str(p)
        'exp.yaml: alpha: found 1.5, expected a number in (0, 1)'
    """

    file: str
    path: str
    found: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: found {self.found}, expected {self.expected}"


class ConfigError(SegabError):
    """An invalid experiment config. Carries every problem found in the file.

    Example:
        >>> err = ConfigError([ConfigProblem("e.yaml", "key", "''", "a non-empty key")])
        >>> len(err.problems)
        1
    """

    def __init__(self, problems: Sequence[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[ConfigProblem, ...] = ()
            super().__init__(problems)
            return
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in config"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConditionError(ConfigError):
    """An invalid segment condition (unknown operator, wrong operand type)."""


class AssignmentError(SegabError):
    """A call to ``assign()`` that cannot be answered."""


class UnknownExperimentError(AssignmentError):
    """The experiment key is not in the registry."""


class UnknownStageError(AssignmentError):
    """The stage is not one of the experiment's declared stages."""


class DataError(SegabError):
    """Bad input data: unreadable files, wrong types, invalid rows."""


class MissingColumnError(DataError):
    """A table lacks a column that the config or the CLI maps."""


class StatsError(SegabError):
    """Invalid sufficient statistics or statistical settings."""


class SqlError(SegabError):
    """SQL generation or execution failed in an engine."""


class SqlCompileError(SqlError):
    """A segment condition that cannot be expressed in the chosen SQL dialect."""


class StoreError(SegabError):
    """The persistent store failed or holds something unexpected."""


class SchemaVersionError(StoreError):
    """The store was written by an older or newer segab than this one."""


class LifecycleError(SegabError):
    """An experiment lifecycle command that cannot proceed."""


class UnsafeEditError(LifecycleError):
    """An edit to a running experiment that would move assigned units."""


class AllocationConflictError(StoreError):
    """An allocation period that another writer recorded first (or out of order)."""
