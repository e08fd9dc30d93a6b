"""What an event log holds, measured inside its engine: exposure cells and event names.

:func:`profile_event_log` runs three small statements: the experiments the
exposures name (with their latest iteration), the exposure rows per (segment,
stage, variant) of this experiment, and per event name its rows and values (read
as ``segab analyze`` reads them, :func:`segab.sums.unit_values.column_read`).

Example:
    >>> EventProfile("revenue", 3, 3, 0.0, 80.5).has_values
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segab.draft.profile import missing, to_float, to_int
from segab.errors import DataError
from segab.sql.dialects import get_dialect
from segab.sums.expressions import number_col, text_col, truthy
from segab.sums.sources import Engine, Source
from segab.sums.unit_values import column_read

__all__ = ["EventLogProfile", "EventProfile", "profile_event_log"]


@dataclass(frozen=True)
class EventProfile:
    """One event name: its rows, its values (non-NULL numbers) and their range.

    Example:
        >>> EventProfile("purchase", 10, 10, 1.0, 1.0).has_values
        False
    """

    name: str
    rows: int
    values: int
    minimum: float | None
    maximum: float | None

    @property
    def has_values(self) -> bool:
        """Values other than 1 (a count-only event logs none, or 1 for each row).

        Example:
            >>> EventProfile("revenue", 5, 5, 0.0, 80.5).has_values
            True
        """
        return self.values > 0 and (self.minimum, self.maximum) != (1.0, 1.0)


@dataclass(frozen=True)
class EventLogProfile:
    """What an event log holds: exposure counts per (segment, stage, variant), its events.

    ``cells`` maps ``(segment, stage, variant)`` (None for a column the exposures
    lack) to exposure rows; ``experiments`` the experiment names found with their
    rows and largest iteration; ``exposure_columns`` the exposures' columns.

    Example:
        >>> p = EventLogProfile("x.csv", {(None, None, "a"): 3}, {}, ("variant",), ())
        >>> p.variant_counts()
        {'a': 3}
    """

    label: str
    cells: dict[tuple[str | None, str | None, str | None], int]
    experiments: dict[str, tuple[int, int | None]]
    exposure_columns: tuple[str, ...]
    events: tuple[EventProfile, ...]
    event_columns: tuple[str, ...] = ()

    def variant_counts(self) -> dict[str, int]:
        """Exposure rows per variant label (NULL labels left out).

        Example:
            >>> EventLogProfile("x", {("s", "t", "a"): 2, ("r", "t", "a"): 1}, {}, (), ()
            ...     ).variant_counts()
            {'a': 3}
        """
        out: dict[str, int] = {}
        for (_, _, variant), n in self.cells.items():
            if variant is not None:
                out[variant] = out.get(variant, 0) + n
        return dict(sorted(out.items()))


def profile_event_log(
    eng: Engine,
    exposures: Source,
    events: Source,
    *,
    variant_column: str = "variant",
    experiment: str | None = None,
) -> EventLogProfile:
    """Profile an event log: exposure counts by cell and variant, and every event name.

    Only exposures of ``experiment`` count when the table has an ``experiment``
    column, and only those ``in_experiment`` when it has that column.

    Example:
        >>> import pandas as pd
        >>> from segab.sums.sources import open_engine
        >>> x = pd.DataFrame({"unit_id": ["u1", "u2"], "variant": ["a", "b"]})
        >>> e = pd.DataFrame({"unit_id": ["u1"], "event": ["buy"], "value": [None]})
        >>> with open_engine(None) as eng:
        ...     p = profile_event_log(eng, x, e)
        >>> p.variant_counts(), p.events[0].has_values
        ({'a': 1, 'b': 1}, False)
    """
    d = get_dialect(eng.dialect)
    xrel = eng.relation(exposures, "exposures", (variant_column, "segment", "stage", "experiment"))
    if not xrel.has(variant_column):
        raise DataError(
            f"{xrel.label}: no column {variant_column!r} (--variant-column) in the exposures "
            f"table; it has {list(xrel.columns)}"
        )
    experiments: dict[str, tuple[int, int | None]] = {}
    if xrel.has("experiment"):
        it = f"MAX({number_col(d, xrel, 'iteration')})" if xrel.has("iteration") else "NULL"
        sql = (
            f"SELECT {text_col(d, 'experiment')} AS e, COUNT(*) AS n, {it} AS i "
            f"FROM {xrel.sql} GROUP BY {text_col(d, 'experiment')}"
        )
        for name, n, iteration in eng.rows(sql, {})[1]:
            if not missing(name):
                experiments[str(name)] = (to_int(n), _iteration(iteration))
    where = []
    if experiment is not None and xrel.has("experiment"):
        where.append(f"{text_col(d, 'experiment')} = {d.literal(experiment)}")
    if xrel.has("in_experiment"):
        where.append(truthy(d, "in_experiment"))
    keys = [text_col(d, c) if xrel.has(c) else "NULL" for c in ("segment", "stage")]
    keys.append(text_col(d, variant_column))
    sql = (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, COUNT(*) AS n "
        f"FROM {xrel.sql}{' WHERE ' + ' AND '.join(where) if where else ''} "
        f"GROUP BY {', '.join(k for k in keys if k != 'NULL')}"
    )
    cells = {(_text(s), _text(t), _text(v)): to_int(n) for s, t, v, n in eng.rows(sql, {})[1]}
    erel = eng.relation(events, "events", ("event",))
    if not erel.has("event"):
        raise DataError(
            f"{erel.label}: no column 'event' in the events table; it has {list(erel.columns)}"
        )
    value = column_read(d, erel, "value") if erel.has("value") else None
    pre = ", ".join(f"{e} AS {a}" for a, e in value.pre) if value else ""
    val = f"CASE WHEN {value.code} = 0 THEN {value.value} END" if value else "NULL"
    sql = (
        f"SELECT ev, COUNT(*) AS n, COUNT(v) AS nv, MIN(v) AS lo, MAX(v) AS hi FROM "
        f"(SELECT ev, {val} AS v FROM (SELECT {text_col(d, 'event')} AS ev"
        f"{', ' + pre if pre else ''} FROM {erel.sql}) AS a) AS b GROUP BY ev"
    )
    found = [
        EventProfile(str(name), to_int(n), to_int(nv), to_float(lo), to_float(hi))
        for name, n, nv, lo, hi in eng.rows(sql, {})[1]
        if not missing(name)
    ]
    found.sort(key=lambda e: (-e.rows, e.name))
    return EventLogProfile(xrel.label, cells, experiments, xrel.columns, tuple(found), erel.columns)


def _text(value: Any) -> str | None:
    return None if missing(value) else str(value)


def _iteration(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None
