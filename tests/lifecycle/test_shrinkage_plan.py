"""`segab plan --tau`: cell sizes for decisions on shrunken estimates (issue 18).

Oracles: segab.stats.eb_sample_size_per_arm (checked against the normal closed form
and a simulation in tests/stats/test_eb_power.py) on each cell's baseline and MDE;
the plain plan's sizes (statsmodels) for the comparison.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from segab.cli.main import cli
from segab.config import parse_experiment
from segab.errors import LifecycleError
from segab.lifecycle.plan import plan_experiment
from segab.lifecycle.shrinkage_plan import shrinkage_sizes
from segab.stats import eb_sample_size_per_arm

EXP = parse_experiment(
    {
        "key": "e",
        "unit": "id",
        "stages": ["buy"],
        "segments": [{"key": f"s{i}", "when": {"k": i}} for i in range(8)],
        "cells": [
            {"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}], "control": "a"}
        ],
        "analysis": {"shrinkage": "eb"},
        "metrics": {
            "primary": {"key": "m", "kind": "binary", "event": "x", "baseline": 0.2, "mde": 0.1}
        },
    }
)
SHARES = {(f"s{i}", "buy"): 1 / 8 for i in range(8)}


def test_each_cell_sized_by_the_eb_formula_and_smaller_when_cells_agree() -> None:
    plan = plan_experiment(EXP, SHARES, daily_units=8000, days=28)
    sizes = []
    for tau in (0.002, 0.01, 0.05):
        block = shrinkage_sizes(plan, EXP, tau=tau)
        assert block["cells_shrunk_together"] == 8 and block["applies"]
        want = eb_sample_size_per_arm(0.02, math.sqrt(0.16), tau=tau, cells=8, power=0.8)
        assert [c["n_per_arm"] for c in block["cells"]] == [want] * 8
        day_rate = plan.cells[0].smallest_arm_daily
        assert block["cells"][0]["days_needed"] == math.ceil(want / day_rate - 1e-9)
        sizes.append(want)
    assert sizes[0] < sizes[1] < sizes[2] < plan.cells[0].n_per_arm


def test_bad_tau_is_a_lifecycle_error() -> None:
    plan = plan_experiment(EXP, SHARES, daily_units=8000)
    with pytest.raises(LifecycleError, match="--tau"):
        shrinkage_sizes(plan, EXP, tau=0.0)


def test_cli_plan_tau_json_and_table() -> None:
    runner = CliRunner()
    args = ["plan", "journey_content", "--daily-units", "5000", "--tau", "0.01"]
    out = runner.invoke(cli, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    block = doc["shrinkage"]
    assert block["tau"] == 0.01 and len(block["cells"]) == len(doc["cells"])
    plain = {(c["segment"], c["stage"]): c["n_per_arm"] for c in doc["cells"]}
    assert all(c["n_per_arm"] < plain[(c["segment"], c["stage"])] for c in block["cells"])
    table = runner.invoke(cli, args)
    assert table.exit_code == 0 and "with shrinkage (tau 0.01" in table.output
    bad = runner.invoke(cli, [*args[:-1], "-1"])
    assert bad.exit_code != 0 and "Error: --tau" in bad.output
    assert "Traceback" not in bad.output
