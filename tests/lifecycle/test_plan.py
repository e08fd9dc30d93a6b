"""segab plan: per-cell sizes against statsmodels, days, over-segmentation and its remedies.

Oracles: statsmodels ``NormalIndPower().solve_power`` with ``proportion_effectsize``
(Cohen's h) for binary metrics and ``TTestIndPower`` (Cohen's d) for continuous ones.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from segab import assign
from segab.config import parse_experiment
from segab.errors import LifecycleError, MissingColumnError
from segab.lifecycle.plan import Baseline, plan_experiment
from segab.lifecycle.traffic import equal_mix, traffic_mix
from segab.stats import achieved_power


def _exp(**over: Any) -> Any:
    raw: dict[str, Any] = {
        "key": "plan_demo",
        "name": "Plan demo",
        "unit": "user_id",
        "stages": ["awareness", "purchase"],
        "segments": [
            {"key": "young", "when": {"age": {"$lt": 35}}},
            {"key": "older", "when": {"age": {"$gte": 50}}},
            {"key": "vip", "when": {"tier": "gold"}},
        ],
        "fallback": "rest",
        "cells": [
            {
                "control": "a",
                "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            },
            {
                "segment": "older",
                "stage": "purchase",
                "control": "a",
                "coverage": 0.5,
                "variants": [
                    {"key": "a", "weight": 0.4},
                    {"key": "b", "weight": 0.3},
                    {"key": "c", "weight": 0.3},
                ],
            },
        ],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy", "baseline": 0.08}},
        "analysis": {"mde": 0.1, "power": 0.8, "alpha": 0.05},
    }
    raw.update(over)
    return parse_experiment(raw)


SHARES = {
    ("young", "awareness"): 0.4,
    ("young", "purchase"): 0.2,
    ("older", "awareness"): 0.3,
    ("older", "purchase"): 0.15,
    ("vip", "awareness"): 0.01,
    ("vip", "purchase"): 0.005,
    ("rest", "awareness"): 0.29,
    ("rest", "purchase"): 0.1,
}


def _oracle_binary(p: float, mde: float, alpha: float, power: float) -> int:
    h = proportion_effectsize(p * (1 + mde), p)
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power, ratio=1.0)
    return math.ceil(n - 1e-9)


def test_every_cell_matches_statsmodels_normal_ind_power() -> None:
    exp = _exp()
    plan = plan_experiment(exp, SHARES, daily_units=20_000, days=28)
    assert len(plan.cells) == 8
    for cell in plan.cells:
        assert cell.n_per_arm == _oracle_binary(0.08, 0.1, 0.05, 0.8)
        share = SHARES[(cell.segment, cell.stage)]
        # coverage times the smallest arm weight
        smallest = 0.5 * 0.3 if (cell.segment, cell.stage) == ("older", "purchase") else 0.5
        rate = 20_000 * share * smallest
        assert cell.smallest_arm_daily == pytest.approx(rate)
        assert cell.days_needed == math.ceil(cell.n_per_arm / rate)
        assert cell.adequate == (cell.days_needed <= 28)


def test_metric_mde_and_measured_baselines_override_config() -> None:
    exp = _exp(
        metrics={
            "primary": {
                "key": "conv",
                "kind": "binary",
                "event": "buy",
                "baseline": 0.08,
                "mde": 0.2,
            }
        },
    )
    measured = {("young", "purchase"): Baseline(0.12, None, "iteration 1")}
    plan = plan_experiment(exp, SHARES, daily_units=20_000, measured=measured)
    by = {(c.segment, c.stage): c for c in plan.cells}
    assert by[("young", "purchase")].n_per_arm == _oracle_binary(0.12, 0.2, 0.05, 0.8)
    assert by[("young", "purchase")].baseline_source == "iteration 1"
    assert by[("young", "awareness")].n_per_arm == _oracle_binary(0.08, 0.2, 0.05, 0.8)


def test_continuous_metric_matches_ttest_ind_power() -> None:
    exp = _exp(
        metrics={
            "primary": {
                "key": "rev",
                "kind": "continuous",
                "event": "revenue",
                "baseline": 20.0,
                "std": 50.0,
            }
        },
        holdout=0.1,
    )
    plan = plan_experiment(exp, SHARES, daily_units=50_000, days=28)
    d = 20.0 * 0.1 / 50.0
    n = math.ceil(TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8, ratio=1.0))
    cell = plan.cells[0]
    assert cell.n_per_arm == n
    assert cell.days_needed == math.ceil(n / (50_000 * 0.4 * 0.9 * 0.5))


def test_too_small_cell_is_flagged_and_the_merge_is_recomputed_adequate() -> None:
    exp = _exp()
    measured = {  # vip is closest to older (0.10 vs 0.11), not to the larger young/rest
        ("vip", "awareness"): Baseline(0.10, None, "iteration 1"),
        ("older", "awareness"): Baseline(0.11, None, "iteration 1"),
        ("young", "awareness"): Baseline(0.05, None, "iteration 1"),
        ("rest", "awareness"): Baseline(0.06, None, "iteration 1"),
    }
    plan = plan_experiment(exp, SHARES, daily_units=20_000, days=28, measured=measured)
    by = {(c.segment, c.stage): c for c in plan.cells}
    vip = by[("vip", "awareness")]
    assert vip.status == "over_segmented" and not vip.adequate
    assert ["vip", "awareness"] in plan.to_dict()["over_segmented"]
    merge = next(r for r in vip.remedies if r.kind == "merge")
    assert merge.segments == ("older",)
    assert merge.adequate is True
    # recompute the merged cell independently: units add up, baseline is their weighted mean
    units = 20_000 * (0.01 + 0.3)
    pooled = (0.01 * 0.10 + 0.3 * 0.11) / 0.31
    n = _oracle_binary(pooled, 0.1, 0.05, 0.8)
    assert merge.n_per_arm == n
    assert merge.days_needed == math.ceil(n / (units * 0.5)) <= 28
    # the reachable MDE is what the cell's units give 80% power for
    mde = next(r for r in vip.remedies if r.kind == "reachable_mde").mde
    assert mde is not None
    n_avail = vip.smallest_arm_daily * 28
    assert achieved_power(n_per_arm=n_avail, baseline=0.10, mde=mde) == pytest.approx(0.8, abs=1e-3)
    assert {r.kind for r in vip.remedies} == {"merge", "reachable_mde", "extend", "drop"}


def test_merge_adds_siblings_until_adequate() -> None:
    exp = _exp()
    shares = {
        **SHARES,
        ("vip", "purchase"): 0.001,
        ("older", "purchase"): 0.01,
        ("young", "purchase"): 0.05,
        ("rest", "purchase"): 0.05,
    }
    plan = plan_experiment(exp, shares, daily_units=20_000, days=28)
    vip = next(c for c in plan.cells if (c.segment, c.stage) == ("vip", "purchase"))
    merge = next(r for r in vip.remedies if r.kind == "merge")
    assert len(merge.segments) >= 2


def test_traffic_mix_resolves_segments_like_assign() -> None:
    exp = _exp()
    rows = []
    for i in range(400):
        age = 18 + (i * 7) % 60
        tier = "gold" if i % 13 == 0 else "none"
        rows.append(
            {
                "user_id": f"u{i}",
                "stage": "awareness",
                "age": age,
                "tier": tier,
                "timestamp": f"2024-05-{1 + i % 10:02d}T00:00:00Z",
            }
        )
        if i % 3 == 0:
            rows.append({**rows[-1], "stage": "purchase"})
    frame = pd.DataFrame(rows)
    mix = traffic_mix(exp, frame)
    expected: dict[tuple[str, str], int] = {}
    for r in rows:
        a = assign(exp, r["user_id"], {"age": r["age"], "tier": r["tier"]}, r["stage"])
        expected[(str(a.segment), r["stage"])] = expected.get((str(a.segment), r["stage"]), 0) + 1
    assert mix.shares == {k: v / 400 for k, v in expected.items()}
    assert mix.daily_units == pytest.approx(400 / 9)


def test_traffic_mix_needs_the_stage_column() -> None:
    with pytest.raises(MissingColumnError, match="stage"):
        traffic_mix(_exp(), pd.DataFrame({"user_id": ["a"], "age": [3]}))


def test_equal_mix_and_bad_inputs() -> None:
    exp = _exp()
    assert sum(equal_mix(exp).shares.values()) == pytest.approx(2.0)  # 2 stages
    assert equal_mix(exp, {"young": 3, "older": 1}).shares[("young", "purchase")] == 0.75
    with pytest.raises(LifecycleError, match="unknown segment"):
        equal_mix(exp, {"nope": 1.0})
    with pytest.raises(LifecycleError, match="daily units"):
        plan_experiment(exp, SHARES, daily_units=0)


def test_cells_without_baseline_or_treatment() -> None:
    exp = _exp(
        cells=[
            {"control": "a", "variants": [{"key": "a", "weight": 1.0}]},
            {
                "segment": "young",
                "control": "a",
                "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            },
        ],
        metrics={"primary": {"key": "conv", "kind": "binary", "event": "buy"}},
    )
    plan = plan_experiment(exp, SHARES, daily_units=1000)
    statuses = {(c.segment, c.stage): c.status for c in plan.cells}
    assert statuses[("older", "awareness")] == "no_test"
    assert statuses[("young", "awareness")] == "no_baseline"
