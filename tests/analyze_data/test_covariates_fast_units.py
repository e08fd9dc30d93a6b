"""Covariates one row per unit without a capped adjusted metric: ``Σx·y`` from ``segab_uz``.

When no adjusted metric is capped, the one-row-per-unit statements compute every
covariate sum, ``Σx·y`` included, from the per-unit covariate rows (each uncapped
adjusted metric's value at every stage is aggregated there too), and the outcomes'
per-(unit, cell) rows join nothing. The units' cells are grouped as one packed key
(``kc``) when it fits 62 bits, else as the (unit, cell) keys. Oracle: the generic
route, on messy logs (overlapping windows, multi-variant units, NULL values, events
before, between and after the stages' exposures, unknown units).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

import segab.sums._fast.unit_pivot as unit_pivot
from segab.sums._fast.pre_exposure import cell_radix, packed_cells
from segab.sums.aggregate import aggregate_event_log
from tests.analyze_data.test_fast_path import (
    STAGES,
    PivotSpy,
    assert_same_metrics,
    fast_only,
    metric_log,
)

ADJUSTED = ["conv", "rev", "email_rev"]


def uncapped_exp(exp_factory, **analysis):
    """Adjusted metrics, binary and continuous, one with an event filter; a retention
    metric whose window reaches past the attribution window (so the join reads a wider
    window and the others keep 7 days, as in ``bench_caps.py --set issue17``); a capped
    metric without covariates; a plain one."""
    metrics = {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase",
                    "covariates": ["click"]},
        "secondary": [
            {"key": "rev", "kind": "continuous", "event": "revenue",
             "covariates": ["revenue", "page_view"]},
            {"key": "email_rev", "kind": "continuous", "event": "revenue",
             "where": {"channel": "email"}, "covariates": ["click", "revenue"]},
            {"key": "d7_9", "kind": "binary", "event": "click",
             "window": {"start": "7d", "end": "9d"}},
            {"key": "rev_p", "kind": "continuous", "event": "revenue",
             "cap": {"percentile": 0.9}},
            {"key": "clicks", "kind": "continuous", "event": "click"},
        ],
    }  # fmt: skip
    return exp_factory(stages=STAGES, metrics=metrics,
                       analysis={"attribution_window": "7d", **analysis})  # fmt: skip


def assert_cross_products(agg) -> None:
    """Each adjusted metric has non-zero ``Σx·y`` somewhere (the logs exercise it)."""
    for key in ADJUSTED:
        rows = agg.sums[agg.sums["metric"] == key]
        assert (rows["xy_sum_0"] != 0).any() and (rows["x_sum_0"] > 0).any(), key


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("now", [None, dt.datetime(2024, 1, 14, tzinfo=dt.UTC)])
def test_uncapped_covariates_one_row_per_unit(packed, now, exp_factory, monkeypatch):
    exp = uncapped_exp(exp_factory)
    x, ev = metric_log(51)
    slow = aggregate_event_log(exp, x, ev, route="generic", now=now)
    assert_cross_products(slow)
    if not packed:  # as when the packed key could overflow: the (unit, cell) keys
        monkeypatch.setattr(unit_pivot, "cell_radix", lambda *args: None)
    spy = PivotSpy(monkeypatch)
    fast = fast_only(monkeypatch, exp, x, ev, now=now)
    assert (spy.pivoted, spy.complex) == (1, 0)
    assert_same_metrics(fast, slow)


def test_a_unit_between_two_stages_has_its_outcome_and_covariates_per_stage(
    exp_factory, monkeypatch
):
    """Oracle by hand: u1's revenue 7 falls after its awareness exposure and before its
    consideration one: y = 7 at awareness (z = 0), y = 0 at consideration (z = 7);
    its 3 before both counts in both z. u2 saw two variants at consideration (no cell
    there), u3 has no event."""
    exp = uncapped_exp(exp_factory)
    day = dt.timedelta(days=1)
    base = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    import pandas as pd

    x = pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u2", "u2", "u3"], "experiment": "exp", "iteration": 1,
        "segment": "young",
        "stage": ["awareness", "consideration", "awareness", "consideration", "consideration",
                  "awareness"],
        "variant": ["a", "a", "a", "a", "b", "a"],
        "timestamp": [base, base + 9 * day, base, base + day, base + 2 * day, base],
        "in_experiment": True,
    })  # fmt: skip
    ev = pd.DataFrame({
        "user_id": ["u1", "u1", "u2"], "event": ["revenue", "revenue", "revenue"],
        "value": [3.0, 7.0, 5.0], "timestamp": [base - day, base + day, base + 3 * day],
        "channel": "web",
    })  # fmt: skip
    fast = fast_only(monkeypatch, exp, x, ev)
    assert_same_metrics(fast, aggregate_event_log(exp, x, ev, route="generic"))
    rev = fast.sums[(fast.sums["metric"] == "rev") & (fast.sums["variant"] == "a")]
    aware = rev[rev["stage"] == "awareness"].iloc[0]  # u1 (y 7, z 3), u2 (y 5, z 0), u3
    assert (aware["n"], aware["sum"], aware["x_sum_0"], aware["xy_sum_0"]) == (3, 12.0, 3.0, 21.0)
    consider = rev[rev["stage"] == "consideration"].iloc[0]  # u1 alone (y 0, z 10)
    assert (consider["n"], consider["sum"], consider["x_sum_0"]) == (1, 0.0, 10.0)
    assert (consider["xy_sum_0"], consider["xx_sum_0_0"]) == (0.0, 100.0)


def test_the_packed_key_decodes_to_each_stages_cell():
    """``kc`` (:func:`packed_cells`) read back as :func:`unit_covariate_sums_sql` reads
    it: the row, and per stage the one-variant cell or none (two variants, no exposure)."""
    groups, stages = 6, 3
    radix = cell_radix(groups, stages, 1000)
    assert radix == groups + 1
    rows = [(0, 5, 5, None, None, 2, 3), (1, None, None, 0, 0, 4, 4), (2, 1, 1, 2, 3, 0, 0)]
    con = duckdb.connect()
    con.execute("CREATE TABLE u (i INTEGER, a0 INTEGER, b0 INTEGER, a1 INTEGER, b1 INTEGER, "
                "a2 INTEGER, b2 INTEGER)")  # fmt: skip
    con.executemany("INSERT INTO u VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    kc = packed_cells(radix, stages)
    got = con.execute(
        f"SELECT rowid, kc // {radix**stages}, "
        + ", ".join(f"(kc // {radix**c}) % {radix} - 1" for c in range(stages))
        + f" FROM (SELECT rowid, {kc} AS kc FROM u) ORDER BY rowid"
    ).fetchall()
    assert got == [(0, 0, 5, -1, -1), (1, 1, -1, 0, 4), (2, 2, 1, -1, 0)]
    assert cell_radix(63, 8, 2_000_000) is None  # 64^8 * 2M rows: past 62 bits
