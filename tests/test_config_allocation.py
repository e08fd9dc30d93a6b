"""``allocation:`` settings: validation (each error located), merging, bandit cells, period 0."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from segab.config import (
    AllocationSettings,
    bandit_cells,
    declared_period,
    fingerprint,
    parse_experiment,
)
from segab.errors import ConfigError
from segab.hashing import BUCKETS

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _raw(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "key": "bandit_demo",
        "unit": "user_id",
        "stages": ["awareness", "purchase"],
        "segments": [{"key": "young", "when": {"age": {"$lt": 30}}}],
        "fallback": "rest",
        "cells": [
            {
                "control": "a",
                "variants": [
                    {"key": "a", "weight": 1},
                    {"key": "b", "weight": 1},
                    {"key": "c", "weight": 2},
                ],
            }
        ],
        "metrics": {
            "primary": {"key": "conv", "kind": "binary", "event": "buy"},
            "secondary": [{"key": "rev", "kind": "continuous", "event": "revenue"}],
        },
    }
    raw.update(over)
    return raw


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_experiment(raw, "exp.yaml")
    return {p.path: f"{p.found} | {p.expected}" for p in info.value.problems}


def test_defaults_and_no_allocation_keeps_the_fingerprint() -> None:
    s = AllocationSettings()
    assert (s.mode, s.metric, s.cadence, s.burn_in, s.floor, s.uniform_slice) == (
        "fixed",
        None,
        "1d",
        100,
        0.01,
        0.1,
    )
    assert (s.top_two, s.seed, s.graduation.prob_best, s.graduation.updates) == (
        False,
        None,
        0.99,
        3,
    )
    assert s.graduation.expected_loss is None
    plain = parse_experiment(_raw())
    dumped = plain.model_dump(mode="json")
    assert "allocation" not in dumped and "allocation" not in dumped["cells"][0]
    with_fixed = parse_experiment(_raw(allocation={"mode": "fixed"}))
    assert fingerprint(with_fixed) != fingerprint(plain)  # a declared setting is part of it
    assert bandit_cells(plain) == [] and bandit_cells(with_fixed) == []


def test_experiment_level_applies_to_every_cell_and_a_cell_overrides_fields() -> None:
    raw = _raw(allocation={"mode": "bandit", "cadence": "12h", "floor": 0.05})
    raw["cells"].append(
        {
            "segment": "rest",
            "stage": "purchase",
            "control": "a",
            "allocation": {"floor": 0.1, "metric": "rev"},
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        }
    )
    raw["cells"].append(
        {
            "segment": "young",
            "stage": "purchase",
            "control": "a",
            "allocation": {"mode": "fixed"},
            "variants": [{"key": "a", "weight": 1}],
        }
    )
    exp = parse_experiment(raw)
    cells = {(seg, st): s for seg, st, s in bandit_cells(exp)}
    assert list(cells) == [("young", "awareness"), ("rest", "awareness"), ("rest", "purchase")]
    rest = cells[("rest", "purchase")]
    assert (rest.mode, rest.cadence, rest.floor, rest.metric) == ("bandit", "12h", 0.1, "rev")
    assert cells[("young", "awareness")].floor == 0.05


@pytest.mark.parametrize(
    ("over", "path", "words"),
    [
        ({"allocation": {"mode": "bandit", "metric": "nope"}}, "allocation.metric", "'nope'"),
        ({"allocation": {"mode": "bandit", "floor": 0.4}}, "allocation.floor", "0.4 with 3"),
        ({"allocation": {"mode": "bandit", "uniform_slice": 1.0}}, "allocation.uniform_slice", ""),
        ({"allocation": {"mode": "bandit", "cadence": "1 day"}}, "allocation.cadence", ""),
        ({"allocation": {"mode": "bandit", "burn_in": -1}}, "allocation.burn_in", ""),
        ({"allocation": {"mode": "sometimes"}}, "allocation.mode", ""),
        (
            {"allocation": {"mode": "bandit", "graduation": {"prob_best": 1.0}}},
            "allocation.graduation.prob_best",
            "",
        ),
        (
            {"allocation": {"mode": "bandit", "graduation": {"updates": 0}}},
            "allocation.graduation.updates",
            "",
        ),
        ({"allocation": {"mode": "bandit", "speed": 2}}, "allocation.speed", "unknown field"),
    ],
)
def test_each_experiment_level_error_is_located(
    over: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(_raw(**over))
    assert path in problems, problems
    assert words in problems[path]


def test_cell_level_errors_are_located_at_the_cell() -> None:
    raw = _raw()
    raw["cells"] = [
        {
            "stage": "awareness",
            "control": "a",
            "coverage": 0.5,
            "allocation": {"mode": "bandit", "metric": "gone"},
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        },
        {
            "stage": "purchase",
            "control": "a",
            "allocation": {"mode": "bandit", "floor": 0.6},
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        },
    ]
    problems = _problems(raw)
    assert "'gone'" in problems["cells[0].allocation.metric"]
    assert "not supported" in problems["cells[0].coverage"]
    assert "floor x variants <= 1" in problems["cells[1].allocation.floor"]
    one = _raw(allocation={"mode": "bandit"})
    one["cells"][0]["variants"] = [{"key": "a", "weight": 1}]
    assert "at least 2 variants" in _problems(one)["cells[0].variants"]


def test_fixed_cells_are_not_checked_as_bandits() -> None:
    raw = _raw()
    raw["cells"][0]["coverage"] = 0.5
    raw["cells"][0]["allocation"] = {"mode": "fixed", "floor": 0.9}
    assert bandit_cells(parse_experiment(raw)) == []


@pytest.mark.parametrize("uniform_slice", [0.0, 0.1, 0.25, 0.3333])
def test_declared_period_splits_slice_and_rest_at_the_declared_weights(
    uniform_slice: float,
) -> None:
    exp = parse_experiment(_raw(allocation={"mode": "bandit", "uniform_slice": uniform_slice}))
    period = declared_period(exp, T0)
    assert (period.experiment, period.iteration, period.number, period.started_at) == (
        "bandit_demo",
        1,
        0,
        T0,
    )
    assert [(c.segment, c.stage) for c in period.cells] == [
        (seg, st) for seg in ("young", "rest") for st in ("awareness", "purchase")
    ]
    s = round(uniform_slice * BUCKETS)
    for cell in period.cells:
        assert cell.variants == ("a", "b", "c")
        assert sum(cell.slice_buckets) == s
        # each part is within one bucket of its exact share (1/4, 1/4, 1/2)
        for part, total in ((cell.slice_buckets, s), (cell.adaptive_buckets, BUCKETS - s)):
            for got, share in zip(part, (0.25, 0.25, 0.5), strict=True):
                assert abs(got - share * total) < 1
        assert sum(cell.buckets) == BUCKETS


def test_declared_period_of_an_experiment_without_bandits_has_no_cells() -> None:
    assert declared_period(parse_experiment(_raw()), T0).cells == ()


def test_a_ratio_or_unit_table_decision_metric_is_refused() -> None:
    raw = _raw(allocation={"mode": "bandit", "metric": "roi"})
    raw["metrics"]["secondary"].append(
        {"key": "roi", "kind": "ratio", "event": "revenue", "denominator_event": "visit"}
    )
    assert "ratio metric 'roi'" in _problems(raw)["allocation.metric"]
    raw = _raw(allocation={"mode": "bandit"})
    raw["metrics"]["primary"] = {"key": "conv", "kind": "binary", "column": "converted"}
    assert "without 'event'" in _problems(raw)["metrics.primary"]
