"""Each data-quality counter on a fixture built to trigger exactly it (and nothing else)."""

from __future__ import annotations

import pandas as pd
import pytest

from segab.sums.aggregate import DATA_QUALITY_KEYS, aggregate_event_log


def add(df: pd.DataFrame, *rows: tuple) -> pd.DataFrame:
    return pd.concat([df, pd.DataFrame(list(rows), columns=df.columns)], ignore_index=True)


def x_row(unit, variant="a", ts="2024-01-01", experiment="exp", iteration=1, inside=True):
    return (unit, experiment, iteration, "young", "awareness", variant, ts, inside)


CASES = {
    # u2 also saw b in the same cell: excluded, counted once
    "multi_variant_units": (lambda x: add(x, x_row("u2", "b")), None, 1),
    # u1 logged twice with the same variant: de-duplicated, the first time kept
    "duplicate_exposures": (lambda x: add(x, x_row("u1", ts="2024-01-01 05:00")), None, 1),
    "events_before_exposure": (None, lambda e: add(e, ("u4", "purchase", None, "2023-12-31")), 1),
    "events_unknown_units": (None, lambda e: add(e, ("u99", "purchase", None, "2024-01-02")), 1),
    "events_outside_window": (None, lambda e: add(e, ("u4", "purchase", None, "2024-01-20")), 1),
    "empty_ids": (lambda x: add(x, x_row(""), x_row(None)), None, 2),
    "missing_outcomes": (None, lambda e: add(e, ("u2", "revenue", None, "2024-01-02")), 1),
    "exposures_other_experiment": (
        lambda x: add(x, x_row("u9", experiment="other"), x_row("u8", iteration=2)),
        None,
        2,
    ),
    "exposures_not_in_experiment": (lambda x: add(x, x_row("u7", inside=False)), None, 1),
}


@pytest.mark.parametrize("counter", sorted(CASES))
def test_counter_triggered_alone(counter, exp, exposures, events):
    change_x, change_e, expected = CASES[counter]
    x = change_x(exposures) if change_x else exposures
    e = change_e(events) if change_e else events
    agg = aggregate_event_log(exp, x, e)
    others = {k: v for k, v in agg.data_quality.items() if k != counter}
    assert agg.data_quality[counter] == expected
    assert all(v == 0 for v in others.values()), others


def test_empty_event_ids_are_dropped_and_counted(exp, exposures, events):
    e = add(events, (None, "purchase", None, "2024-01-02"), ("", "purchase", None, "2024-01-02"))
    agg = aggregate_event_log(exp, exposures, e)
    assert agg.data_quality["empty_ids"] == 2


def test_nan_ids_in_a_float_column_are_dropped(exp, exposures, events):
    x = exposures.assign(user_id=[1.0, 2.0, 3.0, 4.0, float("nan")])
    e = events.assign(user_id=events["user_id"].str[1:].astype(int))
    agg = aggregate_event_log(exp, x, e)
    assert agg.data_quality["empty_ids"] == 1
    # u5's events are now of an unknown unit
    assert agg.data_quality["events_unknown_units"] == 2
    assert agg.sums.query("variant == 'a' and metric == 'rev'")["sum"].item() == 15.0


def test_excluded_and_deduplicated_units_leave_the_sums(exp, exposures, events):
    x = add(exposures, x_row("u2", "b"), x_row("u1", ts="2024-01-01 05:00"))
    agg = aggregate_event_log(exp, x, events)
    n = agg.exposures.set_index(["stage", "variant"])["n"]
    assert n[("awareness", "a")] == 1 and n[("awareness", "b")] == 2


def test_an_event_is_counted_once_per_reason_not_per_cell(exp, exposures, events):
    # u1 is exposed at two stages; an event before both counts once
    x = add(exposures, ("u1", "exp", 1, "young", "purchase", "a", "2024-01-03", True))
    e = add(events, ("u1", "purchase", None, "2023-06-01"))
    agg = aggregate_event_log(exp, x, e)
    assert agg.data_quality["events_before_exposure"] == 1
    # an event in the awareness window but before the purchase exposure is not "before"
    assert agg.data_quality["events_outside_window"] == 0


def test_keys_are_stable(exp, exposures, events):
    agg = aggregate_event_log(exp, exposures, events)
    assert tuple(agg.data_quality) == DATA_QUALITY_KEYS
