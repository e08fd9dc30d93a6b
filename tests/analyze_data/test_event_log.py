"""Hand-computed sums for every metric kind on a tiny event log (see conftest.py).

Cell (young, awareness): a = {u1, u2}, b = {u3, u4}; cell (young, purchase): b = {u5}.
Within the 7-day window:
- u1: purchase; revenue 10 + 5 = 15; 2 clicks.     u2: 1 click.
- u3: purchase; revenue 20; 3 clicks.               u4: nothing.
- u5: purchase; revenue 7; no click.
"""

from __future__ import annotations

import pandas as pd
import pytest

from segab.errors import DataError
from segab.sums.aggregate import SUM_COLUMNS, aggregate_event_log, window_seconds
from segab.sums.specs import EventLogColumns

# (stage, variant, metric) -> n, sum, sum_sq, den_sum, den_sum_sq, cross_sum
EXPECTED = {
    ("awareness", "a", "conv"): (2, 1, 1, 0, 0, 0),
    ("awareness", "a", "rev"): (2, 15, 15**2, 0, 0, 0),
    # y = (15, 0), d = (2, 1): Σd = 3, Σd² = 5, Σyd = 30
    ("awareness", "a", "rpc"): (2, 15, 225, 3, 5, 30),
    # ROI: den = cost 0.5 per unit: Σd = 2·0.5, Σd² = 2·0.25, Σyd = 15·0.5
    ("awareness", "a", "roi"): (2, 15, 225, 1.0, 0.5, 7.5),
    ("awareness", "b", "conv"): (2, 1, 1, 0, 0, 0),
    ("awareness", "b", "rev"): (2, 20, 400, 0, 0, 0),
    # y = (20, 0), d = (3, 0)
    ("awareness", "b", "rpc"): (2, 20, 400, 3, 9, 60),
    ("awareness", "b", "roi"): (2, 20, 400, 4.0, 8.0, 40.0),
    ("purchase", "b", "conv"): (1, 1, 1, 0, 0, 0),
    ("purchase", "b", "rev"): (1, 7, 49, 0, 0, 0),
    ("purchase", "b", "rpc"): (1, 7, 49, 0, 0, 0),
    ("purchase", "b", "roi"): (1, 7, 49, 2.0, 4.0, 14.0),
}


def assert_sums(sums: pd.DataFrame, expected: dict) -> None:
    got = as_dict(sums)
    assert sorted(got) == sorted(expected)
    for key, values in expected.items():
        assert got[key] == pytest.approx(values), key


def as_dict(sums: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, ...]]:
    out = {}
    for row in sums.itertuples(index=False):
        assert row.segment == "young"
        out[(row.stage, row.variant, row.metric)] = tuple(getattr(row, c) for c in SUM_COLUMNS)
    return out


def test_every_metric_kind_by_hand(exp, exposures, events):
    agg = aggregate_event_log(exp, exposures, events)
    assert_sums(agg.sums, EXPECTED)
    assert list(agg.sums.columns) == [
        "segment",
        "stage",
        "variant",
        "metric",
        *SUM_COLUMNS,
    ]
    assert agg.sums["n"].dtype == "int64" and agg.sums["sum"].dtype == "float64"
    assert agg.exposures.to_dict("list") == {
        "segment": ["young"] * 3,
        "stage": ["awareness", "awareness", "purchase"],
        "variant": ["a", "b", "b"],
        "n": [2, 2, 1],
    }
    assert agg.dimensions == ()
    assert all(v == 0 for v in agg.data_quality.values()), agg.data_quality


def test_metric_order_follows_the_config(exp, exposures, events):
    agg = aggregate_event_log(exp, exposures, events)
    assert agg.sums["metric"].tolist()[:4] == ["conv", "rev", "rpc", "roi"]


def test_window_bounds_are_half_open(exp, exposures, events):
    # t0 = 2024-01-01 00:00; an event exactly 7 days later is outside, 1 s before is inside
    extra = pd.DataFrame(
        [("u4", "revenue", 3.0, "2024-01-07 23:59:59"), ("u4", "revenue", 100.0, "2024-01-08")],
        columns=events.columns,
    )
    agg = aggregate_event_log(exp, exposures, pd.concat([events, extra]))
    got = as_dict(agg.sums)
    assert got[("awareness", "b", "rev")][1] == pytest.approx(23.0)
    assert agg.data_quality["events_outside_window"] == 1


def test_without_window_every_later_event_counts(exp_factory, exposures, events):
    exp = exp_factory(analysis={})
    late = pd.DataFrame([("u4", "purchase", None, "2025-06-01")], columns=events.columns)
    agg = aggregate_event_log(exp, exposures, pd.concat([events, late]))
    assert as_dict(agg.sums)[("awareness", "b", "conv")][1] == 2


def test_funnel_counts_units_reaching_the_next_stage_later(exp, exposures, events):
    more = pd.concat(
        [
            exposures,
            pd.DataFrame(
                [
                    ("u1", "exp", 1, "young", "purchase", "a", "2024-01-10", True),
                    ("u3", "exp", 1, "rest", "purchase", "b", "2023-12-01", True),  # earlier
                ],
                columns=exposures.columns,
            ),
        ]
    )
    agg = aggregate_event_log(exp, more, events)
    f = agg.funnel.set_index(["segment", "variant", "stage"])
    assert f.loc[
        ("young", "a", "awareness"), ["next_stage", "n_exposed", "n_reached"]
    ].tolist() == [
        "purchase",
        2,
        1,
    ]
    assert f.loc[("young", "b", "awareness"), ["n_exposed", "n_reached"]].tolist() == [2, 0]
    assert set(agg.funnel["stage"]) == {"awareness"}


def test_now_caps_exposures_and_events(exp, exposures, events):
    import datetime as dt

    agg = aggregate_event_log(exp, exposures, events, now=dt.datetime(2024, 1, 2, 12))
    got = as_dict(agg.sums)
    assert ("purchase", "b", "conv") not in got  # u5 was exposed after now
    assert got[("awareness", "a", "rev")][1] == 10.0  # the revenue of Jan 3 is after now
    assert agg.data_quality["exposures_after_now"] == 1


def test_window_parsing():
    assert window_seconds("30d") == 30 * 86400
    assert window_seconds("2w") == 14 * 86400
    with pytest.raises(DataError):
        window_seconds("7 days")


def test_value_metrics_need_a_value_column(exp, exposures, events):
    from segab.errors import MissingColumnError

    with pytest.raises(MissingColumnError, match="value"):
        aggregate_event_log(exp, exposures, events.drop(columns="value"))


def test_binary_only_experiment_needs_no_value_column(exp_factory, exposures, events):
    exp = exp_factory(metrics={"primary": {"key": "conv", "kind": "binary", "event": "purchase"}})
    agg = aggregate_event_log(exp, exposures, events.drop(columns="value"))
    assert agg.sums["sum"].tolist() == [1.0, 1.0, 1.0]


def test_column_names_are_mappable(exp, exposures, events):
    ev = events.rename(
        columns={"user_id": "uid", "event": "name", "value": "amount", "timestamp": "ts"}
    )
    x = exposures.rename(columns={"user_id": "unit_id", "timestamp": "exposed_at"})
    agg = aggregate_event_log(
        exp,
        x,
        ev,
        columns=EventLogColumns(
            unit="uid",
            event="name",
            value="amount",
            timestamp="ts",
            exposure_timestamp="exposed_at",
        ),
    )
    assert_sums(agg.sums, EXPECTED)


def test_a_unit_named_unit_id_reads_csv_files(exp_factory, exposures, events, tmp_path):
    """The config's unit is also a default id name: each text column is named once to
    DuckDB's CSV reader (it rejected ``unit_id`` twice with a Binder error)."""
    exp = exp_factory(unit="unit_id")
    x, ev = tmp_path / "x.csv", tmp_path / "e.csv"
    exposures.rename(columns={"user_id": "unit_id"}).to_csv(x, index=False)
    events.rename(columns={"user_id": "unit_id"}).to_csv(ev, index=False)
    assert_sums(aggregate_event_log(exp, str(x), str(ev)).sums, EXPECTED)
