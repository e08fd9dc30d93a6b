"""Reports of a regression-adjusted, post-stratified analysis: covariates named, VR shown."""

from __future__ import annotations

import json

from segab.analysis.compute import compute_results
from segab.report.html import render_html
from segab.report.render import render_json, render_table
from segab.sums.unit_table import aggregate_units
from tests.analyze_data.test_covariates import COLS, experiment, units


def test_table_json_and_html_name_the_covariates() -> None:
    exp = experiment(post_stratify=True)
    result = compute_results(exp, aggregate_units(exp, units(800), columns=COLS))
    text = render_table(result, width=200)
    assert "Metric: rev (adjusted for pre_rev, age)" in text
    assert "Regression adjustment of rev (Lin 2013): covariates pre_rev, age" in text
    assert "post-stratified" in text
    doc = json.loads(render_json(result))
    block = {a["metric"]: a for a in doc["adjustment"]}
    assert block["rev"]["estimator"] == "lin_2013_interacted_ols"
    assert 0 < block["rev"]["mean_variance_reduction"] < 1
    rev_rows = [r for r in doc["results"] if r["metric"] == "rev"]
    assert all(r["test"] == "lin_regression_t" and r["variance_reduction"] > 0 for r in rev_rows)
    assert all(r["test"] == "post_stratified" for r in doc["pooled"] if r["metric"] != "rev")
    assert "covariates pre_rev, age" in render_html(result)
