"""From sums to comparisons: hand-computed values, pooling, corrections, heterogeneity, SRM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from segab.analysis.api import analyze
from segab.analysis.compute import compute_results
from segab.analysis.pooling import pool_pairs
from segab.stats import ProportionStats, RatioStats, compare

from .conftest import aggregates, binary, make_exp, sums_frame


def test_binary_check_case_from_domain_notes():
    """10000/1000 vs 10000/1100: pooled z-test p = 0.021075, Wald CI [0.0015041, 0.0184959]."""
    exp = make_exp(metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}})
    rows = [
        binary("young", "awareness", "a", 10000, 1000),
        binary("young", "awareness", "b", 10000, 1100),
    ]
    [row] = compute_results(exp, aggregates(sums_frame(rows))).results
    d = row.to_dict()
    assert (d["segment"], d["stage"], d["variant"], d["control"]) == (
        "young",
        "awareness",
        "b",
        "a",
    )
    assert d["n_control"] == d["n_variant"] == 10000
    assert math.isclose(d["p_value"], 0.021075, abs_tol=1e-6)
    assert math.isclose(d["abs_ci_low"], 0.0015041, abs_tol=1e-7)
    assert math.isclose(d["abs_ci_high"], 0.0184959, abs_tol=1e-7)
    assert math.isclose(d["rel_lift"], 0.1, abs_tol=1e-12)


def test_continuous_matches_scipy_welch():
    """Oracle: scipy.stats.ttest_ind_from_stats(equal_var=False)."""
    exp = make_exp(metrics={"primary": {"key": "rev", "kind": "continuous", "event": "revenue"}})
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 10.0]), np.array([2.0, 4.0, 4.0, 9.0, 12.0, 1.0])
    rows = [
        {"segment": "young", "stage": "awareness", "variant": v, "metric": "rev", "n": len(x),
         "sum": float(x.sum()), "sum_sq": float((x * x).sum())}
        for v, x in (("a", a), ("b", b))
    ]  # fmt: skip
    [row] = compute_results(exp, aggregates(sums_frame(rows))).results
    oracle = sps.ttest_ind_from_stats(
        b.mean(), b.std(ddof=1), len(b), a.mean(), a.std(ddof=1), len(a), equal_var=False
    )
    assert math.isclose(row.comparison.p_value, oracle.pvalue, rel_tol=1e-9)
    assert math.isclose(row.comparison.abs_lift, b.mean() - a.mean(), rel_tol=1e-12)


def test_roi_means_are_roi_and_lift_is_on_revenue_per_cost():
    """ROI = (revenue − cost)/cost; abs lift = ROI_b − ROI_a; rel = (1+ROI_b)/(1+ROI_a) − 1."""
    exp = make_exp()
    rev_a, rev_b = np.array([0.0, 3.0, 1.0, 4.0]), np.array([2.0, 8.0, 6.0, 0.0, 4.0])
    rows = []
    for v, x, cost in (("a", rev_a, 1.0), ("b", rev_b, 2.0)):
        n = len(x)
        rows.append(
            {"segment": "young", "stage": "awareness", "variant": v, "metric": "roi", "n": n,
             "sum": x.sum(), "sum_sq": (x * x).sum(), "den_sum": n * cost,
             "den_sum_sq": n * cost * cost, "cross_sum": x.sum() * cost}
        )  # fmt: skip
    [row] = compute_results(exp, aggregates(sums_frame(rows))).results
    roi_a = (rev_a.sum() - 4 * 1.0) / (4 * 1.0)
    roi_b = (rev_b.sum() - 5 * 2.0) / (5 * 2.0)
    c = row.comparison
    assert math.isclose(c.control_mean, roi_a) and math.isclose(c.treatment_mean, roi_b)
    assert math.isclose(c.abs_lift, roi_b - roi_a)
    assert math.isclose(c.rel_lift, (1 + roi_b) / (1 + roi_a) - 1)


def _units(seed: int, segment: str, n: int, p_a: float, p_b: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "a", "b")
    p = np.where(arm == "a", p_a, p_b)
    conv = (rng.random(n) < p).astype(int)
    rev = np.round(rng.gamma(2.0, 5.0, n) * conv, 2)
    return pd.DataFrame({"segment": segment, "arm": arm, "conv": conv, "rev": rev})


def test_pooled_equals_analysis_of_concatenated_data():
    exp = make_exp(
        metrics={
            "primary": {"key": "conv", "kind": "binary", "column": "conv"},
            "secondary": [{"key": "rev", "kind": "continuous", "column": "rev"}],
        }
    )
    young, older = _units(1, "young", 3000, 0.10, 0.13), _units(2, "older", 5000, 0.2, 0.19)
    both = pd.concat([young, older], ignore_index=True)
    split = analyze(exp, units=both, variant_column="arm")
    whole = analyze(exp, units=both.drop(columns="segment"), variant_column="arm")
    assert {r.segment for r in split.results} == {"young", "older"}
    for metric in ("conv", "rev"):
        [pooled] = [r for r in split.pooled if r.metric == metric]
        [single] = [r for r in whole.results if r.metric == metric]
        assert pooled.segment is None and pooled.n_cells == 2
        a, b = pooled.to_dict(), single.to_dict()
        for key in ("n_control", "n_variant", "control_mean", "variant_mean", "abs_lift",
                    "abs_ci_low", "abs_ci_high", "rel_lift", "rel_ci_low", "rel_ci_high",
                    "p_value"):  # fmt: skip
            assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-15), key


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(2, 5000), st.integers(2, 5000), st.floats(0, 1), st.floats(0, 1)),
        min_size=2,
        max_size=5,
    )
)
def test_pooling_property(cells):
    """A pooled pair is the comparison of the summed statistics of its cells (additivity)."""
    from segab.analysis.pooling import Pair

    items = []
    for i, (nc, nt, fc, ft) in enumerate(cells):
        pc, pt = ProportionStats(nc, int(nc * fc)), ProportionStats(nt, int(nt * ft))
        items.append((f"s{i}", "t", (), Pair("m", "binary", "a", "b", pc, pt), None))
    [(_, stage, _, pair, _)] = pool_pairs(items, ["t"])
    assert stage == "t" and pair.n_cells == len(cells)
    assert pair.control_stats == sum(it[3].control_stats for it in items)
    assert pair.variant_stats == sum(it[3].variant_stats for it in items)


def test_pooling_only_same_control_and_variant_over_cells_holding_both():
    """Stage 'purchase': young tests b, older tests c; each pooled over its own cells only."""
    exp = make_exp(
        metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}},
        cells=[
            {"control": "a",
             "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]},
            {"segment": "older", "stage": "purchase", "control": "a",
             "variants": [{"key": "a", "weight": 0.5}, {"key": "c", "weight": 0.5}]},
        ],
    )  # fmt: skip
    rows = []
    for seg in ("young", "older", "rest"):
        for stage in ("awareness", "purchase"):
            other = "c" if (seg, stage) == ("older", "purchase") else "b"
            rows += [binary(seg, stage, "a", 1000, 100), binary(seg, stage, other, 1000, 120)]
    r = compute_results(exp, aggregates(sums_frame(rows)))
    pooled = {(p.stage, p.variant): p for p in r.pooled}
    assert pooled[("purchase", "b")].n_cells == 2  # young + rest, not older
    assert pooled[("purchase", "b")].comparison.n_control == 2000
    assert ("purchase", "c") not in pooled  # a single cell is not a pooled row
    assert pooled[("awareness", "b")].n_cells == 3
    assert pooled[(None, "b")].n_cells == 5 and pooled[(None, "b")].segment is None
    assert (None, "c") not in pooled


def test_correction_applies_per_metric_across_cells():
    """Oracle: statsmodels multipletests(method='holm') over the cells' p-values of a metric."""
    exp = make_exp()
    rows = []
    for i, seg in enumerate(("young", "older", "rest")):
        for stage in ("awareness", "purchase"):
            rows += [
                binary(seg, stage, "a", 4000, 400),
                binary(seg, stage, "b", 4000, 420 + 15 * i),
            ]
            rows += [
                binary(seg, stage, "a", 4000, 40, "unsub"),
                binary(seg, stage, "b", 4000, 50, "unsub"),
            ]
    r = compute_results(exp, aggregates(sums_frame(rows)))
    for metric in ("conv", "unsub"):
        cells = [x for x in r.results if x.metric == metric]
        assert len(cells) == 6
        expected = multipletests([x.comparison.p_value for x in cells], method="holm")[1]
        assert [x.comparison.p_adjusted for x in cells] == pytest.approx(list(expected))
        pooled = [x for x in r.pooled if x.metric == metric]
        expected_pooled = multipletests([x.comparison.p_value for x in pooled], method="holm")[1]
        assert [x.comparison.p_adjusted for x in pooled] == pytest.approx(list(expected_pooled))


def test_heterogeneity_is_cochran_q_of_relative_lifts():
    exp = make_exp(metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}})
    rows = [
        binary("young", "awareness", "a", 8000, 800), binary("young", "awareness", "b", 8000, 1040),
        binary("older", "awareness", "a", 8000, 800), binary("older", "awareness", "b", 8000, 800),
    ]  # fmt: skip
    r = compute_results(exp, aggregates(sums_frame(rows)))
    [h] = r.heterogeneity
    est = [x.comparison.rel_lift for x in r.results]
    w = [1 / x.comparison.rel_se**2 for x in r.results]
    pooled = sum(wi * e for wi, e in zip(w, est, strict=True)) / sum(w)
    q = sum(wi * (e - pooled) ** 2 for wi, e in zip(w, est, strict=True))
    assert h["segments"] == ["young", "older"] and h["k"] == 2 and h["df"] == 1
    assert h["q"] == pytest.approx(q) and h["p_value"] == pytest.approx(sps.chi2.sf(q, 1))
    assert h["p_value"] < 0.001


def test_srm_uses_weights_scaled_by_coverage_and_skips_single_arm_cells():
    exp = make_exp(
        metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}},
        cells=[
            {"control": "a", "coverage": 0.5, "variants": [
                {"key": "a", "weight": 0.34}, {"key": "b", "weight": 0.33},
                {"key": "c", "weight": 0.33}]},
            {"segment": "rest", "control": "a", "variants": [{"key": "a", "weight": 1.0}]},
        ],
    )  # fmt: skip
    rows = [
        binary("young", "awareness", v, n, n // 10)
        for v, n in (("a", 3400), ("b", 3300), ("c", 3300))
    ]
    rows += [binary("rest", "awareness", "a", 500, 50)]
    r = compute_results(exp, aggregates(sums_frame(rows)))
    [srm] = r.srm
    assert (srm["segment"], srm["stage"]) == ("young", "awareness")
    assert srm["weights"] == pytest.approx([1700 / 5000, 1650 / 5000, 1650 / 5000])
    assert srm["p_value"] == pytest.approx(1.0) and not srm["flagged"]
    assert {x.variant for x in r.results} == {"b", "c"}


def test_by_rows_sum_to_the_cells():
    exp = make_exp(metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}})
    rows = []
    for ch, (xa, xb) in {"email": (100, 130), "social": (50, 45), None: (5, 6)}.items():
        for v, x in (("a", xa), ("b", xb)):
            rec = binary("young", "awareness", v, 1000, x)
            rec["channel"] = ch
            rows.append(rec)
    r = compute_results(exp, aggregates(sums_frame(rows, dims=["channel"]), dims=["channel"]))
    plain = [x for x in r.results if not x.dimensions]
    by = [x for x in r.results if x.dimensions]
    assert len(plain) == 1 and plain[0].comparison.n_control == 3000
    assert sorted(str(x.dimensions["channel"]) for x in by) == ["None", "email", "social"]
    assert plain[0].comparison.p_adjusted == pytest.approx(plain[0].comparison.p_value)
    [email] = [x for x in by if x.dimensions["channel"] == "email"]
    assert email.comparison.p_value == pytest.approx(
        compare(ProportionStats(1000, 100), ProportionStats(1000, 130)).p_value
    )
    assert email.to_dict()["dimensions"] == {"channel": "email"}


def test_ratio_pooling_adds_sums():
    a = RatioStats(10, 20.0, 60.0, 10.0, 10.0, 20.0)
    b = RatioStats(5, 5.0, 9.0, 10.0, 20.0, 10.0)
    assert (a + b).mean == pytest.approx(25.0 / 20.0)


def test_missing_control_is_a_note_not_a_crash():
    exp = make_exp(metrics={"primary": {"key": "conv", "kind": "binary", "event": "x"}})
    rows = [binary("young", "awareness", "b", 1000, 100), binary("older", "awareness", "a", 10, 1)]
    r = compute_results(exp, aggregates(sums_frame(rows)))
    assert r.results == ()
    assert any("control 'a' has no conv data" in n for n in r.notes)
