"""compute_results on hand-written per-period sums of a three-arm bandit cell: the period weights
are each period's units over all three arms (GrowthBook's weight by period), checked against
``stats.adaptive.period_stratified`` with those weights written out by hand; a ratio metric
(no stratified estimate) is decided on the uniform slice (``stats.compare`` of the slice sums)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.analysis.compute import compute_results
from segab.config import parse_experiment
from segab.stats import RatioStats, compare
from segab.stats.adaptive import period_stratified
from segab.stats.sufficient import ProportionStats as P
from segab.sums.result import Aggregates

EXP = parse_experiment({
    "key": "e", "unit": "id", "stages": ["buy"],
    "cells": [{"variants": [{"key": k, "weight": 1} for k in "abc"], "control": "a"}],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"},
                "secondary": [{"key": "rpc", "kind": "ratio", "event": "rev",
                               "denominator_event": "click"}]},
})  # fmt: skip
CELL = [CellAllocation("all", "buy", tuple("abc"), (300, 300, 400), ad) for ad in
        [(3000, 3000, 3000), (6000, 2000, 1000)]]  # fmt: skip
PERIODS = [AllocationPeriod("e", 1, n, dt.datetime(2026, 1, 1 + 7 * n), (c,)) for n, c in
           enumerate(CELL)]  # fmt: skip
# (variant, period, in_slice): units, conversions; ratio sums (num, num², den, den², cross)
UNITS = {
    ("a", 0, True): (100, 10), ("a", 0, False): (900, 95), ("a", 1, True): (100, 20),
    ("a", 1, False): (1800, 370), ("b", 0, True): (100, 12), ("b", 0, False): (900, 110),
    ("b", 1, True): (100, 23), ("b", 1, False): (600, 140), ("c", 0, True): (130, 14),
    ("c", 0, False): (870, 90), ("c", 1, True): (130, 30), ("c", 1, False): (270, 60),
}  # fmt: skip


def aggregates() -> Aggregates:
    rows = []
    for (v, t, s), (n, x) in UNITS.items():
        rows.append(("conv", v, t, s, n, float(x), float(x), 0.0, 0.0, 0.0))
        rows.append(("rpc", v, t, s, n, 3.0 * x, 11.0 * x, 2.0 * n, 5.0 * n, 6.0 * x))
    cols = ["metric", "variant", "period", "in_slice", "n", "sum", "sum_sq", "den_sum",
            "den_sum_sq", "cross_sum"]  # fmt: skip
    periods = pd.DataFrame(rows, columns=cols).assign(segment="all", stage="buy")
    keys = ["segment", "stage", "variant", "metric"]
    sums = periods.groupby(keys, as_index=False)[cols[4:]].sum()
    expo = sums[sums["metric"] == "conv"][["segment", "stage", "variant", "n"]]
    return Aggregates(sums, expo.reset_index(drop=True), pd.DataFrame(), {}, (), periods=periods)


def arm(v: str, t: int) -> P:
    n1, x1 = UNITS[(v, t, True)]
    n2, x2 = UNITS[(v, t, False)]
    return P(n1 + n2, x1 + x2)


def test_three_arms_weights_over_all_arms() -> None:
    r = compute_results(EXP, aggregates(), periods=PERIODS)
    c = next(x for x in r.results if x.variant == "c" and x.metric == "conv")
    # period 0: 1000 + 1000 + 1000 units; period 1: 1900 + 700 + 400 units
    want = period_stratified([arm("a", 0), arm("a", 1)], [arm("c", 0), arm("c", 1)],
                             weights=[3000, 3000])  # fmt: skip
    assert c.adaptive is not None and c.adaptive.estimate_used == "period_stratified"
    assert c.comparison.abs_lift == pytest.approx(want.estimate, rel=1e-12)
    assert c.comparison.p_value == pytest.approx(want.p_value, rel=1e-12)
    assert c.to_dict()["period_weights"] == [0.5, 0.5]
    slice_ = compare(P(200, 30), P(260, 44))
    assert c.to_dict()["slice_abs_lift"] == pytest.approx(slice_.abs_lift, rel=1e-12)
    naive = compare(P(2900, 495), P(1400, 194))
    assert c.to_dict()["naive_abs_lift"] == pytest.approx(naive.abs_lift, rel=1e-12)
    srm = r.srm[0]
    assert srm["part"] == "uniform_slice" and srm["observed"] == [200, 200, 260]
    assert srm["weights"] == pytest.approx([0.3, 0.3, 0.4])


def test_ratio_metric_decided_on_the_uniform_slice() -> None:
    r = compute_results(EXP, aggregates(), periods=PERIODS)
    row = next(x for x in r.results if x.variant == "b" and x.metric == "rpc")
    assert row.adaptive is not None and row.adaptive.estimate_used == "uniform_slice"
    assert "a ratio metric" in row.adaptive.estimate_note
    ctrl = RatioStats(200, 90.0, 330.0, 400.0, 1000.0, 180.0)
    var = RatioStats(200, 105.0, 385.0, 400.0, 1000.0, 210.0)
    want = compare(ctrl, var)
    assert row.comparison.abs_lift == pytest.approx(want.abs_lift, rel=1e-12)
    assert row.comparison.p_value == pytest.approx(want.p_value, rel=1e-12)
