"""Which edits of a running experiment are assignment-safe (pure).

:func:`compare_configs` lists every difference between two versions of a config
as a :class:`Change` with a level and an explanation:

* ``unsafe`` — the edit would move already-assigned units to another variant (or
  another segment, or between mutually exclusive experiments): a changed ``seed``,
  ``unit``, ``randomization``, ``key`` or ``iteration``; reordered, renamed or
  re-weighted variants (even when no bucket changes variant, the arms' shares change
  mid-experiment, so a pooled estimate mixes periods: Simpson's paradox); a changed,
  removed or reordered segment rule; a segment appended while a fallback exists
  (fallback units matching it move); a renamed fallback; a changed group used by a
  segment; a changed namespace key or range start.
  A running experiment refuses these: start a new iteration (``segab iterate``).
* ``warning`` — no unit changes variant, but some leave the experiment (they now
  see the control, or a forced variant): lowered coverage, a removed cell or stage,
  a removed fallback, a raised holdout, a narrowed namespace, new ``exclude`` or
  ``forced`` ids; or the analysis baseline changes (another ``control``); or units
  held out or outside a namespace join (lowered holdout, widened or removed
  namespace), which may overlap other experiments. **Lowering coverage is a
  warning, not unsafe**: bucket ranges have fixed starts, so it only shrinks each
  range from its end; the dropped units keep their logged exposure and are analysed
  in the arm they were first exposed to (intent to treat), which dilutes the
  estimate toward zero but moves nobody and biases neither arm. Warnings are allowed
  in place (``strict=True`` refuses them too).
* ``safe`` — assignment is unchanged for every assigned unit: raised coverage (only
  adds units: fixed-start ranges), a new cell or stage where there was none, a
  segment appended with no fallback, a new fallback, removed ``exclude``/``forced``
  ids, metadata, metrics, analysis settings and status.

Cells are compared bucket by bucket: for every (segment, stage) present in both
versions with the same hash key prefix, the 10,000-bucket tables of the two
versions are compared, so the verdict is exact (not a heuristic on the YAML).

Example:
    >>> from segab.config import parse_experiment
    >>> raw = {"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a", "coverage": 0.5}],
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}}
    >>> old = parse_experiment(raw)
    >>> new = parse_experiment({**raw, "cells": [{**raw["cells"][0], "coverage": 0.8}]})
    >>> [c.level for c in compare_configs(old, new)]
    ['safe']
    >>> new = parse_experiment({**raw, "seed": "other"})
    >>> [c.level for c in compare_configs(old, new)]
    ['unsafe']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segab.assignment import compile_plan
from segab.config.checks import resolve_cell_index, weight_basis_points
from segab.config.models import Experiment, SegmentDef
from segab.lifecycle.changes import Change, Level, format_changes, refused

__all__ = ["Change", "Level", "compare_configs", "format_changes", "refused"]

_METADATA = ("name", "hypothesis", "owner", "tags", "status")
_ANALYSIS = ("metrics", "analysis")
_RESEED = {
    "key": "the key is part of every exposure and of the default seed",
    "seed": "the seed is part of every variant hash, so every unit is re-bucketed",
    "unit": "another unit id is hashed, so every unit is re-bucketed",
    "randomization": "the stage part of the hash key changes, so every unit is re-bucketed",
    "iteration": "exposures are keyed by iteration; a new iteration starts with `segab iterate`",
}


def _segments(exp: Experiment) -> list[tuple[str, Any]]:
    return [(s.key, s.when) if isinstance(s, SegmentDef) else (s.ref, None) for s in exp.segments]


def _groups_used(cond: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(cond, Mapping):
        for k, v in cond.items():
            if k in ("$inGroup", "$notInGroup") and isinstance(v, str):
                out.add(v)
            else:
                out |= _groups_used(v)
    elif isinstance(cond, list):
        for item in cond:
            out |= _groups_used(item)
    return out


def _segment_changes(old: Experiment, new: Experiment) -> list[Change]:
    out: list[Change] = []
    a, b = _segments(old), _segments(new)
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if common == len(a) and len(b) > len(a):
        added = [k for k, _ in b[common:]]
        if old.fallback is not None:
            out.append(
                Change(
                    "segments",
                    "unsafe",
                    [k for k, _ in a],
                    [k for k, _ in b],
                    f"appended {added}: units of the fallback {old.fallback!r} that match "
                    "them move to another segment (another hash key, another cell)",
                )
            )
        else:
            out.append(
                Change(
                    "segments",
                    "safe",
                    [k for k, _ in a],
                    [k for k, _ in b],
                    f"appended {added} with no fallback: only units that matched no "
                    "segment (not targeted) enter; no assigned unit moves",
                )
            )
    elif common < max(len(a), len(b)):
        if [k for k, _ in a] != [k for k, _ in b]:
            what = "segments removed, renamed, inserted or reordered"
        else:
            changed = [k for (k, w), (_, w2) in zip(a, b, strict=True) if w != w2]
            what = f"the rule of {changed} changed"
        out.append(
            Change(
                "segments",
                "unsafe",
                [k for k, _ in a],
                [k for k, _ in b],
                f"{what}: first match wins, so units move between segments and are "
                "re-bucketed under another hash key",
            )
        )
    olddesc = {s.key: s.description for s in old.segments if isinstance(s, SegmentDef)}
    for s in new.segments:
        if isinstance(s, SegmentDef) and s.key in olddesc and olddesc[s.key] != s.description:
            out.append(
                Change(
                    f"segments.{s.key}.description",
                    "safe",
                    olddesc[s.key],
                    s.description,
                    "description only",
                )
            )
    if old.fallback != new.fallback:
        if old.fallback is None:
            level, why = "safe", "units that matched no segment enter; no assigned unit moves"
        elif new.fallback is None:
            level, why = "warning", "fallback units leave the experiment (not targeted)"
        else:
            level, why = "unsafe", "the fallback's key is part of its units' hash key"
        out.append(Change("fallback", level, old.fallback, new.fallback, why))  # type: ignore[arg-type]
    used = set().union(*(_groups_used(w) for _, w in a)) if a else set()
    for name in sorted(set(old.groups) | set(new.groups)):
        if old.groups.get(name) != new.groups.get(name):
            unsafe = name in used
            out.append(
                Change(
                    f"groups.{name}",
                    "unsafe" if unsafe else "safe",
                    old.groups.get(name),
                    new.groups.get(name),
                    "a segment rule uses this group: units move between segments"
                    if unsafe
                    else "no segment rule uses this group",
                )
            )
    return out


def _variants(exp: Experiment, idx: int) -> list[tuple[str, float]]:
    """Each variant's key and share of the cell (weights normalised: 1/1 is 0.5/0.5)."""
    variants = exp.cells[idx].variants
    bps = weight_basis_points([v.weight for v in variants]) or (0,) * len(variants)
    return [(v.key, bp / 10_000) for v, bp in zip(variants, bps, strict=True)]


def _cell_changes(old: Experiment, new: Experiment) -> list[Change]:
    p_old, p_new = compile_plan(old), compile_plan(new)
    groups: dict[tuple[int | None, int | None], list[tuple[str, str]]] = {}
    for pair in dict.fromkeys([*p_old.cells, *p_new.cells]):
        seg, stage = pair
        if seg not in new.segment_keys() or stage not in new.stages:
            continue  # reported with the segments or the stages
        if seg not in old.segment_keys() or stage not in old.stages:
            continue
        i = resolve_cell_index(old.cells, seg, stage) if pair in p_old.cells else None
        j = resolve_cell_index(new.cells, seg, stage) if pair in p_new.cells else None
        groups.setdefault((i, j), []).append(pair)
    out: list[Change] = []
    for (i, j), pairs in groups.items():
        names = ", ".join(f"{s}/{t}" for s, t in pairs)
        if i is None and j is not None:
            out.append(
                Change(
                    f"cells[{j}]",
                    "safe",
                    None,
                    _variants(new, j),
                    f"a new cell for {names}: units not targeted before enter; "
                    "no assigned unit moves",
                )
            )
            continue
        if j is None and i is not None:
            out.append(
                Change(
                    f"cells[{i}]",
                    "warning",
                    _variants(old, i),
                    None,
                    f"no cell for {names} any more: its units leave the experiment",
                )
            )
            continue
        if i is None or j is None:  # pragma: no cover - a pair is in one plan at least
            continue
        a, b = p_old.cells[pairs[0]], p_new.cells[pairs[0]]
        if a.prefix != b.prefix:
            continue  # re-bucketed wholesale: reported with seed/randomization/segments
        moved = dropped = added = 0
        for x, y in zip(a.table, b.table, strict=True):
            if x is not None and y is not None and x != y:
                moved += 1
            elif x is not None and y is None:
                dropped += 1
            elif x is None and y is not None:
                added += 1
        oc, nc = old.cells[i], new.cells[j]
        path = f"cells[{j}]"
        reweighted = _variants(old, i) != _variants(new, j)
        if moved or reweighted:
            out.append(
                Change(
                    path,
                    "unsafe",
                    _variants(old, i),
                    _variants(new, j),
                    f"variants of {names} re-weighted, reordered or renamed: "
                    f"{moved / 100:g}% of the buckets move to another variant, "
                    f"{dropped / 100:g}% leave, {added / 100:g}% join; the arms' shares "
                    "change mid-experiment, so pooled estimates would mix periods "
                    "(Simpson's paradox)",
                )
            )
            continue
        if dropped:
            out.append(
                Change(
                    f"{path}.coverage",
                    "warning",
                    oc.coverage,
                    nc.coverage,
                    f"{dropped / 100:g}% of the buckets of {names} leave the "
                    "experiment and see the control; no unit changes variant",
                )
            )
        if added:
            out.append(
                Change(
                    f"{path}.coverage",
                    "safe",
                    oc.coverage,
                    nc.coverage,
                    f"{added / 100:g}% more buckets of {names} enter; fixed-start "
                    "ranges mean no assigned unit moves",
                )
            )
        if oc.control != nc.control:
            out.append(
                Change(
                    f"{path}.control",
                    "warning",
                    oc.control,
                    nc.control,
                    f"the analysis baseline of {names} changes, and units outside "
                    "coverage see another variant",
                )
            )
        descs = [(v.key, v.description) for v in oc.variants]
        if not (moved or dropped or added) and descs != [
            (v.key, v.description) for v in nc.variants
        ]:
            out.append(
                Change(
                    f"{path}.variants",
                    "safe",
                    descs,
                    [(v.key, v.description) for v in nc.variants],
                    "descriptions only",
                )
            )
    return out


def _range_changes(old: Experiment, new: Experiment) -> list[Change]:
    out: list[Change] = []
    if old.holdout != new.holdout:
        if new.holdout > old.holdout:
            why = "more units are held out: assigned units leave and see the control"
        else:
            why = "held-out units join the experiment; the long-term holdout loses them"
        out.append(Change("holdout", "warning", old.holdout, new.holdout, why))
    a, b = old.namespace, new.namespace
    if a != b:
        old_v = None if a is None else [a.key, *a.range]
        new_v = None if b is None else [b.key, *b.range]
        level: Level
        if a is None:
            level, why = "warning", "units outside the namespace range leave the experiment"
        elif b is None:
            level, why = "warning", "units of other experiments of the namespace may join"
        elif a.key != b.key or a.range[0] != b.range[0]:
            level, why = "unsafe", "namespace membership is reshuffled: units move between "
            why += "mutually exclusive experiments"
        elif b.range[1] > a.range[1]:
            level, why = "warning", "units join from the widened range, which may belong to "
            why += "another experiment of the namespace"
        else:
            level, why = "warning", "units of the narrowed range leave the experiment"
        out.append(Change("namespace", level, old_v, new_v, why))
    new_forced = {u: v for u, v in new.forced.items() if old.forced.get(u) != v}
    if new_forced:
        out.append(
            Change(
                "forced",
                "warning",
                old.forced,
                new.forced,
                f"{sorted(new_forced)} now forced: they leave the experiment",
            )
        )
    elif old.forced != new.forced:
        out.append(Change("forced", "safe", old.forced, new.forced, "forced ids removed"))
    more = sorted(set(new.exclude) - set(old.exclude))
    if more:
        out.append(
            Change(
                "exclude",
                "warning",
                old.exclude,
                new.exclude,
                f"{more} now excluded: they leave the experiment",
            )
        )
    elif set(old.exclude) != set(new.exclude):
        out.append(Change("exclude", "safe", old.exclude, new.exclude, "exclusions removed"))
    return out


def compare_configs(old: Experiment, new: Experiment) -> list[Change]:
    """Every difference between two versions of a config, classified (see module docs).

    Example:
        >>> from segab.config import parse_experiment
        >>> raw = {"key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5},
        ...                             {"key": "b", "weight": 0.5}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}}
        >>> flipped = {**raw, "cells": [{"variants": [{"key": "b", "weight": 0.5},
        ...     {"key": "a", "weight": 0.5}], "control": "a"}]}
        >>> compare_configs(parse_experiment(raw), parse_experiment(flipped))[0].level
        'unsafe'
    """
    out: list[Change] = []
    for name, why in _RESEED.items():
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(Change(name, "unsafe", a, b, why))
    for name in _METADATA:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(
                Change(
                    name,
                    "safe",
                    a,
                    b,
                    "metadata: assignment does not read it"
                    if name != "status"
                    else "lifecycle status (start/stop/conclude)",
                )
            )
    for name in _ANALYSIS:
        a, b = (
            getattr(old, name).model_dump(mode="json"),
            getattr(new, name).model_dump(mode="json"),
        )
        if a != b:
            out.append(Change(name, "safe", a, b, "analysis only: assignment does not read it"))
    gone = [s for s in old.stages if s not in new.stages]
    if gone:
        out.append(
            Change(
                "stages",
                "warning",
                old.stages,
                new.stages,
                f"stages {gone} removed: their units leave the experiment",
            )
        )
    elif old.stages != new.stages:
        out.append(
            Change(
                "stages",
                "safe",
                old.stages,
                new.stages,
                "stages added or reordered: the stage order is not hashed",
            )
        )
    out.extend(_segment_changes(old, new))
    out.extend(_cell_changes(old, new))
    out.extend(_range_changes(old, new))
    return out
