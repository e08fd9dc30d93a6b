"""The cells of an experiment: weights as buckets, which cell serves a (segment, stage),
and the rules on cells, variants and their labels in data.

Pure functions on the config models; :mod:`segab.config.checks` collects their
problems with the others.

Example:
    >>> weight_basis_points([1, 1])
    (5000, 5000)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from segab.config.models import Cell, Experiment

__all__ = [
    "WILDCARD",
    "Problem",
    "cell_resolver",
    "check_cells",
    "check_labels",
    "resolve_cell_index",
    "to_basis_points",
    "weight_basis_points",
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


def weight_basis_points(weights: Sequence[float]) -> tuple[int, ...] | None:
    """A cell's weights normalised to integer buckets of 1/10,000 that sum to 10,000.

    Weights are any non-negative numbers with a positive sum: fractions (``0.5``,
    ``0.3333`` x 3) or ratios (``1/1/1``, ``90/10``). The shares go to buckets by the
    largest remainder (ties to the earlier variant), so fractions that are multiples
    of 0.0001 and sum to 1 keep exactly their buckets. ``None`` when no weight is
    positive. Pure integer arithmetic after one division per weight: every process
    computes the same buckets.

    Example:
        >>> weight_basis_points([0.5, 0.5]), weight_basis_points([1, 1, 1])
        ((5000, 5000), (3334, 3333, 3333))
        >>> weight_basis_points([0.3333, 0.3333, 0.3334]), weight_basis_points([0, 0])
        ((3333, 3333, 3334), None)
    """
    total = sum(weights)
    if not total > 0:
        return None
    exact = [w * _BP / total for w in weights]
    # a share within 1e-6 of an integer is that integer (0.1 + 0.2 is not 0.3 in floats)
    floors = [round(x) if abs(x - round(x)) < 1e-6 else math.floor(x) for x in exact]
    rest = _BP - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:rest]:
        floors[i] += 1
    return tuple(floors)


def _check_weights(cell: Cell, where: str) -> list[Problem]:
    """Weights: a positive sum; fractions (every weight below 1) summing to 1 within 1%;
    every positive weight at least one bucket of 1/10,000."""
    weights = [v.weight for v in cell.variants]
    total = sum(weights)
    bps = weight_basis_points(weights)
    if bps is None:
        return [(f"{where}.variants", "every weight 0", "at least one positive weight")]
    if all(w < 1 for w in weights) and abs(total - 1.0) > 0.01:
        return [
            (
                f"{where}.variants",
                f"fractions summing to {total:g}",
                "fractions summing to 1 (within 0.01), or ratios such as 1/1/1 or 90/10",
            )
        ]
    for j, (v, bp) in enumerate(zip(cell.variants, bps, strict=True)):
        if v.weight > 0 and bp == 0:
            return [
                (
                    f"{where}.variants[{j}].weight",
                    f"{v.weight!r}, below 1/10,000 of the cell",
                    "a share of at least 0.0001 (weights resolve to 1/10,000 buckets)",
                )
            ]
    return []


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


def cell_resolver(cells: Sequence[Cell]) -> Callable[[str, str], int | None]:
    """:func:`resolve_cell_index` for many lookups: the cells are indexed once.

    Example:
        >>> from segab.config.models import Variant
        >>> v = [Variant(key="a", weight=1.0)]
        >>> resolve = cell_resolver([Cell(control="a", variants=v),
        ...                          Cell(stage="purchase", control="a", variants=v)])
        >>> resolve("young", "purchase"), resolve("young", "awareness")
        (1, 0)
    """
    first: dict[tuple[str, str], int] = {}
    for i, cell in enumerate(cells):
        first.setdefault((cell.segment, cell.stage), i)

    def resolve(segment: str, stage: str) -> int | None:
        for key in ((segment, stage), (segment, WILDCARD), (WILDCARD, stage)):
            if key in first:
                return first[key]
        return first.get((WILDCARD, WILDCARD))

    return resolve


def check_cells(exp: Experiment, segments: set[str]) -> list[Problem]:
    """Problems of the cells: unknown segments or stages, repeated cells, weights,
    coverage, controls and variant labels.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "name": "E", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> check_cells(exp, {"all"})[0][1]
        'fractions summing to 0.5'
    """
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
        problems.extend(_check_weights(cell, where))
        labels = [v.label for v in cell.variants]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            problems.append(
                (f"{where}.variants", f"two variants labelled {twice}", "one label per variant")
            )
        if to_basis_points(cell.coverage) is None:
            problems.append((f"{where}.coverage", repr(cell.coverage), "a multiple of 0.0001"))
        if cell.control not in keys:
            problems.append((f"{where}.control", repr(cell.control), f"one of {keys}"))
    return problems


def check_labels(exp: Experiment) -> list[Problem]:
    """One meaning per label in data: a label (a ``value``, or a key) names one variant key
    in every cell.

    Example:
        >>> from segab.config.models import Experiment
        >>> exp = Experiment.model_validate({"key": "e", "name": "E", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1, "value": "b"},
        ...                             {"key": "b", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> check_labels(exp)[0][0]
        'cells[0].variants[1]'
    """
    meaning: dict[str, str] = {}
    for i, cell in enumerate(exp.cells):
        for j, v in enumerate(cell.variants):
            for label in {v.key, v.label}:
                other = meaning.setdefault(label, v.key)
                if other != v.key:
                    return [
                        (
                            f"cells[{i}].variants[{j}]",
                            f"the label {label!r} for variant {v.key!r}, already variant {other!r}",
                            "each label in the data naming one variant key",
                        )
                    ]
    return []
