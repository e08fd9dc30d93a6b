"""Estimates for adaptively allocated data: hand computations, Simpson's paradox, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segab.errors import StatsError
from segab.stats import (
    MeanStats,
    ProportionStats,
    adaptively_weighted,
    compare,
    period_stratified,
    period_weighted_arms,
    uniform_slice_comparison,
)

P = ProportionStats
Z = 1.959963984540054


def test_period_stratified_equals_a_hand_computation() -> None:
    """Oracle: by hand. Period 0: 0.10 vs 0.15 (300 units); period 1: 0.30 vs 0.32 (400)."""
    control = [P(200, 20), P(150, 45)]
    treatment = [P(100, 15), P(250, 80)]
    e = period_stratified(control, treatment)
    w0, w1 = 300 / 700, 400 / 700
    assert e.weights == pytest.approx((w0, w1))
    assert e.period_effects == pytest.approx((0.05, 0.02))
    est = w0 * 0.05 + w1 * 0.02  # = 0.23/7
    var = w0**2 * (0.1 * 0.9 / 199 + 0.15 * 0.85 / 99) + w1**2 * (
        0.3 * 0.7 / 149 + 0.32 * 0.68 / 249
    )
    assert e.estimate == pytest.approx(0.23 / 7, abs=1e-15)
    assert e.estimate == pytest.approx(est, abs=1e-15)
    assert e.se == pytest.approx(math.sqrt(var), rel=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((est - Z * e.se, est + Z * e.se), rel=1e-12)
    m_c, m_t = w0 * 0.10 + w1 * 0.30, w0 * 0.15 + w1 * 0.32
    assert (e.control_mean, e.treatment_mean) == pytest.approx((m_c, m_t))
    v_c = w0**2 * 0.09 / 199 + w1**2 * 0.21 / 149
    v_t = w0**2 * 0.1275 / 99 + w1**2 * 0.2176 / 249
    rel_se = math.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    assert e.rel_lift == pytest.approx(m_t / m_c - 1)
    assert e.rel_ci_high == pytest.approx(m_t / m_c - 1 + Z * rel_se)
    assert e.n_control == 350 and e.n_treatment == 350
    assert e.p_value == pytest.approx(math.erfc(abs(est) / e.se / math.sqrt(2)))


def test_period_stratified_means_by_hand() -> None:
    """Oracle: by hand with sample variances (n − 1); explicit weights 1:3."""
    c = [MeanStats.from_values([1.0, 2.0, 3.0]), MeanStats.from_values([4.0, 6.0])]
    t = [MeanStats.from_values([2.0, 4.0]), MeanStats.from_values([5.0, 6.0, 7.0, 10.0])]
    e = period_stratified(c, t, weights=[1, 3])
    # period 0: 3 − 2 = 1, var 2/2 + 1/3; period 1: 7 − 5 = 2, var 14/3/4 + 2/2
    assert e.estimate == pytest.approx(0.25 * 1 + 0.75 * 2)
    assert e.se**2 == pytest.approx(0.0625 * (1 + 1 / 3) + 0.5625 * (14 / 12 + 1))


def test_one_period_is_the_unpooled_two_sample_comparison() -> None:
    e = period_stratified([P(10000, 1000)], [P(10000, 1100)])
    c = compare(P(10000, 1000), P(10000, 1100))
    assert e.estimate == pytest.approx(c.abs_lift)
    # sample variance (n − 1) instead of the Wald n: the interval is wider by sqrt(n/(n−1))
    assert (e.ci_high - e.estimate) / (c.abs_ci_high - c.abs_lift) == pytest.approx(
        math.sqrt(10000 / 9999)
    )


def test_simpsons_paradox_pooled_wrong_stratified_right() -> None:
    """Treatment is 1 point worse in both periods; its share rises as the baseline rises.

    Period 0: control 90/900 (10%), treatment 9/100 (9%); period 1: control 30/100
    (30%), treatment 261/900 (29%). Pooled: 12% against 27%, a +15 point "win".
    """
    control, treatment = [P(900, 90), P(100, 30)], [P(100, 9), P(900, 261)]
    pooled = compare(sum(control[1:], control[0]), sum(treatment[1:], treatment[0]))
    assert pooled.abs_lift == pytest.approx(0.15)
    assert pooled.abs_ci_low > 0 and pooled.p_value < 1e-10  # confidently wrong sign
    e = period_stratified(control, treatment)
    assert e.estimate == pytest.approx(-0.01, abs=1e-15)
    assert e.ci_low < -0.01 < e.ci_high
    assert e.control_mean == pytest.approx(0.2) and e.treatment_mean == pytest.approx(0.19)


def test_dropped_periods_are_reported_and_weights_renormalised() -> None:
    e = period_stratified([P(100, 10), P(1, 0), P(100, 20)], [P(100, 12), P(50, 5), P(300, 66)])
    assert e.dropped_periods == (1,)
    assert e.weights == pytest.approx((200 / 600, 0.0, 400 / 600))
    assert math.isnan(e.period_effects[1])
    assert any("left out" in w for w in e.warnings)
    none = period_stratified([P(1, 0)], [P(1, 1)])
    assert math.isnan(none.estimate) and none.warnings
    assert none.to_dict()["estimate"] is None


def test_bad_input() -> None:
    with pytest.raises(StatsError, match="one pair per allocation period"):
        period_stratified([P(10, 1)], [P(10, 1), P(10, 2)])
    with pytest.raises(StatsError, match="all ProportionStats or all MeanStats"):
        period_stratified([P(10, 1)], [MeanStats.from_values([1.0, 2.0])])
    with pytest.raises(StatsError, match="weights"):
        period_stratified([P(10, 1)], [P(10, 2)], weights=[-1.0])


def test_uniform_slice_is_a_plain_ab_test() -> None:
    """Oracle: DOMAIN.md z = 2.306635, p = 0.021075 for 1000/10000 against 1100/10000."""
    c = uniform_slice_comparison([P(4000, 400), P(6000, 600)], [P(3000, 330), P(7000, 770)])
    assert c.p_value == pytest.approx(0.021075, abs=1e-6)
    assert (c.abs_ci_low, c.abs_ci_high) == pytest.approx((0.0015041, 0.0184959), abs=1e-7)
    b = uniform_slice_comparison([P(100, 10)], [P(100, 12)], method="bayesian")
    assert b.method == "bayesian"


def test_coverage_under_drift_and_changing_shares() -> None:
    """Simulation (seed 19, 400 runs): stratified 95% intervals cover, pooled ones do not.

    Baseline drifts 5% → 30% while the treatment's share rises 10% → 90%; the
    effect is +1 point in every period. Tolerance: ±3 Monte Carlo SEs of 95%.
    """
    rng = np.random.default_rng(19)
    base = np.array([0.05, 0.10, 0.20, 0.30])
    share = np.array([0.1, 0.5, 0.8, 0.9])
    n = 2000
    covered_s = covered_p = 0
    runs = 400
    for _ in range(runs):
        n_t = rng.binomial(n, share)
        n_c = n - n_t
        x_c = rng.binomial(n_c, base)
        x_t = rng.binomial(n_t, base + 0.01)
        c = [P(int(a), int(b)) for a, b in zip(n_c, x_c, strict=True)]
        t = [P(int(a), int(b)) for a, b in zip(n_t, x_t, strict=True)]
        e = period_stratified(c, t)
        covered_s += e.ci_low <= 0.01 <= e.ci_high
        pooled = compare(sum(c[1:], c[0]), sum(t[1:], t[0]))
        covered_p += pooled.abs_ci_low <= 0.01 <= pooled.abs_ci_high
    tol = 3 * math.sqrt(0.95 * 0.05 / runs)
    assert abs(covered_s / runs - 0.95) <= tol
    assert covered_p / runs < 0.05


def test_period_weighted_arms_match_the_stratified_estimate() -> None:
    """The arms' period-weighted means and variances are the two halves of period_stratified."""
    control = [P(200, 20), P(150, 45), P(90, 30)]
    treatment = [P(100, 15), P(250, 80), P(310, 100)]
    e = period_stratified(control, treatment)
    arms = period_weighted_arms([control, treatment])
    assert arms.mean == pytest.approx((e.control_mean, e.treatment_mean))
    assert arms.mean[1] - arms.mean[0] == pytest.approx(e.estimate)
    assert arms.sd[0] ** 2 + arms.sd[1] ** 2 == pytest.approx(e.se**2)
    # GrowthBook's weights: each period's units over all arms (here three arms)
    third = [P(50, 5), P(50, 5), P(50, 5)]
    three = period_weighted_arms([control, treatment, third])
    units = [350, 450, 450]
    w = [u / 1250 for u in units]
    assert three.mean[0] == pytest.approx(w[0] * 0.1 + w[1] * 0.3 + w[2] * 30 / 90)
    with pytest.raises(StatsError, match="no period"):
        period_weighted_arms([[P(1, 0)], [P(5, 1)]])


def _aw_aipw_by_unit(
    y_c: list[np.ndarray],
    y_t: list[np.ndarray],
    others: list[int],
    e_c: list[float],
    e_t: list[float],
) -> tuple[float, float]:
    """Hadad et al. (2021) from unit-level data: scores, sqrt(e) weights, contrast variance."""
    rows = [(t, 0, v) for t, ys in enumerate(y_c) for v in ys]
    rows += [(t, 1, v) for t, ys in enumerate(y_t) for v in ys]
    rows += [(t, 2, 0.0) for t, k in enumerate(others) for _ in range(k)]
    per = np.array([r[0] for r in rows])
    arm = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows], dtype=float)
    terms = []
    for a, ys, e in ((0, y_c, e_c), (1, y_t, e_t)):
        past = [np.concatenate(ys[:t]) if t else np.array([]) for t in range(len(ys))]
        mu = np.array([p.mean() if p.size else 0.0 for p in past])[per]
        ee = np.array(e)[per]
        score = mu + (arm == a) * (y - mu) / ee
        h = np.sqrt(ee)
        q = np.sum(h * score) / np.sum(h)
        terms.append((q, h * (score - q) / np.sum(h)))
    (q0, d0), (q1, d1) = terms
    return q1 - q0, float(np.sqrt(np.sum((d1 - d0) ** 2)))


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_adaptively_weighted_equals_the_unit_level_computation(kind: str) -> None:
    """Oracle: the unit-level AIPW scores and weights of Hadad et al. (2021), by brute force."""
    rng = np.random.default_rng(3)
    if kind == "binary":
        y_c = [(rng.random(n) < 0.1).astype(float) for n in (500, 200, 90)]
        y_t = [(rng.random(n) < 0.13).astype(float) for n in (500, 800, 300)]
        stats_c = [P(len(v), int(v.sum())) for v in y_c]
        stats_t = [P(len(v), int(v.sum())) for v in y_t]
    else:
        y_c = [rng.gamma(2.0, 5.0, n) for n in (50, 20, 9)]
        y_t = [rng.gamma(2.0, 6.0, n) for n in (50, 80, 30)]
        stats_c = [MeanStats.from_values(v) for v in y_c]
        stats_t = [MeanStats.from_values(v) for v in y_t]
    others = [0, 0, 25]
    e_c, e_t = [0.5, 0.2, 0.2], [0.5, 0.8, 0.7]
    units = [len(a) + len(b) + o for a, b, o in zip(y_c, y_t, others, strict=True)]
    est, se = _aw_aipw_by_unit(y_c, y_t, others, e_c, e_t)
    r = adaptively_weighted(stats_c, stats_t, e_c, e_t, period_units=units)
    assert r.estimate == pytest.approx(est, rel=1e-10)
    assert r.se == pytest.approx(se, rel=1e-10)
    assert (r.ci_low, r.ci_high) == pytest.approx((est - Z * se, est + Z * se), rel=1e-9)
    with pytest.raises(StatsError, match="assignment probabilities"):
        adaptively_weighted(stats_c, stats_t, [0.5, 0.0, 0.2], e_t)
