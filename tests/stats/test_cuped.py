"""CUPED against an OLS regression and a Welch test on the adjusted outcomes."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from segab.stats import CupedStats, MeanStats, compare


def _data(seed: int, n_c: int = 800, n_t: int = 900) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.normal(10, 2, n_c), rng.normal(10, 2, n_t)
    y_c = 2 + 0.8 * x_c + rng.normal(0, 1, n_c)
    y_t = 2.3 + 0.8 * x_t + rng.normal(0, 1.2, n_t)
    return y_c, x_c, y_t, x_t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cuped_matches_ols(seed: int) -> None:
    """Oracle: statsmodels OLS of y on [1, treatment, x − x̄]; the treatment coefficient."""
    y_c, x_c, y_t, x_t = _data(seed)
    c = compare(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    y = np.concatenate([y_c, y_t])
    x = np.concatenate([x_c, x_t])
    treat = np.r_[np.zeros(len(y_c)), np.ones(len(y_t))]
    design = sm.add_constant(np.column_stack([treat, x - x.mean()]))
    fit = sm.OLS(y, design).fit()
    assert c.abs_lift == pytest.approx(fit.params[1], rel=1e-9)
    # the SE differs only by Welch (per-arm) vs pooled residual variance: close, not equal
    se = (c.abs_ci_high - c.abs_ci_low) / (2 * stats.t.ppf(0.975, 1e6))
    assert se == pytest.approx(fit.HC2_se[1], rel=0.02)
    assert c.test == "cuped_welch_t"


@pytest.mark.parametrize("seed", [4, 5])
def test_cuped_equals_welch_on_adjusted_values(seed: int) -> None:
    """Oracle: scipy.stats.ttest_ind(equal_var=False) on y − θ(x − x̄), θ from OLS."""
    y_c, x_c, y_t, x_t = _data(seed, 300, 250)
    c = compare(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    y = np.concatenate([y_c, y_t])
    x = np.concatenate([x_c, x_t])
    treat = np.r_[np.zeros(len(y_c)), np.ones(len(y_t))]
    theta = sm.OLS(y, sm.add_constant(np.column_stack([treat, x]))).fit().params[2]
    adj_c = y_c - theta * (x_c - x.mean())
    adj_t = y_t - theta * (x_t - x.mean())
    res = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert c.p_value == pytest.approx(res.pvalue, rel=1e-8)
    assert c.abs_ci_low == pytest.approx(ci.low, rel=1e-8)
    assert c.abs_ci_high == pytest.approx(ci.high, rel=1e-8)
    assert c.control_mean == pytest.approx(y_c.mean(), rel=1e-12)  # raw means are reported
    adj_means = (adj_t.mean(), adj_c.mean())
    assert c.rel_lift == pytest.approx(adj_means[0] / adj_means[1] - 1, rel=1e-9)


def test_variance_reduction_is_about_rho_squared() -> None:
    """Closed form (Deng et al. 2013): Var(Y_cuped) = Var(Y)(1 − ρ²)."""
    y_c, x_c, y_t, x_t = _data(9, 5000, 5000)
    c = compare(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    plain = compare(MeanStats.from_values(y_c), MeanStats.from_values(y_t))
    rho = np.corrcoef(np.r_[x_c, x_t], np.r_[y_c, y_t] - np.r_[np.zeros(5000), np.ones(5000)] * 0.3)
    assert c.variance_reduction == pytest.approx(rho[0, 1] ** 2, abs=0.02)
    width = c.abs_ci_high - c.abs_ci_low
    assert width < plain.abs_ci_high - plain.abs_ci_low
    assert c.variance_reduction is not None and c.variance_reduction > 0.5


def test_constant_covariate_means_no_adjustment() -> None:
    """With Var(x) = 0, θ = 0 and CUPED equals the plain Welch test (with a warning)."""
    rng = np.random.default_rng(3)
    y_c, y_t = rng.normal(0, 1, 100), rng.normal(0.2, 1, 100)
    c = compare(
        CupedStats.from_values(y_c, np.ones(100)), CupedStats.from_values(y_t, np.ones(100))
    )
    plain = compare(MeanStats.from_values(y_c), MeanStats.from_values(y_t))
    assert c.p_value == pytest.approx(plain.p_value, rel=1e-9)
    assert any("covariate has no variance" in w for w in c.warnings)
