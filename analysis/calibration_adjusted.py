"""Calibration rows of regression-adjusted and post-stratified effects (part of calibration.py).

* Regression adjustment (Lin 2013, two covariates, skewed outcome, arms with
  different noise): A/A false-positive rate and 95% coverage of a known additive
  effect, from the sums of each simulated arm (:class:`RegressionStats`).
* Post-stratification (Miratrix, Sekhon and Yu 2013) over four strata of
  different levels, sizes drawn at random (multinomial): A/A false-positive
  rate, and 95% coverage of the population-weighted effect when the effect
  differs between strata; then post-stratification of regression-adjusted strata.

Run through ``analysis/calibration.py`` (its table), or alone:

    PYTHONPATH=. .venv/bin/python analysis/calibration_adjusted.py --sims 4000
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from segab.stats.estimates import mean_estimates
from segab.stats.poststrat import post_stratify
from segab.stats.regression import RegressionStats, pair_index, regression_estimates
from segab.stats.vectorized import infer

__all__ = ["adjusted_rows", "post_stratified", "regression_adjusted"]

ALPHA = 0.05
Z = 1.959963984540054


def _arm_sums(y: np.ndarray, x: np.ndarray) -> list[RegressionStats]:
    """One RegressionStats per simulation from (sims, n) outcomes and (sims, n, K) covariates."""
    k = x.shape[2]
    n = y.shape[1]
    xs = x.sum(axis=1)
    xy = np.einsum("snk,sn->sk", x, y)
    xx = np.einsum("snj,snk->sjk", x, x)
    ys, yy = y.sum(axis=1), (y * y).sum(axis=1)
    pairs = pair_index(k)
    return [
        RegressionStats(n, float(ys[s]), float(yy[s]), tuple(xs[s]), tuple(xy[s]),
                        tuple(float(xx[s, j, m]) for j, m in pairs))
        for s in range(y.shape[0])
    ]  # fmt: skip


def _draw(rng: np.random.Generator, size: tuple[int, int], noise: float) -> tuple[np.ndarray, ...]:
    x = np.stack([rng.gamma(2.0, 3.0, size), rng.normal(40, 12, size)], axis=2)
    y = 1.5 + 0.9 * x[..., 0] + 0.05 * x[..., 1] + noise * (rng.gamma(2.0, 2.0, size) - 4.0)
    return y, x


def regression_adjusted(rng: np.random.Generator, sims: int, n: int = 500) -> tuple[float, ...]:
    """A/A FPR, A/B coverage (effect 0.5) and mean variance reduction of Lin's estimator."""
    out = []
    for effect in (0.0, 0.5):
        y_c, x_c = _draw(rng, (sims, n), 1.0)
        y_t, x_t = _draw(rng, (sims, n), 1.4)
        est = regression_estimates(_arm_sums(y_c, x_c), _arm_sums(y_t + effect, x_t))
        r = infer(est, alpha=ALPHA)
        if effect == 0.0:
            out.append(float(np.mean(r.p_value < ALPHA)))
        else:
            out.append(float(np.mean((r.abs_ci_low <= effect) & (effect <= r.abs_ci_high))))
        vr = float(np.nanmean(est.variance_reduction))  # type: ignore[arg-type]
    return out[0], out[1], vr


SHARES = np.array([0.4, 0.3, 0.2, 0.1])
LEVELS = np.array([2.0, 5.0, 9.0, 15.0])


def post_stratified(
    rng: np.random.Generator, sims: int, n: int = 2000, effects: tuple[float, ...] = (0, 0, 0, 0),
    covariate: bool = False,
) -> tuple[float, float, float]:  # fmt: skip
    """Rejection rate, coverage of Σ π_s τ_s and mean variance reduction of post-stratification.

    Units fall in the strata by ``SHARES`` (multinomial) and in the arms by a fair coin.
    """
    tau = np.asarray(effects, dtype=float)
    truth = float(SHARES @ tau)
    reject, cover, vrs = 0, 0, []
    items, raws = [], []
    for _ in range(sims):
        strata = rng.choice(4, n, p=SHARES)
        arm = rng.random(n) < 0.5
        x = rng.gamma(2.0, 3.0, n)
        y = LEVELS[strata] + (0.9 * x if covariate else 0) + rng.gamma(2.0, 1.5, n)
        y = y + arm * tau[strata]
        if covariate:
            parts_c = [
                RegressionStats.from_values(y[(strata == s) & ~arm], x[(strata == s) & ~arm, None])
                for s in range(4)
            ]
            parts_t = [
                RegressionStats.from_values(y[(strata == s) & arm], x[(strata == s) & arm, None])
                for s in range(4)
            ]
            items.append(regression_estimates(parts_c, parts_t))
        else:
            cols = [[], [], [], [], [], []]  # type: ignore[var-annotated]
            for s in range(4):
                for j, sel in enumerate(((strata == s) & ~arm, (strata == s) & arm)):
                    v = y[sel]
                    cols[3 * j].append(len(v))
                    cols[3 * j + 1].append(float(v.sum()))
                    cols[3 * j + 2].append(float((v * v).sum()))
            items.append(mean_estimates(*cols))
        raws.append(y[~arm].var(ddof=1) / (~arm).sum() + y[arm].var(ddof=1) / arm.sum())
    est = post_stratify(items, raw_var=raws)
    r = infer(est, alpha=ALPHA)
    reject = int(np.sum(r.p_value < ALPHA))
    cover = int(np.sum((r.abs_ci_low <= truth) & (truth <= r.abs_ci_high)))
    vrs = est.variance_reduction
    return reject / sims, cover / sims, float(np.nanmean(vrs))  # type: ignore[arg-type]


CalRow = tuple[str, float, float, float, str]


def adjusted_rows(rng: np.random.Generator, sims: int) -> list[CalRow]:
    """The rows ``(name, value, low, high, note)`` for analysis/calibration.py's table."""
    fpr, cov, vr = regression_adjusted(rng, sims)
    ps_fpr, ps_cov0, ps_vr = post_stratified(rng, sims)
    _, ps_cov, _ = post_stratified(rng, sims, effects=(0.1, 0.3, 0.6, 1.0))
    psr_fpr, psr_cov, psr_vr = post_stratified(rng, sims, covariate=True)
    return [
        ("A/A FPR, regression-adjusted (2 cov, n=500/arm)", fpr, 0.045, 0.055,
         f"Lin 2013; mean VR {vr:.2f}"),
        ("95% CI coverage, regression-adjusted A/B", cov, 0.94, 0.96, "effect 0.5, unequal noise"),
        ("A/A FPR, post-stratified (4 strata, n=2000)", ps_fpr, 0.045, 0.055,
         f"mean VR {ps_vr:.2f}"),
        ("95% CI coverage, post-stratified A/A", ps_cov0, 0.94, 0.96, ""),
        ("95% CI coverage, post-stratified A/B", ps_cov, 0.94, 0.96,
         "effects 0.1-1.0 by stratum; truth Σ π_s τ_s"),
        ("A/A FPR, post-stratified + regression-adjusted", psr_fpr, 0.045, 0.055,
         f"1 cov per stratum; mean VR {psr_vr:.2f}"),
        ("95% CI coverage, post-strat. + reg.-adjusted A/A", psr_cov, 0.94, 0.96, ""),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for name, value, low, high, note in adjusted_rows(rng, args.sims):
        se = math.sqrt(value * (1 - value) / args.sims)
        ok = "yes" if low <= value <= high else "NO"
        print(f"{name:<50} {value:.4f} (MC se {se:.4f}) [{low}, {high}] {ok} {note}")


if __name__ == "__main__":
    main()
