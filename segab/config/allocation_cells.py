"""Which cells are bandits, their declared layout (period 0), and the rules on ``allocation:``.

Pure functions on a validated :class:`~segab.config.models.Experiment`.
:func:`bandit_cells` lists each (segment, stage) pair whose cell adapts, with its
effective settings; :func:`declared_period` lays each out on the 10,000-bucket
grid at its declared weights (the period a cell runs in until ``segab allocate``
records another); :func:`check_allocation` returns the located problems that
:func:`segab.config.check_experiment` reports with the others.

Example:
    >>> from datetime import datetime
    >>> from segab.config.models import Experiment
    >>> exp = Experiment.model_validate({"key": "e", "unit": "id", "stages": ["buy"],
    ...     "allocation": {"mode": "bandit"},
    ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> [(seg, st, s.mode) for seg, st, s in bandit_cells(exp)]
    [('all', 'buy', 'bandit')]
    >>> declared_period(exp, datetime(2026, 1, 1)).cells[0].slice_buckets
    (500, 500)
"""

from __future__ import annotations

from datetime import datetime

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.config.allocation import AllocationSettings, merge_allocation
from segab.config.cells import Problem, cell_resolver
from segab.config.models import Cell, Experiment
from segab.hashing import BUCKETS

__all__ = [
    "bandit_cells",
    "cell_allocation",
    "check_allocation",
    "declared_layout",
    "declared_period",
]


def cell_allocation(exp: Experiment, cell: Cell) -> AllocationSettings:
    """The effective allocation settings of one config cell (experiment's, then the cell's).

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> cell_allocation(exp, exp.cells[0]).mode
        'fixed'
    """
    return merge_allocation(exp.allocation, cell.allocation)


def bandit_cells(exp: Experiment) -> list[tuple[str, str, AllocationSettings]]:
    """Every (segment, stage) whose cell is a bandit, with its effective settings.

    In the order of assignment's plan: segments (the fallback last), then stages.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "unit": "id", "stages": ["s", "t"],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        ...                "control": "a", "stage": "t", "allocation": {"mode": "bandit"}},
        ...               {"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> [(seg, st) for seg, st, _ in bandit_cells(exp)]
        [('all', 't')]
    """
    resolve = cell_resolver(exp.cells)
    out: list[tuple[str, str, AllocationSettings]] = []
    for segment in exp.segment_keys():
        for stage in exp.stages:
            idx = resolve(segment, stage)
            if idx is None:
                continue
            settings = cell_allocation(exp, exp.cells[idx])
            if settings.is_bandit:
                out.append((segment, stage, settings))
    return out


def _declared_weights(cell: Cell) -> tuple[float, ...]:
    total = sum(v.weight for v in cell.variants)
    return tuple(v.weight / total for v in cell.variants)


def declared_layout(
    segment: str, stage: str, cell: Cell, settings: AllocationSettings
) -> CellAllocation:
    """One bandit cell's layout at its declared weights (slice first, then the adaptive part).

    The slice's ``round(uniform_slice x 10000)`` buckets and the remaining buckets
    are each split at the declared weights by largest remainder, exactly as
    :func:`segab.stats.bandit.allocate` lays out the slice.

    Example:
        >>> from segab.config.models import Cell, Variant
        >>> cell = Cell(control="a", variants=[Variant(key="a", weight=1),
        ...                                    Variant(key="b", weight=2)])
        >>> layout = declared_layout("all", "buy", cell, AllocationSettings(uniform_slice=0.1))
        >>> layout.slice_buckets, layout.adaptive_buckets
        ((333, 667), (3000, 6000))
    """
    weights = _declared_weights(cell)
    slice_total = round(settings.uniform_slice * BUCKETS)
    k = len(weights)
    from segab.stats.bandit import round_to_grid  # numpy: loaded only for bandit cells

    slice_buckets = round_to_grid(weights, slice_total) if slice_total else (0,) * k
    rest = BUCKETS - slice_total
    adaptive = round_to_grid(weights, rest)
    return CellAllocation(
        segment, stage, tuple(v.key for v in cell.variants), slice_buckets, adaptive
    )


def declared_period(exp: Experiment, started_at: datetime) -> AllocationPeriod:
    """Period 0 of an experiment's iteration: every bandit cell at its declared weights.

    What a cell runs at until ``segab allocate`` records period 1 (the store holds
    no period yet). An experiment without bandit cells has a period without cells.

    Example:
        >>> from datetime import datetime
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "unit": "id", "stages": ["buy"],
        ...     "allocation": {"mode": "bandit", "uniform_slice": 0.2},
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.7}, {"key": "b", "weight": 0.3}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> p = declared_period(exp, datetime(2026, 1, 1))
        >>> p.number, p.cells[0].slice_buckets, p.cells[0].adaptive_buckets
        (0, (1400, 600), (5600, 2400))
    """
    resolve = cell_resolver(exp.cells)
    cells = []
    for segment, stage, settings in bandit_cells(exp):
        idx = resolve(segment, stage)
        assert idx is not None  # bandit_cells lists resolved cells only
        cells.append(declared_layout(segment, stage, exp.cells[idx], settings))
    return AllocationPeriod(
        exp.key, exp.iteration, 0, started_at, tuple(cells), {"source": "declared"}
    )


def _where(exp: Experiment, i: int, cell: Cell, name: str) -> str:
    """Where a setting comes from: the cell's own ``allocation:`` or the experiment's."""
    own = cell.allocation is not None and name in cell.allocation.model_fields_set
    inherited = exp.allocation is not None and name in exp.allocation.model_fields_set
    return f"allocation.{name}" if inherited and not own else f"cells[{i}].allocation.{name}"


def check_allocation(exp: Experiment) -> list[Problem]:
    """Problems of the ``allocation:`` settings, located like the other config errors.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "unit": "id",
        ...     "allocation": {"mode": "bandit", "metric": "revenue"},
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> [p[0] for p in check_allocation(exp)]
        ['allocation.metric', 'cells[0].variants']
    """
    problems: list[Problem] = []
    keys = [m.key for m in exp.metrics.all()]
    settings_at = [("allocation", exp.allocation)] + [
        (f"cells[{i}].allocation", c.allocation) for i, c in enumerate(exp.cells)
    ]
    for where, settings in settings_at:
        if settings is not None and settings.metric is not None and settings.metric not in keys:
            problems.append((f"{where}.metric", repr(settings.metric), f"a metric key {keys}"))
    by_key = {m.key: m for m in exp.metrics.all()}
    for i, cell in enumerate(exp.cells):
        settings = cell_allocation(exp, cell)
        if not settings.is_bandit:
            continue
        metric = by_key.get(settings.metric or exp.metrics.primary.key)
        if metric is not None and (metric.kind == "ratio" or metric.event is None):
            problems.append(
                (
                    _where(exp, i, cell, "metric") if settings.metric else "metrics.primary",
                    f"{metric.kind} metric {metric.key!r}"
                    + ("" if metric.event else " without 'event'")
                    + f" deciding the bandit of cells[{i}]",
                    "a binary or continuous metric of the event log (segab allocate reads the "
                    "store's events; ratio metrics are not supported as a bandit's decision)",
                )
            )
        k = len(cell.variants)
        if k < 2:
            problems.append(
                (
                    f"cells[{i}].variants",
                    f"{k} variant in a cell with allocation mode 'bandit'",
                    "at least 2 variants (a bandit moves traffic between arms), "
                    "or allocation: {mode: fixed} on this cell",
                )
            )
        elif settings.floor * k > 1 + 1e-9:
            problems.append(
                (
                    _where(exp, i, cell, "floor"),
                    f"{settings.floor} with {k} variants in cells[{i}] ({settings.floor * k:g})",
                    f"floor x variants <= 1 (at most {1 / k:.4g})",
                )
            )
        if cell.coverage < 1.0:
            problems.append(
                (
                    f"cells[{i}].coverage",
                    f"{cell.coverage} in a cell with allocation mode 'bandit'",
                    "1.0 (a bandit cell with coverage below 1 is not supported)",
                )
            )
    return problems
