"""Study: does ``segab plan`` size quantile metrics for the power it promises?

For each level ``q`` the study plans a one-cell experiment (baseline 100, std 20,
relative MDE 5%, alpha 0.05, power 0.8) with
:func:`segab.lifecycle.plan.plan_experiment`, which sizes a quantile metric as a
mean with ``std·√(q(1 − q))/φ(z_q)`` (:mod:`segab.lifecycle.quantile_plan`), then
simulates experiments at the planned ``n`` per arm with a true shift of the
quantile equal to the MDE and tests each with segab's own quantile test
(:func:`segab.stats.quantile.compare_quantiles` on
:func:`~segab.stats.quantile.quantile_stats`, as the analysis does). It prints the
planned power, the rejection rate and its Monte Carlo standard error, and the
rejection rate at the size the plan used to give (the same metric planned as a
mean).

Normal per-unit values are the plan's model, where the rates must match.
Lognormal values with the same mean and std (``--lognormal``; the baseline is
then the true quantile) show what the normal model misses: less density at an
upper quantile (under-powered), more at the median (over-powered).

With ``--pilot N0`` each row also sizes from a measured sd, as ``segab plan --db``
does from an earlier iteration's snapshot: a pilot of ``N0`` units per arm is
analysed (its quantile comparison's interval gives the sample quantile's sd,
:func:`segab.lifecycle.quantile_plan.measured_quantile_sd`; its control quantile
the baseline), the plan sizes from them, and ten experiments are simulated at that
size; over ``sims/10`` pilots the rejection rate is the power a team gets on
average when it sizes from such a pilot (the pilot's noise included), with the
planned sizes' median and quartiles.

Run (a few seconds per row at the default 4,000 simulations):

    .venv/bin/python analysis/quantile_plan_study.py
    .venv/bin/python analysis/quantile_plan_study.py --sims 1000 --lognormal
    .venv/bin/python analysis/quantile_plan_study.py --lognormal --pilot 4000

The reduced version runs in ``tests/stats/test_quantile_plan_study_quick.py``;
``tests/lifecycle/test_plan_quantile.py`` checks the median and p90 at 3,000.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np

from segab.config import parse_experiment
from segab.lifecycle.plan import Baseline, plan_experiment
from segab.lifecycle.quantile_plan import measured_quantile_sd
from segab.stats import achieved_power, quantile_variance_factor
from segab.stats.quantile import compare_quantiles, quantile_stats

ALPHA, POWER, MEAN, STD, MDE = 0.05, 0.8, 100.0, 20.0, 0.05
LEVELS = (0.5, 0.75, 0.9, 0.95)


@dataclass(frozen=True)
class Row:
    """One level's plan and simulation."""

    dist: str
    q: float
    factor: float
    n: int
    planned: float
    empirical: float
    se: float
    mean_n: int
    at_mean_n: float


def planned_n(
    q: float | None, baseline: float, std: float, measured: Baseline | None = None
) -> int:
    """``plan_experiment``'s units per arm for a one-cell experiment (``q=None``: a mean;
    ``measured``: a baseline measured in an earlier iteration, as ``segab plan --db``).

    Example:
        >>> planned_n(0.5, 100.0, 20.0), planned_n(None, 100.0, 20.0)
        (396, 253)
        >>> planned_n(0.5, 100.0, 20.0, Baseline(100.0, None, "pilot", 25.0))
        394
    """
    metric = {"key": "m", "kind": "continuous", "column": "v", "baseline": baseline,
              "std": std, "mde": MDE}  # fmt: skip
    if q is not None:
        metric["quantile"] = q
    exp = parse_experiment({
        "key": "study", "unit": "id", "stages": ["buy"],
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "analysis": {"alpha": ALPHA, "power": POWER},
        "metrics": {"primary": metric},
    })  # fmt: skip
    given = {("all", "buy"): measured} if measured is not None else None
    plan = plan_experiment(exp, {("all", "buy"): 1.0}, daily_units=1000, measured=given)
    n = plan.cells[0].n_per_arm
    assert n is not None
    return n


def lognormal_params() -> tuple[float, float]:
    """``(μ, s)`` of the lognormal with mean ``MEAN`` and std ``STD``.

    Example:
        >>> mu, s = lognormal_params()
        >>> round(math.exp(mu + s * s / 2), 9), round(s, 4)
        (100.0, 0.198)
    """
    s2 = math.log(1.0 + (STD / MEAN) ** 2)
    return math.log(MEAN) - s2 / 2.0, math.sqrt(s2)


def draw(rng: np.random.Generator, dist: str, n: int, shift: float) -> list[float]:
    """``n`` per-unit values of ``dist`` (mean ``MEAN``, std ``STD``) plus ``shift``."""
    if dist == "normal":
        values = rng.normal(MEAN, STD, n)
    else:
        mu, s = lognormal_params()
        values = rng.lognormal(mu, s, n)
    return (values + shift).tolist()


def rejection_rate(
    rng: np.random.Generator, dist: str, q: float, n: int, shift: float, sims: int
) -> float:
    """Share of ``sims`` experiments in which segab's quantile test rejects at ``ALPHA``."""
    hits = 0
    for _ in range(sims):
        c = quantile_stats(draw(rng, dist, n, 0.0), q)
        t = quantile_stats(draw(rng, dist, n, shift), q)
        hits += compare_quantiles(c, t, ALPHA).p_value < ALPHA
    return hits / sims


def true_quantile(dist: str, q: float) -> float:
    """The population ``q``-quantile of ``dist``.

    Example:
        >>> true_quantile("normal", 0.5), round(true_quantile("lognormal", 0.5), 2)
        (100.0, 98.06)
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(q)
    if dist == "normal":
        return MEAN + STD * z
    mu, s = lognormal_params()
    return math.exp(mu + s * z)


def study_row(rng: np.random.Generator, dist: str, q: float, sims: int) -> Row:
    """Plan level ``q`` and simulate at the planned size and at the mean's size."""
    baseline = true_quantile(dist, q)
    factor = quantile_variance_factor(q)
    n = planned_n(q, baseline, STD)
    planned = achieved_power(n_per_arm=n, baseline=baseline, mde=MDE, alpha=ALPHA,
                             kind="continuous", std=STD * math.sqrt(factor))  # fmt: skip
    shift = MDE * baseline
    empirical = rejection_rate(rng, dist, q, n, shift, sims)
    mean_n = planned_n(None, baseline, STD)
    at_mean = rejection_rate(rng, dist, q, mean_n, shift, sims)
    se = math.sqrt(planned * (1.0 - planned) / sims)
    return Row(dist, q, factor, n, planned, empirical, se, mean_n, at_mean)


@dataclass(frozen=True)
class PilotRow:
    """One level sized from pilots: the average power and the planned sizes' spread."""

    dist: str
    q: float
    n0: int
    pilots: int
    empirical: float
    se: float
    n_median: float
    n_low: float
    n_high: float


def pilot_row(rng: np.random.Generator, dist: str, q: float, sims: int, n0: int) -> PilotRow:
    """Size level ``q`` from ``sims/10`` pilots of ``n0`` units per arm; 10 experiments each."""
    pilots, per = max(sims // 10, 1), 10
    shift = MDE * true_quantile(dist, q)  # the true effect: the MDE of the true quantile
    hits, sizes = 0, []
    for _ in range(pilots):
        c = quantile_stats(draw(rng, dist, n0, 0.0), q)
        t = quantile_stats(draw(rng, dist, n0, 0.0), q)
        r = compare_quantiles(c, t, ALPHA)
        sd = measured_quantile_sd(r.abs_ci_low, r.abs_ci_high, n0, n0, ALPHA)
        n = planned_n(q, c.value, STD, Baseline(c.value, None, "pilot", sd))
        sizes.append(n)
        hits += round(rejection_rate(rng, dist, q, n, shift, per) * per)
    rate = hits / (pilots * per)
    low, med, high = np.percentile(sizes, [25, 50, 75])
    se = math.sqrt(rate * (1.0 - rate) / (pilots * per))
    return PilotRow(dist, q, n0, pilots, rate, se, float(med), float(low), float(high))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--lognormal", action="store_true", help="also lognormal values")
    parser.add_argument(
        "--pilot", type=int, default=0, metavar="N0", help="also size from pilots of N0 per arm"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    dists = ("normal", "lognormal") if args.lognormal else ("normal",)
    print(f"{args.sims} simulations per cell; baseline quantile, std {STD:g}, MDE {MDE:.0%}")
    print(f"{'dist':<10}{'q':>5}{'factor':>8}{'n':>7}{'planned':>9}{'measured':>10}"
          f"{'± se':>7}{'mean n':>8}{'at mean n':>11}")  # fmt: skip
    for dist in dists:
        for q in LEVELS:
            start = time.perf_counter()
            r = study_row(rng, dist, q, args.sims)
            print(f"{r.dist:<10}{r.q:>5g}{r.factor:>8.3f}{r.n:>7}{r.planned:>9.3f}"
                  f"{r.empirical:>10.3f}{r.se:>7.3f}{r.mean_n:>8}{r.at_mean_n:>11.3f}"
                  f"   ({time.perf_counter() - start:.1f} s)")  # fmt: skip
    if not args.pilot:
        return
    print(f"\nsized from pilots of {args.pilot} units per arm (sd measured, as segab plan --db)")
    print(f"{'dist':<10}{'q':>5}{'pilots':>8}{'power':>8}{'± se':>7}{'n: median (quartiles)':>26}")
    for dist in dists:
        for q in LEVELS:
            p = pilot_row(rng, dist, q, args.sims, args.pilot)
            print(f"{p.dist:<10}{p.q:>5g}{p.pilots:>8}{p.empirical:>8.3f}{p.se:>7.3f}"
                  f"{p.n_median:>10.0f} ({p.n_low:.0f} to {p.n_high:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
