"""Quantile metrics: located config errors, the fingerprint, and what the reports show."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segab.analysis.compute import compute_results
from segab.config import parse_experiment
from segab.errors import ConfigError
from segab.report.html import render_html
from segab.report.render import render_json, render_table
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units

RAW: dict[str, Any] = {
    "key": "e", "unit": "id", "stages": ["buy"],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": {"primary": {"key": "median_spend", "kind": "continuous", "column": "spend",
                            "quantile": 0.5},
                "secondary": [{"key": "spend", "kind": "continuous", "column": "spend"}]},
}  # fmt: skip


@pytest.mark.parametrize(("metric", "where", "expected"), [
    ({"kind": "binary", "quantile": 0.5}, "metrics.primary", "continuous metrics without"),
    ({"kind": "ratio", "denominator_column": "v", "quantile": 0.5}, "metrics.primary",
     "continuous metrics without"),
    ({"kind": "continuous", "quantile": 0.5, "cap": {"value": 9}}, "metrics.primary",
     "without a 'cap'"),
    ({"kind": "continuous", "quantile": 1.0}, "metrics.primary.quantile", "less than 1"),
    ({"kind": "continuous", "quantile": 0}, "metrics.primary.quantile", "greater than 0"),
    ({"kind": "continuous", "quantile": "0.5"}, "metrics.primary.quantile", "number"),
])  # fmt: skip
def test_located_config_errors(metric: dict[str, Any], where: str, expected: str) -> None:
    raw = {**RAW, "metrics": {"primary": {"key": "m", "column": "y", **metric}}}
    with pytest.raises(ConfigError) as err:
        parse_experiment(raw)
    assert f"{where}:" in str(err.value) and expected in str(err.value)


def test_fingerprint_unchanged_without_quantile() -> None:
    raw = {**RAW, "metrics": {"primary": {"key": "m", "kind": "continuous", "column": "y"}}}
    assert "quantile" not in parse_experiment(raw).model_dump()["metrics"]["primary"]
    assert parse_experiment(RAW).model_dump()["metrics"]["primary"]["quantile"] == 0.5


def test_reports_label_the_quantile() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    arm = rng.choice(["a", "b"], n)
    spend = rng.lognormal(1.0, 1.0, n) * np.where(arm == "b", 1.3, 1.0)
    df = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "arm": arm, "spend": spend})
    exp = parse_experiment(RAW)
    result = compute_results(exp, aggregate_units(exp, df, columns=UnitColumns(variant="arm")))
    row = next(r for r in result.results if r.metric == "median_spend")
    a, b = df.loc[df["arm"] == "a", "spend"], df.loc[df["arm"] == "b", "spend"]
    assert row.comparison.control_mean == pytest.approx(float(np.median(a)), rel=1e-12)
    assert row.comparison.treatment_mean == pytest.approx(float(np.median(b)), rel=1e-12)
    assert row.comparison.test == "quantile_z" and row.decision == "ship"
    table = render_table(result, width=200)
    assert "Metric: median_spend (p50 of per-unit values)" in table
    assert "Metric: spend\n" in table or "Metric: spend " in table
    rows = json.loads(render_json(result))["results"]
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["median_spend"]["quantile"] == 0.5
    assert "quantile" not in by_metric["spend"]
    page = render_html(result)
    assert "median_spend <span class='muted' title='p50 of per-unit values per arm'>[p50]" in page


@pytest.mark.parametrize("method", ["sequential", "bayesian"])
def test_other_methods_keep_the_fixed_horizon_test_and_say_so(method: str) -> None:
    rng = np.random.default_rng(8)
    n = 600
    df = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "arm": rng.choice(["a", "b"], n),
                       "spend": rng.lognormal(1.0, 1.0, n)})  # fmt: skip
    exp = parse_experiment({**RAW, "analysis": {"method": method}})
    result = compute_results(exp, aggregate_units(exp, df, columns=UnitColumns(variant="arm")))
    row = next(r for r in result.results if r.metric == "median_spend")
    assert row.comparison.test == "quantile_z" and row.comparison.method == "frequentist"
    assert any("fixed horizon" in w for w in row.comparison.warnings)
    other = next(r for r in result.results if r.metric == "spend")
    assert other.comparison.method == ("bayesian" if method == "bayesian" else "sequential")
