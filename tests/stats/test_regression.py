"""Regression adjustment (Lin 2013) and post-stratification (Miratrix, Sekhon, Yu 2013).

Oracles: statsmodels OLS on the raw rows (the interacted design for the point
estimate, one fit per arm for the standard error), statsmodels OLS with stratum
dummies and centered treatment x stratum interactions for the post-stratified
point estimate, and the closed forms of the two papers on the rows (numpy).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from segab.errors import StatsError
from segab.stats.cuped import cuped_estimates
from segab.stats.estimates import mean_estimates, proportion_estimates
from segab.stats.poststrat import W_STRATA_LEFT_OUT, post_stratify
from segab.stats.regression import W_COLLINEAR, RegressionStats, regression_estimates


def _arms(seed: int, k: int, n_c: int = 700, n_t: int = 800) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x_c = rng.normal(5, 2, (n_c, k)) + rng.normal(0, 1, (n_c, 1))  # correlated covariates
    x_t = rng.normal(5, 2, (n_t, k)) + rng.normal(0, 1, (n_t, 1))
    beta = np.linspace(0.5, 1.5, k)
    y_c = 1 + x_c @ beta + rng.normal(0, 1, n_c)
    y_t = 1.4 + x_t @ (beta * 1.1) + rng.normal(0, 1.5, n_t)  # other slopes, other noise
    return y_c, x_c, y_t, x_t


@pytest.mark.parametrize(("seed", "k"), [(1, 1), (2, 2), (3, 4)])
def test_point_estimate_is_the_interacted_ols_coefficient(seed: int, k: int) -> None:
    """Oracle: statsmodels.api.OLS(y, [1, T, X − x̄, T·(X − x̄)]).fit().params[1] (Lin 2013)."""
    y_c, x_c, y_t, x_t = _arms(seed, k)
    e = regression_estimates(
        [RegressionStats.from_values(y_c, x_c)], [RegressionStats.from_values(y_t, x_t)]
    )
    y, x = np.r_[y_c, y_t], np.vstack([x_c, x_t])
    t = np.r_[np.zeros(len(y_c)), np.ones(len(y_t))]
    xc = x - x.mean(axis=0)
    fit = sm.OLS(y, np.column_stack([np.ones_like(y), t, xc, t[:, None] * xc])).fit()
    assert float(e.abs_lift[0]) == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
    assert float(e.adj_control_mean[0]) == pytest.approx(fit.params[0], rel=1e-9)
    # the per-arm residual variances are close to the robust HC2 error of the same fit
    assert math.sqrt(float(e.abs_var[0])) == pytest.approx(fit.HC2_se[1], rel=0.03)


@pytest.mark.parametrize(("seed", "k"), [(4, 1), (5, 3)])
def test_variance_is_the_sum_of_per_arm_classical_intercept_variances(seed: int, k: int) -> None:
    """Oracle: statsmodels.api.OLS(y_a, [1, X_a − x̄]).fit().bse[0] per arm (non-robust)."""
    y_c, x_c, y_t, x_t = _arms(seed, k, n_c=300, n_t=450)
    e = regression_estimates(
        [RegressionStats.from_values(y_c, x_c)], [RegressionStats.from_values(y_t, x_t)]
    )
    center = np.vstack([x_c, x_t]).mean(axis=0)
    fc = sm.OLS(y_c, sm.add_constant(x_c - center, has_constant="add")).fit()
    ft = sm.OLS(y_t, sm.add_constant(x_t - center, has_constant="add")).fit()
    assert float(e.var_control_mean[0]) == pytest.approx(fc.bse[0] ** 2, rel=1e-9)
    assert float(e.abs_var[0]) == pytest.approx(fc.bse[0] ** 2 + ft.bse[0] ** 2, rel=1e-9)
    # Welch–Satterthwaite with each arm's residual df (statsmodels df_resid)
    vc, vt = fc.bse[0] ** 2, ft.bse[0] ** 2
    df = (vc + vt) ** 2 / (vc**2 / fc.df_resid + vt**2 / ft.df_resid)
    assert float(e.df[0]) == pytest.approx(df, rel=1e-9)
    raw = y_c.var(ddof=1) / len(y_c) + y_t.var(ddof=1) / len(y_t)
    assert float(e.variance_reduction[0]) == pytest.approx(1 - e.abs_var[0] / raw, rel=1e-9)
    assert float(e.variance_reduction[0]) > 0.5  # strong covariates: most variance removed


def test_one_covariate_is_close_to_cuped() -> None:
    """One covariate: Lin's arm-specific slopes versus CUPED's pooled θ; same answer to 1e-2."""
    y_c, x_c, y_t, x_t = _arms(6, 1, 2000, 2000)
    c, t = RegressionStats.from_values(y_c, x_c), RegressionStats.from_values(y_t, x_t)
    e = regression_estimates([c], [t])
    cu = cuped_estimates(
        [c.n], [c.y_sum], [c.y_sum_sq], [c.x_sum[0]], [c.xx_sum[0]], [c.xy_sum[0]],
        [t.n], [t.y_sum], [t.y_sum_sq], [t.x_sum[0]], [t.xx_sum[0]], [t.xy_sum[0]],
    )  # fmt: skip
    assert float(e.abs_lift[0]) == pytest.approx(float(cu.abs_lift[0]), abs=0.02)
    assert float(e.abs_var[0]) == pytest.approx(float(cu.abs_var[0]), rel=0.05)


def test_sums_pool_by_addition() -> None:
    """Sums of two parts equal the sums of the concatenated rows (closed form)."""
    y_c, x_c, _, _ = _arms(7, 2)
    a = RegressionStats.from_values(y_c[:300], x_c[:300])
    b = RegressionStats.from_values(y_c[300:], x_c[300:])
    whole = RegressionStats.from_values(y_c, x_c)
    pooled = sum([a, b])
    assert isinstance(pooled, RegressionStats)
    assert pooled.n == whole.n
    np.testing.assert_allclose(pooled.xx_sum, whole.xx_sum, rtol=1e-12)
    np.testing.assert_allclose(pooled.xy_sum, whole.xy_sum, rtol=1e-12)


def test_constant_covariate_gives_welch_with_a_warning() -> None:
    """A covariate with no variance adjusts nothing: the Welch test of the raw means."""
    rng = np.random.default_rng(8)
    y_c, y_t = rng.normal(0, 1, 50), rng.normal(0.2, 2, 60)
    c = RegressionStats.from_values(y_c, np.ones((50, 1)))
    t = RegressionStats.from_values(y_t, np.ones((60, 1)))
    e = regression_estimates([c], [t])
    w = mean_estimates([50], [y_c.sum()], [(y_c**2).sum()], [60], [y_t.sum()], [(y_t**2).sum()])
    assert float(e.abs_lift[0]) == pytest.approx(float(w.abs_lift[0]), rel=1e-9)
    assert float(e.abs_var[0]) == pytest.approx(float(w.abs_var[0]), rel=1e-9)
    assert W_COLLINEAR in e.warnings[0]


def test_bad_sums_raise() -> None:
    with pytest.raises(StatsError, match="x_sum"):
        RegressionStats(3, 1.0, 1.0, (math.nan,), (1.0,), (1.0,))
    with pytest.raises(StatsError, match="K\\(K\\+1\\)/2"):
        RegressionStats(3, 1.0, 1.0, (1.0, 2.0), (1.0, 2.0), (1.0,))
    one = RegressionStats(3, 1.0, 1.0, (1.0,), (1.0,), (1.0,))
    two = RegressionStats(3, 1.0, 1.0, (1.0, 1.0), (1.0, 1.0), (1.0, 1.0, 1.0))
    with pytest.raises(StatsError, match="same covariates"):
        regression_estimates([one], [two])


def _strata(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for level, n_c, n_t, effect in ((0.0, 200, 250, 0.3), (5.0, 400, 380, 0.1), (12.0, 90, 60, 1)):
        out.append((rng.normal(level, 2, n_c), rng.normal(level + effect, 2.5, n_t)))
    return out


def _mean_strata(parts: list[tuple[np.ndarray, np.ndarray]]):  # type: ignore[no-untyped-def]
    cols = [[], [], [], [], [], []]  # type: ignore[var-annotated]
    for yc, yt in parts:
        for col, v in zip(cols, (len(yc), yc.sum(), (yc**2).sum(), len(yt), yt.sum(),
                                 (yt**2).sum()), strict=True):  # fmt: skip
            col.append(v)
    return mean_estimates(*cols)


def test_post_stratified_point_estimate_is_the_interacted_dummy_ols() -> None:
    """Oracle: statsmodels OLS of y on [1, T, D_s, T·(D_s − w_s)] (s ≥ 2), coefficient of T."""
    parts = _strata(9)
    e = post_stratify([_mean_strata(parts)])
    ys, ts, ds = [], [], []
    for s, (yc, yt) in enumerate(parts):
        ys += [yc, yt]
        ts += [np.zeros(len(yc)), np.ones(len(yt))]
        ds += [np.full(len(yc), s), np.full(len(yt), s)]
    y, t, d = np.concatenate(ys), np.concatenate(ts), np.concatenate(ds)
    dummies = np.column_stack([(d == s).astype(float) for s in (1, 2)])
    w = dummies.mean(axis=0)
    design = np.column_stack([np.ones_like(y), t, dummies, t[:, None] * (dummies - w)])
    fit = sm.OLS(y, design).fit()
    assert float(e.abs_lift[0]) == pytest.approx(fit.params[1], rel=1e-9)


def test_post_stratified_variance_is_the_conditional_form() -> None:
    """Closed form (Miratrix et al. 2013, variance given W): Σ w_s² (s²_t/n_t + s²_c/n_c)."""
    parts = _strata(10)
    n = sum(len(a) + len(b) for a, b in parts)
    expected = sum(
        ((len(yc) + len(yt)) / n) ** 2 * (yc.var(ddof=1) / len(yc) + yt.var(ddof=1) / len(yt))
        for yc, yt in parts
    )
    yc_all = np.concatenate([p[0] for p in parts])
    yt_all = np.concatenate([p[1] for p in parts])
    raw = yc_all.var(ddof=1) / len(yc_all) + yt_all.var(ddof=1) / len(yt_all)
    e = post_stratify([_mean_strata(parts)], raw_var=[raw])
    assert float(e.abs_var[0]) == pytest.approx(expected, rel=1e-9)
    assert float(e.variance_reduction[0]) > 0.5  # the strata's levels differ: removed


def test_post_stratified_binary_and_left_out_strata() -> None:
    """Binary strata: Σ w_s (p_t − p_c); a stratum with one unit in an arm is left out."""
    s = proportion_estimates([100, 300, 1], [10, 60, 0], [100, 300, 5], [20, 90, 1])
    e = post_stratify([s])
    assert float(e.abs_lift[0]) == pytest.approx(0.25 * 0.1 + 0.75 * 0.1, rel=1e-12)
    assert W_STRATA_LEFT_OUT in e.warnings[0]
    assert int(e.n_control[0]) == 400
