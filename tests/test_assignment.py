"""Properties of assignment: uniformity, independence, coverage ramps, reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency, chisquare

from segab import Reason, assign
from segab.config import Experiment
from segab.errors import AssignmentError, UnknownStageError

Factory = Callable[..., Experiment]
N = 100_000


def _cells(weights: list[float], coverage: float = 1.0) -> list[dict[str, Any]]:
    return [
        {
            "control": "v0",
            "coverage": coverage,
            "variants": [{"key": f"v{i}", "weight": w} for i, w in enumerate(weights)],
        }
    ]


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.1, 0.3, 0.6]])
def test_uniform_split_matches_weights(experiment_factory: Factory, weights: list[float]) -> None:
    """Oracle: scipy.stats.chisquare goodness of fit, 100,000 ids, p > 0.001."""
    exp = experiment_factory(cells=_cells(weights))
    counts = Counter(assign(exp, f"user-{i}", {"age": 20}, "awareness").variant for i in range(N))
    observed = [counts[f"v{i}"] for i in range(len(weights))]
    assert sum(observed) == N
    assert chisquare(observed, [w * N for w in weights]).pvalue > 0.001


def test_independent_across_experiments(experiment_factory: Factory) -> None:
    """Oracle: scipy.stats.chi2_contingency on the joint variant table of two experiments."""
    a = experiment_factory(key="exp_a")
    b = experiment_factory(key="exp_b")
    table = np.zeros((2, 2))
    for i in range(40_000):
        va = assign(a, f"u{i}", {"age": 20}, "awareness").variant
        vb = assign(b, f"u{i}", {"age": 20}, "awareness").variant
        table[va == "b", vb == "b"] += 1
    assert chi2_contingency(table).pvalue > 0.001


def test_independent_across_stages_by_default(experiment_factory: Factory) -> None:
    exp = experiment_factory()
    table = np.zeros((2, 2))
    for i in range(40_000):
        v1 = assign(exp, f"u{i}", {"age": 20}, "awareness").variant
        v2 = assign(exp, f"u{i}", {"age": 20}, "purchase").variant
        table[v1 == "b", v2 == "b"] += 1
    assert chi2_contingency(table).pvalue > 0.001
    assert table[0, 1] > 0 and table[1, 0] > 0


def test_journey_randomization_keeps_the_variant_across_stages(experiment_factory: Factory) -> None:
    exp = experiment_factory(randomization="journey")
    for i in range(2_000):
        variants = {assign(exp, f"u{i}", {"age": 20}, s).variant for s in exp.stages}
        assert len(variants) == 1


def test_reseeding_reshuffles(experiment_factory: Factory) -> None:
    one = experiment_factory(seed="round-1")
    two = experiment_factory(seed="round-2")
    same = sum(
        assign(one, f"u{i}", {}, "awareness").variant
        == assign(two, f"u{i}", {}, "awareness").variant
        for i in range(10_000)
    )
    assert 4_700 < same < 5_300  # independent draws agree about half the time


def test_coverage_ramp_never_moves_a_unit(experiment_factory: Factory) -> None:
    low = experiment_factory(cells=_cells([0.1, 0.3, 0.6], coverage=0.2))
    high = experiment_factory(cells=_cells([0.1, 0.3, 0.6], coverage=0.5))
    inside_low = 0
    for i in range(N):
        a = assign(low, f"user-{i}", {"age": 20}, "awareness")
        b = assign(high, f"user-{i}", {"age": 20}, "awareness")
        if a.in_experiment:
            inside_low += 1
            assert b.in_experiment and b.variant == a.variant
    assert 0.19 * N < inside_low < 0.21 * N


def test_segments_first_match_and_fallback(experiment_factory: Factory) -> None:
    exp = experiment_factory()
    assert assign(exp, "u", {"age": 20}, "awareness").segment == "young"
    assert assign(exp, "u", {"age": 60}, "awareness").segment == "older"
    assert assign(exp, "u", {"age": 40}, "awareness").segment == "rest"
    assert assign(exp, "u", {}, "awareness").segment == "rest"


def test_no_fallback_means_not_targeted(experiment_factory: Factory) -> None:
    exp = experiment_factory(fallback=None)
    a = assign(exp, "u", {"age": 40}, "awareness")
    assert (a.segment, a.variant, a.in_experiment, a.reason) == (
        None,
        None,
        False,
        Reason.NOT_TARGETED,
    )


def test_stage_without_a_cell_is_not_targeted(experiment_factory: Factory) -> None:
    cells = [{**_cells([0.5, 0.5])[0], "stage": "purchase"}]
    exp = experiment_factory(cells=cells)
    assert assign(exp, "u", {"age": 20}, "awareness").reason == Reason.NOT_TARGETED
    assert assign(exp, "u", {"age": 20}, "purchase").in_experiment


def test_forced_excluded_holdout_namespace(experiment_factory: Factory) -> None:
    exp = experiment_factory(
        forced={"qa-1": "b"},
        exclude=["bot-1"],
        holdout=0.1,
        namespace={"key": "ns", "range": [0, 0.5]},
    )
    assert assign(exp, "qa-1", {}, "awareness")[5:] == ("b", None, False, Reason.FORCED)
    assert assign(exp, "bot-1", {}, "awareness").reason == Reason.EXCLUDED
    reasons = Counter(assign(exp, f"u{i}", {}, "awareness").reason for i in range(20_000))
    assert 0.47 < reasons[Reason.OUTSIDE_NAMESPACE] / 20_000 < 0.53
    assert 0.08 < reasons[Reason.HOLDOUT] / (20_000 - reasons[Reason.OUTSIDE_NAMESPACE]) < 0.12
    holdout = next(
        a
        for i in range(1000)
        if (a := assign(exp, f"u{i}", {}, "awareness")).reason == Reason.HOLDOUT
    )
    assert holdout.variant == "a" and not holdout.in_experiment


def test_holdout_is_the_same_unit_at_every_stage(experiment_factory: Factory) -> None:
    exp = experiment_factory(holdout=0.2)
    for i in range(2_000):
        held = {assign(exp, f"u{i}", {}, s).reason == Reason.HOLDOUT for s in exp.stages}
        assert len(held) == 1


def test_inactive_experiment_shows_control(experiment_factory: Factory) -> None:
    exp = experiment_factory(status="stopped")
    a = assign(exp, "u1", {"age": 20}, "awareness")
    assert (a.variant, a.in_experiment, a.reason) == ("a", False, Reason.INACTIVE)


def test_unknown_stage_is_a_clear_error(experiment_factory: Factory) -> None:
    with pytest.raises(UnknownStageError, match=r"unknown stage .checkout.*awareness"):
        assign(experiment_factory(), "u1", {}, "checkout")


def test_unit_id_types(experiment_factory: Factory) -> None:
    exp = experiment_factory()
    assert assign(exp, 42, {}, "awareness") == assign(exp, "42", {}, "awareness")
    with pytest.raises(AssignmentError, match="unit_id must be a string"):
        assign(exp, 4.2, {}, "awareness")  # type: ignore[arg-type]


def test_assignment_is_frozen(experiment_factory: Factory) -> None:
    a = assign(experiment_factory(), "u1", {}, "awareness")
    with pytest.raises(AttributeError):
        a.variant = "x"  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(unit=st.text(min_size=1, max_size=40), age=st.integers(0, 120))
def test_deterministic_and_in_range(unit: str, age: int) -> None:
    from tests.conftest import make_experiment

    exp = make_experiment()
    a = assign(exp, unit, {"age": age}, "purchase")
    assert a == assign(exp, unit, {"age": age}, "purchase")
    assert a.bucket is not None and 0 <= a.bucket < 10_000
    assert a.variant in ("a", "b")
