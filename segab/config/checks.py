"""Cross-field rules of an experiment config: errors and warnings.

The pydantic models check shapes; these pure functions check meaning, and
return every problem at once as ``(path, found, expected)`` tuples.

Example:
    >>> from segab.config.models import Experiment
    >>> exp = Experiment.model_validate({
    ...     "key": "e", "name": "E", "unit": "id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.7}], "control": "b"}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
    >>> [p[0] for p in check_experiment(exp)]
    ['cells[0].variants', 'cells[0].control']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segab.conditions import validate_condition
from segab.config.models import Cell, Experiment, SegmentDef

__all__ = [
    "WILDCARD",
    "Problem",
    "check_experiment",
    "resolve_cell_index",
    "to_basis_points",
    "warn_experiment",
]

WILDCARD = "*"
Problem = tuple[str, str, str]
_BP = 10_000


def to_basis_points(value: float) -> int | None:
    """Convert a fraction to an integer number of 1/10,000ths, or ``None`` if not exact.

    Config files hold weights as decimals; assignment uses only the integers.

    Example:
        >>> to_basis_points(0.25), to_basis_points(0.33333)
        (2500, None)
    """
    scaled = value * _BP
    rounded = round(scaled)
    return rounded if abs(scaled - rounded) < 1e-6 else None


def resolve_cell_index(cells: Sequence[Cell], segment: str, stage: str) -> int | None:
    """Index of the most specific cell for ``(segment, stage)``, or ``None``.

    Specificity: exact segment and stage, then exact segment with any stage,
    then any segment with the exact stage, then ``*``/``*``.

    Example:
        >>> from segab.config.models import Variant
        >>> v = [Variant(key="a", weight=1.0)]
        >>> cells = [Cell(control="a", variants=v), Cell(stage="purchase", control="a", variants=v)]
        >>> resolve_cell_index(cells, "young", "purchase")
        1
        >>> resolve_cell_index(cells, "young", "awareness")
        0
    """
    ranked: dict[tuple[bool, bool], int] = {}
    for i, cell in enumerate(cells):
        seg_ok = cell.segment in (segment, WILDCARD)
        stage_ok = cell.stage in (stage, WILDCARD)
        if seg_ok and stage_ok:
            ranked.setdefault((cell.segment == segment, cell.stage == stage), i)
    for rank in ((True, True), (True, False), (False, True), (False, False)):
        if rank in ranked:
            return ranked[rank]
    return None


def _check_cells(exp: Experiment, segments: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for i, cell in enumerate(exp.cells):
        where = f"cells[{i}]"
        if cell.segment != WILDCARD and cell.segment not in segments:
            problems.append(
                (
                    f"{where}.segment",
                    repr(cell.segment),
                    f"a declared segment ({', '.join(sorted(segments))}) or '*'",
                )
            )
        if cell.stage != WILDCARD and cell.stage not in exp.stages:
            problems.append(
                (f"{where}.stage", repr(cell.stage), f"one of {exp.stages} or '*'"),
            )
        spec = (cell.segment, cell.stage)
        if spec in seen:
            problems.append(
                (
                    where,
                    f"a second cell for segment {cell.segment!r}, stage {cell.stage!r}",
                    f"one cell per (segment, stage); the first is cells[{seen[spec]}]",
                )
            )
        seen.setdefault(spec, i)
        keys = [v.key for v in cell.variants]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append((f"{where}.variants", f"duplicate keys {dupes}", "unique keys"))
        total = sum(v.weight for v in cell.variants)
        if abs(total - 1.0) > 1e-9:
            problems.append((f"{where}.variants", f"weights summing to {total:g}", "a sum of 1"))
        for j, v in enumerate(cell.variants):
            if to_basis_points(v.weight) is None:
                problems.append(
                    (
                        f"{where}.variants[{j}].weight",
                        repr(v.weight),
                        "a multiple of 0.0001 (weights resolve to 1/10,000 buckets)",
                    )
                )
        if to_basis_points(cell.coverage) is None:
            problems.append((f"{where}.coverage", repr(cell.coverage), "a multiple of 0.0001"))
        if cell.control not in keys:
            problems.append((f"{where}.control", repr(cell.control), f"one of {keys}"))
    return problems


def _check_segments(exp: Experiment) -> list[Problem]:
    problems: list[Problem] = []
    keys = exp.segment_keys()
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        problems.append(("segments", f"duplicate segment keys {dupes}", "unique keys"))
    for i, seg in enumerate(exp.segments):
        if not isinstance(seg, SegmentDef):
            problems.append(
                (
                    f"segments[{i}].ref",
                    repr(seg.ref),
                    "a segment defined in segments.yaml next to the experiment",
                )
            )
            continue
        problems.extend(validate_condition(seg.when, f"segments[{i}].when"))
        problems.extend(_check_groups(seg.when, exp.groups, f"segments[{i}].when"))
    return problems


def _check_groups(cond: Any, groups: Mapping[str, Any], path: str) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(cond, Mapping):
        for k, v in cond.items():
            if k in ("$inGroup", "$notInGroup") and isinstance(v, str) and v not in groups:
                out.append((f"{path}.{k}", repr(v), f"a group of 'groups' ({sorted(groups)})"))
            else:
                out.extend(_check_groups(v, groups, f"{path}.{k}"))
    elif isinstance(cond, list):
        for i, item in enumerate(cond):
            out.extend(_check_groups(item, groups, f"{path}[{i}]"))
    return out


def _check_metrics(exp: Experiment) -> list[Problem]:
    problems: list[Problem] = []
    metrics = exp.metrics.all()
    keys = [m.key for m in metrics]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        problems.append(("metrics", f"duplicate metric keys {dupes}", "unique keys"))
    for m in metrics:
        if m.kind == "ratio" and not (
            m.denominator_event or m.denominator_column or m.cost_per_unit is not None
        ):
            problems.append(
                (
                    f"metrics.{m.key}",
                    "a ratio metric without a denominator",
                    "'denominator_event', 'denominator_column' or 'cost_per_unit'",
                )
            )
    return problems


def _check_misc(exp: Experiment) -> list[Problem]:
    problems: list[Problem] = []
    dupes = sorted({s for s in exp.stages if exp.stages.count(s) > 1})
    if dupes:
        problems.append(("stages", f"duplicate stages {dupes}", "unique stage names"))
    for i, s in enumerate(exp.stages):
        if not s or WILDCARD in s or "|" in s:
            problems.append((f"stages[{i}]", repr(s), "a name without '*' or '|'"))
    if to_basis_points(exp.holdout) is None:
        problems.append(("holdout", repr(exp.holdout), "a multiple of 0.0001"))
    if exp.namespace is not None:
        lo, hi = exp.namespace.range
        if not (0.0 <= lo < hi <= 1.0):
            problems.append(
                ("namespace.range", repr([lo, hi]), "[start, end] with 0 <= start < end <= 1")
            )
        elif to_basis_points(lo) is None or to_basis_points(hi) is None:
            problems.append(("namespace.range", repr([lo, hi]), "multiples of 0.0001"))
    all_variants = {v.key for c in exp.cells for v in c.variants}
    for unit, variant in exp.forced.items():
        if variant not in all_variants:
            problems.append(
                (
                    f"forced.{unit}",
                    repr(variant),
                    f"a variant of some cell ({sorted(all_variants)})",
                )
            )
    return problems


def check_experiment(exp: Experiment) -> list[Problem]:
    """Every cross-field error of a structurally valid experiment.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"stage": "checkout", "variants": [{"key": "a", "weight": 1.0}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> check_experiment(exp)[0][:2]
        ('cells[0].stage', "'checkout'")
    """
    segment_keys = set(exp.segment_keys())
    return [
        *_check_segments(exp),
        *_check_cells(exp, segment_keys),
        *_check_metrics(exp),
        *_check_misc(exp),
    ]


def _implies(later: Any, earlier: Any) -> bool:
    """Whether the constraint ``later`` on one field implies ``earlier`` (conservative)."""
    if later == earlier:
        return True
    if isinstance(earlier, Mapping) and isinstance(later, Mapping):
        lo_e, hi_e = _interval(earlier)
        lo_l, hi_l = _interval(later)
        if lo_e is None and hi_e is None:
            if "$in" in earlier and "$in" in later:
                return set(map(repr, later["$in"])) <= set(map(repr, earlier["$in"]))
            return False
        return _within(lo_l, lo_e, hi_l, hi_e)
    if isinstance(earlier, Mapping) and "$in" in earlier and not isinstance(later, Mapping):
        return later in earlier["$in"]
    return False


def _interval(c: Mapping[str, Any]) -> tuple[Any, Any]:
    if set(c) - {"$gt", "$gte", "$lt", "$lte"}:
        return None, None
    lo = c.get("$gte", c.get("$gt"))
    hi = c.get("$lte", c.get("$lt"))
    return lo, hi


def _within(lo_l: Any, lo_e: Any, hi_l: Any, hi_e: Any) -> bool:
    try:
        if lo_e is not None and (lo_l is None or lo_l < lo_e):
            return False
        return not (hi_e is not None and (hi_l is None or hi_l > hi_e))
    except TypeError:
        return False


def _shadows(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    if not earlier:
        return True
    if any(k.startswith("$") for k in earlier):
        return earlier == later
    return all(k in later and _implies(later[k], earlier[k]) for k in earlier)


def warn_experiment(exp: Experiment) -> list[Problem]:
    """Warnings: shadowed segments, unreachable cells, zero-weight variants.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}, {"key": "young", "when": {"age": 20}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> warn_experiment(exp)[0][0]
        'segments[1]'
    """
    warnings: list[Problem] = []
    defs = [s for s in exp.segments if isinstance(s, SegmentDef)]
    shadowed: set[str] = set()
    for j, later in enumerate(defs):
        for earlier in defs[:j]:
            if _shadows(earlier.when, later.when):
                shadowed.add(later.key)
                warnings.append(
                    (
                        f"segments[{j}]",
                        f"segment {later.key!r} is shadowed by the earlier {earlier.key!r}",
                        "segments ordered from most to least specific (first match wins)",
                    )
                )
                break
    live = [k for k in exp.segment_keys() if k not in shadowed]
    reached = {resolve_cell_index(exp.cells, seg, st) for seg in live for st in exp.stages}
    for i, cell in enumerate(exp.cells):
        if i not in reached:
            warnings.append(
                (
                    f"cells[{i}]",
                    f"cell (segment {cell.segment!r}, stage {cell.stage!r}) that no unit can reach",
                    "a cell not overridden by more specific cells nor on a shadowed segment",
                )
            )
        for j, v in enumerate(cell.variants):
            if v.weight == 0:
                warnings.append(
                    (f"cells[{i}].variants[{j}]", f"variant {v.key!r} with weight 0", "weight > 0")
                )
    for seg in live:
        for st in exp.stages:
            if resolve_cell_index(exp.cells, seg, st) is None:
                warnings.append(
                    (
                        "cells",
                        f"no cell for segment {seg!r} at stage {st!r}",
                        "a cell (or '*') for every segment and stage you want in the experiment",
                    )
                )
    return warnings
