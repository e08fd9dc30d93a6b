"""Allocation periods and the uniform slice of bandit cells, computed inside the engine.

A bandit cell's weights change between allocation periods
(:class:`~segab.allocation_types.AllocationPeriod`), so its honest estimates
(:mod:`segab.stats.adaptive`) need the sums per period, and per part of the
traffic: the **uniform slice** (buckets ``[0, S)`` of the cell, always split at
the declared weights) or the adaptive rest. Both are two more breakdown columns
of the exposure relation (:func:`with_periods`), as the folds of
:mod:`segab.sums.folds` are, so every engine returns them in the same statement:

- :data:`PERIOD_COLUMN`: the index, in time order, of the last period whose
  ``started_at`` is at or before the exposure row's time (a row before the first
  period counts in the first); the per-unit value is the smallest over the unit's
  rows in the cell (the aggregation takes the minimum of a breakdown column), so
  a unit belongs to the period of its first exposure;
- :data:`SLICE_COLUMN`: 1 when the unit's assignment bucket in that cell, hash
  version 1 of ``seed|segment|stage-or-*|`` + unit id (the cell's
  :attr:`segab.assignment.CellPlan.prefix`), is below ``S``, else 0. Both are
  ``-1`` in the cells no period adapts.

:func:`split_periods` adds them back into the ordinary sums (each unit is in one
period and one part, so nothing is counted twice) and keeps the split sums in
:attr:`Aggregates.periods`, with the period's ``number``.

Example:
    >>> from datetime import datetime
    >>> from segab.allocation_types import AllocationPeriod, CellAllocation
    >>> cell = CellAllocation("all", "buy", ("a", "b"), (500, 500), (4500, 4500))
    >>> ps = [AllocationPeriod("e", 1, n, datetime(2026, 1, 1 + n), (cell,)) for n in (0, 1)]
    >>> layout = PeriodLayout.of(ps, {("all", "buy"): "seed|all|buy|"})
    >>> layout.numbers, layout.period_of(layout.starts[1] + 5.0), layout.period_of(0.0)
    ((0, 1), 1, 0)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from segab.allocation_types import AllocationPeriod
from segab.errors import DataError
from segab.hashing import bucket_of_key
from segab.sql.dialects import Dialect, get_dialect
from segab.sums.expressions import epoch_col, text_col, unit_col
from segab.sums.result import SUM_COLUMNS, Aggregates, merge_split, split_index
from segab.sums.sources import Relation
from segab.sums.sqlite_functions import BUCKET_FUNCTION

__all__ = ["PERIOD_COLUMN", "SLICE_COLUMN", "PeriodLayout", "split_periods", "with_periods"]

PERIOD_COLUMN = "segab_period"
SLICE_COLUMN = "segab_slice"
_KEYS = ["segment", "stage", "variant"]


def _epoch(t: dt.datetime) -> float:
    return (t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)).timestamp()


@dataclass(frozen=True)
class PeriodLayout:
    """What the engine needs: the periods' numbers and start times (epoch seconds, in
    time order) and each bandit cell's ``(segment, stage, hash prefix, S)``.

    Example:
        >>> layout = PeriodLayout((0,), (0.0,), (("s", "t", "k|s|t|", 1000),))
        >>> layout.in_slice("s", "t", "u3"), layout.in_slice("s", "t", "u4")  # buckets 744, 1001
        (True, False)
    """

    numbers: tuple[int, ...]
    starts: tuple[float, ...]
    cells: tuple[tuple[str, str, str, int], ...]

    @classmethod
    def of(
        cls, periods: Sequence[AllocationPeriod], prefixes: Mapping[tuple[str, str], str]
    ) -> PeriodLayout:
        """The layout of ``periods`` (any order), with each cell's hash prefix from ``prefixes``
        (the compiled plan's). A cell's slice must be the same in every period.

        Example:
            >>> PeriodLayout.of([], {})
            Traceback (most recent call last):
            ...
            segab.errors.DataError: periods: found none, expected at least one allocation period
        """
        if not periods:
            raise DataError("periods: found none, expected at least one allocation period")
        ordered = sorted(periods, key=lambda p: (_epoch(p.started_at), p.number))
        numbers = [p.number for p in ordered]
        if len(set(numbers)) != len(numbers):
            raise DataError(f"periods: found numbers {numbers}, expected each number once")
        slices: dict[tuple[str, str], int] = {}
        for p in ordered:
            for c in p.cells:
                key = (c.segment, c.stage)
                if key not in prefixes:
                    raise DataError(
                        f"period {p.number}: cell ({c.segment}, {c.stage}) is not a cell of "
                        "the experiment's config"
                    )
                if slices.setdefault(key, c.slice_total) != c.slice_total:
                    raise DataError(
                        f"period {p.number}: cell ({c.segment}, {c.stage}) has a uniform slice "
                        f"of {c.slice_total} buckets, expected {slices[key]} as in earlier "
                        "periods (the slice is fixed for the experiment)"
                    )
        cells = tuple((s, t, prefixes[(s, t)], n) for (s, t), n in slices.items())
        return cls(tuple(numbers), tuple(_epoch(p.started_at) for p in ordered), cells)

    def period_of(self, epoch: float) -> int:
        """The number of the period a first exposure at ``epoch`` seconds belongs to.

        Example:
            >>> PeriodLayout((0, 1), (10.0, 20.0), ()).period_of(5.0)
            0
        """
        index = max((i for i, s in enumerate(self.starts) if epoch >= s), default=0)
        return self.numbers[index]

    def in_slice(self, segment: str, stage: str, unit_id: str) -> bool:
        """Whether a unit is in a bandit cell's uniform slice (Python, as the SQL).

        Example:
            >>> PeriodLayout((0,), (0.0,), (("s", "t", "k|s|t|", 0),)).in_slice("s", "t", "u")
            False
        """
        for s, t, prefix, size in self.cells:
            if (s, t) == (segment, stage):
                return bucket_of_key(prefix + unit_id) < size
        raise DataError(f"cell ({segment}, {stage}): not a bandit cell of these periods")


def _bucket(d: Dialect, prefix: str, unit_text: str) -> str:
    if d.name == "sqlite":  # no md5(): segab.sums.sqlite_functions
        return f"{BUCKET_FUNCTION}({d.literal(prefix)} || {unit_text})"
    return d.bucket(d.concat(d.literal(prefix), unit_text))


def with_periods(
    dialect: Dialect | str, rel: Relation, unit_column: str, time_column: str, layout: PeriodLayout
) -> Relation:
    """The relation with :data:`PERIOD_COLUMN` and :data:`SLICE_COLUMN` added (see the module).

    Example:
        >>> rel = Relation("x", ("u", "segment", "stage", "ts"), {"u": "varchar"})
        >>> layout = PeriodLayout((0, 1), (0.0, 100.0), (("s", "t", "k|s|t|", 500),))
        >>> out = with_periods("duckdb", rel, "u", "ts", layout)
        >>> out.columns[-2:], out.types["segab_slice"]
        (('segab_period', 'segab_slice'), 'integer')
    """
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    t = epoch_col(d, rel, time_column)
    u = unit_col(d, rel, unit_column)
    steps = " ".join(
        f"WHEN {t} >= {float(s)!r} THEN {i}"
        for i, s in reversed(list(enumerate(layout.starts)))
        if i > 0
    )
    period = f"CASE {steps} ELSE 0 END" if steps else "0"
    seg, stage = text_col(d, "segment"), text_col(d, "stage")
    period_parts, slice_parts = [], []
    for s, st, prefix, size in layout.cells:
        where = f"{seg} = {d.literal(s)} AND {stage} = {d.literal(st)}"
        period_parts.append(f"WHEN {where} THEN {period}")
        inside = f"CASE WHEN {_bucket(d, prefix, u)} < {int(size)} THEN 1 ELSE 0 END"
        slice_parts.append(f"WHEN {where} THEN {inside}")
    period_sql = f"CASE {' '.join(period_parts)} ELSE -1 END" if period_parts else "-1"
    slice_sql = f"CASE {' '.join(slice_parts)} ELSE -1 END" if slice_parts else "-1"
    sql = (
        f"(SELECT *, {period_sql} AS {d.quote(PERIOD_COLUMN)}, "
        f"{slice_sql} AS {d.quote(SLICE_COLUMN)} FROM {rel.sql}) AS segab_periods"
    )
    types = {**rel.types, PERIOD_COLUMN: "integer", SLICE_COLUMN: "integer"}
    return Relation(sql, (*rel.columns, PERIOD_COLUMN, SLICE_COLUMN), types, rel.label)


def split_periods(agg: Aggregates, layout: PeriodLayout) -> Aggregates:
    """Sums with the period and slice columns -> the ordinary sums plus ``periods``.

    ``periods`` holds, per (segment, stage, variant, period, in_slice, metric) of
    the bandit cells, the :data:`SUM_COLUMNS` summed over the other breakdowns;
    ``period`` is the period's number, ``in_slice`` a bool. The ordinary ``sums`` and
    ``exposures`` add the periods and both parts.

    Example:
        >>> import pandas as pd
        >>> sums = pd.DataFrame({"segment": "s", "stage": "t", "variant": "a",
        ...     "segab_period": [0, 1, 1], "segab_slice": [1, 1, 0], "metric": "m",
        ...     "n": [3, 4, 5], "sum": 1.0, "sum_sq": 1.0, "den_sum": 0.0, "den_sum_sq": 0.0,
        ...     "cross_sum": 0.0})
        >>> expo = sums[["segment", "stage", "variant", "segab_period", "segab_slice", "n"]]
        >>> dims = ("segab_period", "segab_slice")
        >>> layout = PeriodLayout((4, 7), (0.0, 9.0), (("s", "t", "p", 100),))
        >>> agg = split_periods(Aggregates(sums, expo, pd.DataFrame(), {}, dims), layout)
        >>> agg.sums["n"].tolist(), agg.periods["period"].tolist(), agg.dimensions
        ([12], [4, 7, 7], ())
    """
    cols = (PERIOD_COLUMN, SLICE_COLUMN)
    dims, sums, exposures = merge_split(agg, cols)
    split = agg.sums.groupby([*_KEYS, *cols, "metric"], dropna=False, as_index=False)[
        list(SUM_COLUMNS)
    ].sum()
    index = split_index(split[PERIOD_COLUMN])
    split = split[(index >= 0) & (index < len(layout.numbers))].copy()
    split["period"] = [layout.numbers[i] for i in split_index(split[PERIOD_COLUMN])]
    split["in_slice"] = split_index(split[SLICE_COLUMN]) == 1
    split = split[[*_KEYS, "period", "in_slice", "metric", *SUM_COLUMNS]]
    periods = split.reset_index(drop=True)
    return replace(agg, sums=sums, exposures=exposures, dimensions=dims, periods=periods)
