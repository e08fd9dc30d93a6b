"""Deterministic, server-free assignment of units to variants (pure core).

``assign(experiment, unit_id, attributes, stage)`` decides, in order:

1. the stage must be one of the experiment's stages (else ``UnknownStageError``);
2. the segment: the first segment whose condition matches, else the fallback,
   else the unit is ``not_targeted``;
3. the cell: the most specific cell for (segment, stage), else ``not_targeted``;
4. ``forced`` variants (QA), then ``inactive`` (stopped or concluded
   experiments show the control), ``excluded`` ids, the ``namespace`` range
   and the ``holdout``;
5. the variant draw: bucket = hash v1 of ``seed|segment|stage|unit_id``
   (``*`` instead of the stage with ``randomization: journey``); the variant
   whose fixed-start range holds the bucket, else ``outside_coverage``.
   Two optional inputs change step 5 for adaptive (bandit) cells, see
   :mod:`segab.assignment_period`: ``previous``, the variant the unit has already
   seen in this cell, is kept (``sticky``) while it is one of the cell's
   variants; else an allocation ``period`` that lays the cell out maps the same
   bucket through its layout (uniform slice first, then the adaptive part).

Only integer arithmetic is used after the digest; see :mod:`segab.hashing`.

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({
    ...     "key": "demo", "name": "Demo", "unit": "user_id", "status": "running",
    ...     "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}], "fallback": "others",
    ...     "cells": [{"variants": [{"key": "control", "weight": 0.5},
    ...                             {"key": "video", "weight": 0.5}], "control": "control"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}}})
    >>> a = assign(exp, "user-42", {"age": 25}, "awareness")
    >>> a.segment, a.variant in ("control", "video"), a.reason
    ('young', True, <Reason.ASSIGNED: 'assigned'>)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import md5
from typing import Any

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.assignment_period import check_layout, check_period, layout_table
from segab.assignment_types import Assignment, Reason
from segab.conditions import compile_condition
from segab.config.allocation_cells import cell_allocation, declared_layout
from segab.config.checks import resolve_cell_index, to_basis_points, weight_basis_points
from segab.config.models import Experiment, SegmentDef
from segab.errors import AssignmentError, ConfigError, ConfigProblem, UnknownStageError
from segab.hashing import BUCKETS, SEPARATOR, bucket

__all__ = [
    "Assignment",
    "CellPlan",
    "Plan",
    "Reason",
    "assign",
    "compile_plan",
    "draw",
    "plan_of",
    "resolve_segment",
]

_ASSIGNED = Reason.ASSIGNED
_NOT_TARGETED = Reason.NOT_TARGETED
_OUTSIDE = Reason.OUTSIDE_COVERAGE
_STICKY = Reason.STICKY


_tnew: Callable[[type[Assignment], tuple[Any, ...]], Assignment] = tuple.__new__


@dataclass(frozen=True, slots=True)
class CellPlan:
    """A compiled cell: its control, its hash-key prefix and its bucket table.

    ``table[b]`` is the variant for bucket ``b``, or ``None`` outside coverage.
    ``ranges`` lists ``(variant, start, end)``: fixed starts, ends scaled by coverage.
    A bandit cell (``allocation: {mode: bandit}``) draws from ``layout``, its
    declared period-0 layout (uniform slice first, then the adaptive part: see
    :func:`segab.config.declared_period`), so that ``assign()`` without a period
    equals ``assign(..., period=declared_period(...))``; its ``ranges`` then list
    each variant once, with the layout's width (the weights, as everywhere else).

    Example:
        >>> plan = CellPlan("seg", "control", "s|seg|awareness|", (("control", 0, 5000),), ())
        >>> plan.control
        'control'
    """

    segment: str
    control: str
    prefix: str
    ranges: tuple[tuple[str, int, int], ...]
    table: tuple[str | None, ...]
    layout: CellAllocation | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """An experiment compiled for fast assignment (built once, reused).

    Example:
        >>> Plan.__slots__[:2]
        ('key', 'iteration')
    """

    key: str
    iteration: int
    seed: str
    stages: frozenset[str]
    segments: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...]
    fallback: str | None
    cells: dict[tuple[str, str], CellPlan]
    forced: dict[str, str]
    excluded: frozenset[str]
    holdout_bp: int
    namespace: tuple[str, int, int] | None
    active: bool
    checks_before_draw: bool
    segment_cells: tuple[tuple[str, Callable[[Mapping[str, Any]], bool], dict[str, CellPlan]], ...]
    fallback_cells: dict[str, CellPlan]


def _bp(value: float) -> int:
    bp = to_basis_points(value)
    if bp is None:
        raise ConfigError(f"{value!r} is not a multiple of 0.0001")
    return bp


def _ranges(weights: list[tuple[str, int]], coverage_bp: int) -> tuple[tuple[str, int, int], ...]:
    out = []
    start = 0
    for key, w in weights:
        out.append((key, start, start + w * coverage_bp // BUCKETS))
        start += w
    return tuple(out)


def compile_plan(exp: Experiment) -> Plan:
    """Compile an experiment into a :class:`Plan` (conditions, bucket tables).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a",
        ...                "coverage": 0.5}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> compile_plan(exp).cells[("all", "awareness")].ranges
        (('a', 0, 5000),)
    """
    segments = []
    for i, seg in enumerate(exp.segments):
        if not isinstance(seg, SegmentDef):
            raise ConfigError(
                [
                    ConfigProblem(
                        exp.source, f"segments[{i}].ref", repr(seg.ref), "a resolved segment"
                    )
                ]
            )
        segments.append((seg.key, compile_condition(seg.when, exp.groups)))
    cells: dict[tuple[str, str], CellPlan] = {}
    for segment in exp.segment_keys():
        for stage in exp.stages:
            idx = resolve_cell_index(exp.cells, segment, stage)
            if idx is None:
                continue
            cell = exp.cells[idx]
            bps = weight_basis_points([v.weight for v in cell.variants])
            if bps is None:
                raise ConfigError(f"cell ({segment}, {stage}): every weight is 0")
            keys = [v.key for v in cell.variants]
            settings = cell_allocation(exp, cell)
            layout = None
            if settings.is_bandit:
                layout = declared_layout(segment, stage, cell, settings)
                bps = layout.buckets
            ranges = _ranges(list(zip(keys, bps, strict=True)), _bp(cell.coverage))
            if layout is not None:
                table: tuple[str | None, ...] = layout_table(layout)
            else:
                cover: list[str | None] = [None] * BUCKETS
                for key, lo, hi in ranges:
                    cover[lo:hi] = [key] * (hi - lo)
                table = tuple(cover)
            salt = "*" if exp.randomization == "journey" else stage
            prefix = SEPARATOR.join((exp.seed, segment, salt, ""))
            cells[(segment, stage)] = CellPlan(segment, cell.control, prefix, ranges, table, layout)
    namespace = None
    if exp.namespace is not None:
        ns_lo, ns_hi = exp.namespace.range
        namespace = (exp.namespace.key, _bp(ns_lo), _bp(ns_hi))
    return Plan(
        key=exp.key,
        iteration=exp.iteration,
        seed=exp.seed,
        stages=frozenset(exp.stages),
        segments=tuple(segments),
        fallback=exp.fallback,
        cells=cells,
        forced=dict(exp.forced),
        excluded=frozenset(exp.exclude),
        holdout_bp=_bp(exp.holdout),
        namespace=namespace,
        active=exp.status in ("draft", "running"),
        segment_cells=tuple(
            (key, pred, {st: c for (sg, st), c in cells.items() if sg == key})
            for key, pred in segments
        ),
        fallback_cells={st: c for (sg, st), c in cells.items() if sg == exp.fallback},
        checks_before_draw=bool(
            exp.forced
            or exp.exclude
            or namespace
            or _bp(exp.holdout)
            or exp.status not in ("draft", "running")
        ),
    )


def plan_of(exp: Experiment) -> Plan:
    """The experiment's compiled plan, built on first use and kept on the model.

    Example:
        >>> plan_of.__name__
        'plan_of'
    """
    private = exp.__pydantic_private__
    plan: Plan | None = private.get("_plan") if private else None
    if plan is None:
        plan = compile_plan(exp)
        exp._plan = plan
    return plan


def _unit_str(unit_id: Any) -> str:
    if isinstance(unit_id, str):
        return unit_id
    if isinstance(unit_id, int) and not isinstance(unit_id, bool):
        return str(unit_id)
    raise AssignmentError(f"unit_id must be a string or an integer, got {type(unit_id).__name__}")


def assign(
    experiment: Experiment,
    unit_id: str | int,
    attributes: Mapping[str, Any],
    stage: str,
    *,
    period: AllocationPeriod | None = None,
    previous: str | None = None,
) -> Assignment:
    """Assign one unit at one journey stage. Pure and deterministic.

    ``period``: an allocation period of this experiment and iteration; a cell it
    lays out draws from that layout (same bucket, the period's weights).
    ``previous``: the variant the unit has already seen in this cell (e.g. its
    stored exposure); while it is one of the cell's variants the unit keeps it,
    with reason ``sticky`` (and ``in_experiment`` true). Forced, inactive,
    excluded, namespace and holdout rules come first, as without them.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id", "status": "running",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> assign(exp, "u1", {}, "purchase") == assign(exp, "u1", {}, "purchase")
        True
        >>> assign(exp, "u1", {}, "purchase")[5:]
        ('b', 8966, True, <Reason.ASSIGNED: 'assigned'>)
        >>> assign(exp, "u1", {}, "purchase", previous="a")[5:]
        ('a', 8966, True, <Reason.STICKY: 'sticky'>)

        A period that gives ``a`` the whole adaptive part (buckets 1000 to 9999),
        after a uniform slice of 1000 buckets split 500/500:

        >>> from datetime import datetime
        >>> from segab.allocation_types import AllocationPeriod, CellAllocation
        >>> layout = CellAllocation("all", "purchase", ("a", "b"), (500, 500), (9000, 0))
        >>> p = AllocationPeriod("e", 1, 1, datetime(2026, 1, 1), (layout,))
        >>> assign(exp, "u1", {}, "purchase", period=p)[5:]
        ('a', 8966, True, <Reason.ASSIGNED: 'assigned'>)
    """
    # hot path: ~1 µs over the MD5 floor; keep attribute lookups and calls to a minimum
    private = experiment.__pydantic_private__
    plan: Plan = (private and private.get("_plan")) or plan_of(experiment)
    if type(unit_id) is not str:
        unit_id = _unit_str(unit_id)
    if period is not previous:  # one test for "either is given": both None, or not the same
        return _assign_adaptive(plan, unit_id, attributes, stage, period, previous)
    if stage not in plan.stages:
        raise UnknownStageError(
            f"unknown stage {stage!r} for experiment {plan.key!r}; expected one of "
            f"{sorted(plan.stages)}"
        )
    segment, by_stage = plan.fallback, plan.fallback_cells
    for key, predicate, cells in plan.segment_cells:
        if predicate(attributes):
            segment, by_stage = key, cells
            break
    else:
        if segment is None:
            return _tnew(
                Assignment,
                (plan.key, plan.iteration, unit_id, None, stage, None, None, False, _NOT_TARGETED),
            )
    cell = by_stage.get(stage)
    if cell is None or plan.checks_before_draw:
        return draw(plan, unit_id, segment, by_stage, stage)
    # inlined tail of draw() for the common case (saves a call on the hot path)
    b = int.from_bytes(md5((cell.prefix + unit_id).encode()).digest()[:4], "big") % BUCKETS
    variant = cell.table[b]
    if variant is None:
        return _tnew(
            Assignment,
            (plan.key, plan.iteration, unit_id, segment, stage, cell.control, b, False, _OUTSIDE),
        )
    return _tnew(
        Assignment, (plan.key, plan.iteration, unit_id, segment, stage, variant, b, True, _ASSIGNED)
    )


def _assign_adaptive(
    plan: Plan,
    unit_id: str,
    attributes: Mapping[str, Any],
    stage: str,
    period: AllocationPeriod | None,
    previous: str | None,
) -> Assignment:
    """:func:`assign` with a period or a previous variant (off the hot path)."""
    if stage not in plan.stages:
        raise UnknownStageError(
            f"unknown stage {stage!r} for experiment {plan.key!r}; expected one of "
            f"{sorted(plan.stages)}"
        )
    if period is not None:
        check_period(period, plan.key, plan.iteration)
    segment, by_stage = resolve_segment(plan, attributes)
    return draw(plan, unit_id, segment, by_stage, stage, period, previous)


def draw(
    plan: Plan,
    unit_id: str,
    segment: str | None,
    by_stage: dict[str, CellPlan],
    stage: str,
    period: AllocationPeriod | None = None,
    previous: str | None = None,
) -> Assignment:
    """Assign a unit whose segment is already known (the part of assign() after targeting).

    Bulk paths resolve segments once per distinct attribute combination and call this.
    ``period`` and ``previous`` are those of :func:`assign`.

    Example:
        >>> draw.__name__
        'draw'
    """
    if segment is None:
        return _tnew(
            Assignment,
            (plan.key, plan.iteration, unit_id, None, stage, None, None, False, _NOT_TARGETED),
        )
    cell = by_stage.get(stage)
    if cell is None:
        return _tnew(
            Assignment,
            (plan.key, plan.iteration, unit_id, segment, stage, None, None, False, _NOT_TARGETED),
        )
    if plan.checks_before_draw:
        early = _before_draw(plan, cell, unit_id, segment, stage)
        if early is not None:
            return early
    b = int.from_bytes(md5((cell.prefix + unit_id).encode()).digest()[:4], "big") % BUCKETS
    if period is not previous:  # either is given (see assign)
        variant, reason = _adaptive_variant(plan, cell, segment, stage, b, period, previous)
    else:
        variant, reason = cell.table[b], _ASSIGNED
    if variant is None:
        return _tnew(
            Assignment,
            (plan.key, plan.iteration, unit_id, segment, stage, cell.control, b, False, _OUTSIDE),
        )
    return _tnew(
        Assignment, (plan.key, plan.iteration, unit_id, segment, stage, variant, b, True, reason)
    )


def _adaptive_variant(
    plan: Plan,
    cell: CellPlan,
    segment: str,
    stage: str,
    b: int,
    period: AllocationPeriod | None,
    previous: str | None,
) -> tuple[str | None, Reason]:
    """The variant and reason of bucket ``b`` with a period and/or a previous variant.

    The variant is ``None`` (outside coverage: the caller shows the control) only
    when neither applies to the cell and the declared table leaves ``b`` uncovered.
    """
    variants = [key for key, _, _ in cell.ranges]
    if previous is not None and previous in variants:
        return previous, _STICKY
    if period is not None:
        check_period(period, plan.key, plan.iteration)
        layout = period.cell(segment, stage)
        if layout is not None:
            check_layout(layout, variants, period.number)
            return layout_table(layout)[b], _ASSIGNED
    return cell.table[b], _ASSIGNED


def resolve_segment(
    plan: Plan, attributes: Mapping[str, Any]
) -> tuple[str | None, dict[str, CellPlan]]:
    """The unit's segment (first match, else the fallback) and that segment's cells by stage.

    Example:
        >>> resolve_segment.__name__
        'resolve_segment'
    """
    for key, predicate, cells in plan.segment_cells:
        if predicate(attributes):
            return key, cells
    return plan.fallback, plan.fallback_cells


def _before_draw(
    plan: Plan, cell: CellPlan, unit_id: str, segment: str, stage: str
) -> Assignment | None:
    def out(variant: str, reason: Reason) -> Assignment:
        return Assignment(
            plan.key, plan.iteration, unit_id, segment, stage, variant, None, False, reason
        )

    forced = plan.forced.get(unit_id)
    if forced is not None:
        return out(forced, Reason.FORCED)
    if not plan.active:
        return out(cell.control, Reason.INACTIVE)
    if unit_id in plan.excluded:
        return out(cell.control, Reason.EXCLUDED)
    if plan.namespace is not None:
        name, lo, hi = plan.namespace
        if not lo <= bucket(("namespace", name, unit_id)) < hi:
            return out(cell.control, Reason.OUTSIDE_NAMESPACE)
    if plan.holdout_bp and bucket((plan.seed, "holdout", unit_id)) < plan.holdout_bp:
        return out(cell.control, Reason.HOLDOUT)
    return None
