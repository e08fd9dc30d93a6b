"""next_config: winners become controls, losers dropped, undecided kept, fresh seed."""

from __future__ import annotations

from typing import Any

from segab.config import parse_experiment
from segab.lifecycle.iterate import next_config, next_seed

RAW: dict[str, Any] = {
    "key": "it",
    "name": "Iterate",
    "unit": "user_id",
    "status": "running",
    "stages": ["awareness", "purchase"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "forced": {"qa-1": "c"},
    "cells": [
        {
            "control": "a",
            "variants": [
                {"key": "a", "weight": 0.34},
                {"key": "b", "weight": 0.33, "description": "B copy"},
                {"key": "c", "weight": 0.33},
            ],
        }
    ],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}},
}


def _row(seg: str, stage: str, variant: str, decision: str, lift: float) -> dict[str, Any]:
    return {
        "segment": seg,
        "stage": stage,
        "variant": variant,
        "control": "a",
        "decision": decision,
        "rel_lift": lift,
    }


def test_next_config_per_cell_outcomes() -> None:
    exp = parse_experiment(RAW)
    rows = [
        _row("young", "awareness", "b", "ship", 0.10),
        _row("young", "awareness", "c", "ship", 0.20),  # the best winner
        _row("young", "purchase", "b", "rollback", -0.2),
        _row("young", "purchase", "c", "keep_running", 0.01),
        _row("rest", "purchase", "b", "no_effect", 0.0),
        _row("rest", "purchase", "c", "rollback", -0.1),
        # rest/awareness: no data -> undecided, unchanged
    ]
    new, outcomes = next_config(RAW, exp, rows)
    by = {(o.segment, o.stage): o for o in outcomes}
    assert by[("young", "awareness")].status == "shipped"
    assert by[("young", "awareness")].control == "c"
    assert by[("young", "awareness")].dropped == ("a", "b")
    assert by[("young", "purchase")].status == "trimmed"
    assert [k for k, _ in by[("young", "purchase")].variants] == ["a", "c"]
    assert by[("rest", "purchase")].status == "decided"
    assert by[("rest", "awareness")].status == "undecided"
    assert new["iteration"] == 2 and new["seed"] == next_seed("it", 2) == "it-i2"
    assert new["status"] == "draft"
    nxt = parse_experiment(new)  # valid, and each pair resolves to its outcome
    from segab.assignment import plan_of

    cells = plan_of(nxt).cells
    for pair, o in by.items():
        assert [(k, hi - lo) for k, lo, hi in cells[pair].ranges] == list(o.variants)
        assert cells[pair].control == o.control
    assert nxt.forced == {"qa-1": "c"}  # c still lives in some cell
    assert "iteration" not in RAW  # the input is not mutated
    assert RAW["cells"][0]["control"] == "a"


def test_all_undecided_keeps_the_config() -> None:
    exp = parse_experiment(RAW)
    new, outcomes = next_config(RAW, exp, [])
    assert all(o.status == "undecided" for o in outcomes)
    assert len(new["cells"]) == 1
    assert new["cells"][0]["variants"][1] == {"key": "b", "weight": 0.33, "description": "B copy"}
