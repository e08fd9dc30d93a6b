"""Capped metrics and non-inferiority guardrails from sums to decisions, JSON, table and HTML.

Oracles: scipy ``norm.sf`` for the one-sided p-value against the margin (absolute
on the absolute lift with the unpooled standard error, relative on the
delta-method relative lift); numpy percentiles for the cap (``segab analyze`` on
a unit table, end to end).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.stats import norm

from segab.analysis.compute import compute_results
from segab.analysis.results import NI_KEYS
from segab.config import parse_experiment
from segab.config.loader import fingerprint
from segab.errors import ConfigError
from segab.sums.aggregate import Aggregates


def analysis(margin: dict[str, float] | None, unsub_b: float, conv_b: float = 1150.0) -> Any:
    guard: dict[str, Any] = {"key": "unsub", "kind": "binary", "event": "u",
                             "direction": "decrease"}  # fmt: skip
    if margin:
        guard["margin"] = margin
    exp = parse_experiment({
        "key": "e", "unit": "id", "stages": ["buy"],
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "x"},
                    "guardrail": [guard]},
    })  # fmt: skip
    sums = pd.DataFrame({
        "segment": "all", "stage": "buy", "variant": ["a", "b", "a", "b"],
        "metric": ["conv", "conv", "unsub", "unsub"], "n": 10000,
        "sum": [1000.0, conv_b, 100.0, unsub_b], "sum_sq": 0.0, "den_sum": 0.0,
        "den_sum_sq": 0.0, "cross_sum": 0.0,
    })  # fmt: skip
    expo = sums[sums["metric"] == "conv"][["segment", "stage", "variant", "n"]]
    return compute_results(exp, Aggregates(sums, expo, pd.DataFrame(), {}, ()))


def rows(r: Any) -> dict[str, Any]:
    return {row.metric: row for row in r.results}


def test_absolute_margin_p_value_is_scipys() -> None:
    r = rows(analysis({"absolute": 0.004}, 110.0))
    g = r["unsub"].to_dict()
    p_c, p_v = 0.01, 0.011
    se = math.sqrt(p_c * (1 - p_c) / 10000 + p_v * (1 - p_v) / 10000)
    want = norm.sf((0.004 - (p_v - p_c)) / se)  # decrease is good: H0 Δ ≥ margin
    assert g["p_noninferiority"] == pytest.approx(want, rel=1e-9)
    assert g["margin"] == 0.004 and g["margin_scale"] == "absolute"
    assert g["non_inferior"] is bool(want < 0.05)
    assert set(NI_KEYS) <= set(g)
    assert not set(NI_KEYS) & set(r["conv"].to_dict())


def test_relative_margin_uses_the_delta_method_lift() -> None:
    row = rows(analysis({"relative": 0.3}, 105.0))["unsub"]
    c = row.comparison
    want = norm.sf((0.3 - c.rel_lift) / c.rel_se)
    assert row.noninferiority.p_value == pytest.approx(want, rel=1e-12)
    assert row.noninferiority.scale == "relative"


def test_ship_needs_every_margin_to_hold() -> None:
    ok = rows(analysis({"absolute": 0.01}, 105.0))
    assert ok["conv"].decision == "ship"
    assert ok["unsub"].decision == "no_effect" and ok["unsub"].reason.startswith("non-inferior")
    held = rows(analysis({"relative": 0.1}, 105.0))
    assert held["conv"].decision == "keep_running"
    assert "guardrail unsub not shown non-inferior (margin 10%)" in held["conv"].reason
    assert held["unsub"].decision == "keep_running"


def test_harm_beyond_the_margin_is_investigated() -> None:
    r = rows(analysis({"absolute": 0.001}, 160.0))
    assert r["unsub"].decision == "investigate"
    assert r["conv"].decision == "investigate" and "guardrail is harmed" in r["conv"].reason


def test_harm_within_the_margin_does_not_block() -> None:
    # unsub significantly worse (+0.6 points, p < 0.05) but well within a 2-point margin
    r = rows(analysis({"absolute": 0.02}, 160.0))
    assert r["unsub"].comparison.p_value < 0.05
    assert r["conv"].decision == "ship"
    without = rows(analysis(None, 160.0))  # today's rule without a margin
    assert without["conv"].decision == "investigate"


def test_config_fingerprint_unchanged_without_options() -> None:
    raw = {"key": "e", "unit": "id", "cells": [{"variants": [{"key": "a", "weight": 1}],
           "control": "a"}], "metrics": {"primary": {"key": "m", "kind": "binary",
           "event": "x"}}}  # fmt: skip
    dumped = parse_experiment(raw).model_dump()
    assert "cap" not in dumped["metrics"]["primary"]
    assert "margin" not in dumped["metrics"]["primary"]
    assert fingerprint(parse_experiment(raw)) == fingerprint(parse_experiment(raw))


@pytest.mark.parametrize(("metric", "where", "expected"), [
    ({"kind": "binary", "cap": {"value": 1}}, "metrics.primary", "continuous and ratio"),
    ({"kind": "continuous", "cap": {"percentile": 1.2}}, "metrics.primary.cap.percentile",
     "less than 1"),
    ({"kind": "continuous", "cap": {}}, "metrics.primary.cap", "exactly one of 'value'"),
    ({"kind": "continuous", "cap": {"value": 5, "ignore_zeros": True}}, "metrics.primary.cap",
     "'percentile' cap only"),
    ({"kind": "continuous", "margin": {"absolute": 1}}, "metrics", "guardrail metrics only"),
])  # fmt: skip
def test_located_config_errors(metric: dict[str, Any], where: str, expected: str) -> None:
    raw = {
        "key": "e",
        "unit": "id",
        "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        "metrics": {"primary": {"key": "m", "column": "y", **metric}},
    }
    with pytest.raises(ConfigError) as err:
        parse_experiment(raw)
    assert f"{where}:" in str(err.value) and expected in str(err.value)


def test_margin_scale_errors() -> None:
    g = {"key": "g", "kind": "binary", "column": "z", "margin": {"absolute": 0.1, "relative": 1}}
    raw = {"key": "e", "unit": "id", "cells": [{"variants": [{"key": "a", "weight": 1}],
           "control": "a"}], "metrics": {"primary": {"key": "m", "kind": "binary",
           "column": "y"}, "guardrail": [g]}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"metrics.guardrail\[0\].margin: .*exactly one"):
        parse_experiment(raw)


def test_segab_analyze_reports_caps_and_margins(tmp_path: Path) -> None:
    """End to end on a unit table: the cap (numpy oracle), units capped per arm, NI marks."""
    from segab.cli.main import cli

    rng = np.random.default_rng(3)
    n = 2000
    arm = rng.choice(["a", "b"], n)
    rev = np.round(rng.lognormal(1.0, 1.5, n), 2)
    unsub = (rng.random(n) < 0.05).astype(int)
    pd.DataFrame({"id": [f"u{i}" for i in range(n)], "variant": arm, "rev": rev,
                  "unsub": unsub}).to_csv(tmp_path / "u.csv", index=False)  # fmt: skip
    cfg = {
        "key": "cap_demo",
        "unit": "id",
        "status": "running",
        "stages": ["all"],
        "cells": [
            {"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}], "control": "a"}
        ],
        "metrics": {
            "primary": {
                "key": "rev",
                "kind": "continuous",
                "column": "rev",
                "cap": {"percentile": 0.99},
            },
            "guardrail": [
                {
                    "key": "unsub",
                    "kind": "binary",
                    "column": "unsub",
                    "direction": "decrease",
                    "margin": {"absolute": 0.02},
                }
            ],
        },
    }
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "cap_demo.yaml").write_text(yaml.safe_dump(cfg))
    base = ["analyze", "cap_demo", "--units", str(tmp_path / "u.csv"),
            "--experiments", str(tmp_path / "experiments")]  # fmt: skip
    out = CliRunner().invoke(cli, [*base, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    cap = float(np.percentile(rev, 99))
    (entry,) = doc["caps"]
    assert entry["metric"] == "rev" and entry["rule"] == "percentile"
    assert entry["cap"] == pytest.approx(cap, rel=1e-12)
    assert entry["units_capped"] == {k: int(((arm == k) & (rev > cap)).sum()) for k in "ab"}
    guard = next(r for r in doc["results"] if r["metric"] == "unsub")
    assert guard["margin"] == 0.02 and isinstance(guard["non_inferior"], bool)
    mean_b = np.minimum(rev[arm == "b"], cap).mean()
    primary = next(r for r in doc["results"] if r["metric"] == "rev")
    assert primary["variant_mean"] == pytest.approx(mean_b, rel=1e-12)
    table = CliRunner().invoke(cli, [*base, "--format", "table"]).output
    assert "Cap on rev: p99 of per-unit values =" in table
    assert "Non-inferiority guardrails" in table and "NI " in table
    html = CliRunner().invoke(cli, [*base, "--format", "html"]).output
    assert "Cap on rev" in html and "id='noninferiority'" in html


def test_units_needed_use_the_split_power() -> None:
    """With G = 1 margin guardrail, keep_running asks for the size at power 1 − 0.2/2."""
    r = rows(analysis({"absolute": 0.01}, 100.0, conv_b=1010.0))
    assert r["conv"].decision == "keep_running"
    assert "at 90% power" in r["conv"].reason
    plain = rows(analysis(None, 100.0, conv_b=1010.0))
    assert "at 80% power" in plain["conv"].reason
    assert r["conv"].more_units > plain["conv"].more_units
