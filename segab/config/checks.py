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

import re
from collections.abc import Iterator, Mapping
from typing import Any

from segab.condition_values import ARRAY, NUMBER, OBJECT, OTHER, STRING, kind
from segab.conditions import validate_condition
from segab.config.allocation_cells import check_allocation
from segab.config.cells import (
    WILDCARD,
    Problem,
    cell_resolver,
    check_cells,
    check_labels,
    resolve_cell_index,
    to_basis_points,
    weight_basis_points,
)
from segab.config.models import Experiment, Metric, SegmentDef

__all__ = [
    "WILDCARD",
    "Problem",
    "cell_resolver",
    "check_experiment",
    "duration_seconds",
    "resolve_cell_index",
    "to_basis_points",
    "warn_experiment",
    "weight_basis_points",
]

_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
_MAX_COMPARED = 1000  # longest $in lists compared when looking for shadowed segments
_NUMBER_TEXT = re.compile(
    r"^\s*[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$"
)


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
        found = validate_condition(seg.when, f"segments[{i}].when")
        problems.extend(found)
        problems.extend(_check_groups(seg.when, exp.groups, f"segments[{i}].when"))
        if not found:
            problems.extend(_check_operands(seg.when, f"segments[{i}].when"))
    problems.extend(_group_values(exp))
    return problems


def _check_groups(cond: Any, groups: Mapping[str, Any], path: str) -> list[Problem]:
    out: list[Problem] = []
    todo: list[tuple[Any, str]] = [(cond, path)]
    while todo:  # a loop, not recursion: a deep condition cannot exhaust the stack
        node, where = todo.pop()
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k in ("$inGroup", "$notInGroup") and isinstance(v, str) and v not in groups:
                    out.append((f"{where}.{k}", repr(v), f"a group of 'groups' ({sorted(groups)})"))
                else:
                    todo.append((v, f"{where}.{k}"))
        elif isinstance(node, list):
            todo.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
    return sorted(out)


def _group_values(exp: Experiment) -> list[Problem]:
    problems: list[Problem] = []
    for name, values in exp.groups.items():
        for i, value in enumerate(values):
            if kind(value) in (ARRAY, OBJECT, OTHER) or value != value:
                found = "NaN" if value != value else repr(value)[:60]
                expected = "a string, number, boolean or null (a group lists values)"
                problems.append((f"groups.{name}[{i}]", found, expected))
                if len(problems) >= 10:
                    return problems
    return problems


def _operator_objects(cond: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every object of ``$operators`` in a validated condition, with its path."""
    todo: list[tuple[Any, str, bool]] = [(cond, path, True)]
    while todo:
        node, where, is_condition = todo.pop()
        if not isinstance(node, Mapping):
            continue
        if is_condition:
            for key, value in node.items():
                if key in ("$and", "$or", "$nor") and isinstance(value, list):
                    todo.extend((c, f"{where}.{key}[{i}]", True) for i, c in enumerate(value))
                elif key == "$not":
                    todo.append((value, f"{where}.$not", True))
                else:
                    todo.append((value, f"{where}.{key}", False))
            continue
        if not node or not all(isinstance(k, str) and k.startswith("$") for k in node):
            continue  # a literal object
        yield where, node
        for op, x in node.items():
            if op in ("$not", "$size"):
                todo.append((x, f"{where}.{op}", False))
            elif op == "$elemMatch" and isinstance(x, Mapping):
                on_values = all(isinstance(k, str) and k.startswith("$") for k in x) and not any(
                    k in ("$and", "$or", "$nor") for k in x
                )
                todo.append((x, f"{where}.{op}", not on_values))
            elif op in ("$all", "$alli") and isinstance(x, list):
                todo.extend((e, f"{where}.{op}[{i}]", False) for i, e in enumerate(x))


def _has_nan(value: Any) -> bool:
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, float) and v != v:
            return True
        if isinstance(v, Mapping):
            todo.extend(v.values())
        elif isinstance(v, list | tuple):
            todo.extend(v)
    return False


def _check_operands(cond: Any, path: str) -> list[Problem]:
    """Comparisons that can never match, and NaN operands (NaN equals and orders with nothing)."""
    problems: list[Problem] = []
    for where, ops in _operator_objects(cond, path):
        kinds = {kind(x): op for op, x in ops.items() if op in _COMPARISONS}
        if NUMBER in kinds and STRING in kinds:
            problems.append(
                (
                    where,
                    f"{kinds[NUMBER]} with a number and {kinds[STRING]} with a string",
                    "operands of one type (a value is never both a number and a string)",
                )
            )
        for op, x in ops.items():
            if _has_nan(x):
                problems.append((f"{where}.{op}", "NaN", "a number (NaN equals nothing)"))
    return sorted(problems)


def _numeric_strings(cond: Any, path: str) -> list[Problem]:
    warnings: list[Problem] = []
    for where, ops in _operator_objects(cond, path):
        for op, x in ops.items():
            if op in _COMPARISONS and isinstance(x, str) and _NUMBER_TEXT.match(x):
                warnings.append(
                    (
                        f"{where}.{op}",
                        f"the string {x!r}, compared as text ('9' > '10') and never with numbers",
                        f"{x.strip()} without quotes to compare numbers",
                    )
                )
    return sorted(warnings)


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
        problems.extend(_check_event_options(m, exp))
    return problems


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    """Seconds of a duration such as ``7d`` (the models' pattern has checked its shape).

    Example:
        >>> duration_seconds("8d"), duration_seconds("90m")
        (691200, 5400)
    """
    return int(text[:-1]) * _SECONDS[text[-1]]


def _check_event_options(m: Metric, exp: Experiment) -> list[Problem]:
    """``where`` is checked as a segment rule is; ``window`` needs a binary event metric."""
    problems: list[Problem] = []
    where = f"metrics.{m.key}"
    if m.where is not None:
        path = f"{where}.where"
        found = validate_condition(m.where, path)
        problems.extend(found)
        problems.extend(_check_groups(m.where, exp.groups, path))
        if not found:
            problems.extend(_check_operands(m.where, path))
    for name, value in (("where", m.where), ("window", m.window)):
        if value is not None and m.event is None:
            problems.append(
                (f"{where}.{name}", f"a {name} on a metric without 'event'", "an event metric")
            )
    if m.window is not None:
        if m.kind != "binary":
            problems.append((f"{where}.window", f"a window on a {m.kind} metric", "kind 'binary'"))
        if duration_seconds(m.window.start) >= duration_seconds(m.window.end):
            problems.append(
                (
                    f"{where}.window",
                    f"start {m.window.start} not before end {m.window.end}",
                    "start < end",
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


def _check_rows_settings(exp: Experiment) -> list[Problem]:
    """``analysis.filter`` is checked as a segment rule is; ``dedupe: first`` needs a time."""
    a = exp.analysis
    problems: list[Problem] = []
    if a.filter is not None:
        found = validate_condition(a.filter, "analysis.filter")
        problems.extend(found)
        problems.extend(_check_groups(a.filter, exp.groups, "analysis.filter"))
        if not found:
            problems.extend(_check_operands(a.filter, "analysis.filter"))
    if a.dedupe == "first" and a.time_column is None:
        problems.append(
            ("analysis.time_column", "nothing", "the time column that orders a unit's rows")
        )
    if a.dedupe != "first" and a.time_column is not None:
        problems.append(
            ("analysis.dedupe", repr(a.dedupe), "'first' when analysis.time_column is set")
        )
    if a.shrinkage == "eb" and a.method != "frequentist":
        problems.append(
            (
                "analysis.shrinkage",
                f"'eb' with method {a.method!r}",
                "method 'frequentist' (shrinkage uses fixed-horizon standard errors), "
                "or shrinkage 'none'",
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
        *check_cells(exp, segment_keys),
        *check_labels(exp),
        *_check_metrics(exp),
        *_check_misc(exp),
        *_check_rows_settings(exp),
        *check_allocation(exp),
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
                small, big = later["$in"], earlier["$in"]
                if len(small) > _MAX_COMPARED or len(big) > _MAX_COMPARED:
                    return False  # too long to compare for a warning: assume no implication
                return set(map(repr, small)) <= set(map(repr, big))
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
    for i, segment in enumerate(exp.segments):
        if isinstance(segment, SegmentDef):
            warnings.extend(_numeric_strings(segment.when, f"segments[{i}].when"))
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
    resolve = cell_resolver(exp.cells)
    reached = {resolve(seg, st) for seg in live for st in exp.stages}
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
            if resolve(seg, st) is None:
                warnings.append(
                    (
                        "cells",
                        f"no cell for segment {seg!r} at stage {st!r}",
                        "a cell (or '*') for every segment and stage you want in the experiment",
                    )
                )
    return warnings
