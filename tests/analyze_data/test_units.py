"""One row per unit: hand-computed sums, NULL outcomes, segment/stage columns."""

from __future__ import annotations

import pandas as pd
import pytest

from segab.sums.aggregate import aggregate_units
from segab.sums.sources import open_engine
from segab.sums.specs import UnitColumns


@pytest.fixture
def unit_exp(exp_factory):
    return exp_factory(
        metrics={
            "primary": {"key": "conv", "kind": "binary", "column": "bought"},
            "secondary": [
                {"key": "spend", "kind": "continuous", "column": "spend"},
                {"key": "aov", "kind": "ratio", "column": "spend", "denominator_column": "orders"},
                {
                    "key": "roi",
                    "kind": "ratio",
                    "column": "spend",
                    "cost_per_unit": {"a": 1.0, "b": 3.0},
                },
                {"key": "events_only", "kind": "binary", "event": "click"},
            ],
        }
    )


@pytest.fixture
def units() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["a", "a", "a", "b", "b", None],
            "bought": [True, False, True, False, True, True],
            "spend": [10.0, 0.0, None, 0.0, 30.0, 5.0],
            "orders": [2.0, 0.0, 1.0, 0.0, 3.0, 1.0],
            "channel": ["social", "email", "social", "social", "email", "email"],
        }
    )


def test_hand_computed(unit_exp, units):
    agg = aggregate_units(unit_exp, units, columns=UnitColumns(variant="arm"))
    got = {(r.variant, r.metric): r for r in agg.sums.itertuples(index=False)}
    # no age column: no segment condition matches, every unit is in the fallback
    assert set(agg.sums["segment"]) == {"rest"} and set(agg.sums["stage"]) == {"all"}
    assert "events_only" not in set(agg.sums["metric"])  # no column: skipped
    conv_a = got[("a", "conv")]
    assert (conv_a.n, conv_a.sum, conv_a.sum_sq) == (3, 2.0, 2.0)
    spend_a = got[("a", "spend")]  # the NULL spend is left out of n
    assert (spend_a.n, spend_a.sum, spend_a.sum_sq) == (2, 10.0, 100.0)
    aov_b = got[("b", "aov")]  # y = (0, 30), d = (0, 3)
    assert (aov_b.n, aov_b.sum, aov_b.den_sum, aov_b.den_sum_sq, aov_b.cross_sum) == (
        2,
        30.0,
        3.0,
        9.0,
        90.0,
    )
    roi_b = got[("b", "roi")]  # den = 3 per unit
    assert (roi_b.den_sum, roi_b.den_sum_sq, roi_b.cross_sum) == (6.0, 18.0, 90.0)
    # one NULL spend, counted for spend, aov and roi
    assert agg.data_quality["missing_outcomes"] == 3
    assert agg.data_quality["missing_variant"] == 1
    assert agg.exposures["n"].tolist() == [3, 2]


def test_segment_and_stage_columns_and_by(unit_exp, units, tmp_path):
    df = units.assign(segment=["young", "rest", "young", "young", "rest", "rest"], stage="purchase")
    path = tmp_path / "units.parquet"
    df.to_parquet(path)
    agg = aggregate_units(unit_exp, path, columns=UnitColumns(variant="arm"), by=["channel"])
    assert agg.dimensions == ("channel",)
    keys = set(map(tuple, agg.exposures[["segment", "stage", "variant", "channel"]].values))
    assert ("young", "purchase", "a", "social") in keys and (
        "rest",
        "purchase",
        "b",
        "email",
    ) in keys


def test_sqlite_units_match(unit_exp, units, tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'u.db'}"
    engine = sa.create_engine(url)
    units = units.assign(segment="young")
    units.to_sql("units", engine, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        a = aggregate_units(unit_exp, "units", columns=UnitColumns(variant="arm"), engine=eng)
    b = aggregate_units(unit_exp, units, columns=UnitColumns(variant="arm"))
    pd.testing.assert_frame_equal(a.sums, b.sums, check_dtype=False)
    assert a.data_quality == b.data_quality


def test_missing_outcome_column(unit_exp, units):
    from segab.errors import MissingColumnError

    with pytest.raises(MissingColumnError, match="orders"):
        aggregate_units(unit_exp, units.drop(columns="orders"), columns=UnitColumns(variant="arm"))


def test_segments_derived_from_the_conditions(unit_exp, units):
    df = units.drop(columns="channel").assign(age=[20, 40, 30, 70, 25, 33])
    agg = aggregate_units(unit_exp, df, columns=UnitColumns(variant="arm"))
    n = agg.exposures.set_index(["segment", "variant"])["n"].to_dict()
    assert n == {("young", "a"): 2, ("rest", "a"): 1, ("rest", "b"): 1, ("young", "b"): 1}
    assert set(agg.exposures["stage"]) == {"all"}


def test_sqlite_without_segment_column_is_one_segment(unit_exp, units, tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'u.db'}"
    engine = sa.create_engine(url)
    units.to_sql("units", engine, index=False)
    engine.dispose()
    with open_engine(url) as eng:
        agg = aggregate_units(unit_exp, "units", columns=UnitColumns(variant="arm"), engine=eng)
    assert set(agg.exposures["segment"]) == {"all"}
