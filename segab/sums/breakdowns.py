"""Several breakdowns in one call: which columns are read and which grouping sets they make.

A *breakdown* is one column (``channel``) or a crossing of columns (``zip_code*newbie``).
``--by a --by b`` is one crossed breakdown ``a*b`` (as it always was); ``--breakdown``
(``breakdowns=`` in :func:`segab.analyze`) adds one breakdown each. One breakdown
runs as a crossing (``dims``); two or more run in one scan as grouping sets over the
union of their columns (:attr:`BreakdownPlan.sets`), and the sums carry a
``breakdown`` column telling which breakdown each row belongs to (0: the plain
cells), so that a column outside a row's breakdown is never confused with a NULL value.

Example:
    >>> plan = plan_breakdowns(("zip_code", "newbie"), [("channel",), ("newbie", "zip_code")])
    >>> plan.columns, plan.sets, plan.names
    (('zip_code', 'newbie', 'channel'), ((0, 1), (2,)), (('zip_code', 'newbie'), ('channel',)))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from segab.errors import DataError

__all__ = ["SEPARATOR", "BreakdownPlan", "parse_breakdown", "plan_breakdowns"]

SEPARATOR = "*"  # crosses the columns of one breakdown on the command line


@dataclass(frozen=True)
class BreakdownPlan:
    """The breakdowns of a call: ``names`` (each a tuple of columns), the union of their
    ``columns`` (the SQL's ``dim_i``), and ``sets`` (each breakdown's column indexes) when
    there are two or more, else ``()`` (one crossing of ``columns``, or none).

    Example:
        >>> plan_breakdowns(("channel",), ()).sets
        ()
    """

    names: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]
    sets: tuple[tuple[int, ...], ...]


def parse_breakdown(text: str) -> tuple[str, ...]:
    """A ``--breakdown`` value: one column, or columns crossed with ``*``.

    Example:
        >>> parse_breakdown("zip_code*newbie"), parse_breakdown("channel")
        (('zip_code', 'newbie'), ('channel',))
    """
    parts = tuple(p.strip() for p in text.split(SEPARATOR))
    if not all(parts):
        raise DataError(
            f"--breakdown: found {text!r}, expected a column name or columns joined by "
            f"{SEPARATOR!r} (channel, zip_code{SEPARATOR}newbie)"
        )
    return parts


def plan_breakdowns(
    by: Sequence[str], breakdowns: Sequence[Sequence[str] | str] = ()
) -> BreakdownPlan:
    """The breakdowns of ``by`` (one crossing, when given) and ``breakdowns`` (one each).

    A breakdown given twice (in any column order) counts once; a column repeated
    within one breakdown too. A string in ``breakdowns`` is one column.

    Example:
        >>> plan_breakdowns((), ["channel", ("zip_code", "newbie"), "channel"]).names
        (('channel',), ('zip_code', 'newbie'))
        >>> plan_breakdowns(("a", "b"), ()).columns, plan_breakdowns((), ()).names
        (('a', 'b'), ())
    """
    given: list[tuple[str, ...]] = []
    if isinstance(by, str):
        by = (by,)
    if by:
        given.append(tuple(dict.fromkeys(by)))
    for b in breakdowns:
        cols = (b,) if isinstance(b, str) else tuple(dict.fromkeys(b))
        if not cols or not all(isinstance(c, str) and c for c in cols):
            raise DataError(
                f"breakdowns: found {b!r}, expected a column name or a sequence of column names"
            )
        given.append(cols)
    names: list[tuple[str, ...]] = []
    seen: set[frozenset[str]] = set()
    for cols in given:
        if frozenset(cols) not in seen:
            seen.add(frozenset(cols))
            names.append(cols)
    columns = tuple(dict.fromkeys(c for cols in names for c in cols))
    if len(names) < 2:
        return BreakdownPlan(tuple(names), columns, ())
    index = {c: i for i, c in enumerate(columns)}
    sets = tuple(tuple(index[c] for c in cols) for cols in names)
    return BreakdownPlan(tuple(names), columns, sets)
