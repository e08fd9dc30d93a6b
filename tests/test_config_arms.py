"""Arm labels are data, weights are normalised, segments are optional (issue 16).

Oracle: the closed form of a normalised split, ``w_i / sum(w)`` in 1/10,000 buckets.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import segab
from segab.config import parse_experiment
from segab.config.checks import weight_basis_points
from segab.errors import ConfigError, DataError


def _exp(variants, control="a", **extra):
    return parse_experiment(
        {
            "key": "e",
            "name": "E",
            "unit": "id",
            "cells": [{"control": control, "variants": variants}],
            "metrics": {"primary": {"key": "conv", "kind": "binary", "column": "conv"}},
            **extra,
        }
    )


@pytest.mark.parametrize(
    "weights, expected",
    [
        ([0.5, 0.5], (5000, 5000)),
        ([1, 1, 1], (3334, 3333, 3333)),
        ([0.3333, 0.3333, 0.3333], (3334, 3333, 3333)),
        ([0.3333, 0.3333, 0.3334], (3333, 3333, 3334)),
        ([90, 10], (9000, 1000)),
        ([0.1, 0.2, 0.7], (1000, 2000, 7000)),
        ([3, 0, 1], (7500, 0, 2500)),
    ],
)
def test_weights_are_normalised_to_buckets(weights, expected):
    assert weight_basis_points(weights) == expected


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12))
def test_normalised_buckets_sum_to_10000_and_are_within_one_of_the_exact_share(ints):
    if sum(ints) == 0:
        assert weight_basis_points(ints) is None
        return
    bps = weight_basis_points(ints)
    assert bps is not None and sum(bps) == 10_000
    for w, bp in zip(ints, bps, strict=True):
        assert abs(bp - w * 10_000 / sum(ints)) < 1  # largest remainder: off by under one
        assert w > 0 or bp == 0


def test_ratio_weights_assign_like_the_equivalent_fractions():
    thirds = _exp([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}])
    same = _exp(
        [
            {"key": "a", "weight": 0.3334},
            {"key": "b", "weight": 0.3333},
            {"key": "c", "weight": 0.3333},
        ]
    )
    for uid in map(str, range(3000)):
        assert (
            segab.assign(thirds, uid, {}, stage="awareness").variant
            == segab.assign(same, uid, {}, stage="awareness").variant
        )
    shares = Counter(
        segab.assign(thirds, str(u), {}, stage="awareness").variant for u in range(30_000)
    )
    assert all(abs(n / 30_000 - 1 / 3) < 0.015 for n in shares.values())


@pytest.mark.parametrize(
    "variants, fragment",
    [
        ([{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.4}], "fractions summing to 0.9"),
        ([{"key": "a", "weight": 0}, {"key": "b", "weight": 0}], "every weight 0"),
        (
            [{"key": "a", "weight": 1, "value": "x"}, {"key": "b", "weight": 1, "value": "x"}],
            "two variants labelled ['x']",
        ),
        (
            [{"key": "a", "weight": 1, "value": "b"}, {"key": "b", "weight": 1}],
            "already variant 'a'",
        ),
        ([{"key": "a", "weight": 1, "value": ""}, {"key": "b", "weight": 1}], "value"),
    ],
)
def test_clearly_wrong_splits_and_ambiguous_labels_are_located_errors(variants, fragment):
    with pytest.raises(ConfigError) as info:
        _exp(variants)
    assert fragment in str(info.value) and "cells[0]" in str(info.value)


def test_segments_are_optional_and_default_to_everyone():
    exp = _exp([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}])
    assert exp.segment_keys() == ["all"]
    assert segab.assign(exp, "u1", {}, stage="awareness").segment == "all"


def test_labels_with_spaces_are_matched_exactly_and_results_use_keys():
    exp = _exp(
        [
            {"key": "control", "weight": 1, "value": " Control"},
            {"key": "civic_duty", "weight": 1, "value": " Civic Duty"},
        ],
        control="control",
    )
    df = pd.DataFrame(
        {
            "id": range(400),
            "arm": [" Control", " Civic Duty"] * 200,
            "conv": [0, 1, 0, 0] * 100,
        }
    )
    r = segab.analyze(exp, units=df, variant_column="arm")
    (row,) = r.results
    assert (row.control, row.variant) == ("control", "civic_duty")
    assert (row.comparison.control_mean, row.comparison.treatment_mean) == (0.0, 0.5)
    assert r.unknown_arms == () and r.data_quality["unknown_arms"] == 0


def test_arms_the_config_does_not_declare_are_counted_and_reported_in_json():
    exp = _exp([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}])
    df = pd.DataFrame({"id": range(9), "arm": ["a", "b", "c"] * 3, "conv": [0, 1, 1] * 3})
    r = segab.analyze(exp, units=df, variant_column="arm")
    doc = r.to_dict()
    assert doc["unknown_arms"] == [{"label": "c", "units": 3}]
    assert doc["data_quality"]["unknown_arms"] == 3
    assert [(x["variant"], x["n_control"], x["n_variant"]) for x in doc["results"]] == [("b", 3, 3)]
    assert any("'c' (3 units)" in n for n in doc["notes"])


def test_no_declared_arm_in_the_data_is_an_error_naming_the_labels_found_and_near_misses():
    exp = _exp(
        [{"key": "control", "weight": 1}, {"key": "no_email", "weight": 1, "value": "No-E-Mail"}],
        control="control",
    )
    df = pd.DataFrame({"id": range(4), "arm": [" control", "No E-Mail"] * 2, "conv": [0, 1] * 2})
    with pytest.raises(DataError) as info:
        segab.analyze(exp, units=df, variant_column="arm")
    text = str(info.value)
    assert "found ' control' (2 units), 'No E-Mail' (2 units)" in text
    assert "' control' differs from 'control' by a leading space" in text
    assert "'No E-Mail' is close to 'No-E-Mail'" in text


@pytest.mark.parametrize("column", ["segment", "stage", "variant", "unit", "u", "f", "pos", "d0"])
def test_any_column_name_can_be_the_arm_column(column):
    exp = _exp([{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "value": "B arm"}])
    df = pd.DataFrame(
        {"id": range(200), column: ["a", "B arm"] * 100, "conv": [0, 0, 1, 1] * 50, "ch": "x"}
    )
    r = segab.analyze(exp, units=df, variant_column=column, by=["ch"])
    rows = [x for x in r.results if not x.dimensions]
    assert [(x.segment, x.variant, x.comparison.n_treatment) for x in rows] == [("all", "b", 100)]
    assert r.results[-1].dimensions == {"ch": "x"}


def test_a_variant_without_value_dumps_and_fingerprints_as_before():
    from segab.config import fingerprint

    a = _exp([{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}])
    assert "value" not in a.model_dump()["cells"][0]["variants"][0]
    b = _exp([{"key": "a", "weight": 0.5, "value": "A"}, {"key": "b", "weight": 0.5}])
    assert fingerprint(a) != fingerprint(b)


def test_a_mislabelled_control_is_an_error_not_an_empty_result():
    exp = _exp(
        [{"key": "control", "weight": 1, "value": "Control"}, {"key": "b", "weight": 1}],
        control="control",
    )
    df = pd.DataFrame({"id": range(4), "arm": [" Control", "b"] * 2, "conv": [0, 1] * 2})
    with pytest.raises(DataError) as info:
        segab.analyze(exp, units=df, variant_column="arm")
    assert "no control arm ('Control') is in the data" in str(info.value)
    assert "' Control' differs from 'Control' by a leading space" in str(info.value)


def test_a_finished_experiment_needs_only_key_unit_cells_and_metrics():
    exp = parse_experiment(
        {
            "key": "mailing",
            "unit": "id",
            "cells": [{"control": "a", "variants": [{"key": "a", "weight": 1}]}],
            "metrics": {"primary": {"key": "voted", "kind": "binary", "column": "voted"}},
        }
    )
    assert (exp.name, exp.segment_keys(), exp.seed) == ("mailing", ["all"], "mailing")


@pytest.mark.parametrize(
    "column", ["segment", "stage", "variant", "metric", "n", "n_units", "f", "x_0", "dim_0", "gid"]
)
def test_any_column_name_can_be_a_breakdown(column, tmp_path):
    """Oracle: the same table with the breakdown column renamed to a plain name."""
    exp = _exp([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}])
    rng = __import__("numpy").random.default_rng(7)
    df = pd.DataFrame(
        {"id": range(400), "arm": rng.choice(["a", "b"], 400), "conv": rng.integers(0, 2, 400)}
    )
    df[column] = rng.choice(["p", "q"], 400)
    plain = segab.analyze(exp, units=df.rename(columns={column: "zz"}), variant_column="arm",
                          by=["zz"])  # fmt: skip
    path = tmp_path / "u.csv"
    df.to_csv(path, index=False)
    for source in (df, str(path)):
        got = segab.analyze(exp, units=source, variant_column="arm", by=[column])
        assert got.dimensions == (column,)
        assert [
            ({column: v for v in r.dimensions.values()}, r.comparison.n_treatment, r.comparison.p_value)
            for r in got.results
        ] == [
            ({column: v for v in r.dimensions.values()}, r.comparison.n_treatment, r.comparison.p_value)
            for r in plain.results
        ]
