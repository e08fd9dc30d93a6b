"""analysis.shrinkage: eb in the results: shrunk rows, decisions on the robust EB interval,
pooled rows unchanged, a single cell unchanged (segab.stats.shrink is checked against its
oracles in tests/stats/test_shrinkage.py; here: the wiring)."""

from __future__ import annotations

import json
import math

import pytest

from segab.analysis.compute import compute_results
from segab.analysis.results import ROW_KEYS, SHRINK_KEYS
from segab.report.render import render
from segab.stats import shrink

from .conftest import aggregates, binary, make_exp, sums_frame

# conversions of b per (segment, stage), a has 200 of 2000 everywhere
LIFTS = {
    ("young", "awareness"): 262,
    ("young", "purchase"): 238,
    ("older", "awareness"): 205,
    ("older", "purchase"): 250,
    ("rest", "awareness"): 228,
    ("rest", "purchase"): 244,
}


def _result(shrinkage: str = "none", cells=LIFTS, **extra):
    exp = make_exp(analysis={"correction": "holm", "mde": 0.1, "shrinkage": shrinkage, **extra})
    rows = []
    for (seg, stage), x in cells.items():
        rows += [binary(seg, stage, "a", 2000, 200), binary(seg, stage, "b", 2000, x)]
    return compute_results(exp, aggregates(sums_frame(rows)))


def test_none_keeps_row_keys_and_document_keys():
    doc = json.loads(render(_result(), "json"))
    assert "shrinkage" not in doc and "tailoring" not in doc
    assert all(tuple(r) == ROW_KEYS for r in doc["results"] + doc["pooled"])


def test_eb_adds_shrunk_keys_to_cell_rows_and_a_shrinkage_block():
    doc = json.loads(render(_result("eb"), "json"))
    assert all(tuple(r) == (*ROW_KEYS, *SHRINK_KEYS) for r in doc["results"])
    assert all(tuple(r) == ROW_KEYS for r in doc["pooled"])
    block = doc["shrinkage"]
    assert block["tau2_method"] == "reml" and block["groups"] == "grid"
    (family,) = block["families"]
    assert family["metric"] == "conv" and family["k"] == 6 and family["shrunk"]
    # the rows carry exactly what segab.stats.shrink gives for these lifts and errors
    res = _result("eb").results
    lifts, ses = [x.comparison.abs_lift for x in res], [x.comparison.abs_se for x in res]
    r = shrink(lifts, ses, interval="ucb")  # the product corrects for estimating mu2
    assert r.ci_low != shrink(lifts, ses).ci_low  # (which changes the intervals here)
    for row, est, lo, hi in zip(res, r.posterior_means, r.ci_low, r.ci_high, strict=True):
        assert row.shrunk is not None and row.shrunk.applied
        assert (row.shrunk.estimate, row.shrunk.ci_low, row.shrunk.ci_high) == (est, lo, hi)


def test_pooled_rows_are_unchanged_by_shrinkage():
    raw, eb = _result(), _result("eb")
    assert [p.to_dict() for p in raw.pooled] == [p.to_dict() for p in eb.pooled]
    # the per-cell raw keys stay too
    for a, b in zip(raw.results, eb.results, strict=True):
        assert {k: v for k, v in b.to_dict().items() if k in ROW_KEYS and k not in (
            "decision", "reason")} == {k: v for k, v in a.to_dict().items() if k not in (
            "decision", "reason")}  # fmt: skip


def test_a_single_cell_is_the_identity_and_keeps_its_raw_decision():
    exp_cells = {("young", "awareness"): 262}
    raw, eb = _result(cells=exp_cells), _result("eb", cells=exp_cells)
    (row,) = eb.results
    c = row.comparison
    assert row.shrunk is not None and not row.shrunk.applied
    assert row.shrunk.estimate == c.abs_lift and row.shrunk.weight == 1.0
    assert math.isclose(row.shrunk.ci_low, c.abs_ci_low) and math.isclose(
        row.shrunk.ci_high, c.abs_ci_high
    )
    assert (row.decision, row.reason) == (raw.results[0].decision, raw.results[0].reason)
    assert row.to_dict()["decision_basis"] == "raw"
    assert any("fewer than 5" in w for w in eb.shrinkage["warnings"])


def test_eb_decisions_follow_the_robust_interval():
    res = _result("eb").results
    for row in res:
        s = row.shrunk
        assert s is not None and s.applied
        if s.ci_low > 0:
            assert row.decision == "ship" and "EB" in row.reason
        else:
            assert row.decision != "ship" and "EB" in row.reason
    # borrowing strength: more cells decided than by Holm on the raw intervals
    raw = _result().results
    assert sum(r.decision == "ship" for r in res) > sum(r.decision == "ship" for r in raw)


@pytest.mark.parametrize("groups", ["stage", "variant"])
def test_other_groupings_name_their_groups(groups):
    r = _result("eb", shrinkage_groups=groups)
    labels = {f["label"] for f in r.shrinkage["families"]}
    assert labels == ({"awareness", "purchase"} if groups == "stage" else {"b vs a"})
    # stage groups have 3 cells each: too few, not shrunk, raw decisions
    if groups == "stage":
        assert all(row.shrunk is not None and not row.shrunk.applied for row in r.results)


TAILORING = {
    "metric": "conv", "arms": ["a", "b"], "cells": ["young · awareness", "older · awareness"],
    "gain_over_single": 0.004, "ci_low_over_single": -0.002, "ci_high_over_single": 0.01,
    "gain_over_control": 0.02, "ci_low_over_control": 0.01, "ci_high_over_control": 0.03,
    "tailored_arms": [[1, 0], [1, 1]], "alpha": 0.05, "warnings": ["the two folds chose"],
}  # fmt: skip


def test_table_marks_eb_and_csv_carries_both():
    from dataclasses import replace

    r = _result("eb")
    text = render(replace(r, tailoring=TAILORING), "table")
    assert "abs EB" in text and "EB: empirical-Bayes shrinkage over the grid" in text
    assert "Tailoring value: conv: tailored policy vs best single arm: +0.004" in text
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(render(r, "csv")))
    cells = frame[frame["scope"] == "cell"]
    assert {"abs_lift", "abs_ci_low", "shrunk_abs_lift", "shrunk_ci_low"} <= set(frame.columns)
    assert cells["shrunk_abs_lift"].notna().all() and set(cells["decision_basis"]) == {"eb"}


def test_html_draws_raw_and_eb_intervals_and_the_tailoring_panel():
    from dataclasses import replace

    page = render(replace(_result("eb"), tailoring=TAILORING), "html")
    assert 'stroke-dasharray="4 2"' in page and "dashed: EB" in page
    assert page.count("EB +") >= 6  # each cell's shrunk value under its raw one
    assert "<h2 id='tailoring'>Tailoring value</h2>" in page and "the two folds chose" in page
    plain = render(_result(), "html")
    assert "stroke-dasharray" not in plain and "id='tailoring'" not in plain
