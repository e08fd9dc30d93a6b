"""segab plan on a quantile metric: sized with the sample quantile's variance, not the mean's.

Oracles: the closed form ``q(1 − q)/φ(Φ⁻¹(q))²`` (π/2 at the median) and
``scipy.stats.norm``; the variance of ``numpy.quantile`` over simulated normal
samples (asymptotic normality of the sample quantile, Serfling 1980, 2.3.3);
statsmodels ``TTestIndPower`` on Cohen's ``d`` with the inflated ``std`` and
``zt_ind_solve_power`` for a quantile guardrail. Calibration: the power of segab's
own quantile test (:func:`segab.stats.quantile.compare_quantiles` on
:func:`~segab.stats.quantile.quantile_stats`) at the planned size and a true
shift of the MDE.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.stats import norm
from statsmodels.stats.power import TTestIndPower, zt_ind_solve_power

from segab.cli.main import cli
from segab.config import parse_experiment
from segab.errors import StatsError
from segab.lifecycle.plan import Baseline, plan_experiment
from segab.lifecycle.shrinkage_plan import shrinkage_sizes
from segab.stats import achieved_power, eb_sample_size_per_arm, quantile_variance_factor
from segab.stats.quantile import compare_quantiles, quantile_stats

LEVELS = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
ALL = {("all", "buy"): 1.0}


def raw(quantile: float | None, *, std: float = 20.0, mde: float = 0.05, **metric: Any) -> dict:
    primary = {"key": "pq", "kind": "continuous", "column": "spend", "baseline": 100.0,
               "std": std, "mde": mde, **metric}  # fmt: skip
    if quantile is not None:
        primary["quantile"] = quantile
    return {
        "key": "qp", "unit": "id", "stages": ["buy"],
        "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "control": "a"}],
        "metrics": {"primary": primary},
    }  # fmt: skip


def exp(quantile: float | None, **kw: Any) -> Any:
    return parse_experiment(raw(quantile, **kw))


def ttest_n(d: float) -> int:
    """statsmodels' units per arm for Cohen's ``d`` (alpha 0.05, power 0.8), rounded up."""
    return math.ceil(TTestIndPower().solve_power(d, alpha=0.05, power=0.8) - 1e-9)


# --- the factor ---------------------------------------------------------------------------


def test_factor_is_pi_over_two_at_the_median_and_matches_scipy() -> None:
    assert quantile_variance_factor(0.5) == pytest.approx(math.pi / 2, rel=1e-14)
    for q in LEVELS:
        want = q * (1 - q) / norm.pdf(norm.ppf(q)) ** 2
        assert quantile_variance_factor(q) == pytest.approx(want, rel=1e-12), q
        assert quantile_variance_factor(q) == pytest.approx(quantile_variance_factor(1 - q))
    assert quantile_variance_factor(0.9) == pytest.approx(2.922, abs=5e-4)
    # the median is the most efficient level: every other costs more
    assert min(quantile_variance_factor(q) for q in LEVELS) == quantile_variance_factor(0.5)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5, math.nan, 1e-320])
def test_factor_rejects_levels_outside_the_open_interval(q: float) -> None:
    with pytest.raises(StatsError, match="quantile"):
        quantile_variance_factor(q)


@pytest.mark.parametrize("q", [0.5, 0.75, 0.9])
def test_factor_is_the_variance_of_numpy_sample_quantiles(q: float) -> None:
    # n·Var(numpy.quantile(x, q)) over many normal samples of n, against the factor (σ = 1).
    # The sample variance of R near-normal estimates has relative error √(2/(R − 1)).
    n, reps = 1001, 20_000
    rng = np.random.default_rng(20261205)
    estimates = np.concatenate([
        np.quantile(rng.standard_normal((5_000, n)), q, axis=1) for _ in range(reps // 5_000)
    ])  # fmt: skip
    measured = n * float(np.var(estimates, ddof=1))
    tol = 4 * math.sqrt(2 / (reps - 1))  # 4 Monte Carlo standard errors, 4%
    assert measured == pytest.approx(quantile_variance_factor(q), rel=tol)
    assert abs(measured - 1.0) > 10 * tol  # not the mean's variance


# --- the plan -----------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.9, 0.25])
def test_plan_sizes_the_quantile_as_a_mean_with_the_inflated_std(q: float) -> None:
    factor = quantile_variance_factor(q)
    plan = plan_experiment(exp(q), ALL, daily_units=1000)
    mean = plan_experiment(exp(None), ALL, daily_units=1000)
    inflated = plan_experiment(exp(None, std=20.0 * math.sqrt(factor)), ALL, daily_units=1000)
    n = plan.cells[0].n_per_arm
    assert n == inflated.cells[0].n_per_arm
    assert plan.cells[0].days_needed == inflated.cells[0].days_needed
    d = 5.0 / (20.0 * math.sqrt(factor))  # statsmodels: Cohen's d with the quantile's sd
    assert n == ttest_n(d)
    # factor × the mean's units, up to rounding and the t-test's degrees of freedom
    assert n / mean.cells[0].n_per_arm == pytest.approx(factor, rel=0.01)
    assert plan.cells[0].std == 20.0  # the config's std is shown as given
    assert plan.to_dict()["sizing"] == {
        "method": "normal_quantile",
        "quantile": q,
        "variance_factor": factor,
        "std_factor": math.sqrt(factor),
        "measured_cells": 0,
    }
    assert "sizing" not in mean.to_dict()


def segmented(quantile: float | None, std: float) -> Any:
    doc = raw(quantile, std=std, mde=0.03)
    doc["segments"] = [{"key": k, "when": {"s": k}} for k in ("big", "mid", "tiny")]
    return parse_experiment(doc)


def test_over_segmentation_remedies_use_the_quantile_variance() -> None:
    # same baselines everywhere: the quantile plan is the mean plan with std·√factor,
    # cell for cell, including merges, the reachable MDE and the days to extend to
    factor = quantile_variance_factor(0.5)
    shares = {("big", "buy"): 0.7, ("mid", "buy"): 0.2, ("tiny", "buy"): 0.1}
    plan = plan_experiment(segmented(0.5, 20.0), shares, daily_units=800, days=12)
    same = plan_experiment(segmented(None, 20.0 * math.sqrt(factor)), shares, daily_units=800,
                           days=12)  # fmt: skip
    mean = plan_experiment(segmented(None, 20.0), shares, daily_units=800, days=12)
    assert [c.segment for c in plan.flagged()] == ["mid", "tiny"]
    assert [c.segment for c in mean.flagged()] == ["tiny"]  # the mean plan under-sizes "mid"
    for got, want in zip(plan.to_dict()["cells"], same.to_dict()["cells"], strict=True):
        assert {**got, "std": None} == {**want, "std": None}
    tiny = plan.flagged()[-1]
    kinds = [r.kind for r in tiny.remedies]
    assert kinds == ["merge", "reachable_mde", "extend", "drop"]
    reach = next(r for r in tiny.remedies if r.kind == "reachable_mde")
    plain = next(r for r in mean.flagged()[-1].remedies if r.kind == "reachable_mde")
    assert reach.mde is not None and plain.mde is not None
    assert reach.mde == pytest.approx(plain.mde * math.sqrt(factor), rel=0.01)


def test_measured_baseline_without_std_uses_the_config_std_inflated() -> None:
    factor = quantile_variance_factor(0.5)
    measured = {("all", "buy"): Baseline(80.0, None, "iteration 1")}
    plan = plan_experiment(exp(0.5), ALL, daily_units=1000, measured=measured)
    cell = plan.cells[0]
    assert (cell.baseline, cell.std, cell.baseline_source) == (80.0, 20.0, "iteration 1")
    d = 0.05 * 80.0 / (20.0 * math.sqrt(factor))
    assert cell.n_per_arm == ttest_n(d)


def test_quantile_guardrail_is_sized_with_the_quantile_variance() -> None:
    doc = raw(None, std=20.0)
    doc["metrics"]["guardrail"] = [{"key": "p90", "kind": "continuous", "column": "t",
                                    "quantile": 0.9, "baseline": 50.0, "std": 10.0,
                                    "margin": {"relative": 0.02}}]  # fmt: skip
    plan = plan_experiment(parse_experiment(doc), ALL, daily_units=1000)
    g = plan.guardrails[0]
    sd = 10.0 * math.sqrt(quantile_variance_factor(0.9))
    want = zt_ind_solve_power(effect_size=1.0 / sd, alpha=0.05, power=0.9, alternative="larger")
    assert g.n_per_arm == math.ceil(want) and g.std == 10.0
    assert plan.cells[0].n_per_arm == g.n_per_arm  # the tight guardrail sizes the cell
    assert "'p90' sized as the 0.9-quantile of normal values" in g.note
    assert g.note in plan.notes


def test_tau_sizes_a_quantile_primary_with_the_quantile_variance() -> None:
    doc = raw(0.5, std=20.0)
    doc["segments"] = [{"key": f"s{i}", "when": {"k": i}} for i in range(6)]
    doc["analysis"] = {"shrinkage": "eb"}
    e = parse_experiment(doc)
    plan = plan_experiment(e, {(f"s{i}", "buy"): 1 / 6 for i in range(6)}, daily_units=6000)
    block = shrinkage_sizes(plan, e, tau=1.0)
    sd = 20.0 * math.sqrt(math.pi / 2)
    want = eb_sample_size_per_arm(5.0, sd, tau=1.0, cells=6, power=0.8)
    assert [c["n_per_arm"] for c in block["cells"]] == [want] * 6
    assert want < plan.cells[0].n_per_arm


# --- the command line ---------------------------------------------------------------------


def write(tmp_path: Path, doc: dict) -> list[str]:
    folder = tmp_path / "experiments"
    folder.mkdir(exist_ok=True)
    (folder / "qp.yaml").write_text(yaml.safe_dump(doc))
    return ["plan", "qp", "--daily-units", "1000", "--experiments", str(folder)]


def test_cli_json_and_table(tmp_path: Path) -> None:
    runner = CliRunner()
    args = write(tmp_path, raw(None))
    mean = runner.invoke(cli, [*args, "--format", "json"])
    assert mean.exit_code == 0, mean.output
    args = write(tmp_path, raw(0.5))
    out = runner.invoke(cli, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc, plain = json.loads(out.output), json.loads(mean.output)
    assert set(doc) == set(plain) | {"sizing"}
    assert doc["sizing"]["method"] == "normal_quantile"
    assert doc["sizing"]["variance_factor"] == pytest.approx(math.pi / 2)
    ratio = doc["cells"][0]["n_per_arm"] / plain["cells"][0]["n_per_arm"]
    assert ratio == pytest.approx(math.pi / 2, rel=0.01)
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "sizing: pq sized as the 0.5-quantile of normal values" in text
    assert "1.571 × the mean's" in text
    assert "sizing:" not in runner.invoke(cli, write(tmp_path, raw(None))).output


def test_cli_measured_quantile_baseline_from_a_snapshot(tmp_path: Path) -> None:
    # iteration 1 analysed on a unit table: its snapshot's control "mean" is the median
    from segab.analysis.compute import compute_results
    from segab.store import open_store, save_snapshot
    from segab.sums.specs import UnitColumns
    from segab.sums.unit_table import aggregate_units

    rng = np.random.default_rng(5)
    arm = rng.choice(["a", "b"], 3000)
    spend = rng.normal(90.0, 20.0, 3000)
    units = pd.DataFrame({"id": [f"u{i}" for i in range(3000)], "arm": arm, "stage": "buy",
                          "spend": spend})  # fmt: skip
    first = parse_experiment(raw(0.5))
    result = compute_results(first, aggregate_units(first, units, columns=UnitColumns("arm")))
    url = f"sqlite:///{tmp_path / 'segab.db'}"
    engine = open_store(url, create=True)
    save_snapshot(engine, "qp", 1, result.to_dict())
    engine.dispose()
    args = write(tmp_path, {**raw(0.5), "iteration": 2})
    out = CliRunner().invoke(cli, [*args, "--db", url, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    cell = doc["cells"][0]
    median = float(np.median(spend[arm == "a"]))
    assert cell["baseline"] == pytest.approx(median, rel=1e-12)
    # the snapshot's interval gives the median's own sd (tests/lifecycle/
    # test_plan_quantile_measured.py); the config's std is still shown as given
    assert (cell["baseline_source"], cell["std"]) == ("iteration 1, quantile sd measured", 20.0)
    assert doc["sizing"]["measured_cells"] == 1


# --- calibration --------------------------------------------------------------------------


def empirical_power(n: int, q: float, shift: float, sims: int, seed: int) -> float:
    """Share of ``sims`` normal experiments (σ 20, baseline 100) segab's quantile test rejects."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(sims):
        c = quantile_stats(rng.normal(100.0, 20.0, n).tolist(), q)
        t = quantile_stats(rng.normal(100.0 + shift, 20.0, n).tolist(), q)
        hits += compare_quantiles(c, t, 0.05).p_value < 0.05
    return hits / sims


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_planned_size_reaches_the_planned_power_with_segabs_quantile_test(q: float) -> None:
    plan = plan_experiment(exp(q), ALL, daily_units=1000)
    n = plan.cells[0].n_per_arm
    assert n is not None
    planned = achieved_power(n_per_arm=n, baseline=100.0, mde=0.05, kind="continuous",
                             std=20.0 * math.sqrt(quantile_variance_factor(q)))  # fmt: skip
    assert planned == pytest.approx(plan.power, abs=0.002)
    sims = 3000  # standard error √(0.8·0.2/3000) ≈ 0.0073
    assert empirical_power(n, q, 5.0, sims, seed=11) == pytest.approx(planned, abs=0.04)
    # the size of the same metric planned as a mean leaves the quantile test far short
    mean_n = plan_experiment(exp(None), ALL, daily_units=1000).cells[0].n_per_arm
    assert mean_n is not None
    assert empirical_power(mean_n, q, 5.0, 1000, seed=12) < plan.power - 0.1
