"""Output formats: JSON keys exactly, NaN → null, CSV, table, HTML escaping, notebooks."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest

from segab.analysis.api import analyze
from segab.analysis.compute import compute_results
from segab.report.html import render_html
from segab.report.render import render

from .conftest import aggregates, binary, make_exp, sums_frame

TOP = [
    "experiment", "iteration", "method", "alpha", "correction", "results", "pooled",
    "heterogeneity", "srm", "data_quality", "funnel", "data_issues", "unknown_arms", "skipped",
    "notes", "breakdowns",
]  # fmt: skip
ROW = [
    "segment", "stage", "dimensions", "metric", "variant", "control", "n_control", "n_variant",
    "control_mean", "variant_mean", "abs_lift", "abs_ci_low", "abs_ci_high", "rel_lift",
    "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "significant", "decision", "reason",
    "test", "warnings",
]  # fmt: skip


def _result(method: str = "frequentist"):
    exp = make_exp(analysis={"method": method})
    rows = []
    for seg in ("young", "older"):
        for stage in ("awareness", "purchase"):
            rows += [binary(seg, stage, "a", 2000, 200), binary(seg, stage, "b", 2000, 230)]
            rows += [
                binary(seg, stage, "a", 2000, 0, "unsub"),
                binary(seg, stage, "b", 2000, 0, "unsub"),
            ]
            for v in ("a", "b"):  # a constant outcome: the t-test is undefined (NaN p)
                rows.append({"segment": seg, "stage": stage, "variant": v, "metric": "rev",
                             "n": 100, "sum": 500.0, "sum_sq": 2500.0})  # fmt: skip
    return compute_results(exp, aggregates(sums_frame(rows), quality={"empty_ids": 3}))


def test_json_keys_exactly_and_nan_is_null():
    doc = json.loads(render(_result(), "json"))
    assert list(doc) == TOP
    assert doc["experiment"] == "exp" and doc["iteration"] == 1 and doc["correction"] == "holm"
    assert doc["results"] and doc["pooled"]
    for row in doc["results"] + doc["pooled"]:
        assert list(row) == ROW
    unsub = [r for r in doc["results"] if r["metric"] == "unsub"]
    assert all(r["rel_lift"] is None and r["significant"] is False for r in unsub)
    rev = [r for r in doc["results"] if r["metric"] == "rev"]
    assert rev and all(r["p_value"] is None and r["significant"] is False for r in rev)
    assert all(r["segment"] is None for r in doc["pooled"])
    assert {r["stage"] for r in doc["pooled"]} == {"awareness", "purchase", None}
    assert doc["data_quality"] == {"empty_ids": 3}
    assert "NaN" not in render(_result(), "json")


def test_bayesian_rows_add_chance_to_win_and_expected_loss():
    doc = json.loads(render(_result("bayesian"), "json"))
    assert doc["method"] == "bayesian"
    for row in doc["results"]:
        assert list(row) == [*ROW, "chance_to_win", "expected_loss"]


def test_csv_has_one_row_per_result():
    r = _result()
    frame = pd.read_csv(io.StringIO(render(r, "csv")))
    assert len(frame) == len(r.results) + len(r.pooled)
    assert set(frame["scope"]) == {"cell", "pooled"}
    assert {"decision", "reason", "p_adjusted", "rel_ci_low"} <= set(frame.columns)


def test_table_renders_decisions_and_panels():
    text = render(_result(), "table")
    assert "Decisions (primary metric: conv)" in text
    assert "Sample ratio mismatch" in text and "Data quality" in text
    assert "keep_running" in text


def test_to_pandas_and_repr_html():
    r = _result()
    frame = r.to_pandas()
    assert list(frame.columns[:3]) == ["scope", "segment", "stage"]
    assert len(frame) == len(r.results) + len(r.pooled)
    html = r._repr_html_()
    assert html.startswith("<p><b>exp</b>") and "<table" in html


def test_html_is_self_contained_with_forest_and_panels():
    page = render(_result(), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<script" not in page and "@import" not in page
    assert page.count("<svg") == 1  # one forest for conv; unsub and rev have no defined interval
    assert "No cell has a defined relative lift" in page
    for section in ("Decisions", "Lift by cell", "Funnel by variant", "Sample ratio",
                    "Data quality", "Heterogeneity"):  # fmt: skip
        assert section in page


MALICIOUS = "<script>alert(1)</script>"


def test_html_escapes_user_supplied_strings():
    exp = make_exp(
        name=f"Evil {MALICIOUS}",
        hypothesis=f"h {MALICIOUS}",
        metrics={"primary": {"key": "conv", "kind": "binary", "column": "conv"}},
    )
    units = pd.DataFrame(
        {
            "segment": [MALICIOUS] * 8 + ["young"] * 8,
            "arm": (["a", MALICIOUS] * 4) + (["a", "b"] * 4),
            "channel": ['<img src=x onerror="alert(2)">'] * 16,
            "conv": [0, 1, 1, 0, 0, 1, 1, 1] * 2,
        }
    )
    r = analyze(exp, units=units, variant_column="arm", by=["channel"])
    # an arm the config does not declare is kept out and reported by its label
    assert {row.variant for row in r.results} == {"b"}
    assert r.unknown_arms == ({"label": MALICIOUS, "units": 4},)
    page = render_html(r)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "<script" not in r._repr_html_()


def test_unknown_format_is_an_error():
    from segab.errors import DataError

    with pytest.raises(DataError, match="format: found 'xml'"):
        render(_result(), "xml")
