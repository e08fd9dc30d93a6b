"""Each decision on hand-built sums, with its reason; the rules of segab.analysis.decisions."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from segab.analysis.compute import compute_results
from segab.analysis.decisions import decide, guardrail_harmed, units_needed
from segab.config.models import AnalysisSettings, Metric
from segab.stats import MeanStats, ProportionStats, compare, sample_size_per_arm, srm_test

from .conftest import aggregates, binary, make_exp, sums_frame

CONV = Metric(key="conv", kind="binary", event="purchase", mde=0.1)
UNSUB = Metric(key="unsub", kind="binary", event="unsubscribe", direction="decrease")
SETTINGS = AnalysisSettings(mde=0.1)


def one_cell(ctl: tuple[int, int], trt: tuple[int, int], **extra_rows: tuple) -> list[dict]:
    rows = [
        binary("young", "awareness", "a", *ctl),
        binary("young", "awareness", "b", *trt),
    ]
    for metric, (c, t) in extra_rows.items():
        rows.append(binary("young", "awareness", "a", *c, metric=metric))
        rows.append(binary("young", "awareness", "b", *t, metric=metric))
    return rows


def primary_row(result):
    [row] = [r for r in result.results if r.metric == "conv"]
    return row


def test_ship():
    exp = make_exp(metrics={"primary": CONV.model_dump()})
    r = compute_results(exp, aggregates(sums_frame(one_cell((20000, 2000), (20000, 2300)))))
    row = primary_row(r)
    assert row.decision == "ship"
    assert row.significant
    assert row.reason.startswith("significantly better: conv +15.0%")


def test_rollback():
    exp = make_exp(metrics={"primary": CONV.model_dump()})
    r = compute_results(exp, aggregates(sums_frame(one_cell((20000, 2000), (20000, 1700)))))
    row = primary_row(r)
    assert row.decision == "rollback"
    assert "significantly worse" in row.reason


def test_rollback_respects_direction():
    """A 'decrease' metric going down is good; going up is a rollback."""
    down = compare(ProportionStats(20000, 2000), ProportionStats(20000, 1600))
    up = compare(ProportionStats(20000, 2000), ProportionStats(20000, 2400))
    m = Metric(key="churn", kind="binary", event="churn", direction="decrease")
    assert decide(down, m, role="secondary", settings=SETTINGS).decision == "ship"
    assert decide(up, m, role="secondary", settings=SETTINGS).decision == "rollback"


def test_keep_running_says_how_many_units():
    exp = make_exp(metrics={"primary": CONV.model_dump()})
    r = compute_results(exp, aggregates(sums_frame(one_cell((2000, 200), (2000, 210)))))
    row = primary_row(r)
    need = sample_size_per_arm(baseline=0.1, mde=0.1, alpha=0.05, power=0.8)
    assert row.decision == "keep_running"
    assert row.more_units == need - 2000
    assert f"{need - 2000:,} more units per arm" in row.reason
    assert f"{need:,} per arm" in row.reason


def test_no_effect_when_powered_and_ci_inside_mde():
    exp = make_exp(metrics={"primary": CONV.model_dump()})
    r = compute_results(exp, aggregates(sums_frame(one_cell((60000, 6000), (60000, 6010)))))
    row = primary_row(r)
    c = row.comparison
    assert c.rel_ci_low > -0.1 and c.rel_ci_high < 0.1
    assert row.decision == "no_effect"
    assert "rules out a 10% effect" in row.reason


def test_powered_but_ci_includes_mde_keeps_running():
    """Above the planned size but the CI still reaches the MDE: keep running, with a number."""
    c = compare(ProportionStats(16000, 1600), ProportionStats(16000, 1680))  # +5%, CI ~[-2%, 12%]
    v = decide(c, CONV, role="primary", settings=SETTINGS)
    assert c.rel_ci_high > 0.1 and not c.significant
    assert v.decision == "keep_running"
    assert v.more_units is not None and v.more_units > 0
    assert "inconclusive" in v.reason


def test_investigate_on_srm():
    exp = make_exp(metrics={"primary": CONV.model_dump()})
    sums = sums_frame(one_cell((20000, 2000), (20000, 2300)))
    expo = pd.DataFrame(
        {"segment": "young", "stage": "awareness", "variant": ["a", "b"], "n": [20000, 18000]}
    )
    r = compute_results(exp, aggregates(sums, exposures=expo))
    row = primary_row(r)
    assert row.decision == "investigate"
    assert row.reason.startswith("sample ratio mismatch")
    [srm] = r.srm
    assert srm["flagged"] and srm["observed"] == [20000, 18000]
    assert math.isclose(srm["p_value"], srm_test([20000, 18000], [0.5, 0.5]).p_value)


def test_investigate_on_guardrail_harm():
    exp = make_exp()
    rows = one_cell((20000, 2000), (20000, 2400), unsub=((20000, 100), (20000, 160)))
    r = compute_results(exp, aggregates(sums_frame(rows)))
    row = primary_row(r)
    [guard] = [x for x in r.results if x.metric == "unsub"]
    assert guard.decision == "investigate"
    assert guard.reason.startswith("guardrail harmed: unsub +60.0%")
    assert row.decision == "investigate"
    assert "conv wins (+20.0%) but a guardrail is harmed: unsub +60.0%" in row.reason


def test_guardrail_improving_is_not_harm():
    better = compare(ProportionStats(20000, 160), ProportionStats(20000, 100))
    assert not guardrail_harmed(better, UNSUB)
    assert guardrail_harmed(
        compare(ProportionStats(20000, 100), ProportionStats(20000, 160)), UNSUB
    )


def test_too_little_data_keeps_running():
    c = compare(ProportionStats(1, 0), ProportionStats(1, 1))
    v = decide(c, CONV, role="primary", settings=SETTINGS)
    assert v.decision == "keep_running"
    assert "too few units" in v.reason


def test_undefined_roi_asks_to_investigate():
    exp = make_exp(
        metrics={
            "primary": {"key": "roi", "kind": "ratio", "event": "revenue",
                        "cost_per_unit": {"a": 0.0, "b": 1.0}},
        }
    )  # fmt: skip
    rows = [
        {"segment": "young", "stage": "awareness", "variant": "a", "metric": "roi", "n": 100,
         "sum": 50.0, "sum_sq": 60.0},
        {"segment": "young", "stage": "awareness", "variant": "b", "metric": "roi", "n": 100,
         "sum": 50.0, "sum_sq": 60.0, "den_sum": 100.0, "den_sum_sq": 100.0, "cross_sum": 50.0},
    ]  # fmt: skip
    r = compute_results(exp, aggregates(sums_frame(rows)))
    [row] = r.results
    assert row.decision == "investigate"
    assert "undefined for the control" in row.reason
    assert row.to_dict()["rel_lift"] is None and row.to_dict()["significant"] is False


def test_nan_p_value_is_never_significant(exp):
    c = compare(MeanStats(5, 5.0, 5.0), MeanStats(5, 5.0, 5.0))  # no variance at all
    assert math.isnan(c.p_value) and not c.significant


def test_units_needed_continuous_uses_sample_size_per_arm():
    m = Metric(key="rev", kind="continuous", event="revenue", mde=0.1)
    c = compare(MeanStats.from_moments(500, 10.0, 25.0), MeanStats.from_moments(500, 10.2, 25.0))
    need = units_needed(c, m, SETTINGS, control_std=5.0)
    expected = sample_size_per_arm(baseline=10.0, mde=0.1, kind="continuous", std=5.0)
    assert need == expected


@pytest.mark.parametrize("method", ["bayesian", "sequential"])
def test_other_methods_decide_too(method):
    exp = make_exp(metrics={"primary": CONV.model_dump()}, analysis={"method": method})
    r = compute_results(exp, aggregates(sums_frame(one_cell((20000, 2000), (20000, 2400)))))
    row = primary_row(r)
    assert row.decision == "ship"
    d = row.to_dict()
    if method == "bayesian":
        assert d["chance_to_win"] > 0.99 and "expected_loss" in d
        assert "chance to win" in row.reason
    else:
        assert "chance_to_win" not in d
