"""The per-unit sums take a scalar first match unless a unit's windows overlap.

:func:`segab.sums._fast.unit_pivot.overlap_sql` flags the units whose events can
fall in two stages' windows; only those build a list of cells per event. The
invariant that makes the scalar path exact: an event inside two windows, by the
window condition itself (:func:`segab.sums.statements.window_condition`, evaluated
by DuckDB in floating point), always belongs to a flagged unit. Oracle: that
condition, evaluated pair by pair on the same values.
"""

from __future__ import annotations

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segab.sums._fast.unit_pivot import overlap_sql
from segab.sums.specs import EventLogSpec, Params
from segab.sums.statements import window_condition

N_STAGES = 4
BASE = 1_714_521_600.0  # 2024-05-01, epoch seconds: doubles here step by about 2e-7 s


def flags(window: float | None, rows: list[dict[str, float | None]]) -> pd.DataFrame:
    """Per row: ``ov`` and the number of stage windows that hold the event ``t``."""
    spec = EventLogSpec("e", 1, "u", "u", window_seconds=window)
    p = Params("duckdb")
    ov = overlap_sql(spec, N_STAGES, p)
    inside = " + ".join(
        f"CAST(COALESCE({window_condition(spec, p, 'r', 'r', t0=f't{c}')}, FALSE) AS INTEGER)"
        for c in range(N_STAGES)
    )
    con = duckdb.connect()
    frame = pd.DataFrame(rows, columns=["t", *(f"t{c}" for c in range(N_STAGES))]).astype(float)
    con.register("rows_in", frame)
    return con.execute(f"SELECT {ov} AS ov, {inside} AS n_in FROM rows_in r", p.values).df()


times = st.one_of(
    st.none(),
    # whole microseconds around BASE, so that sums like t0 + W round in floating point
    st.integers(-20 * 86_400_000_000, 20 * 86_400_000_000).map(lambda us: BASE + us / 1e6),
)
row = st.fixed_dictionaries(
    {"t": times.filter(lambda v: v is not None), **{f"t{c}": times for c in range(N_STAGES)}}
)


@settings(max_examples=150, deadline=None)
@given(
    window=st.sampled_from([None, 1.0, 3600.0, 7 * 86_400.0, 0.000_001]),
    rows=st.lists(row, min_size=1, max_size=40),
)
def test_an_event_in_two_windows_belongs_to_a_flagged_unit(
    window: float | None, rows: list[dict[str, float | None]]
) -> None:
    out = flags(window, rows)
    assert not ((out["n_in"] >= 2) & ~out["ov"]).any()


def test_windows_that_touch_do_not_overlap_and_those_that_share_an_instant_do() -> None:
    w = 7 * 86_400.0
    rows = [
        {"t": BASE, "t0": BASE, "t1": BASE + w, "t2": None, "t3": None},  # [t0, t0+w) ends at t1
        {"t": BASE, "t0": BASE, "t1": BASE + w - 1e-6, "t2": None, "t3": None},
        {"t": BASE, "t0": BASE, "t1": None, "t2": None, "t3": BASE - w},  # touch from below
        {"t": BASE, "t0": BASE, "t1": None, "t2": None, "t3": None},  # one stage only
        {"t": BASE, "t0": None, "t1": None, "t2": None, "t3": None},  # no one-variant cell
        {"t": BASE, "t0": BASE + 8 * 86_400, "t1": BASE, "t2": BASE + 16 * 86_400, "t3": None},
    ]
    assert flags(w, rows)["ov"].tolist() == [False, True, False, False, False, False]


def test_without_a_window_two_stages_always_overlap() -> None:
    rows = [
        {"t": BASE, "t0": BASE, "t1": BASE + 365 * 86_400, "t2": None, "t3": None},
        {"t": BASE, "t0": None, "t1": None, "t2": BASE, "t3": None},
    ]
    assert flags(None, rows)["ov"].tolist() == [True, False]
