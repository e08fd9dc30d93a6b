"""Calibration study of segab's stats engine, by simulation with a fixed seed.

Prints one table:

* A/A false-positive rate at α = 0.05 (binary, continuous, CUPED, ratio);
* 95% CI coverage of the true lift (A/A and A/B);
* power at a known effect next to the power function's prediction;
* false-positive rate when peeking 20 times: sequential (confidence sequences)
  next to the naive z-test under the same peeking;
* Bayesian A/A "finding" rate (chance to win beyond 0.975 or below 0.025);
* retention with maturity (day-7 retention, window [7d, 8d) after exposure, only units
  whose window has passed at the analysis time): A/A false-positive rate and coverage.
* capped means (``cap: {percentile: 0.99}`` over both arms, as segab computes it;
  an absolute cap with the closed-form capped lognormal mean as the truth): A/A
  false-positive rate and 95% coverage;
* the non-inferiority test's type-I error with the true effect exactly at the
  margin (absolute and relative margins), which must be at most alpha;
* quantile metrics (median and 90th percentile of lognormal(1, 1) per-unit values,
  order-statistic intervals per arm, ``segab.stats.quantile.compare_quantiles``): A/A
  false-positive rate and 95% coverage, and A/B coverage of the true difference.
* regression-adjusted (Lin 2013, two covariates) and post-stratified (Miratrix,
  Sekhon and Yu 2013) effects: A/A false-positive rate and 95% coverage
  (``analysis/calibration_adjusted.py``).

Every simulation works on sufficient statistics of raw draws, vectorized over
simulations through ``segab.stats.vectorized``. Run:

    .venv/bin/python analysis/calibration.py            # 4,000 simulations per row
    .venv/bin/python analysis/calibration.py --sims 1000

The reduced version runs in ``tests/stats/test_calibration_quick.py``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from segab.stats import (
    achieved_power,
    compare_cuped_arrays,
    compare_means_arrays,
    compare_proportions_arrays,
    compare_ratio_arrays,
    sample_size_per_arm,
)
from segab.stats.noninferiority import noninferiority
from segab.stats.quantile import QuantileStats, bound_levels, compare_quantiles

ALPHA = 0.05


@dataclass(frozen=True)
class Row:
    """One line of the calibration table."""

    name: str
    sims: int
    value: float
    low: float
    high: float
    note: str = ""

    @property
    def mc_se(self) -> float:
        return math.sqrt(max(self.value * (1 - self.value), 1e-12) / self.sims)

    @property
    def ok(self) -> bool:
        return self.low <= self.value <= self.high


def _means_sums(
    rng: np.random.Generator, sims: int, n: int, draw: Callable[..., np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    y = draw(rng, (sims, n))
    return y.sum(axis=1), (y * y).sum(axis=1)


def _gamma(shape: float, scale: float) -> Callable[..., np.ndarray]:
    def draw(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
        return rng.gamma(shape, scale, size)

    return draw


def binary_aa(rng: np.random.Generator, sims: int, n: int = 5000, p: float = 0.10) -> list[Row]:
    """A/A binary: false-positive rate and coverage of the (zero) lift."""
    full = np.full(sims, n)
    r = compare_proportions_arrays(full, rng.binomial(n, p, sims), full, rng.binomial(n, p, sims))
    fpr = float(np.mean(r.p_value < ALPHA))
    cov = float(np.mean((r.abs_ci_low <= 0) & (r.abs_ci_high >= 0)))
    return [
        Row("A/A FPR, binary z-test (n=5000/arm, p=0.10)", sims, fpr, 0.045, 0.055),
        Row("95% CI coverage, binary A/A", sims, cov, 0.94, 0.96),
    ]


def binary_ab(rng: np.random.Generator, sims: int, p: float = 0.10, mde: float = 0.10) -> list[Row]:
    """A/B binary at the designed sample size: power vs prediction, CI coverage of the true lift."""
    n = sample_size_per_arm(baseline=p, mde=mde, alpha=ALPHA, power=0.8)
    predicted = achieved_power(n_per_arm=n, baseline=p, mde=mde, alpha=ALPHA)
    p_t = p * (1 + mde)
    full = np.full(sims, n)
    r = compare_proportions_arrays(full, rng.binomial(n, p, sims), full, rng.binomial(n, p_t, sims))
    power = float(np.mean(r.p_value < ALPHA))
    true = p_t - p
    cov = float(np.mean((r.abs_ci_low <= true) & (true <= r.abs_ci_high)))
    rel_cov = float(np.mean((r.rel_ci_low <= mde) & (mde <= r.rel_ci_high)))
    band = 3 * math.sqrt(predicted * (1 - predicted) / sims)
    note = f"predicted {predicted:.4f} (NormalIndPower, Cohen's h), n={n}/arm"
    return [
        Row(
            "power, binary +10% rel. on 0.10", sims, power, predicted - band, predicted + band, note
        ),
        Row("95% CI coverage, binary A/B (abs lift)", sims, cov, 0.94, 0.96),
        Row("95% CI coverage, binary A/B (rel lift, delta)", sims, rel_cov, 0.94, 0.96),
    ]


def continuous(rng: np.random.Generator, sims: int, n: int = 1000) -> list[Row]:
    """Skewed revenue-like metric (gamma(2, 10), mean 20, sd 14.1): A/A FPR, coverage, power."""
    draw = _gamma(2.0, 10.0)
    full = np.full(sims, n)
    s_c, ss_c = _means_sums(rng, sims, n, draw)
    s_t, ss_t = _means_sums(rng, sims, n, draw)
    r = compare_means_arrays(full, s_c, ss_c, full, s_t, ss_t)
    fpr = float(np.mean(r.p_value < ALPHA))
    cov = float(np.mean((r.abs_ci_low <= 0) & (r.abs_ci_high >= 0)))
    # power at +2.0 (10%) with sd 14.14: TTestIndPower prediction
    std = math.sqrt(2.0) * 10.0
    n_p = sample_size_per_arm(baseline=20.0, mde=0.1, kind="continuous", std=std)
    pred = achieved_power(n_per_arm=n_p, baseline=20.0, mde=0.1, kind="continuous", std=std)
    full_p = np.full(sims, n_p)
    s_c, ss_c = _means_sums(rng, sims, n_p, draw)
    s_t, ss_t = _means_sums(rng, sims, n_p, lambda g, size: draw(g, size) + 2.0)
    rp = compare_means_arrays(full_p, s_c, ss_c, full_p, s_t, ss_t)
    power = float(np.mean(rp.p_value < ALPHA))
    cov_ab = float(np.mean((rp.abs_ci_low <= 2.0) & (rp.abs_ci_high >= 2.0)))
    band = 3 * math.sqrt(pred * (1 - pred) / sims)
    return [
        Row("A/A FPR, continuous Welch (gamma, n=1000/arm)", sims, fpr, 0.045, 0.055),
        Row("95% CI coverage, continuous A/A", sims, cov, 0.94, 0.96),
        Row(
            "power, continuous +10% (sd 14.1)",
            sims,
            power,
            pred - band,
            pred + band,
            f"predicted {pred:.4f} (TTestIndPower, Cohen's d), n={n_p}/arm",
        ),
        Row("95% CI coverage, continuous A/B", sims, cov_ab, 0.94, 0.96),
    ]


def cuped_and_ratio(rng: np.random.Generator, sims: int, n: int = 500) -> list[Row]:
    """A/A with a pre-period covariate (CUPED) and a per-session ratio metric."""
    arms = []
    for _ in range(2):
        x = rng.normal(10, 3, (sims, n))
        y = 0.8 * x + rng.gamma(2.0, 2.0, (sims, n))
        arms.append(
            (np.full(sims, n), y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1), (x * y).sum(1))
        )
    r = compare_cuped_arrays(arms[0], arms[1])
    fpr = float(np.mean(r.p_value < ALPHA))
    vr = float(np.nanmean(r.variance_reduction)) if r.variance_reduction is not None else math.nan
    rows = [
        Row("A/A FPR, CUPED Welch (n=500/arm)", sims, fpr, 0.045, 0.055, f"mean VR {vr:.2f}"),
    ]
    arms = []
    for _ in range(2):
        den = rng.poisson(3, (sims, n)) + 1.0
        num = rng.gamma(2.0, 2.5, (sims, n)) * den
        arms.append(
            (
                np.full(sims, n),
                num.sum(1),
                (num * num).sum(1),
                den.sum(1),
                (den * den).sum(1),
                (num * den).sum(1),
            )
        )
    rr = compare_ratio_arrays(arms[0], arms[1])
    rows.append(
        Row(
            "A/A FPR, ratio delta method (n=500/arm)",
            sims,
            float(np.mean(rr.p_value < ALPHA)),
            0.045,
            0.055,
        )
    )
    return rows


def peeking(
    rng: np.random.Generator, sims: int, looks: int = 20, per_look: int = 500, p: float = 0.10
) -> list[Row]:
    """A/A binary, peeking after every ``per_look`` units per arm: any-look rejection rate."""
    inc_c = rng.binomial(per_look, p, (sims, looks)).cumsum(axis=1).ravel()
    inc_t = rng.binomial(per_look, p, (sims, looks)).cumsum(axis=1).ravel()
    n = np.tile(np.arange(1, looks + 1) * per_look, sims)
    naive = compare_proportions_arrays(n, inc_c, n, inc_t, fisher_fallback=False)
    seq = compare_proportions_arrays(n, inc_c, n, inc_t, method="sequential")
    naive_any = (naive.p_value < ALPHA).reshape(sims, looks).any(axis=1)
    seq_any = (seq.p_value < ALPHA).reshape(sims, looks).any(axis=1)
    cs_miss = ((seq.abs_ci_low > 0) | (seq.abs_ci_high < 0)).reshape(sims, looks).any(axis=1)
    note = f"{looks} looks of {per_look}/arm, N*=5000"
    return [
        Row("peeking FPR, naive z-test", sims, float(naive_any.mean()), 0.10, 1.0, note),
        Row("peeking FPR, sequential (conf. sequences)", sims, float(seq_any.mean()), 0.0, 0.05),
        Row("any-time coverage, sequential CS", sims, float(1 - cs_miss.mean()), 0.95, 1.0),
    ]


def peeking_continuous(
    rng: np.random.Generator, sims: int, looks: int = 20, per_look: int = 250
) -> list[Row]:
    """A/A continuous (gamma), peeking 20 times: naive Welch vs sequential."""
    draw = _gamma(2.0, 10.0)
    sums = []
    for _ in range(2):
        y = draw(rng, (sims, looks * per_look)).reshape(sims, looks, per_look)
        sums.append((y.sum(2).cumsum(1).ravel(), (y * y).sum(2).cumsum(1).ravel()))
    n = np.tile(np.arange(1, looks + 1) * per_look, sims)
    (s_c, ss_c), (s_t, ss_t) = sums
    naive = compare_means_arrays(n, s_c, ss_c, n, s_t, ss_t)
    seq = compare_means_arrays(n, s_c, ss_c, n, s_t, ss_t, method="sequential")
    naive_any = (naive.p_value < ALPHA).reshape(sims, looks).any(axis=1)
    seq_any = (seq.p_value < ALPHA).reshape(sims, looks).any(axis=1)
    return [
        Row("peeking FPR, naive Welch (continuous)", sims, float(naive_any.mean()), 0.10, 1.0),
        Row("peeking FPR, sequential (continuous)", sims, float(seq_any.mean()), 0.0, 0.05),
    ]


def bayesian_aa(rng: np.random.Generator, sims: int, n: int = 2000, p: float = 0.10) -> list[Row]:
    """A/A beta-binomial with a flat prior: rate of chance-to-win beyond 0.975 or below 0.025."""
    full = np.full(sims, n)
    r = compare_proportions_arrays(
        full, rng.binomial(n, p, sims), full, rng.binomial(n, p, sims), method="bayesian"
    )
    assert r.chance_to_win is not None
    ctw = r.chance_to_win
    rate = float(np.mean((ctw > 1 - ALPHA / 2) | (ctw < ALPHA / 2)))
    return [Row("A/A 'finding' rate, Bayesian Beta(1,1)", sims, rate, 0.04, 0.06, "n=2000/arm")]


def _retention_sums(
    rng: np.random.Generator, sims: int, n: int, lift: float, days: float
) -> tuple[np.ndarray, ...]:
    """Per simulation: mature units and retained units per arm (control, treatment).

    Units are exposed uniformly over ``days``; the analysis time is ``days``; a unit is
    mature when ``t0 + 8d <= days`` (the window [7d, 8d) has passed); each unit returns
    in its window with its own propensity (Beta(3, 7), mean 0.3), times ``1 + lift`` in
    the treatment arm. Chunks of simulations keep the memory small.
    """
    out = np.zeros((4, sims))
    for lo in range(0, sims, 250):
        k = min(250, sims - lo)
        mature = rng.uniform(0.0, days, (k, n)) + 8.0 <= days
        treated = rng.random((k, n)) < 0.5
        propensity = rng.beta(3.0, 7.0, (k, n)) * np.where(treated, 1.0 + lift, 1.0)
        retained = (rng.random((k, n)) < propensity) & mature
        for i, arm in enumerate((~treated, treated)):
            out[2 * i, lo : lo + k] = (mature & arm).sum(axis=1)
            out[2 * i + 1, lo : lo + k] = (retained & arm).sum(axis=1)
    return out[0], out[1], out[2], out[3]


def retention(
    rng: np.random.Generator, sims: int, n: int = 4000, days: float = 28.0, lift: float = 0.05
) -> list[Row]:
    """Day-7 retention with maturity: A/A false-positive rate and coverage, A/B coverage.

    The comparison is the binary z-test on the mature units only (the n that segab's
    retention metrics report); about 8/28 of the units are not yet mature and left out.
    """
    r = compare_proportions_arrays(*_retention_sums(rng, sims, n, 0.0, days))
    fpr = float(np.mean(r.p_value < ALPHA))
    cov = float(np.mean((r.abs_ci_low <= 0) & (r.abs_ci_high >= 0)))
    ab = compare_proportions_arrays(*_retention_sums(rng, sims, n, lift, days))
    true = 0.3 * lift
    cov_ab = float(np.mean((ab.abs_ci_low <= true) & (true <= ab.abs_ci_high)))
    note = f"n={n} exposed, window [7d, 8d), {days:g} days of exposures"
    return [
        Row("A/A FPR, retention with maturity", sims, fpr, 0.045, 0.055, note),
        Row("95% CI coverage, retention A/A", sims, cov, 0.94, 0.96),
        Row("95% CI coverage, retention A/B (+5% rel.)", sims, cov_ab, 0.94, 0.96),
    ]


def _capped_lognormal_mean(mu: float, sigma: float, cap: float) -> float:
    """E[min(Y, c)] of a lognormal: E[Y]·Φ((ln c − μ − σ²)/σ) + c·(1 − Φ((ln c − μ)/σ))."""
    z = (math.log(cap) - mu) / sigma
    return math.exp(mu + sigma**2 / 2) * float(ndtr(z - sigma)) + cap * (1 - float(ndtr(z)))


def capped_means(rng: np.random.Generator, sims: int, n: int = 1000) -> list[Row]:
    """Whale-heavy revenue (lognormal(1, 2)): A/A FPR and coverage with the 99th-percentile
    cap over both arms; A/B (+10% on every value) coverage of the true capped difference
    with an absolute cap (closed-form capped means)."""
    mu, sigma = 1.0, 2.0
    y = rng.lognormal(mu, sigma, (sims, 2 * n))
    cap = np.percentile(y, 99, axis=1)[:, None]  # per experiment, all units, numpy linear
    z = np.minimum(y, cap)
    c, t = z[:, :n], z[:, n:]
    full = np.full(sims, n)
    r = compare_means_arrays(
        full, c.sum(1), (c * c).sum(1), full, t.sum(1), (t * t).sum(1), alpha=ALPHA
    )
    fpr = float(np.mean(r.p_value < ALPHA))
    cov = float(np.mean((r.abs_ci_low <= 0) & (r.abs_ci_high >= 0)))
    fixed = 200.0
    c = np.minimum(rng.lognormal(mu, sigma, (sims, n)), fixed)
    t = np.minimum(rng.lognormal(mu + math.log(1.1), sigma, (sims, n)), fixed)
    true = _capped_lognormal_mean(mu + math.log(1.1), sigma, fixed) - _capped_lognormal_mean(
        mu, sigma, fixed
    )
    r = compare_means_arrays(
        full, c.sum(1), (c * c).sum(1), full, t.sum(1), (t * t).sum(1), alpha=ALPHA
    )
    cov_ab = float(np.mean((r.abs_ci_low <= true) & (true <= r.abs_ci_high)))
    return [
        Row("A/A FPR, capped mean (p99 cap, lognormal(1,2))", sims, fpr, 0.045, 0.055,
            f"n={n}/arm"),
        Row("95% CI coverage, capped mean A/A", sims, cov, 0.94, 0.96),
        Row("95% CI coverage, capped mean A/B (cap 200)", sims, cov_ab, 0.94, 0.96,
            f"true diff {true:.4f} (closed form)"),
    ]  # fmt: skip


def noninferiority_at_margin(rng: np.random.Generator, sims: int, n: int = 10000) -> list[Row]:
    """Type-I error of the non-inferiority test when the true effect is exactly the margin:
    binary 0.10 vs 0.09 with a 1-point absolute margin, and continuous gamma(2, 10) (mean
    20) vs mean 19 with a 5% relative margin; rejected when segab's p < alpha."""
    full = np.full(sims, n)
    rb = compare_proportions_arrays(
        full, rng.binomial(n, 0.10, sims), full, rng.binomial(n, 0.09, sims), alpha=ALPHA
    )
    assert rb.abs_se is not None and rb.rel_se is not None
    abs_rate = float(np.mean([
        noninferiority(float(d), float(se), 0.01, "increase", ALPHA).passed
        for d, se in zip(rb.abs_lift, rb.abs_se, strict=True)
    ]))  # fmt: skip
    m = 2000
    draw = _gamma(2.0, 10.0)
    s_c, ss_c = _means_sums(rng, sims, m, draw)
    s_t, ss_t = _means_sums(rng, sims, m, lambda g, size: draw(g, size) * 0.95)
    fm = np.full(sims, m)
    rm = compare_means_arrays(fm, s_c, ss_c, fm, s_t, ss_t, alpha=ALPHA)
    assert rm.rel_se is not None
    rel_rate = float(np.mean([
        noninferiority(float(d), float(se), 0.05, "increase", ALPHA).passed
        for d, se in zip(rm.rel_lift, rm.rel_se, strict=True)
    ]))  # fmt: skip
    high = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)  # at most alpha, within 3 MC se
    return [
        Row("NI type-I error at the margin, abs (binary)", sims, abs_rate, 0.0, high,
            f"0.10 vs 0.09, margin 0.01, n={n}/arm"),
        Row("NI type-I error at the margin, rel (gamma)", sims, rel_rate, 0.0, high,
            f"-5% true, margin 5%, n={m}/arm"),
    ]  # fmt: skip


def _quantile_rows(y: np.ndarray, q: float) -> list[QuantileStats]:
    """Each simulation's :class:`QuantileStats` (numpy's linear quantiles, the convention
    segab's engines follow: tests/stats/test_quantile.py)."""
    n = y.shape[1]
    low, high = bound_levels(n, q)
    v, lo, hi = (np.quantile(y, level, axis=1) for level in (q, low, high))
    rows = zip(v, lo, hi, strict=True)
    return [QuantileStats(n, q, float(a), float(b), float(c)) for a, b, c in rows]


def quantiles(rng: np.random.Generator, sims: int, n: int = 1000) -> list[Row]:
    """Median and p90 of lognormal(1, 1) per-unit values: A/A FPR and coverage of 0; A/B
    (every value x1.1) coverage of the true difference 0.1·exp(1 + σ·z_q)."""
    rows: list[Row] = []
    mu = 1.0
    for q in (0.5, 0.9):
        name = "median" if q == 0.5 else f"p{q * 100:g}"
        c = _quantile_rows(rng.lognormal(mu, 1.0, (sims, n)), q)
        t = _quantile_rows(rng.lognormal(mu, 1.0, (sims, n)), q)
        aa = [compare_quantiles(a, b, ALPHA) for a, b in zip(c, t, strict=True)]
        fpr = float(np.mean([r.p_value < ALPHA for r in aa]))
        cov = float(np.mean([r.abs_ci_low <= 0 <= r.abs_ci_high for r in aa]))
        true = 0.1 * math.exp(mu + float(ndtri(q)))
        c = _quantile_rows(rng.lognormal(mu, 1.0, (sims, n)), q)
        t = _quantile_rows(rng.lognormal(mu, 1.0, (sims, n)) * 1.1, q)
        ab = [compare_quantiles(a, b, ALPHA) for a, b in zip(c, t, strict=True)]
        cov_ab = float(np.mean([r.abs_ci_low <= true <= r.abs_ci_high for r in ab]))
        rows += [
            Row(f"A/A FPR, quantile ({name}, lognormal(1,1))", sims, fpr, 0.045, 0.055,
                f"n={n}/arm, order-statistic se"),
            Row(f"95% CI coverage, quantile ({name}) A/A", sims, cov, 0.94, 0.96),
            Row(f"95% CI coverage, quantile ({name}) A/B x1.1", sims, cov_ab, 0.94, 0.96,
                f"true diff {true:.4f}"),
        ]  # fmt: skip
    return rows


def run(sims: int = 4000, seed: int = 20240501, bayes_sims: int | None = None) -> list[Row]:
    """Run every study with one seeded generator and return the table rows."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    rows += binary_aa(rng, sims)
    rows += binary_ab(rng, sims)
    rows += continuous(rng, sims)
    rows += cuped_and_ratio(rng, sims)
    rows += peeking(rng, sims)
    rows += peeking_continuous(rng, sims)
    rows += bayesian_aa(rng, bayes_sims if bayes_sims is not None else sims)
    rows += retention(rng, sims)
    rows += capped_means(rng, sims)
    rows += noninferiority_at_margin(rng, sims)
    rows += quantiles(rng, sims)
    rows += [Row(name, sims, v, lo, hi, note) for name, v, lo, hi, note in _adjusted(rng, sims)]
    return rows


def _adjusted(rng: np.random.Generator, sims: int) -> list[tuple[str, float, float, float, str]]:
    """The rows of analysis/calibration_adjusted.py (its sibling module)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from calibration_adjusted import adjusted_rows

    return adjusted_rows(rng, sims)


def format_table(rows: list[Row]) -> str:
    """Render the rows as a fixed-width text table."""
    head = f"{'study':<48} {'sims':>6} {'result':>8} {'MC se':>7} {'target':>15}  ok   note"
    lines = [head, "-" * len(head)]
    for r in rows:
        target = f"[{r.low:.3f}, {r.high:.3f}]"
        lines.append(
            f"{r.name:<48} {r.sims:>6} {r.value:>8.4f} {r.mc_se:>7.4f} {target:>15}  "
            f"{'yes' if r.ok else 'NO ':<4} {r.note}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--only", choices=["quantiles"], help="run one study's rows only")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.only == "quantiles":
        rows = quantiles(np.random.default_rng(args.seed), args.sims)
    else:
        rows = run(args.sims, args.seed)
    print(format_table(rows))
    print(f"\nseed {args.seed}, alpha {ALPHA}, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
