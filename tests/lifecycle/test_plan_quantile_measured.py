"""segab plan on a quantile metric, with the sample quantile's sd measured in an earlier iteration.

The normal model (`std·√(q(1 − q))/φ(z_q)`) leaves skewed data short at upper
quantiles. With a snapshot of an earlier iteration, the plan reads each cell's
sample-quantile sd off that iteration's interval. Oracle for that sd: the
documented order-statistic interval computed here with ``numpy.quantile``
(levels ``q ± z√(q(1 − q)/n)``, ``se = (upper − lower)/(2z)``), pooled over the
two arms as ``√((se_c² + se_t²)/(1/n_c + 1/n_t))``; the size: statsmodels
``TTestIndPower`` with that sd. Calibration: on lognormal values at ``q = 0.9``,
segab's own quantile test at the planned size reaches the planned power, where
the normal model's size falls short.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from statsmodels.stats.power import TTestIndPower

from segab.analysis.compute import compute_results
from segab.cli.main import cli
from segab.config import parse_experiment
from segab.lifecycle.plan import Baseline, plan_experiment
from segab.lifecycle.quantile_plan import measured_quantile_sd
from segab.stats.quantile import compare_quantiles, quantile_stats
from segab.store import open_store, save_snapshot
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units

Z = NormalDist().inv_cdf(0.975)
SIGMA = 0.2  # lognormal shape: a coefficient of variation of about 20%


def doc(q: float, std: float, baseline: float, iteration: int = 1) -> dict:
    return {
        "key": "qm", "unit": "id", "stages": ["buy"], "iteration": iteration,
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": {"primary": {"key": "pq", "kind": "continuous", "column": "spend",
                                "quantile": q, "baseline": baseline, "std": std, "mde": 0.05}},
    }  # fmt: skip


def order_statistic_se(x: np.ndarray, q: float) -> float:
    half = Z * math.sqrt(q * (1 - q) / len(x))
    lo, hi = np.quantile(x, max(q - half, 0.0)), np.quantile(x, min(q + half, 1.0))
    return float(hi - lo) / (2 * Z)


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return 100.0 * np.exp(rng.normal(0.0, SIGMA, n))


def snapshot(tmp_path: Path, q: float, n: int, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    """Iteration 1 (no effect) analysed and saved: the store's URL and the two arms."""
    rng = np.random.default_rng(seed)
    a, b = lognormal(rng, n), lognormal(rng, n)
    units = pd.DataFrame({"id": [f"u{i}" for i in range(2 * n)], "arm": ["a"] * n + ["b"] * n,
                          "stage": "buy", "spend": np.concatenate([a, b])})  # fmt: skip
    first = parse_experiment(doc(q, 20.0, 100.0))
    result = compute_results(first, aggregate_units(first, units, columns=UnitColumns("arm")))
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    engine = open_store(url, create=True)
    save_snapshot(engine, "qm", 1, result.to_dict())
    engine.dispose()
    return url, a, b


def plan_args(tmp_path: Path, q: float, std: float, baseline: float = 100.0) -> list[str]:
    folder = tmp_path / "experiments"
    folder.mkdir(exist_ok=True)
    (folder / "qm.yaml").write_text(yaml.safe_dump(doc(q, std, baseline, iteration=2)))
    return ["plan", "qm", "--daily-units", "1000", "--experiments", str(folder)]


def test_the_sd_from_an_interval_is_the_closed_form() -> None:
    se_c, se_t, nc, nt = 0.8, 1.1, 400, 600
    half = Z * math.hypot(se_c, se_t)
    got = measured_quantile_sd(3.0 - half, 3.0 + half, nc, nt, 0.05)
    assert got == pytest.approx(math.sqrt((se_c**2 + se_t**2) / (1 / nc + 1 / nt)), rel=1e-12)
    for bad in ((None, 1.0), (1.0, math.inf), (2.0, 1.0)):
        assert measured_quantile_sd(*bad, nc, nt, 0.05) is None
    assert measured_quantile_sd(-1.0, 1.0, 0, nt, 0.05) is None


def test_plan_reads_the_quantiles_sd_off_the_snapshot(tmp_path: Path) -> None:
    q = 0.9
    url, a, b = snapshot(tmp_path, q, 3000, seed=21)
    out = CliRunner().invoke(cli, [*plan_args(tmp_path, q, 20.0), "--db", url, "--format", "json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    cell = plan["cells"][0]
    sd = math.sqrt((order_statistic_se(a, q) ** 2 + order_statistic_se(b, q) ** 2)
                   / (1 / len(a) + 1 / len(b)))  # fmt: skip
    base = float(np.quantile(a, q))
    assert cell["baseline"] == pytest.approx(base, rel=1e-12)
    assert cell["baseline_source"] == "iteration 1, quantile sd measured"
    d = 0.05 * base / sd
    assert cell["n_per_arm"] == math.ceil(
        TTestIndPower().solve_power(d, alpha=0.05, power=0.8) - 1e-9
    )
    assert plan["sizing"]["measured_cells"] == 1
    table = CliRunner().invoke(cli, [*plan_args(tmp_path, q, 20.0), "--db", url])
    assert "1 cell sized with the sample quantile's standard deviation measured" in " ".join(
        table.output.split()
    )


def test_a_measured_sd_sizes_without_a_config_std_and_a_merge_falls_back() -> None:
    primary = {"key": "pq", "kind": "continuous", "column": "spend", "quantile": 0.9, "mde": 0.05}
    exp = parse_experiment({**doc(0.9, 20.0, 100.0), "metrics": {"primary": primary}})
    measured = {("all", "buy"): Baseline(120.0, None, "iteration 1", 30.0)}
    plan = plan_experiment(exp, {("all", "buy"): 1.0}, daily_units=1000, measured=measured)
    d = 0.05 * 120.0 / 30.0
    assert plan.cells[0].n_per_arm == math.ceil(
        TTestIndPower().solve_power(d, alpha=0.05, power=0.8) - 1e-9
    )
    without = plan_experiment(exp, {("all", "buy"): 1.0}, daily_units=1000)
    assert without.cells[0].n_per_arm is None  # no std, nothing measured: not sized


def power(n: int, q: float, shift: float, sims: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(sims):
        c = quantile_stats(lognormal(rng, n).tolist(), q)
        t = quantile_stats((lognormal(rng, n) + shift).tolist(), q)
        hits += compare_quantiles(c, t, 0.05).p_value < 0.05
    return hits / sims


def test_on_skewed_values_the_measured_size_has_the_power_of_the_true_sd(tmp_path: Path) -> None:
    # the measured sd is an estimate (the order-statistic interval of 4,000 units per arm:
    # about 8% relative noise), so the size it gives has the power that the true sd
    # predicts at that size; the normal model's size falls far short of 0.8
    q, n0 = 0.9, 4000
    url, _, _ = snapshot(tmp_path, q, n0, seed=22)
    z = NormalDist().inv_cdf(q)
    quantile = 100.0 * math.exp(SIGMA * z)
    true_sd = math.sqrt(q * (1 - q)) * quantile * SIGMA / NormalDist().pdf(z)  # 1/f(ξ_q)
    std = 100.0 * math.sqrt((math.exp(SIGMA**2) - 1) * math.exp(SIGMA**2))  # the lognormal's
    runner, args = CliRunner(), plan_args(tmp_path, q, std, quantile)  # the true baseline
    measured = runner.invoke(cli, [*args, "--db", url, "--format", "json"])
    normal = runner.invoke(cli, [*args, "--format", "json"])
    assert measured.exit_code == 0 and normal.exit_code == 0, measured.output + normal.output
    cell = json.loads(measured.output)["cells"][0]
    n_measured, base = cell["n_per_arm"], cell["baseline"]
    n_normal = json.loads(normal.output)["cells"][0]["n_per_arm"]
    d = 0.05 * base / true_sd  # the shift planned for, on the true sd's scale
    sd_used = 0.05 * base / TTestIndPower().solve_power(nobs1=n_measured, alpha=0.05, power=0.8)
    assert sd_used == pytest.approx(true_sd, rel=3 * 0.08)  # the measured sd: an estimate of it
    expected = TTestIndPower().power(d, nobs1=n_measured, alpha=0.05)
    shift = 0.05 * base
    sims = 2000  # standard error √(0.8·0.2/2000) ≈ 0.009
    assert power(n_measured, q, shift, sims, seed=23) == pytest.approx(expected, abs=0.04)
    assert power(n_normal, q, shift, sims, seed=24) < 0.7  # the normal model's size: short


def test_cells_sized_only_by_a_measured_sd_are_not_merged_but_have_the_other_remedies() -> None:
    # no config std: a merged cell has no sd to be sized with, so no merge remedy
    primary = {"key": "pq", "kind": "continuous", "column": "spend", "quantile": 0.9, "mde": 0.05}
    base = doc(0.9, 20.0, 100.0)
    segments = [{"key": k, "when": {"s": k}} for k in ("big", "mid", "tiny")]
    exp = parse_experiment({**base, "segments": segments, "metrics": {"primary": primary}})
    measured = {
        (k, "buy"): Baseline(120.0, None, "iteration 1", 30.0) for k in ("big", "mid", "tiny")
    }
    shares = {("big", "buy"): 0.8, ("mid", "buy"): 0.15, ("tiny", "buy"): 0.05}
    plan = plan_experiment(exp, shares, daily_units=200, days=14, measured=measured)
    tiny = next(c for c in plan.cells if c.segment == "tiny")
    assert tiny.status == "over_segmented"
    assert [r.kind for r in tiny.remedies] == ["reachable_mde", "extend", "drop"]
    mde = next(r.mde for r in tiny.remedies if r.kind == "reachable_mde")
    n = tiny.smallest_arm_daily * 14  # the units reachable in the planned days, per arm
    d = TTestIndPower().solve_power(nobs1=n, alpha=0.05, power=0.8)
    assert mde == pytest.approx(d * 30.0 / 120.0, rel=1e-3)  # sized with the measured sd
