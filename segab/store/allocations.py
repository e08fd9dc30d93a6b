"""Allocation periods in the store: record the next one, read an iteration's periods.

A bandit experiment iteration runs in period 0 (the declared split,
:func:`segab.config.declared_period`) until ``segab allocate`` records period 1,
then 2, ... Numbers are consecutive per (experiment, iteration) and each
period starts no earlier than the one before it. Two writers recording the same
number at once: the table's primary key lets exactly one win, the other gets an
:class:`~segab.errors.AllocationConflictError` (re-read and retry).

Example:
    >>> from datetime import UTC, datetime
    >>> from segab.allocation_types import AllocationPeriod, CellAllocation
    >>> from segab.store.engine import make_engine, init_store
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> cell = CellAllocation("all", "buy", ("a", "b"), (500, 500), (3000, 6000))
    >>> p = AllocationPeriod("e", 1, 1, datetime(2026, 1, 2, tzinfo=UTC), (cell,), {"seed": 7})
    >>> record_allocation_period(engine, p) == p
    True
    >>> [(q.number, q.cells[0].buckets, q.summary) for q in allocation_periods(engine, "e", 1)]
    [(1, (3500, 6500), {'seed': 7})]
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.errors import AllocationConflictError, ConfigError, StoreError
from segab.store.engine import write_begin
from segab.store.models import ALLOCATION_PERIODS_TABLE
from segab.store.repository import canonical_json, wrap_db_error

__all__ = ["allocation_period_dict", "allocation_periods", "record_allocation_period"]

_T = ALLOCATION_PERIODS_TABLE


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cell_dict(cell: CellAllocation) -> dict[str, Any]:
    return {
        "segment": cell.segment,
        "stage": cell.stage,
        "variants": list(cell.variants),
        "slice_buckets": list(cell.slice_buckets),
        "adaptive_buckets": list(cell.adaptive_buckets),
        "buckets": list(cell.buckets),
    }


def allocation_period_dict(period: AllocationPeriod) -> dict[str, Any]:
    """A JSON-ready, snake_case dict of a period (what ``status`` and ``history`` print).

    Example:
        >>> from datetime import UTC, datetime
        >>> from segab.allocation_types import AllocationPeriod, CellAllocation
        >>> cell = CellAllocation("all", "buy", ("a", "b"), (0, 0), (2500, 7500))
        >>> d = allocation_period_dict(AllocationPeriod("e", 1, 2, datetime(2026, 1, 2), (cell,)))
        >>> d["number"], d["started_at"], d["cells"][0]["buckets"]
        (2, '2026-01-02T00:00:00+00:00', [2500, 7500])
    """
    return {
        "experiment": period.experiment,
        "iteration": period.iteration,
        "number": period.number,
        "started_at": _aware(period.started_at).isoformat(),
        "cells": [_cell_dict(c) for c in period.cells],
        "summary": dict(period.summary),
    }


def _check(period: AllocationPeriod) -> None:
    if not isinstance(period, AllocationPeriod):
        raise StoreError(f"found {type(period).__name__}, expected an AllocationPeriod")
    if not isinstance(period.experiment, str) or not period.experiment:
        raise StoreError(
            f"experiment key: found {period.experiment!r}, expected a non-empty string"
        )
    for name in ("iteration", "number"):
        value = getattr(period, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StoreError(f"{name}: found {value!r}, expected an integer >= 0")
    if not isinstance(period.started_at, datetime):
        raise StoreError(f"started_at: found {period.started_at!r}, expected a datetime")


def record_allocation_period(engine: Engine, period: AllocationPeriod) -> AllocationPeriod:
    """Record the next allocation period of an iteration; return it (``started_at`` in UTC).

    The number must follow the last recorded one (1, or 0 for an explicitly
    recorded declared period, when none is); a naive ``started_at`` is UTC and
    may not precede the previous period's start. A number recorded meanwhile by
    another writer raises :class:`AllocationConflictError` and writes nothing.

    Example:
        >>> from datetime import datetime
        >>> from segab.allocation_types import AllocationPeriod
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> record_allocation_period(engine, AllocationPeriod("e", 1, 2, datetime(2026, 1, 1), ()))
        Traceback (most recent call last):
        ...
        segab.errors.AllocationConflictError: allocation period 2 of e iteration 1: \
expected period 1 (none is recorded yet); nothing was written
    """
    _check(period)
    started = _aware(period.started_at)
    cells_json = canonical_json([_cell_dict(c) for c in period.cells])
    summary_json = canonical_json(dict(period.summary))
    where = f"allocation period {period.number} of {period.experiment} iteration {period.iteration}"
    key = (_T.c.experiment == period.experiment) & (_T.c.iteration == period.iteration)
    try:
        with write_begin(engine) as conn:
            last = conn.execute(
                sa.select(_T.c.number, _T.c.started_at)
                .where(key)
                .order_by(_T.c.number.desc())
                .limit(1)
            ).first()
            if last is None:
                if period.number not in (0, 1):
                    raise AllocationConflictError(
                        f"{where}: expected period 1 (none is recorded yet); nothing was written"
                    )
            elif period.number != last[0] + 1:
                raise AllocationConflictError(
                    f"{where}: expected period {last[0] + 1} (period {last[0]} is the last "
                    "recorded; another writer may have recorded it meanwhile); nothing was written"
                )
            elif started < _aware(last[1]):
                raise StoreError(
                    f"{where}: starts at {started.isoformat()}, before period {last[0]} "
                    f"({_aware(last[1]).isoformat()}); expected a later start"
                )
            conn.execute(
                sa.insert(_T).values(
                    experiment=period.experiment,
                    iteration=period.iteration,
                    number=period.number,
                    started_at=started,
                    created_at=datetime.now(UTC),
                    cells_json=cells_json,
                    summary_json=summary_json,
                )
            )
    except sa.exc.IntegrityError as exc:
        raise AllocationConflictError(
            f"{where}: another writer recorded this period number first; nothing was written. "
            "Re-read the periods and retry"
        ) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot record {where}", exc) from exc
    return dataclasses.replace(period, started_at=started)


def _period(row: sa.Row[Any]) -> AllocationPeriod:
    m = row._mapping
    try:
        cells = tuple(
            CellAllocation(
                c["segment"],
                c["stage"],
                tuple(c["variants"]),
                tuple(int(x) for x in c["slice_buckets"]),
                tuple(int(x) for x in c["adaptive_buckets"]),
            )
            for c in json.loads(m["cells_json"])
        )
        summary = json.loads(m["summary_json"])
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise StoreError(
            f"allocation period {m['number']} of {m['experiment']} iteration {m['iteration']}: "
            f"unreadable cells or summary ({exc})"
        ) from exc
    return AllocationPeriod(
        m["experiment"], m["iteration"], m["number"], _aware(m["started_at"]), cells, summary
    )


def allocation_periods(engine: Engine, key: str, iteration: int) -> list[AllocationPeriod]:
    """The recorded periods of an experiment iteration, by number; ``[]`` when none is.

    With none recorded, the iteration runs in its declared period
    (:func:`segab.config.declared_period`).

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> allocation_periods(engine, "e", 1)
        []
    """
    query = (
        sa.select(_T)
        .where((_T.c.experiment == key) & (_T.c.iteration == iteration))
        .order_by(_T.c.number)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except sa.exc.SQLAlchemyError as exc:
        raise wrap_db_error(f"cannot read allocation periods of {key}", exc) from exc
    return [_period(r) for r in rows]
