"""Empirical-Bayes shrinkage and robust EB intervals against their oracles.

Oracles:
- /work/shared/DOMAIN.md "Empirical Bayes, normal-normal, method of moments" (scipy);
- the positive-part James-Stein / Efron-Morris closed form for equal variances;
- REML: a direct numerical maximisation (scipy.optimize) of the restricted
  likelihood written as the likelihood of the error contrasts A'y (Harville 1977),
  not through the module's own formula;
- robust EB critical values: the published values of Armstrong, Kolesar and
  Plagborg-Moller's R package ``ebci`` (tests/testthat/test-cv.R), and a linear
  programme over a grid of the non-coverage problem the critical value solves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg, optimize, stats

from segab.errors import StatsError
from segab.stats import (
    ebci_critical_value,
    ebci_max_non_coverage,
    ebci_parametric_critical_value,
    shrink,
    tau2_estimate,
)

DOMAIN_Y = [0.10, 0.02, -0.03, 0.05, 0.00]


# --- DOMAIN.md check values ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["moments", "reml"])
@pytest.mark.parametrize("fs", ["pmt", "none"])
def test_domain_check_values(method: str, fs: str) -> None:
    r = shrink(DOMAIN_Y, [0.03] * 5, tau2_method=method, fs_correction=fs)  # type: ignore[arg-type]
    g = r.groups[0]
    assert g.mean == pytest.approx(0.028, abs=1e-12)
    assert g.tau2 == pytest.approx(0.00157, abs=1e-12)
    assert r.weights[0] == pytest.approx(0.635628, abs=5e-7)
    expected = [0.073765, 0.022915, -0.008866, 0.041984, 0.010202]
    assert r.posterior_means == pytest.approx(expected, abs=5e-7)


# --- James-Stein closed form ----------------------------------------------------------------


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=5, max_size=30),
    st.floats(0.01, 0.5),
)
@settings(max_examples=100, deadline=None)
def test_equal_variances_match_the_james_stein_form(values: list[float], s: float) -> None:
    """Equal variances: theta = ybar + (1 - c s^2/S)_+ (y - ybar), S = sum (y - ybar)^2.

    c = k - 1 for the method of moments and REML (Efron and Morris 1973's plug-in form;
    James-Stein's unbiased constant is k - 3), c = k for the AKP moment estimator.
    """
    y = np.array(values)
    k = y.size
    big = float(np.sum((y - y.mean()) ** 2))
    if big < 1e-6:
        return
    for method, c in (("moments", k - 1), ("reml", k - 1), ("akp", k)):
        w = max(0.0, 1.0 - c * s * s / big)
        r = shrink(y, [s] * k, tau2_method=method, fs_correction="none", intervals=False)  # type: ignore[arg-type]
        expected = y.mean() + w * (y - y.mean())
        assert np.allclose(r.posterior_means, expected, atol=1e-9 * (1 + abs(y).max())), method


# --- REML against a direct maximisation ------------------------------------------------------


def _contrast_loglik(tau2: float, y: np.ndarray, var: np.ndarray) -> float:
    """Log-likelihood of the k - 1 error contrasts A'y ~ N(0, A' V A), A orthogonal to 1."""
    a = linalg.null_space(np.ones((1, y.size)))
    cov = a.T @ np.diag(var + tau2) @ a
    return float(stats.multivariate_normal(np.zeros(y.size - 1), cov).logpdf(a.T @ y))


@pytest.mark.parametrize("seed", range(6))
def test_reml_matches_direct_maximisation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(5, 20))
    se = rng.uniform(0.01, 0.08, k)
    y = 0.02 + rng.normal(0, [0.0, 0.01, 0.03, 0.05, 0.02, 0.04][seed], k) + rng.normal(0, se)
    var = se**2
    upper = 10 * float(np.var(y) + var.max())
    direct = optimize.minimize_scalar(
        lambda t: -_contrast_loglik(t, y, var),
        bounds=(0, upper),
        method="bounded",
        options={"xatol": 1e-12},
    )
    mine = tau2_estimate(y, se, "reml")
    assert _contrast_loglik(mine, y, var) >= -direct.fun - 1e-9
    assert mine == pytest.approx(direct.x, abs=1e-7 * max(1.0, upper))


# --- robust EB critical values: the ebci package's published values --------------------------


@pytest.mark.parametrize(
    ("m2", "kappa", "alpha", "expected", "digits"),
    [
        (25.0, 3.0, 0.05, 11.88358367, 8),  # test-cv.R "Simple critical value sanity checks"
        (1.0, 3.0, 0.2, 1.8494683, 7),
        (100.0, 3.0, 0.05, 24.86172217, 8),  # "Check large values"
        (2.8**2, 8.0, 0.1, 7.0779747158, 10),
    ],
)
def test_critical_values_match_the_published_ones(
    m2: float, kappa: float, alpha: float, expected: float, digits: int
) -> None:
    assert round(ebci_critical_value(m2, kappa, alpha), digits) == pytest.approx(expected)


def test_non_coverage_matches_the_published_values() -> None:
    assert round(ebci_max_non_coverage(1.0, 3.0, 11.9699639845401), 9) == 6.0216e-05
    assert round(ebci_max_non_coverage(2.8**2, 8.0, 7.1324290147839279896), 8) == 0.09805099


def test_critical_value_special_cases() -> None:
    z = stats.norm.ppf(0.975)
    assert ebci_critical_value(0.0) == pytest.approx(z, abs=1e-10)
    assert ebci_critical_value(0.0, 4.0, 0.2) == pytest.approx(stats.norm.ppf(0.9), abs=1e-10)
    for b in (0.0, 1.0, 5.0, 100.0):  # kappa = 1: known bias, |Z + b| (ebci's CVb)
        known = ebci_critical_value(b * b, 1.0)
        assert stats.ncx2.sf(known**2, 1, b * b) == pytest.approx(0.05, abs=1e-9)
    assert ebci_critical_value(25.0, 1.000001) == pytest.approx(
        ebci_critical_value(25.0, 1.0), abs=1e-5
    )
    # kurtosis bound that does not bind gives the second-moment-only value
    assert ebci_critical_value(4.0, 20.0) == pytest.approx(ebci_critical_value(4.0), abs=1e-10)
    assert ebci_critical_value(1.0, 1e4, 0.2) == pytest.approx(
        ebci_critical_value(1.0, math.inf, 0.2)
    )
    assert ebci_critical_value(0.25, 15.0) < ebci_critical_value(0.25) - 1e-4
    assert math.isnan(ebci_critical_value(math.inf))
    # Chebyshev is nearly sharp for a huge m2
    assert ebci_critical_value(1e10) / math.sqrt((1 + 1e10) / 0.05) == pytest.approx(1.0, abs=1e-4)
    assert ebci_parametric_critical_value(3.0) == pytest.approx(2 * z)


def _r(t: np.ndarray, chi: float) -> np.ndarray:
    s = np.sqrt(t)
    return stats.norm.cdf(-chi - s) + stats.norm.sf(chi - s)


@pytest.mark.parametrize(
    ("m2", "kappa", "chi"),
    [(0.25, 3.0, 2.3), (0.5, 5.0, 3.0), (1.0, 3.0, 3.5), (0.1, 15.0, 2.5), (2.0, 2.0, 4.0)],
)
def test_non_coverage_is_the_linear_programme_value(m2: float, kappa: float, chi: float) -> None:
    """max E r(t) s.t. E 1 = 1, E t = m2, E t^2 <= kappa m2^2 over a grid of t (primal LP)."""
    t = np.unique(np.concatenate([np.linspace(0, 6 * chi * chi, 6000), [m2]]))
    res = optimize.linprog(
        -_r(t, chi),
        A_ub=[t * t],
        b_ub=[kappa * m2 * m2],
        A_eq=[np.ones_like(t), t],
        b_eq=[1.0, m2],
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    mine = ebci_max_non_coverage(m2, kappa, chi)
    assert -res.fun <= mine + 1e-9  # a grid can only do worse than the supremum
    assert mine == pytest.approx(-res.fun, rel=1e-3)


def test_robust_intervals_cover_on_average_under_a_skewed_world() -> None:
    """Average coverage of theta_hat +- cva w s over cells; effects: a skewed 2-point mixture."""
    rng = np.random.default_rng(5)
    k, s = 4000, 1.0
    theta = np.where(rng.random(k) < 0.1, 3.0, 0.0)  # few large effects among nulls
    mu, mu2 = theta.mean(), theta.var()
    kappa = float(np.mean((theta - mu) ** 4) / mu2**2)
    w = mu2 / (mu2 + s * s)
    cover = []
    for rep in range(20):
        y = theta + rng.normal(0, s, k)
        post = mu + w * (y - mu)
        cv = ebci_critical_value(s * s / mu2, kappa)
        cover.append(np.mean(np.abs(post - theta) <= cv * w * s))
        if rep == 0:  # the parametric interval under-covers here
            half = 1.959964 * math.sqrt(w) * s
            assert np.mean(np.abs(post - theta) <= half) < 0.94
    assert np.mean(cover) >= 0.945


# --- properties -------------------------------------------------------------------------------

cells = st.lists(
    st.tuples(st.floats(-1, 1, allow_nan=False), st.floats(0.005, 0.3)), min_size=1, max_size=25
)


@given(cells, st.sampled_from(["reml", "moments", "akp"]), st.sampled_from(["pmt", "none"]))
@settings(max_examples=150, deadline=None)
def test_shrunk_lies_between_raw_and_mean_and_pooled_is_unchanged(
    data: list[tuple[float, float]], method: str, fs: str
) -> None:
    y = np.array([d[0] for d in data])
    se = np.array([d[1] for d in data])
    r = shrink(y, se, tau2_method=method, fs_correction=fs, intervals=False)  # type: ignore[arg-type]
    post = np.array(r.posterior_means)
    g = r.groups[0]
    if not g.shrunk:
        assert np.array_equal(post, y)  # identity (fewer than 5 cells, or one)
        assert r.warnings
        return
    lo, hi = np.minimum(y, g.mean), np.maximum(y, g.mean)
    assert np.all(post >= lo - 1e-12) and np.all(post <= hi + 1e-12)
    w = 1 / se**2
    assert np.sum(w * post) / np.sum(w) == pytest.approx(np.sum(w * y) / np.sum(w), abs=1e-9)


@given(st.floats(-1, 1, allow_nan=False), st.floats(0.001, 1))
def test_one_cell_is_the_identity(y: float, s: float) -> None:
    r = shrink([y], [s], min_cells=1)
    assert r.posterior_means == (y,) and r.weights == (1.0,)
    z = stats.norm.ppf(0.975)
    assert r.ci_low[0] == pytest.approx(y - z * s) and r.ci_high[0] == pytest.approx(y + z * s)


def test_groups_shrink_separately_and_small_groups_are_left_alone() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0.02, 0.03, 14)
    se = rng.uniform(0.01, 0.04, 14)
    stages = ["a"] * 6 + ["b"] * 5 + ["c"] * 3
    r = shrink(y, se, stages)
    for label, sl in (("a", slice(0, 6)), ("b", slice(6, 11))):
        alone = shrink(y[sl], se[sl])
        assert r.posterior_means[sl] == pytest.approx(alone.posterior_means)
        assert r.ci_low[sl] == pytest.approx(alone.ci_low)
        assert next(g for g in r.groups if g.label == label).tau2 == alone.groups[0].tau2
    assert r.posterior_means[11:] == tuple(y[11:])
    assert [w for w in r.warnings if "'c': 3 cell(s)" in w]
    grid = shrink(y, se)
    assert len(grid.groups) == 1 and grid.groups[0].k == 14


def test_intervals_contain_the_posterior_mean_and_kappa_inf_is_wider() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(0.0, 0.05, 16)
    se = rng.uniform(0.02, 0.06, 16)
    r = shrink(y, se, kappa=3.0)
    wide = shrink(y, se, kappa=math.inf)
    for i in range(16):
        assert r.ci_low[i] < r.posterior_means[i] < r.ci_high[i]
        assert wide.ci_high[i] - wide.ci_low[i] >= r.ci_high[i] - r.ci_low[i] - 1e-12
        # the robust interval is never shorter than the parametric one
        assert (
            r.ci_high[i] - r.ci_low[i] >= r.parametric_ci_high[i] - r.parametric_ci_low[i] - 1e-12
        )


def test_zero_variance_without_correction_is_flagged() -> None:
    r = shrink([0.01, 0.0, 0.01, 0.0, 0.005], [0.05] * 5, fs_correction="none")
    assert r.groups[0].tau2 == 0.0 and r.weights == (0.0,) * 5
    assert math.isnan(r.ci_low[0]) and "undefined" in r.warnings[0]
    pmt = shrink([0.01, 0.0, 0.01, 0.0, 0.005], [0.05] * 5)
    assert pmt.groups[0].tau2 > 0 and all(math.isfinite(v) for v in pmt.ci_low)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimates": [0.1, 0.2], "std_errors": [0.1]}, "one standard error per estimate"),
        ({"estimates": [0.1], "std_errors": [0.0]}, "standard error > 0"),
        ({"estimates": [math.nan], "std_errors": [0.1]}, "finite estimate"),
        ({"estimates": [0.1], "std_errors": [0.1], "tau2_method": "dl"}, "expected 'reml'"),
        ({"estimates": [0.1], "std_errors": [0.1], "center": "median"}, "random_effects"),
        ({"estimates": [0.1], "std_errors": [0.1], "groups": ["a", "b"]}, "one each"),
        ({"estimates": [0.1], "std_errors": [0.1], "kappa": 0.5}, "kurtosis"),
    ],
)
def test_bad_input_names_what_was_expected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(StatsError, match=message):
        if kwargs.get("tau2_method") == "dl":
            tau2_estimate([0.1, 0.2], [0.1, 0.1], "dl")  # type: ignore[arg-type]
        else:
            shrink(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="kurtosis"):
        ebci_critical_value(1.0, 0.5)
    with pytest.raises(StatsError, match="second moment"):
        ebci_critical_value(-1.0)
