"""The edit guard: its verdicts agree with what segab.assign actually does to many units."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segab import assign
from segab.config import Experiment, parse_experiment
from segab.lifecycle.guard import compare_configs, format_changes, refused

IDS = [f"user-{i}" for i in range(3000)]
PEOPLE = [(uid, {"age": 18 + (i * 7) % 60}) for i, uid in enumerate(IDS)]


def _raw() -> dict[str, Any]:
    return {
        "key": "guard_demo",
        "name": "Guard demo",
        "unit": "user_id",
        "status": "running",
        "stages": ["awareness", "purchase"],
        "segments": [
            {"key": "young", "when": {"age": {"$lt": 35}}},
            {"key": "older", "when": {"age": {"$gte": 50}}},
        ],
        "fallback": "rest",
        "cells": [
            {
                "control": "a",
                "coverage": 0.6,
                "variants": [
                    {"key": "a", "weight": 0.4},
                    {"key": "b", "weight": 0.3},
                    {"key": "c", "weight": 0.3},
                ],
            }
        ],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}},
    }


def _edit(f: Callable[[dict[str, Any]], None]) -> Experiment:
    raw = copy.deepcopy(_raw())
    f(raw)
    return parse_experiment(raw)


def _moves(old: Experiment, new: Experiment) -> tuple[int, int, int]:
    """(moved between variants, dropped from the experiment, added) over many units."""
    moved = dropped = added = 0
    for uid, attrs in PEOPLE:
        for stage in ("awareness", "purchase"):
            a, b = assign(old, uid, attrs, stage), assign(new, uid, attrs, stage)
            if a.in_experiment and b.in_experiment and a.variant != b.variant:
                moved += 1
            elif a.in_experiment and not b.in_experiment:
                dropped += 1
            elif b.in_experiment and not a.in_experiment:
                added += 1
    return moved, dropped, added


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def f(raw: dict[str, Any]) -> None:
        node: Any = raw
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return f


UNSAFE = {
    "seed": _set("seed", "another"),
    "reorder": _set(
        "cells.0.variants",
        [{"key": "b", "weight": 0.3}, {"key": "a", "weight": 0.4}, {"key": "c", "weight": 0.3}],
    ),
    "weights": _set(
        "cells.0.variants",
        [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.25}, {"key": "c", "weight": 0.25}],
    ),
    "rename": _set(
        "cells.0.variants",
        [{"key": "a", "weight": 0.4}, {"key": "b2", "weight": 0.3}, {"key": "c", "weight": 0.3}],
    ),
    "segment_rule": _set("segments.0.when", {"age": {"$lt": 30}}),
    "segment_order": _set(
        "segments",
        [
            {"key": "older", "when": {"age": {"$gte": 50}}},
            {"key": "young", "when": {"age": {"$lt": 35}}},
        ],
    ),
    "fallback": _set("fallback", "others"),
    "randomization": _set("randomization", "journey"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_edits_are_flagged_and_really_move_units(name: str) -> None:
    old, new = parse_experiment(_raw()), _edit(UNSAFE[name])
    changes = compare_configs(old, new)
    assert refused(changes), format_changes(changes)
    assert all(c.explanation for c in changes)
    moved, dropped, added = _moves(old, new)
    if name == "weights":  # here no bucket changes variant, but the arms' shares change
        assert dropped > 0 and added > 0
    elif name not in ("segment_order", "rename"):  # disjoint segments: reorder moves nobody
        assert moved > 0


def test_appending_a_segment_is_safe_only_without_a_fallback() -> None:
    new_seg = {"key": "mid", "when": {"age": {"$gte": 40}}}
    with_fb = _edit(lambda r: r["segments"].append(new_seg))
    assert refused(compare_configs(parse_experiment(_raw()), with_fb))
    no_fb_old = _edit(lambda r: r.pop("fallback"))

    def both(r: dict[str, Any]) -> None:
        r.pop("fallback")
        r["segments"].append(new_seg)

    no_fb_new = _edit(both)
    changes = compare_configs(no_fb_old, no_fb_new)
    assert not refused(changes)
    assert _moves(no_fb_old, no_fb_new)[:2] == (0, 0)


@settings(max_examples=25, deadline=None)
@given(
    lo=st.integers(min_value=1, max_value=9999),
    hi=st.integers(min_value=1, max_value=10000),
)
def test_raising_coverage_is_safe_and_moves_no_unit(lo: int, hi: int) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    old = _edit(_set("cells.0.coverage", lo / 10000))
    new = _edit(_set("cells.0.coverage", hi / 10000))
    changes = compare_configs(old, new)
    assert not refused(changes, strict=True)
    moved, dropped, _ = _moves(old, new)
    assert moved == 0 and dropped == 0
    # and every unit assigned before keeps exactly its variant
    for uid, attrs in PEOPLE[:500]:
        a = assign(old, uid, attrs, "purchase")
        if a.in_experiment:
            assert assign(new, uid, attrs, "purchase").variant == a.variant


def test_lowering_coverage_is_a_warning_and_only_drops_units() -> None:
    old, new = parse_experiment(_raw()), _edit(_set("cells.0.coverage", 0.3))
    changes = compare_configs(old, new)
    assert [c.level for c in changes] == ["warning"]
    assert not refused(changes) and refused(changes, strict=True)
    moved, dropped, added = _moves(old, new)
    assert moved == 0 and dropped > 0 and added == 0


@pytest.mark.parametrize(
    "edit",
    [
        _set("owner", "someone"),
        _set("hypothesis", "new idea"),
        _set("status", "stopped"),
        _set("analysis", {"alpha": 0.01}),
        _set("metrics.primary.baseline", 0.2),
        _set("stages", ["awareness", "purchase", "post_purchase"]),
        _set("cells.0.variants.1.description", "new copy"),
    ],
)
def test_safe_edits(edit: Callable[[dict[str, Any]], None]) -> None:
    changes = compare_configs(parse_experiment(_raw()), _edit(edit))
    assert changes and all(c.level == "safe" for c in changes), format_changes(changes)


def test_a_new_cell_where_there_was_none_is_safe() -> None:
    def narrow(r: dict[str, Any]) -> None:
        r["cells"][0]["segment"] = "young"

    def widen(r: dict[str, Any]) -> None:
        narrow(r)
        r["cells"].append(copy.deepcopy(r["cells"][0]) | {"segment": "older"})

    old, new = _edit(narrow), _edit(widen)
    changes = compare_configs(old, new)
    assert [c.level for c in changes] == ["safe"]
    assert _moves(old, new)[:2] == (0, 0)


def test_holdout_namespace_forced_exclude() -> None:
    base = parse_experiment(_raw())
    levels = lambda new: [c.level for c in compare_configs(base, new)]  # noqa: E731
    assert levels(_edit(_set("holdout", 0.1))) == ["warning"]
    assert levels(_edit(_set("exclude", ["user-1"]))) == ["warning"]
    assert levels(_edit(_set("forced", {"user-1": "b"}))) == ["warning"]
    ns = _edit(_set("namespace", {"key": "n", "range": [0.0, 0.5]}))
    wider = _edit(_set("namespace", {"key": "n", "range": [0.0, 0.7]}))
    shifted = _edit(_set("namespace", {"key": "n", "range": [0.1, 0.6]}))
    assert [c.level for c in compare_configs(ns, wider)] == ["warning"]
    assert [c.level for c in compare_configs(ns, shifted)] == ["unsafe"]
    assert _moves(ns, wider)[:2] == (0, 0)
