"""Non-inferiority tests and sizes against scipy and statsmodels.

Oracles: ``scipy.stats.norm.sf`` of the one-sided z against the margin (and the
DOMAIN check case: 1,000/10,000 vs 990/10,000, 1-point margin: z = 2.126056,
p = 0.016749); statsmodels ``zt_ind_solve_power(..., alternative="larger")`` for
the sizes; the closed form ``1 − β/(G + 1)`` of Schultzberg, Ankargren and
Frånberg (2024) for the power split.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.stats.power import zt_ind_solve_power

from segab.errors import StatsError
from segab.stats import ProportionStats, compare
from segab.stats.noninferiority import (
    corrected_power,
    noninferiority,
    noninferiority_size_per_arm,
)


def test_domain_check_case() -> None:
    c = compare(ProportionStats(10000, 1000), ProportionStats(10000, 990))
    t = noninferiority(c.abs_lift, c.abs_se, 0.01, "increase", 0.05)
    assert t.z == pytest.approx(2.126056, abs=1e-6)
    assert t.p_value == pytest.approx(0.016749, abs=1e-6)
    assert t.passed


@given(
    est=st.floats(-1, 1),
    se=st.floats(1e-3, 1),
    margin=st.floats(1e-3, 0.5),
    up=st.booleans(),
)
def test_p_value_is_scipys_one_sided(est: float, se: float, margin: float, up: bool) -> None:
    t = noninferiority(est, se, margin, "increase" if up else "decrease", 0.05)
    want = norm.sf((est + margin) / se) if up else norm.sf((margin - est) / se)
    assert t.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)
    assert t.passed == (want < 0.05)


@given(est=st.floats(-0.2, 0.2), se=st.floats(1e-3, 0.1), m=st.floats(1e-3, 0.2))
def test_a_wider_margin_never_hurts(est: float, se: float, m: float) -> None:
    a = noninferiority(est, se, m, "increase", 0.05).p_value
    b = noninferiority(est, se, m * 1.5, "increase", 0.05).p_value
    assert b <= a


def test_mirror_for_decrease() -> None:
    up = noninferiority(-0.004, 0.003, 0.01, "increase", 0.05)
    down = noninferiority(0.004, 0.003, 0.01, "decrease", 0.05)
    assert up.p_value == pytest.approx(down.p_value)


def test_undefined_se_is_not_a_pass() -> None:
    for se in (None, 0.0, math.nan):
        t = noninferiority(0.0, se, 0.01, "increase", 0.05)
        assert math.isnan(t.p_value) and not t.passed


def test_bad_arguments() -> None:
    with pytest.raises(StatsError, match="margin"):
        noninferiority(0.0, 0.1, 0.0, "increase", 0.05)
    with pytest.raises(StatsError, match="direction"):
        noninferiority(0.0, 0.1, 0.1, "up", 0.05)
    with pytest.raises(StatsError, match="power"):
        corrected_power(1.0, 1)


@pytest.mark.parametrize(("std", "margin", "alpha", "power"), [
    (0.3, 0.01, 0.05, 0.8), (0.3, 0.01, 0.05, 0.95), (12.0, 0.5, 0.01, 0.9),
    (1.0, 0.05, 0.1, 0.8 + 0.2 * 3 / 4),
])  # fmt: skip
def test_size_matches_statsmodels(std: float, margin: float, alpha: float, power: float) -> None:
    want = zt_ind_solve_power(
        effect_size=margin / std, alpha=alpha, power=power, alternative="larger"
    )
    assert noninferiority_size_per_arm(std, margin, alpha, power) == math.ceil(want)


@pytest.mark.parametrize("g", [0, 1, 2, 5])
def test_power_split(g: int) -> None:
    assert corrected_power(0.8, g) == pytest.approx(1 - 0.2 / (g + 1))
    # the decision needs all G + 1 tests to pass: with independent tests its power is
    # p^(G+1), which the split keeps at or above 1 − β (and within 2 points of it)
    decision_power = corrected_power(0.8, g) ** (g + 1)
    assert 0.8 <= decision_power < 0.82
