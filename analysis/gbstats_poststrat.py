"""Cross-check of segab's post-stratification and regression adjustment against GrowthBook.

``gbstats`` (the 2026 ``packages/stats`` of growthbook/growthbook, which has
post-stratification, ``EffectMomentsPostStratification``, and one-covariate
CUPED, ``RegressionAdjustedStatistic``; the PyPI release 0.8.0 has neither) is
imported from the directory named by ``SEGAB_GBSTATS_PATH``. None of its code is
copied here: this module only builds its inputs from the same sums and calls it.

What is compared (``python analysis/gbstats_poststrat.py``):

* post-stratified absolute effect, continuous and binary strata: the point
  estimates; the standard errors as they are, and after adding to segab's
  variance (conditional on the strata sizes, Miratrix et al. 2013) the
  multinomial term GrowthBook adds for random strata sizes,
  ``(1/n)·(Σ w_s Δ_s² − (Σ w_s Δ_s)²)``;
* one covariate: segab's Lin (2013) interacted regression against GrowthBook's
  CUPED (one θ from the covariance of both arms pooled): different estimators,
  compared for how close they are.

Run (from the repository root)::

    SEGAB_GBSTATS_PATH=/path/to/packages/stats PYTHONPATH=. python analysis/gbstats_poststrat.py
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from typing import Any

import numpy as np

from segab.stats.estimates import mean_estimates, proportion_estimates
from segab.stats.poststrat import post_stratify
from segab.stats.regression import RegressionStats, regression_estimates

__all__ = ["agreement_digits", "compare_cuped", "compare_post_stratified", "load_gbstats"]


def load_gbstats() -> tuple[Any, Any] | str:
    """GrowthBook's ``models.tests`` and ``models.statistics``, or why they are unavailable."""
    path = os.environ.get("SEGAB_GBSTATS_PATH")
    if not path:
        return "SEGAB_GBSTATS_PATH is unset"
    sys.path.insert(0, path)
    try:
        tests = importlib.import_module("gbstats.models.tests")
        stats = importlib.import_module("gbstats.models.statistics")
    except ImportError as exc:
        return f"cannot import gbstats from {path}: {exc}"
    return tests, stats


def agreement_digits(a: float, b: float) -> float:
    """Significant digits on which two numbers agree (``-log10`` of the relative difference)."""
    if a == b:
        return 16.0
    return float(-math.log10(abs(a - b) / max(abs(a), abs(b))))


def _strata(rng: np.random.Generator, binary: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for level, n_c, n_t, effect in ((0.2, 900, 1100, 0.02), (0.4, 2000, 1900, 0.0),
                                    (0.6, 300, 350, 0.05)):  # fmt: skip
        if binary:
            out.append((rng.random(n_c) < level, rng.random(n_t) < level + effect))
        else:
            out.append((rng.normal(10 * level, 2, n_c), rng.normal(10 * level + effect, 2.5, n_t)))
    return [(c.astype(float), t.astype(float)) for c, t in out]


def compare_post_stratified(gb: tuple[Any, Any], seed: int, binary: bool) -> dict[str, float]:
    """segab's and GrowthBook's post-stratified absolute effect on the same strata sums."""
    tests, stats = gb
    parts = _strata(np.random.default_rng(seed), binary)
    if binary:
        est = proportion_estimates(
            [len(c) for c, _ in parts], [int(c.sum()) for c, _ in parts],
            [len(t) for _, t in parts], [int(t.sum()) for _, t in parts],
        )  # fmt: skip
        prop = stats.ProportionStatistic
        pairs = [(prop(n=len(c), sum=float(c.sum())), prop(n=len(t), sum=float(t.sum())))
                 for c, t in parts]  # fmt: skip
    else:
        sums = [(len(a), a.sum(), (a * a).sum()) for pair in parts for a in pair]
        est = mean_estimates(*(list(col) for col in zip(*sums[0::2], strict=True)),
                             *(list(col) for col in zip(*sums[1::2], strict=True)))  # fmt: skip
        pairs = [(stats.SampleMeanStatistic(n=len(c), sum=float(c.sum()),
                                            sum_squares=float((c * c).sum())),
                  stats.SampleMeanStatistic(n=len(t), sum=float(t.sum()),
                                            sum_squares=float((t * t).sum())))
                 for c, t in parts]  # fmt: skip
    ours = post_stratify([est])
    config = tests.EffectMomentsConfig(difference_type="absolute")
    theirs = tests.EffectMomentsPostStratification(pairs, config).compute_result()
    n = np.array([len(c) + len(t) for c, t in parts], dtype=float)
    w = n / n.sum()
    delta = est.abs_lift
    multinomial = (np.sum(w * delta**2) - np.sum(w * delta) ** 2) / n.sum()
    se = math.sqrt(float(ours.abs_var[0]))
    se_plus = math.sqrt(float(ours.abs_var[0]) + multinomial)
    return {
        "segab_effect": float(ours.abs_lift[0]),
        "gb_effect": float(theirs.point_estimate),
        "segab_se": se,
        "segab_se_plus_multinomial": se_plus,
        "gb_se": float(theirs.standard_error),
        "effect_digits": agreement_digits(float(ours.abs_lift[0]), theirs.point_estimate),
        "se_digits": agreement_digits(se, theirs.standard_error),
        "se_plus_multinomial_digits": agreement_digits(se_plus, theirs.standard_error),
    }


def compare_cuped(gb: tuple[Any, Any], seed: int, n: int = 5000) -> dict[str, float]:
    """segab's Lin regression (one covariate) and GrowthBook's CUPED on the same sums."""
    tests, stats = gb
    rng = np.random.default_rng(seed)
    arms = []
    for shift, noise in ((0.0, 1.0), (0.3, 1.3)):
        x = rng.normal(10, 2, n)
        arms.append((2 + shift + 0.8 * x + rng.normal(0, noise, n), x))
    ours = regression_estimates(
        [RegressionStats.from_values(arms[0][0], arms[0][1][:, None])],
        [RegressionStats.from_values(arms[1][0], arms[1][1][:, None])],
    )
    gb_arms = []
    for y, x in arms:
        post = stats.SampleMeanStatistic(n=n, sum=float(y.sum()), sum_squares=float((y * y).sum()))
        pre = stats.SampleMeanStatistic(n=n, sum=float(x.sum()), sum_squares=float((x * x).sum()))
        gb_arms.append(stats.RegressionAdjustedStatistic(
            n=n, post_statistic=post, pre_statistic=pre,
            post_pre_sum_of_products=float((x * y).sum()), theta=None))  # fmt: skip
    a, b = stats.create_theta_adjusted_statistics(gb_arms[0], gb_arms[1])  # GrowthBook's θ
    config = tests.EffectMomentsConfig(difference_type="absolute")
    theirs = tests.EffectMoments([(a, b)], config).compute_result()
    se = math.sqrt(float(ours.abs_var[0]))
    return {
        "segab_effect": float(ours.abs_lift[0]),
        "gb_effect": float(theirs.point_estimate),
        "segab_se": se,
        "gb_se": float(theirs.standard_error),
        "effect_digits": agreement_digits(float(ours.abs_lift[0]), theirs.point_estimate),
        "se_digits": agreement_digits(se, theirs.standard_error),
    }


def main() -> None:
    gb = load_gbstats()
    if isinstance(gb, str):
        print(f"skipped: {gb}")
        return
    for label, out in (
        ("post-stratified, continuous", compare_post_stratified(gb, 1, binary=False)),
        ("post-stratified, binary", compare_post_stratified(gb, 2, binary=True)),
        ("one covariate: Lin vs GrowthBook CUPED", compare_cuped(gb, 3)),
    ):
        shown = ", ".join(f"{k} {v:.10g}" for k, v in out.items())
        print(f"{label}: {shown}")


if __name__ == "__main__":
    main()
