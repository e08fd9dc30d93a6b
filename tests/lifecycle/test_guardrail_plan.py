"""segab plan with non-inferiority guardrails: sizes against statsmodels.

Oracles: statsmodels ``NormalIndPower().solve_power`` (two-sided, Cohen's h) for
the primary at the power ``1 − β/(G + 1)`` of Schultzberg, Ankargren and
Frånberg (2024), and ``zt_ind_solve_power(alternative="larger")`` at
``effect_size = margin/σ`` for each guardrail, uncorrected alpha.
"""

from __future__ import annotations

import math
from typing import Any

from click.testing import CliRunner
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from segab.config import parse_experiment
from segab.lifecycle.plan import plan_experiment


def exp(guardrails: list[dict[str, Any]]) -> Any:
    return parse_experiment({
        "key": "g", "unit": "id", "stages": ["buy"],
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "x",
                                "baseline": 0.1, "mde": 0.1},
                    "guardrail": guardrails},
    })  # fmt: skip


def primary_n(power: float) -> int:
    es = proportion_effectsize(0.11, 0.1)
    return math.ceil(NormalIndPower().solve_power(abs(es), alpha=0.05, power=power))


def test_without_margins_nothing_changes() -> None:
    plan = plan_experiment(exp([{"key": "u", "kind": "binary", "event": "u"}]),
                           {("all", "buy"): 1.0}, daily_units=1000)  # fmt: skip
    assert plan.cells[0].n_per_arm == primary_n(0.8)
    assert "guardrails" not in plan.to_dict()


def test_primary_power_is_split() -> None:
    # a loose margin: the primary (at power 1 − 0.2/3) decides the size
    g = [{"key": f"u{i}", "kind": "binary", "event": "u", "baseline": 0.1,
          "margin": {"absolute": 0.05}} for i in range(2)]  # fmt: skip
    plan = plan_experiment(exp(g), {("all", "buy"): 1.0}, daily_units=1000)
    assert plan.cells[0].n_per_arm == primary_n(1 - 0.2 / 3)
    doc = plan.to_dict()
    assert doc["power_per_test"] == 1 - 0.2 / 3
    want = zt_ind_solve_power(effect_size=0.05 / math.sqrt(0.09), alpha=0.05,
                              power=1 - 0.2 / 3, alternative="larger")  # fmt: skip
    assert [x["n_per_arm"] for x in doc["guardrails"]] == [math.ceil(want)] * 2


def test_a_tight_guardrail_sizes_the_cell() -> None:
    g = [{"key": "rev", "kind": "continuous", "event": "r", "baseline": 20.0, "std": 30.0,
          "margin": {"relative": 0.01}, "direction": "increase"}]  # fmt: skip
    plan = plan_experiment(exp(g), {("all", "buy"): 1.0}, daily_units=1000)
    want = zt_ind_solve_power(effect_size=0.2 / 30.0, alpha=0.05, power=0.9,
                              alternative="larger")  # fmt: skip
    assert plan.cells[0].n_per_arm == math.ceil(want) > primary_n(0.9)


def test_a_guardrail_without_baseline_is_noted() -> None:
    g = [{"key": "rev", "kind": "continuous", "event": "r", "margin": {"absolute": 1.0}}]
    plan = plan_experiment(exp(g), {("all", "buy"): 1.0}, daily_units=1000)
    assert plan.guardrails[0].n_per_arm is None
    assert any("'rev' baseline and std" in n for n in plan.notes)
    assert plan.cells[0].n_per_arm == primary_n(0.9)


def test_cli_plan_shows_guardrails(tmp_path: Any) -> None:
    import yaml

    from segab.cli.main import cli

    raw = exp([]).model_dump()
    raw["metrics"]["guardrail"] = [{"key": "u", "kind": "binary", "event": "u",
                                    "baseline": 0.1, "margin": {"absolute": 0.01}}]  # fmt: skip
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "g.yaml").write_text(yaml.safe_dump(raw))
    args = ["plan", "g", "--daily-units", "1000", "--experiments", str(tmp_path / "experiments")]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "guardrail u (non-inferiority, margin 0.01)" in out.output
    assert "each test powered at 0.9" in out.output
