"""Thompson-sampling allocation: oracles for the best-arm probabilities and losses,
and invariants of floors, uniform slice, bucket grid and graduation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segab.errors import StatsError
from segab.hashing import BUCKETS
from segab.stats import (
    BetaArms,
    BetaPrior,
    GraduationRule,
    MeanStats,
    NormalArms,
    ProportionStats,
    RatioStats,
    allocate,
    arm_posteriors,
    best_arm,
    beta_prob_greater,
    constrained_weights,
    graduation,
    round_to_grid,
    top_two_weights,
)
from segab.stats.bandit import GRID
from segab.stats.bayesian import beta_chance_to_win, beta_expected_loss

DOMAIN_ARMS = [ProportionStats(1000, 100), ProportionStats(1000, 120)]


def test_two_betas_closed_form_matches_domain_check_value() -> None:
    """Oracle: DOMAIN.md, Beta(1,1) priors, A 100/1000, B 120/1000: P(B > A) = 0.923183."""
    assert beta_prob_greater(101, 901, 121, 881) == pytest.approx(0.923183, abs=1e-6)
    r = best_arm(BetaArms.from_stats(DOMAIN_ARMS))
    assert r.method == "exact"
    assert r.prob_best[1] == pytest.approx(0.923183, abs=1e-6)
    assert sum(r.prob_best) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("a_a", "b_a", "a_b", "b_b"),
    [
        (101, 901, 121, 881),
        (1, 1, 1, 1),
        (3, 40, 9, 52),
        (1501, 501, 1541, 561),
        (50, 350, 31, 371),
    ],
)
def test_closed_form_matches_numerical_integration(a_a: int, b_a: int, a_b: int, b_b: int) -> None:
    """Oracle: scipy.integrate.quad of f_B·F_A (segab.stats.bayesian) and of the loss integrand."""
    r = best_arm(BetaArms((a_a, a_b), (b_a, b_b)), method="exact")
    assert r.prob_best[1] == pytest.approx(beta_chance_to_win(a_a, b_a, a_b, b_b), abs=1e-9)
    # loss of choosing A is E[max(p_B − p_A, 0)], i.e. the risk of shipping A against B
    assert r.expected_loss[0] == pytest.approx(beta_expected_loss(a_b, b_b, a_a, b_a), abs=1e-10)
    assert r.expected_loss[1] == pytest.approx(beta_expected_loss(a_a, b_a, a_b, b_b), abs=1e-10)


def test_beta_closed_forms_for_uniforms() -> None:
    """Closed forms: P(U₂ > U₁) = 1/2, E[max(U₁, U₂) − U₁] = 1/6, P(Beta(2,1) > U) = 2/3."""
    r = best_arm(BetaArms((1, 1), (1, 1)))
    assert r.prob_best == pytest.approx((0.5, 0.5), abs=1e-12)
    assert r.expected_loss == pytest.approx((1 / 6, 1 / 6), abs=1e-12)
    assert beta_prob_greater(1, 1, 2, 1) == pytest.approx(2 / 3, abs=1e-12)
    # the sum can run over either arm's integer a (here a_b is not an integer)
    assert beta_prob_greater(2, 1, 1.5, 1) == pytest.approx(
        beta_chance_to_win(2, 1, 1.5, 1), abs=1e-9
    )


def test_exact_needs_an_integer_a_and_auto_falls_back_to_quadrature() -> None:
    arms = BetaArms((10.5, 12.5), (90.5, 88.5))
    with pytest.raises(StatsError, match="no closed form"):
        best_arm(arms, method="exact")
    r = best_arm(arms)
    assert r.method == "quadrature"
    assert r.prob_best[1] == pytest.approx(beta_chance_to_win(10.5, 90.5, 12.5, 88.5), abs=1e-9)


def test_quadrature_matches_closed_form_for_two_arms() -> None:
    arms = BetaArms.from_stats(DOMAIN_ARMS)
    q, e = best_arm(arms, method="quadrature"), best_arm(arms, method="exact")
    assert q.prob_best == pytest.approx(e.prob_best, abs=1e-9)
    assert q.expected_loss == pytest.approx(e.expected_loss, abs=1e-10)
    n = NormalArms((0.10, 0.12), (0.01, 0.02))
    assert best_arm(n, method="quadrature").prob_best == pytest.approx(
        best_arm(n).prob_best, abs=1e-9
    )


def test_normal_closed_forms() -> None:
    """Closed forms: equal arms 1/K each; E[max of 3 iid N(0,1)] = 3/(2√π)."""
    two = best_arm(NormalArms((0.0, 0.0), (1.0, 1.0)))
    assert two.prob_best == (0.5, 0.5)
    assert two.expected_loss[0] == pytest.approx(1 / math.sqrt(math.pi), abs=1e-12)  # E|Z1−Z2|/2
    three = best_arm(NormalArms((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), method="quadrature")
    assert three.prob_best == pytest.approx((1 / 3,) * 3, abs=1e-9)
    assert three.expected_loss == pytest.approx((3 / (2 * math.sqrt(math.pi)),) * 3, abs=1e-9)


def test_monte_carlo_within_its_standard_error_and_seed_recorded() -> None:
    """Oracle: the closed form; tolerance 4 Monte Carlo standard errors."""
    arms = BetaArms.from_stats(DOMAIN_ARMS)
    exact = best_arm(arms)
    mc = best_arm(arms, method="monte_carlo", seed=20240501, draws=200_000)
    assert mc.seed == 20240501 and mc.draws == 200_000 and mc.method == "monte_carlo"
    assert mc.mc_se_prob_best is not None and mc.mc_se_expected_loss is not None
    se = math.sqrt(0.923183 * 0.076817 / 200_000)
    assert mc.mc_se_prob_best[1] == pytest.approx(se, rel=0.01)
    for k in range(2):
        assert abs(mc.prob_best[k] - exact.prob_best[k]) < 4 * mc.mc_se_prob_best[k]
        assert abs(mc.expected_loss[k] - exact.expected_loss[k]) < 4 * mc.mc_se_expected_loss[k]
    again = best_arm(arms, method="monte_carlo", seed=20240501, draws=200_000)
    assert again == mc  # the recorded seed reproduces the result
    assert best_arm(arms, method="monte_carlo", seed=1, draws=200_000) != mc


@pytest.mark.parametrize(
    "arms",
    [
        BetaArms((101.0, 121.0, 111.0, 96.0), (901.0, 881.0, 891.0, 906.0)),
        BetaArms((3.0, 5.0, 2.5), (30.0, 28.0, 40.0)),
        NormalArms((0.10, 0.12, 0.11), (0.01, 0.01, 0.002)),
        NormalArms((5.0, 5.1, 4.8, 5.05, 5.0), (0.05, 0.08, 0.2, 0.03, 0.05)),
    ],
)
def test_quadrature_against_monte_carlo_for_many_arms(arms: BetaArms | NormalArms) -> None:
    """Two independent methods agree within 4 Monte Carlo standard errors."""
    q = best_arm(arms, method="quadrature")
    mc = best_arm(arms, method="monte_carlo", seed=11, draws=400_000)
    assert sum(q.prob_best) == pytest.approx(1.0, abs=1e-9)
    assert mc.mc_se_prob_best is not None and mc.mc_se_expected_loss is not None
    for k in range(len(q.prob_best)):
        assert abs(q.prob_best[k] - mc.prob_best[k]) <= 4 * mc.mc_se_prob_best[k] + 1e-9
        assert (
            abs(q.expected_loss[k] - mc.expected_loss[k]) <= 4 * mc.mc_se_expected_loss[k] + 1e-12
        )


def test_auto_uses_monte_carlo_for_more_arms_and_needs_a_seed() -> None:
    arms = NormalArms((1.0, 1.1, 1.2), (0.1, 0.1, 0.1))
    with pytest.raises(StatsError, match="seed"):
        best_arm(arms)
    assert best_arm(arms, seed=3).method == "monte_carlo"


def test_lower_is_better_mirrors_the_arms() -> None:
    arms = BetaArms.from_stats(DOMAIN_ARMS)
    low = best_arm(arms, lower_is_better=True)
    assert low.prob_best[0] == pytest.approx(0.923183, abs=1e-6)
    high = best_arm(arms)
    assert low.expected_loss == pytest.approx(high.expected_loss[::-1], abs=1e-12)
    n = best_arm(NormalArms((1.0, 2.0), (0.5, 0.5)), lower_is_better=True)
    assert n.leader == 0


def test_posteriors_from_stats() -> None:
    b = arm_posteriors(DOMAIN_ARMS, BetaPrior(2.0, 3.0))
    assert isinstance(b, BetaArms) and b.a == (102.0, 122.0) and b.b == (903.0, 883.0)
    m = arm_posteriors(
        [MeanStats.from_moments(101, 3.0, 4.0), MeanStats.from_moments(26, 3.5, 1.0)]
    )
    assert isinstance(m, NormalArms)
    assert m.mean == (3.0, 3.5) and m.sd == pytest.approx((math.sqrt(4 / 101), math.sqrt(1 / 26)))
    p = NormalArms.from_stats(DOMAIN_ARMS)  # normal approximation, sample variance over n
    assert p.sd[0] == pytest.approx(math.sqrt(0.09 / 999))
    r = arm_posteriors(
        [
            RatioStats.from_values([1.0, 3.0, 2.0], [1.0, 2.0, 1.0]),
            RatioStats.from_values([2.0, 2.0, 5.0], [1.0, 1.0, 2.0]),
        ]
    )
    assert r.mean == pytest.approx((1.5, 2.25))
    with pytest.raises(StatsError, match="arm 1"):
        arm_posteriors([MeanStats.from_values([1.0, 2.0]), MeanStats.from_values([1.0])])
    with pytest.raises(StatsError, match="at least 2"):
        BetaArms((1.0,), (1.0,))
    with pytest.raises(StatsError, match="BetaPrior"):
        arm_posteriors([MeanStats.from_values([1.0, 2.0])] * 2, BetaPrior())


def test_top_two_against_simulating_the_procedure() -> None:
    """Oracle: Russo's procedure simulated from the leader distribution α (seed 5)."""
    alpha = np.array([0.6, 0.25, 0.1, 0.05])
    assert top_two_weights([0.97, 0.03]) == pytest.approx((0.5, 0.5))
    rng = np.random.default_rng(5)
    n = 200_000
    first = rng.choice(4, size=n, p=alpha)
    second = first.copy()
    redo = np.ones(n, dtype=bool)
    while redo.any():  # draw again until the leader differs
        second[redo] = rng.choice(4, size=int(redo.sum()), p=alpha)
        redo = second == first
    coin = rng.random(n) < 0.5
    played = np.where(coin, first, second)
    freq = np.bincount(played, minlength=4) / n
    w = top_two_weights(alpha.tolist(), beta=0.5)
    for k in range(4):
        assert abs(w[k] - freq[k]) < 4 * math.sqrt(freq[k] * (1 - freq[k]) / n)
    assert top_two_weights(alpha.tolist(), beta=1.0) == pytest.approx(tuple(alpha))


def test_floor_and_slice_are_respected() -> None:
    w, a = constrained_weights([0.999, 0.001, 0.0], floor=0.05, uniform_slice=0.1)
    assert min(w) >= 0.05 - 1e-12 and sum(w) == pytest.approx(1.0)
    slice_part = 0.1 / 3
    assert all(x >= slice_part - 1e-12 for x in w)
    assert w == pytest.approx(tuple(slice_part + 0.9 * x for x in a))
    # the floor shrinks the leader additively: the order of the arms is kept
    w2, _ = constrained_weights([0.7, 0.2, 0.1], floor=0.15)
    assert w2[0] > w2[1] > w2[2] >= 0.15 - 1e-12
    assert constrained_weights([0.3, 0.7], uniform_slice=1.0, declared=[0.4, 0.6])[0] == (0.4, 0.6)
    with pytest.raises(StatsError, match="floor"):
        constrained_weights([0.5, 0.3, 0.2], floor=0.4)
    with pytest.raises(StatsError, match="declared weights"):
        constrained_weights([0.5, 0.5], declared=[0.7, 0.7])
    with pytest.raises(StatsError, match="uniform_slice"):
        constrained_weights([0.5, 0.5], uniform_slice=1.5)


def test_grid_rounding() -> None:
    assert GRID == BUCKETS
    assert round_to_grid([1 / 3, 1 / 3, 1 / 3]) == (3334, 3333, 3333)
    assert round_to_grid([0.123456, 0.876544]) == (1235, 8765)
    assert round_to_grid([0.1, 0.2, 0.7]) == (1000, 2000, 7000)  # float noise kept exact


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8).filter(lambda v: sum(v) > 1e-6),
    st.integers(1, 100_000),
)
def test_grid_rounding_sums_exactly(raw: list[float], grid: int) -> None:
    total = sum(raw)
    w = [x / total for x in raw]
    b = round_to_grid(w, grid)
    assert sum(b) == grid
    assert all(abs(bk - wk * grid) < 1 for bk, wk in zip(b, w, strict=True))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), min_size=2, max_size=3),
    st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    st.sampled_from([0.0, 0.1, 0.25]),
    st.booleans(),
)
def test_allocation_invariants(
    counts: list[tuple[int, int]], floor: float, uniform_slice: float, top_two: bool
) -> None:
    """Weights in [floor, 1] summing to 1; buckets sum exactly to the grid, near the weights."""
    arms = [ProportionStats(n + x, x) for n, x in counts]
    k = len(arms)
    a = allocate(
        arms, floor=floor, uniform_slice=uniform_slice, top_two=top_two, seed=1, draws=2000
    )
    assert sum(a.weights) == pytest.approx(1.0, abs=1e-12)
    assert all(floor - 1e-12 <= w <= 1.0 + 1e-12 for w in a.weights)
    assert all(w >= uniform_slice / k - 1e-12 for w in a.weights)
    assert sum(a.buckets) == BUCKETS
    assert sum(a.slice_buckets) == round(uniform_slice * BUCKETS)
    assert all(abs(b - w * BUCKETS) < 2 for b, w in zip(a.buckets, a.weights, strict=True))
    assert all(b >= math.floor(floor * BUCKETS) - 1 for b in a.buckets)


def test_allocation_record_is_json_ready() -> None:
    a = allocate(DOMAIN_ARMS, floor=0.01, uniform_slice=0.1)
    d = a.to_dict()
    json.dumps(d)
    assert d["best"]["prob_best"][1] == pytest.approx(0.923183, abs=1e-6)
    assert d["slice_buckets"] == [500, 500] and sum(d["buckets"]) == BUCKETS
    assert a.bucket_weights == tuple(b / BUCKETS for b in a.buckets)
    mc = allocate(
        [ProportionStats(1000, 100), ProportionStats(1000, 120), ProportionStats(1000, 110)],
        seed=99,
    ).to_dict()
    assert mc["best"]["seed"] == 99 and mc["best"]["method"] == "monte_carlo"


def _updates(*probs: float) -> list:
    """Two-arm updates whose P(arm 1 best) is each given value (normal arms, sd 1)."""
    from scipy import special

    return [
        best_arm(NormalArms((0.0, float(special.ndtri(p) * math.sqrt(2))), (1.0, 1.0)))
        for p in probs
    ]


def test_graduation_needs_consecutive_updates_of_the_same_arm() -> None:
    rule = GraduationRule(prob_threshold=0.95, consecutive=3)
    assert not graduation(_updates(0.96, 0.97, 0.90, 0.96, 0.97), rule).graduated
    g = graduation(_updates(0.96, 0.97, 0.90, 0.96, 0.97, 0.98, 0.99), rule)
    assert (g.graduated, g.arm, g.update, g.reason) == (True, 1, 5, "probability")
    # a leader switch resets the streak
    assert not graduation(_updates(0.97, 0.02, 0.97), GraduationRule(consecutive=2)).graduated
    assert graduation(_updates(0.01, 0.02, 0.03), rule).arm == 0


def test_graduation_by_expected_loss() -> None:
    ups = _updates(0.6, 0.7, 0.8)
    losses = [u.expected_loss[u.leader] for u in ups]
    rule = GraduationRule(loss_threshold=(losses[1] + losses[2]) / 2)
    g = graduation(ups, rule)
    assert (g.graduated, g.arm, g.update, g.reason) == (True, 1, 2, "loss")
    arms = BetaArms((101.0, 121.0), (901.0, 881.0))
    up = best_arm(arms)
    rel = up.expected_loss[1] / up.posterior_mean[1]
    assert graduation([up], GraduationRule(loss_threshold=rel * 1.01, relative_loss=True)).graduated
    assert not graduation(
        [up], GraduationRule(loss_threshold=rel * 0.99, relative_loss=True)
    ).graduated
    with pytest.raises(StatsError, match="consecutive"):
        GraduationRule(consecutive=0)
    with pytest.raises(StatsError, match="prob_threshold"):
        GraduationRule(prob_threshold=1.0)
