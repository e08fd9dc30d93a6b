"""DuckDB's fast path gives exactly what the generic text-keyed generic route gives.

Oracle: the generic route of :mod:`segab.sums.statements` (the one SQLite and
PostgreSQL run), itself checked by hand in test_event_log.py and test_quality.py.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import segab.sums._fast.hashed as hashed
import segab.sums._fast.partition as partition
from segab.sums._fast.fallback import FastPathUnavailableError
from segab.sums.aggregate import aggregate_event_log
from segab.sums.sources import open_engine

STAGES = ["awareness", "consideration", "purchase"]
EVENTS = ["purchase", "revenue", "click", "page_view"]


def random_log(
    seed: int, n_units: int = 300, switchers: float = 1.0, undeclared: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Messy logs: duplicates, multi-variant units, empty/NaN ids, other experiments,
    undeclared stages, overlapping windows, events before/after/unknown, NULL values.

    ``switchers``: the share of exposure rows whose segment is drawn at random (a
    unit then shows two segments at one stage); the others take the unit's own.
    ``undeclared``: about 5% of the rows are at a stage the config does not declare."""
    rng = np.random.default_rng(seed)
    units = [f"u{i}" for i in range(n_units)] + ["", " ", "nan", None]
    rows = []
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for _ in range(n_units * 3):
        u = units[rng.integers(len(units))]
        stage = ([*STAGES, "legacy_stage"])[rng.choice(4, p=[0.4, 0.3, 0.25, 0.05])]
        if not undeclared and stage == "legacy_stage":
            stage = STAGES[0]
        rows.append(
            {
                "user_id": u,
                "experiment": "exp" if rng.random() > 0.03 else "other",
                "iteration": 1,
                "segment": ["young", "rest"][
                    rng.integers(2) if rng.random() < switchers else len(str(u)) % 2
                ],
                "stage": stage,
                "variant": ["a", "b"][rng.integers(2)],
                "timestamp": base + dt.timedelta(hours=float(rng.uniform(0, 24 * 20))),
                "in_experiment": bool(rng.random() > 0.02),
                "channel": ["web", "app", None][rng.integers(3)],
            }
        )
    x = pd.DataFrame(rows)
    ev_rows = []
    for _ in range(n_units * 6):
        u = units[rng.integers(len(units))] if rng.random() > 0.05 else f"ghost{rng.integers(9)}"
        name = EVENTS[rng.integers(len(EVENTS))]
        value = None if rng.random() < 0.05 else float(rng.gamma(1.0, 10.0))
        ev_rows.append(
            {
                "user_id": u,
                "event": name,
                "value": value,
                "timestamp": base + dt.timedelta(hours=float(rng.uniform(-24, 24 * 30))),
            }
        )
    return x, pd.DataFrame(ev_rows)


class PivotSpy:
    """Records what each partition's one-row-per-unit attempt returned."""

    def __init__(self, monkeypatch) -> None:
        self.results: list[object] = []
        real = partition.run_pivot

        def spy(*args, **kwargs):
            result = real(*args, **kwargs)
            self.results.append(result)
            return result

        monkeypatch.setattr(partition, "run_pivot", spy)

    @property
    def pivoted(self) -> int:
        return sum(isinstance(r, tuple) for r in self.results)

    @property
    def complex(self) -> int:
        return sum(r is None for r in self.results)  # None: two segments at one stage


def _both(exp, x, ev, **kwargs):
    fast = aggregate_event_log(exp, x, ev, **kwargs)
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    return fast, slow


def assert_same(fast, slow) -> None:
    pd.testing.assert_frame_equal(fast.sums, slow.sums, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(fast.exposures, slow.exposures, check_dtype=False)
    pd.testing.assert_frame_equal(fast.funnel, slow.funnel, check_dtype=False)
    assert fast.data_quality == slow.data_quality


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hashed_plan_equals_generic_plan(seed, exp_factory, monkeypatch):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(seed)
    spy = PivotSpy(monkeypatch)
    fast, slow = _both(exp, x, ev)
    assert spy.complex == 1 and spy.pivoted == 0  # units switch segments: one row per cell
    assert fast.data_quality["events_outside_window"] > 0
    assert fast.data_quality["multi_variant_units"] > 0
    assert_same(fast, slow)


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_one_row_per_unit_equals_generic_plan(seed, exp_factory, monkeypatch):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(seed, switchers=0.0)
    spy = PivotSpy(monkeypatch)
    fast, slow = _both(exp, x, ev)
    assert spy.pivoted == 1
    dq = fast.data_quality
    assert dq["events_outside_window"] and dq["events_before_exposure"]
    assert dq["events_unknown_units"] and dq["multi_variant_units"] and dq["duplicate_exposures"]
    assert_same(fast, slow)
    assert_same(aggregate_event_log(exp, x, ev, route="cells"), slow)


def test_an_event_in_two_cells_windows_counts_in_both(exp_factory, monkeypatch):
    exp = exp_factory(stages=STAGES)
    x = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "segment": "young",
            "stage": ["awareness", "consideration", "awareness"],
            "variant": ["a", "a", "b"],
            "timestamp": ["2024-01-01", "2024-01-02", "2024-01-01"],
        }
    )
    ev = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "event": ["purchase", "purchase"],
            "value": [1.0, 1.0],
            "timestamp": ["2024-01-03", "2024-01-03"],
        }
    )
    spy = PivotSpy(monkeypatch)
    fast, slow = _both(exp, x, ev)
    assert spy.pivoted == 1
    conv = fast.sums[fast.sums["metric"] == fast.sums["metric"].iloc[0]]
    assert conv["sum"].sum() == 3  # u1 in awareness and in consideration, u2 once
    assert_same(fast, slow)


def test_partitions_mix_one_row_per_unit_and_per_cell(monkeypatch, exp_factory):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(12, n_units=400, switchers=0.004)
    whole = aggregate_event_log(exp, x, ev, route="generic")
    spy = PivotSpy(monkeypatch)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # ~12 parts
    parts = aggregate_event_log(exp, x, ev)
    assert spy.pivoted > 0 and spy.complex > 0
    assert_same(parts, whole)


def test_hashed_plan_with_breakdown_now_and_no_window(exp_factory):
    exp = exp_factory(stages=STAGES, analysis={})
    x, ev = random_log(7)
    now = dt.datetime(2024, 1, 15, tzinfo=dt.UTC)
    fast, slow = _both(exp, x, ev, by=["channel"], now=now)
    assert fast.data_quality["exposures_after_now"] > 0
    assert_same(fast, slow)


def test_partitions_add_up(monkeypatch, exp_factory):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(11)
    whole = aggregate_event_log(exp, x, ev)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # ~9 parts
    parts = aggregate_event_log(exp, x, ev)
    assert_same(parts, whole)


def test_a_unit_hash_collision_falls_back_to_the_generic_plan(monkeypatch, exp_factory):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(5)
    # a first hash with 3 values: every unit collides; the second hash notices
    monkeypatch.setattr(partition, "H", "(hash(u) % 3)")
    from segab.sums.sources import Relation

    with open_engine(None) as eng:
        x_rel = eng.relation(x, "exposures", ["user_id", "segment", "stage", "variant"])
        e_rel = eng.relation(ev, "events", ["user_id", "event"])
        from segab.sums.aggregate import _event_specs
        from segab.sums.specs import EventLogSpec

        spec = EventLogSpec(
            "exp", 1, "user_id", "user_id", metrics=tuple(_event_specs(exp)), stages=tuple(STAGES)
        )
        assert isinstance(x_rel, Relation)
        with pytest.raises(FastPathUnavailableError) as caught:
            hashed.run_hashed_event_log(eng, x_rel, e_rel, spec)
        assert caught.value.reason == "hash_collision"
    fast, slow = _both(exp, x, ev)  # the public path still gives the generic results
    assert_same(fast, slow)


def test_an_event_unit_colliding_with_an_exposed_unit_is_noticed(monkeypatch, exp_factory):
    exp = exp_factory(stages=STAGES)
    x = pd.DataFrame(
        {
            "user_id": ["u1"],
            "segment": "young",
            "stage": "awareness",
            "variant": "a",
            "timestamp": ["2024-01-01"],
        }
    )
    ev = pd.DataFrame(
        {"user_id": ["zz"], "event": ["purchase"], "value": [1.0], "timestamp": ["2024-01-02"]}
    )
    monkeypatch.setattr(partition, "H", "CAST(1 AS UBIGINT)")  # every id collides
    fast, slow = _both(exp, x, ev)
    assert fast.data_quality["events_unknown_units"] == 1
    assert_same(fast, slow)


def test_an_unknown_plan_is_a_clear_error(exp_factory):
    from segab.errors import DataError

    x, ev = random_log(1, n_units=5)
    with pytest.raises(DataError, match="route: found 'fast', expected auto, generic or cells"):
        aggregate_event_log(exp_factory(stages=STAGES), x, ev, route="fast")


def test_one_row_per_unit_boundaries(exp_factory, monkeypatch):
    """Ties: an event at the first exposure counts, one at exactly t0 + 7d does not;
    a next-stage exposure at the same instant reaches the next stage."""
    exp = exp_factory(stages=STAGES)
    t0 = "2024-01-01 00:00:00"
    x = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "segment": "young",
            "stage": ["awareness", "consideration", "awareness"],
            "variant": "a",
            "timestamp": [t0, t0, t0],
        }
    )
    ev = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u2"],
            "event": "purchase",
            "value": 1.0,
            "timestamp": [t0, "2024-01-08 00:00:00", "2023-12-31 23:59:59"],
        }
    )
    spy = PivotSpy(monkeypatch)
    fast, slow = _both(exp, x, ev)
    assert spy.pivoted == 1
    dq = fast.data_quality
    assert (dq["events_outside_window"], dq["events_before_exposure"]) == (1, 1)
    reached = fast.funnel[(fast.funnel["stage"] == "awareness")]
    assert reached[["n_exposed", "n_reached"]].sum().tolist() == [2, 1]
    assert_same(fast, slow)


@pytest.mark.parametrize("window", [{}, {"attribution_window": "3d"}])
def test_one_row_per_unit_with_now_and_windows(window, exp_factory, monkeypatch):
    exp = exp_factory(stages=STAGES, analysis=window)
    x, ev = random_log(8, switchers=0.0)
    now = dt.datetime(2024, 1, 12, tzinfo=dt.UTC)
    spy = PivotSpy(monkeypatch)
    fast, slow = _both(exp, x, ev, now=now)
    assert spy.pivoted == 1
    assert fast.data_quality["exposures_after_now"] > 0
    assert_same(fast, slow)


class ScanSpy:
    """Counts the exposure scans for names and the staging passes."""

    def __init__(self, monkeypatch) -> None:
        self.scans = 0
        self.stagings: list[dict[str, int]] = []
        real_scan, real_stage = hashed.codes_query, partition.Partition.stage

        def scan(*args, **kwargs):
            self.scans += 1
            return real_scan(*args, **kwargs)

        def stage(plan, *args, **kwargs):
            self.stagings.append(real_stage(plan, *args, **kwargs))
            return self.stagings[-1]

        monkeypatch.setattr(hashed, "codes_query", scan)
        monkeypatch.setattr(partition.Partition, "stage", stage)


@pytest.mark.parametrize("by", [(), ("channel",)])
@pytest.mark.parametrize("now", [None, dt.datetime(2024, 1, 12, tzinfo=dt.UTC)])
@pytest.mark.parametrize("switchers", [0.0, 1.0])
def test_declared_names_need_no_scan(by, now, switchers, exp_factory, monkeypatch):
    """With several partitions and only declared names, the staging pass codes the
    names from the config and counts the exposure-side data quality itself."""
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(21, switchers=switchers, undeclared=False)
    # no time: dropped with `now`; else kept, and its unit's events are known but
    # attributed to no cell
    x.loc[x.index % 40 == 0, "timestamp"] = pd.NaT
    slow = aggregate_event_log(exp, x, ev, route="generic", now=now, by=by)
    spy = ScanSpy(monkeypatch)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # ~9 parts
    fast = aggregate_event_log(exp, x, ev, now=now, by=by)
    assert spy.scans == 0 and len(spy.stagings) == 1
    staged = spy.stagings[0]
    assert staged["undeclared"] == 0
    assert staged["exposures_other_experiment"] and staged["exposure_empty_ids"]
    assert staged["exposures_not_in_experiment"]
    assert bool(staged["exposures_after_now"]) == (now is not None)
    assert_same(fast, slow)


def test_an_undeclared_name_scans_and_stages_again(exp_factory, monkeypatch):
    """A variant the config does not declare has no code: the fast path scans for the
    names and stages again; the unknown arm is then kept out and counted (issue 16).
    (Undeclared segments and stages are excluded and counted without a scan: issue 15.)"""
    metrics = {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
        "secondary": [{"key": "rev", "kind": "continuous", "event": "revenue"}],
    }
    exp = exp_factory(stages=STAGES, metrics=metrics)
    x, ev = random_log(22, switchers=0.0, undeclared=False)
    x.loc[x.index % 20 == 0, "variant"] = "legacy_variant"
    slow = aggregate_event_log(exp, x, ev, route="generic")
    spy = ScanSpy(monkeypatch)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    fast = aggregate_event_log(exp, x, ev)
    assert spy.scans == 1 and len(spy.stagings) == 2
    assert spy.stagings[0]["undeclared"] > 0 and spy.stagings[1]["undeclared"] == 0
    assert not (fast.exposures["variant"] == "legacy_variant").any()
    assert dict(fast.unknown_arms)["legacy_variant"] == fast.data_quality["unknown_arms"] > 0
    assert_same(fast, slow)


def test_undeclared_stages_are_excluded_and_counted_without_a_scan(exp_factory, monkeypatch):
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(22, switchers=0.0)  # about 5% at "legacy_stage"
    slow = aggregate_event_log(exp, x, ev, route="generic")
    spy = ScanSpy(monkeypatch)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    fast = aggregate_event_log(exp, x, ev)
    assert spy.scans == 0 and len(spy.stagings) == 1
    assert not (fast.exposures["stage"] == "legacy_stage").any()
    assert fast.data_quality["undeclared_exposures"] > 0
    assert_same(fast, slow)
    assert fast.issues == slow.issues


def dirty_log(seed: int, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`random_log` with unusable values and times planted in random rows, and
    exact repeats of some events (issue 15)."""
    x, ev = random_log(seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    ev = pd.concat([ev, ev.sample(20, random_state=seed)], ignore_index=True)  # duplicates
    ev = ev.astype({"value": object, "timestamp": object})
    x = x.astype({"timestamp": object})
    for i in rng.choice(len(ev), 25, replace=False):
        ev.loc[i, "value"] = ["NaN", "inf", "-1e400", "abc", "1,5"][rng.integers(5)]
    for i in rng.choice(len(ev), 10, replace=False):
        ev.loc[i, "timestamp"] = ["garbage", None, "2024-02-30"][rng.integers(3)]
    for i in rng.choice(len(x), 10, replace=False):
        x.loc[i, "timestamp"] = ["garbage", None, "2024-13-01"][rng.integers(3)]
    return x, ev


@pytest.mark.parametrize("seed", [31, 32])
@pytest.mark.parametrize("drop", [False, True])
def test_fast_path_equals_generic_route_on_dirty_data(seed, drop, exp_factory, monkeypatch):
    analysis = {"attribution_window": "7d", "duplicate_events": "drop" if drop else "keep"}
    exp = exp_factory(stages=STAGES, analysis=analysis)
    x, ev = dirty_log(seed, switchers=0.0)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    dq = slow.data_quality
    assert dq["bad_values"] and dq["bad_timestamps"] and dq["undeclared_exposures"]
    assert dq["duplicate_events"] > 0
    for route in ("auto", "cells"):
        fast = aggregate_event_log(exp, x, ev, route=route)
        assert_same(fast, slow)
        assert fast.issues == slow.issues
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # staged
    parts = aggregate_event_log(exp, x, ev)
    assert_same(parts, slow)
    assert parts.issues == slow.issues


@pytest.mark.parametrize("staged", [False, True])
def test_the_duplicate_screen_proves_none_without_the_exact_count(staged, exp_factory, monkeypatch):
    """Clean data: the fingerprint screen says 0 and the exact count never runs; on
    staged partitions too (the screen then sorts each partition's fingerprints)."""
    exp = exp_factory(stages=STAGES)
    x, ev = random_log(33)
    if staged:
        monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    calls = []
    real = hashed.duplicate_events_sql
    monkeypatch.setattr(hashed, "duplicate_events_sql", lambda *a: calls.append(1) or real(*a))
    agg = aggregate_event_log(exp, x, ev)
    assert agg.data_quality["duplicate_events"] == 0 and calls == []
    read = ev["event"].isin(["purchase", "revenue", "click"]) & ev["user_id"].str.match(r"u\d")
    dup = pd.concat([ev, ev[read.fillna(False)].iloc[:3]], ignore_index=True)
    assert aggregate_event_log(exp, x, dup).data_quality["duplicate_events"] == 3
    assert calls == [1]


def test_repeats_is_rows_less_distinct_values():
    """Oracle: len(values) - len(np.unique(values))."""
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 50, 1000):
        values = rng.integers(0, max(1, n // 3), n).astype(np.uint64)
        want = len(values) - len(np.unique(values))
        assert partition.repeats(values) == want


def test_fast_path_equals_generic_route_on_dirty_data_with_breakdown_and_now(
    exp_factory, monkeypatch
):
    exp = exp_factory(stages=STAGES)
    x, ev = dirty_log(34)  # units switch segments: one row per (unit, cell)
    kwargs = {"by": ["channel"], "now": dt.datetime(2024, 1, 12, tzinfo=dt.UTC)}
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    assert slow.data_quality["exposures_after_now"] and slow.data_quality["bad_timestamps"]
    fast = aggregate_event_log(exp, x, ev, **kwargs)
    assert_same(fast, slow)
    assert fast.issues == slow.issues
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    assert_same(aggregate_event_log(exp, x, ev, **kwargs), slow)


# --- issue 17's metrics on the fast path: caps, event filters, retention windows ---


def fast_only(monkeypatch, exp, x, ev, **kwargs):
    """``aggregate_event_log`` on the fast path, failing if the generic route runs."""
    import segab.sums.aggregate as aggregate

    def generic(*args, **kw):
        raise AssertionError("the fast path fell back to the generic statements")

    with monkeypatch.context() as m:
        m.setattr(aggregate, "_generic_event_log", generic)
        return aggregate_event_log(exp, x, ev, **kwargs)


def assert_same_metrics(fast, slow) -> None:
    """:func:`assert_same`, and the caps (value to 1e-12, units capped exactly) and the
    retention metrics' maturity blocks."""
    assert_same(fast, slow)
    assert [c.metric for c in fast.caps] == [c.metric for c in slow.caps]
    for got, want in zip(fast.caps, slow.caps, strict=True):
        assert (got.value is None) == (want.value is None)
        if want.value is not None:
            assert got.value == pytest.approx(want.value, rel=1e-12)
        assert got.units_capped == want.units_capped
    assert fast.maturity == slow.maturity


def metric_log(seed: int, switchers: float = 0.0, negative: bool = False):
    """:func:`random_log` with a ``channel`` property on the events (``negative``: some
    revenue values below zero, so that a percentile cap can fall below zero)."""
    x, ev = random_log(seed, switchers=switchers)
    rng = np.random.default_rng(seed + 7)
    ev["channel"] = np.array(["email", "web", None], dtype=object)[rng.integers(0, 3, len(ev))]
    if negative:
        flip = rng.random(len(ev)) < 0.7
        ev.loc[flip, "value"] = -ev.loc[flip, "value"]
    return x, ev


def metric_exp(exp_factory, percentile: float = 0.9, ignore_zeros: bool = False, **analysis):
    pct = {"percentile": percentile, **({"ignore_zeros": True} if ignore_zeros else {})}
    metrics = {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
        "secondary": [
            {"key": "rev", "kind": "continuous", "event": "revenue"},
            {"key": "rev_p", "kind": "continuous", "event": "revenue", "cap": pct},
            {"key": "rev_abs", "kind": "continuous", "event": "revenue", "cap": {"value": 15.0}},
            {"key": "rpc", "kind": "ratio", "event": "revenue", "denominator_event": "click",
             "cap": {"percentile": 0.8}},
            {"key": "email_rev", "kind": "continuous", "event": "revenue",
             "where": {"channel": "email"}},
            {"key": "email_click", "kind": "binary", "event": "click",
             "where": {"channel": {"$ne": "web"}}},
            {"key": "d1_3", "kind": "binary", "event": "click",
             "window": {"start": "1d", "end": "3d"}},
            {"key": "buy_12d", "kind": "binary", "event": "purchase",
             "window": {"end": "12d"}, "where": {"channel": "web"}},
        ],
    }  # fmt: skip
    return exp_factory(stages=STAGES, metrics=metrics, analysis={"attribution_window": "7d",
                                                                 **analysis})  # fmt: skip


@pytest.mark.parametrize("switchers", [0.0, 1.0])  # one row per unit; per (unit, cell)
@pytest.mark.parametrize("ignore_zeros", [False, True])
def test_caps_filters_and_windows_on_the_fast_path(switchers, ignore_zeros, exp_factory,
                                                   monkeypatch):  # fmt: skip
    exp = metric_exp(exp_factory, 0.9, ignore_zeros)
    x, ev = metric_log(41, switchers)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    assert all(c.value for c in slow.caps) and sum(sum(c.by_arm().values()) for c in slow.caps)
    block = slow.maturity[1]  # buy_12d: windows still open at the data's end
    assert block["n_immature"] > 0 and block["n_mature"] > 0
    spy = PivotSpy(monkeypatch)
    fast = fast_only(monkeypatch, exp, x, ev)
    assert (spy.pivoted, spy.complex) == ((1, 0) if switchers == 0.0 else (0, 1))
    assert_same_metrics(fast, slow)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev, route="cells"), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # staged parts
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev), slow)


@pytest.mark.parametrize("by", [(), ("channel",)])
def test_fast_path_metrics_with_now_breakdowns_and_dirty_data(by, exp_factory, monkeypatch):
    """``now`` fixes the analysis time (more units immature); ``--by`` runs per (unit,
    cell); duplicates dropped (a repeat matches a filter when any copy does); bad rows."""
    exp = metric_exp(exp_factory, 0.5, duplicate_events="drop")
    x, ev = dirty_log(42, switchers=0.0)
    ev["channel"] = np.where(ev.index % 3 == 0, "email", "web")
    ev = pd.concat([ev, ev.iloc[:15].assign(channel="email")], ignore_index=True)  # repeats
    kwargs = {"now": dt.datetime(2024, 1, 12, tzinfo=dt.UTC), "by": list(by)}
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    dq = slow.data_quality
    assert dq["duplicate_events"] and dq["bad_values"] and dq["exposures_after_now"]
    assert slow.maturity[0]["as_of_source"] == "now" and slow.maturity[1]["n_immature"] > 0
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev, **kwargs), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    fast = fast_only(monkeypatch, exp, x, ev, **kwargs)
    assert_same_metrics(fast, slow)
    assert fast.issues == slow.issues


@pytest.mark.parametrize("cap", [{"value": -1.0}, {"percentile": 0.1}])
def test_a_cap_below_zero_lowers_the_zeros_on_the_fast_path(cap, exp_factory, monkeypatch):
    """Most revenue is negative: the cap falls below zero, so a unit without revenue
    (a zero, never staged) is lowered to it and counted as capped."""
    metrics = {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
        "secondary": [
            {"key": "rev", "kind": "continuous", "event": "revenue", "cap": cap},
            {"key": "rev_email", "kind": "continuous", "event": "revenue", "cap": cap,
             "where": {"channel": "email"}},
            {"key": "rpc", "kind": "ratio", "event": "revenue", "denominator_event": "click",
             "cap": cap},
        ],
    }  # fmt: skip
    exp = exp_factory(stages=STAGES, metrics=metrics)
    x, ev = metric_log(43, negative=True)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    assert slow.caps[0].value is not None and slow.caps[0].value < 0
    for route in ("auto", "cells"):
        assert_same_metrics(fast_only(monkeypatch, exp, x, ev, route=route), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev), slow)


def test_fast_path_caps_with_several_breakdowns(exp_factory, monkeypatch):
    """Grouping sets: each breakdown's rows add up; the cap is one value on every row."""
    exp = metric_exp(exp_factory, 0.9)
    x, ev = metric_log(44)
    x["tier"] = np.where(x.index % 3 == 0, "gold", "basic")
    kwargs = {"breakdowns": ["channel", "tier"]}
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    fast = fast_only(monkeypatch, exp, x, ev, **kwargs)
    # a dim outside its row's breakdown is None on one route, NaN on the other (as without
    # these metrics): compared as one missing value
    assert_same_metrics(*(missing_dims_as_none(a) for a in (fast, slow)))


def missing_dims_as_none(agg):
    import dataclasses

    frames = {}
    for name in ("sums", "exposures"):
        df = getattr(agg, name).copy()
        for col in ("channel", "tier"):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        frames[name] = df
    return dataclasses.replace(agg, **frames)


# --- covariates (regression adjustment) on the fast path: pre-exposure event sums ---


def covariate_exp(exp_factory, cap: dict | None = None, **analysis):
    """Adjusted metrics: continuous and binary, one capped (percentile or value), and a
    plain metric beside them (its sums must not change)."""
    cap = cap or {"percentile": 0.9}
    metrics = {
        "primary": {"key": "conv", "kind": "binary", "event": "purchase",
                    "covariates": ["click"]},
        "secondary": [
            {"key": "rev", "kind": "continuous", "event": "revenue",
             "covariates": ["revenue", "page_view"]},
            {"key": "rev_cap", "kind": "continuous", "event": "revenue", "cap": cap,
             "covariates": ["page_view", "revenue"]},
            {"key": "email_rev", "kind": "continuous", "event": "revenue",
             "where": {"channel": "email"}, "covariates": ["click"]},
            {"key": "clicks", "kind": "continuous", "event": "click"},
        ],
    }  # fmt: skip
    return exp_factory(stages=STAGES, metrics=metrics,
                       analysis={"attribution_window": "7d", **analysis})  # fmt: skip


def assert_covariates_nontrivial(agg) -> None:
    """The logs exercise the covariates: non-zero sums and cross-products."""
    adjusted = agg.sums[agg.sums["metric"].isin(["conv", "rev", "rev_cap", "email_rev"])]
    assert (adjusted["x_sum_0"] > 0).any() and (adjusted["xy_sum_0"] != 0).any()
    assert (adjusted[adjusted["metric"] == "rev"]["xx_sum_0_1"] > 0).any()


@pytest.mark.parametrize("switchers", [0.0, 1.0])  # one row per unit; per (unit, cell)
def test_covariates_on_the_fast_path(switchers, exp_factory, monkeypatch):
    """Events before and after each cell's first exposure (an event of a unit can be
    before its stage-2 exposure and after its stage-0 one), units in several cells,
    multi-variant units, NULL values (0 in a covariate), unknown units."""
    exp = covariate_exp(exp_factory)
    x, ev = metric_log(45, switchers)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    assert_covariates_nontrivial(slow)
    assert slow.data_quality["events_before_exposure"] and slow.data_quality["missing_outcomes"]
    spy = PivotSpy(monkeypatch)
    fast = fast_only(monkeypatch, exp, x, ev)
    assert (spy.pivoted, spy.complex) == ((1, 0) if switchers == 0.0 else (0, 1))
    assert_same_metrics(fast, slow)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev, route="cells"), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)  # staged parts
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev), slow)


@pytest.mark.parametrize("by", [(), ("channel",)])
def test_covariates_on_the_fast_path_with_duplicates_now_and_dirty_data(
    by, exp_factory, monkeypatch
):
    """Duplicates dropped (a repeated pre-exposure event counts once), ``now``, bad
    values and times, ``--by`` (per (unit, cell))."""
    exp = covariate_exp(exp_factory, duplicate_events="drop")
    x, ev = dirty_log(46, switchers=0.0)
    ev["channel"] = np.where(ev.index % 3 == 0, "email", "web")
    ev = pd.concat([ev, ev.iloc[:40]], ignore_index=True)  # exact repeats
    kwargs = {"now": dt.datetime(2024, 1, 14, tzinfo=dt.UTC), "by": list(by)}
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    dq = slow.data_quality
    assert dq["duplicate_events"] and dq["bad_values"] and dq["exposures_after_now"]
    assert_covariates_nontrivial(slow)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev, **kwargs), slow)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev, route="cells", **kwargs), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    fast = fast_only(monkeypatch, exp, x, ev, **kwargs)
    assert_same_metrics(fast, slow)
    assert fast.issues == slow.issues


@pytest.mark.parametrize("cap", [{"value": -1.0}, {"percentile": 0.1}])
def test_a_capped_adjusted_metric_below_zero_on_the_fast_path(cap, exp_factory, monkeypatch):
    """A cap below zero lowers the zeros (units never staged by the cap stage): their
    covariates then enter ``Σx·y`` times the cap."""
    exp = covariate_exp(exp_factory, cap)
    x, ev = metric_log(47, negative=True)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    assert slow.caps[0].value is not None and slow.caps[0].value < 0
    for route in ("auto", "cells"):
        assert_same_metrics(fast_only(monkeypatch, exp, x, ev, route=route), slow)
    monkeypatch.setattr(hashed, "rows_per_partition", lambda limit=None: 100)
    assert_same_metrics(fast_only(monkeypatch, exp, x, ev), slow)


def test_covariates_on_the_fast_path_with_several_breakdowns(exp_factory, monkeypatch):
    exp = covariate_exp(exp_factory)
    x, ev = metric_log(48)
    x["tier"] = np.where(x.index % 3 == 0, "gold", "basic")
    kwargs = {"breakdowns": ["channel", "tier"]}
    slow = aggregate_event_log(exp, x, ev, route="generic", **kwargs)
    fast = fast_only(monkeypatch, exp, x, ev, **kwargs)
    assert_same_metrics(*(missing_dims_as_none(a) for a in (fast, slow)))


def test_a_unit_with_only_pre_exposure_events_counts_its_covariates(exp_factory, monkeypatch):
    """Oracle by hand: u1's revenue is all before its exposures (y = 0, z > 0), u2's
    events fall between its stage-0 and stage-1 exposures (after one, before the other),
    u3 has no event; a NULL value counts 0 in a covariate."""
    exp = covariate_exp(exp_factory)
    day = dt.timedelta(days=1)
    base = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    x = pd.DataFrame({
        "user_id": ["u1", "u2", "u2", "u3"], "experiment": "exp", "iteration": 1,
        "segment": "young", "stage": ["awareness", "awareness", "consideration", "awareness"],
        "variant": "a", "timestamp": [base, base, base + 3 * day, base], "in_experiment": True,
    })  # fmt: skip
    ev = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2"],
        "event": ["revenue", "page_view", "revenue", "revenue", "page_view"],
        "value": [5.0, 2.0, None, 7.0, 1.0],
        "timestamp": [base - day, base - 2 * day, base - day, base + day, base + 2 * day],
        "channel": "web",
    })  # fmt: skip
    fast = fast_only(monkeypatch, exp, x, ev)
    slow = aggregate_event_log(exp, x, ev, route="generic")
    assert_same_metrics(fast, slow)
    rev = fast.sums[(fast.sums["metric"] == "rev") & (fast.sums["variant"] == "a")]
    aware = rev[rev["stage"] == "awareness"].iloc[0]
    # awareness: u1 (y 0, z (5, 2)), u2 (y 7, z (0, 0)), u3 (0, (0, 0))
    assert (aware["n"], aware["sum"], aware["x_sum_0"], aware["x_sum_1"]) == (3, 7.0, 5.0, 2.0)
    assert (aware["xy_sum_0"], aware["xx_sum_0_1"], aware["xx_sum_0_0"]) == (0.0, 10.0, 25.0)
    consider = rev[rev["stage"] == "consideration"].iloc[0]
    # consideration: u2 (y 0: its events are before t0; z (7, 1))
    assert (consider["n"], consider["sum"], consider["x_sum_0"], consider["x_sum_1"]) == (
        1, 0.0, 7.0, 1.0)  # fmt: skip
    assert consider["xx_sum_0_1"] == 7.0
