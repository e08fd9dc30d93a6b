"""Allocation periods as JSON: what ``segab analyze --periods FILE`` reads.

The file is a JSON list with one object per period (snake_case keys)::

    [{"experiment": "journey", "iteration": 1, "number": 0,
      "started_at": "2026-03-01T00:00:00",
      "cells": [{"segment": "young", "stage": "purchase", "variants": ["control", "video"],
                 "slice_buckets": [500, 500], "adaptive_buckets": [4500, 4500]}],
      "summary": {}}]

``started_at`` is ISO 8601 (no zone: UTC); ``summary`` is optional. The value
types are :class:`~segab.allocation_types.AllocationPeriod` and
:class:`~segab.allocation_types.CellAllocation`; this shell module only reads and
writes them.

Example:
    >>> from datetime import datetime
    >>> from segab.allocation_types import AllocationPeriod, CellAllocation
    >>> cell = CellAllocation("all", "buy", ("a", "b"), (500, 500), (4500, 4500))
    >>> p = AllocationPeriod("e", 1, 0, datetime(2026, 3, 1), (cell,))
    >>> period_from_json(period_to_json(p)) == p
    True
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.errors import DataError, SegabError

__all__ = ["period_from_json", "period_to_json", "read_periods", "write_periods"]


def period_to_json(period: AllocationPeriod) -> dict[str, Any]:
    """One period as a JSON-ready dict (the shape of the module docstring).

    Example:
        >>> from datetime import datetime
        >>> period_to_json(AllocationPeriod("e", 1, 2, datetime(2026, 3, 1), ()))["started_at"]
        '2026-03-01T00:00:00'
    """
    return {
        "experiment": period.experiment,
        "iteration": period.iteration,
        "number": period.number,
        "started_at": period.started_at.isoformat(),
        "cells": [
            {
                "segment": c.segment,
                "stage": c.stage,
                "variants": list(c.variants),
                "slice_buckets": list(c.slice_buckets),
                "adaptive_buckets": list(c.adaptive_buckets),
            }
            for c in period.cells
        ],
        "summary": dict(period.summary),
    }


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(f"{where}.{key}: found {value!r}, expected {names}")
    return value


def _ints(obj: Any, key: str, where: str) -> tuple[int, ...]:
    values = _field(obj, key, list, where)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise DataError(f"{where}.{key}: found {values!r}, expected a list of integers")
    return tuple(values)


def period_from_json(obj: Any, where: str = "period") -> AllocationPeriod:
    """A period from its JSON dict; a :class:`DataError` names the field that is wrong.

    Example:
        >>> period_from_json({"experiment": "e", "iteration": 1, "number": 0,
        ...                   "started_at": "yesterday", "cells": []})
        Traceback (most recent call last):
        ...
        segab.errors.DataError: period.started_at: found 'yesterday', expected an ISO 8601 time
    """
    text = _field(obj, "started_at", str, where)
    try:
        started = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"{where}.started_at: found {text!r}, expected an ISO 8601 time") from None
    if started.tzinfo is not None:
        started = started.astimezone(dt.UTC).replace(tzinfo=None)
    cells = []
    for i, c in enumerate(_field(obj, "cells", list, where)):
        at = f"{where}.cells[{i}]"
        variants = tuple(_field(c, "variants", list, at))
        if not all(isinstance(v, str) for v in variants):
            raise DataError(f"{at}.variants: found {list(variants)!r}, expected variant keys")
        try:
            cells.append(
                CellAllocation(
                    _field(c, "segment", str, at),
                    _field(c, "stage", str, at),
                    variants,
                    _ints(c, "slice_buckets", at),
                    _ints(c, "adaptive_buckets", at),
                )
            )
        except SegabError as e:
            raise DataError(f"{at}: {e}") from None
    summary = obj.get("summary") or {}
    if not isinstance(summary, dict):
        raise DataError(f"{where}.summary: found {summary!r}, expected an object")
    return AllocationPeriod(
        _field(obj, "experiment", str, where),
        _field(obj, "iteration", int, where),
        _field(obj, "number", int, where),
        started,
        tuple(cells),
        summary,
    )


def read_periods(path: str | Path) -> list[AllocationPeriod]:
    """The periods of a JSON file (a list of period objects).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "p.json")
        >>> _ = open(f, "w").write("{}")
        >>> read_periods(f)
        Traceback (most recent call last):
        ...
        segab.errors.DataError: p.json: found a dict, expected a JSON list of allocation periods
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{p.name}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise DataError(f"{p.name}: not JSON ({e})") from None
    if not isinstance(data, list):
        raise DataError(
            f"{p.name}: found a {type(data).__name__}, expected a JSON list of allocation periods"
        )
    return [period_from_json(o, f"{p.name}[{i}]") for i, o in enumerate(data)]


def write_periods(periods: Sequence[AllocationPeriod], path: str | Path) -> None:
    """Write periods as the JSON list :func:`read_periods` reads.

    Example:
        >>> import tempfile, os
        >>> from datetime import datetime
        >>> f = os.path.join(tempfile.mkdtemp(), "p.json")
        >>> write_periods([AllocationPeriod("e", 1, 0, datetime(2026, 3, 1), ())], f)
        >>> read_periods(f)[0].number
        0
    """
    text = json.dumps([period_to_json(p) for p in periods], indent=2)
    Path(path).write_text(text + "\n", encoding="utf-8")
