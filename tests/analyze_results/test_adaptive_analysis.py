"""Bandit cells through ``segab analyze``: the Simpson's-paradox example of docs/statistics.md
(pooled counts say the treatment wins by 13 points; within each period it loses 1 point), the
period-stratified row equal to ``stats.adaptive.period_stratified`` on sums computed by hand
from the data (pandas), the uniform slice beside it equal to ``uniform_slice_comparison``, the
slice SRM, pooled rows through the slice sums, and the other cells unchanged."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.analysis.api import analyze
from segab.analysis.period_files import write_periods
from segab.assignment import plan_of
from segab.cli.main import cli
from segab.config import parse_experiment
from segab.hashing import bucket_of_key
from segab.stats.adaptive import period_stratified, uniform_slice_comparison
from segab.stats.sufficient import ProportionStats

CONFIG = {
    "key": "simpson", "name": "Simpson", "unit": "user_id", "stages": ["buy"], "seed": "s7",
    "status": "running",
    "segments": [{"key": "x", "when": {"k": 1}}, {"key": "y", "when": {"k": 2}}],
    "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
               "control": "a"}],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}},
    "analysis": {"correction": "none"},
}  # fmt: skip
EXP = parse_experiment(CONFIG)
START = dt.datetime(2026, 1, 1)
# the treatment's share rises from 10% to 90% (a 10% slice at 50/50 beside it) while the
# baseline rises from 10% to 30%; the treatment is 1 point worse in both periods
LAYOUTS = [((500, 500), (8500, 500)), ((500, 500), (500, 8500))]
PERIODS = [
    AllocationPeriod("simpson", 1, n, START + dt.timedelta(days=7 * n),
                     (CellAllocation("x", "buy", ("a", "b"), sl, ad),))
    for n, (sl, ad) in enumerate(LAYOUTS)
]  # fmt: skip
RATES = {(0, "a"): 0.10, (0, "b"): 0.09, (1, "a"): 0.30, (1, "b"): 0.29}
PREFIX = plan_of(EXP).cells[("x", "buy")].prefix


def log(n: int = 8000) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exposures and events, and per unit: segment, period, variant, slice, converted."""
    units = []
    for i in range(n):
        uid, seg = f"u{i}", "x" if i % 4 else "y"
        period = int(i >= n // 2)
        t = START + dt.timedelta(days=7 * period, minutes=i % 5000)
        b = bucket_of_key(plan_of(EXP).cells[(seg, "buy")].prefix + uid)
        v = PERIODS[period].cells[0].variant_at(b) if seg == "x" else "ab"[b % 2]
        units.append((uid, seg, period, v, b < 1000 and seg == "x", t))
    u = pd.DataFrame(units, columns=["user_id", "segment", "period", "variant", "in_slice", "t"])
    rank = u.groupby(["segment", "period", "variant"]).cumcount()
    size = u.groupby(["segment", "period", "variant"])["user_id"].transform("size")
    cells = zip(u["segment"], u["period"], u["variant"], strict=True)
    rate = [RATES[(p, v)] if s == "x" else 0.1 for s, p, v in cells]
    u["converted"] = rank < (size * pd.Series(rate)).round()  # exactly round(rate * n) per group
    x = u.assign(stage="buy", timestamp=u["t"].astype(str))[
        ["user_id", "segment", "stage", "variant", "timestamp"]
    ]
    c = u[u["converted"]]
    e = pd.DataFrame({"user_id": c["user_id"], "event": "buy",
                      "timestamp": (c["t"] + pd.Timedelta(hours=1)).astype(str)})  # fmt: skip
    return x, e, u


def stats(u: pd.DataFrame) -> ProportionStats:
    return ProportionStats(len(u), int(u["converted"].sum()))


def run(tmp_path: Path, *extra: str) -> Any:
    (tmp_path / "experiments").mkdir(exist_ok=True)
    (tmp_path / "experiments" / "simpson.yaml").write_text(yaml.safe_dump(CONFIG))
    x, e, _ = log()
    x.to_csv(tmp_path / "x.csv", index=False)
    e.to_csv(tmp_path / "e.csv", index=False)
    write_periods(PERIODS, tmp_path / "periods.json")
    args = ["analyze", "simpson", "--exposures", str(tmp_path / "x.csv"), "--events"]
    args += [str(tmp_path / "e.csv"), "--experiments", str(tmp_path / "experiments"), *extra]
    return CliRunner().invoke(cli, args)


def test_simpsons_paradox_through_segab_analyze(tmp_path: Path) -> None:
    res = run(tmp_path, "--format", "json", "--periods", str(tmp_path / "periods.json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    row = next(r for r in doc["results"] if r["segment"] == "x")
    _, _, u = log()
    u = u[u["segment"] == "x"]
    arm = {(p, v): stats(u[(u["period"] == p) & (u["variant"] == v)]) for p in (0, 1) for v in "ab"}
    totals = [len(u[u["period"] == p]) for p in (0, 1)]  # each period's units, both arms
    want = period_stratified([arm[0, "a"], arm[1, "a"]], [arm[0, "b"], arm[1, "b"]],
                             weights=totals)  # fmt: skip
    # the pooled counts: the treatment "wins" by 13+ points, p < 1e-10, and is not used
    assert row["naive_abs_lift"] > 0.12 and row["naive_p_value"] < 1e-10
    # the decision uses the period-stratified estimate: -1 point, its interval excludes the
    # pooled figure and holds the truth
    assert row["estimate_used"] == "period_stratified"
    assert "weighted by the period's share" in row["estimate_note"]
    assert row["abs_lift"] == pytest.approx(want.estimate, rel=1e-12)
    assert row["abs_lift"] == pytest.approx(-0.01, abs=0.002)
    assert row["abs_ci_low"] == pytest.approx(want.ci_low, rel=1e-12)
    assert row["abs_ci_low"] < -0.01 < row["abs_ci_high"] < row["naive_abs_lift"]
    assert row["p_value"] == pytest.approx(want.p_value, rel=1e-9)
    assert row["period_weights"] == pytest.approx(list(want.weights))
    assert row["decision"] != "ship" and row["test"] == "period_stratified"
    # the uniform slice beside it: a plain A/B test of the slice's units
    sl = u[u["in_slice"]]
    by_arm = [[stats(sl[(sl["variant"] == v) & (sl["period"] == p)]) for p in (0, 1)] for v in "ab"]
    slice_want = uniform_slice_comparison(*by_arm)
    assert row["slice_n_control"] == slice_want.n_control
    assert row["slice_abs_lift"] == pytest.approx(slice_want.abs_lift, rel=1e-12)
    assert row["slice_p_value"] == pytest.approx(slice_want.p_value, rel=1e-9)
    # SRM of the bandit cell on its slice; the pooled row takes the slice's units
    srm = next(s for s in doc["srm"] if s["segment"] == "x")
    assert srm["part"] == "uniform_slice"
    assert srm["observed"] == [len(sl[sl["variant"] == v]) for v in "ab"]
    y = next(r for r in doc["results"] if r["segment"] == "y")
    (pooled,) = doc["pooled"]
    assert pooled["n_control"] == y["n_control"] + row["slice_n_control"]
    assert doc["adaptive"]["cells"] == [{"segment": "x", "stage": "buy"}]


def test_other_cells_unchanged_and_without_periods_as_before(tmp_path: Path) -> None:
    plain = run(tmp_path, "--format", "json")
    with_periods = run(tmp_path, "--format", "json", "--periods", str(tmp_path / "periods.json"))
    assert plain.exit_code == with_periods.exit_code == 0, plain.output + with_periods.output
    a, b = json.loads(plain.output), json.loads(with_periods.output)
    assert "adaptive" not in a and "estimate_used" not in a["results"][0]
    same = [r for r in a["results"] if r["segment"] == "y"]
    assert same == [r for r in b["results"] if r["segment"] == "y"]
    naive = next(r for r in a["results"] if r["segment"] == "x")
    row = next(r for r in b["results"] if r["segment"] == "x")
    assert row["naive_abs_lift"] == naive["abs_lift"] and naive["decision"] == "ship"


def test_library_call_and_bayesian(tmp_path: Path) -> None:
    """Bayesian: the stratified estimate as a normal posterior; chance to win Φ(Δ/se)."""
    from scipy import stats as sps

    x, e, _ = log()
    exp = parse_experiment({**CONFIG, "analysis": {"method": "bayesian"}})
    r = analyze(exp, exposures=x, events=e, periods=PERIODS)
    row = next(r for r in r.results if r.segment == "x")
    c = row.comparison
    assert row.adaptive is not None and row.adaptive.estimate_used == "period_stratified"
    assert c.method == "bayesian"
    assert c.chance_to_win == pytest.approx(sps.norm.cdf(c.abs_lift / c.abs_se), rel=1e-12)
    z = c.abs_lift / c.abs_se
    loss = c.abs_se * sps.norm.pdf(z) - c.abs_lift * sps.norm.cdf(-z)
    assert c.expected_loss == pytest.approx(loss, rel=1e-9)  # E[max(-Δ, 0)], closed form


def test_periods_errors(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('[{"experiment": "simpson"}]')
    res = run(tmp_path, "--periods", str(tmp_path / "p.json"))
    assert res.exit_code != 0 and "p.json[0]: missing 'started_at'" in res.output
    x, _, _ = log(40)
    with pytest.raises(Exception, match="expected an event log"):
        analyze(EXP, units=x, periods=PERIODS)


def test_table_csv_and_html_show_the_estimate_used_and_the_slice(tmp_path: Path) -> None:
    periods = ["--periods", str(tmp_path / "periods.json")]
    res = run(tmp_path, *periods, "--format", "json")
    row = next(r for r in json.loads(res.output)["results"] if r["segment"] == "x")
    table = run(tmp_path, *periods)
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "Bandit cells: the estimate each decision used" in text
    assert "Allocation periods: 0 from 2026-01-01T00:00:00, 1 from 2026-01-08T00:00:00" in text
    assert "x (uniform slice)" in text  # the SRM row of the bandit cell
    csv = run(tmp_path, *periods, "--format", "csv")
    frame = pd.read_csv(__import__("io").StringIO(csv.output))
    x = frame[(frame["scope"] == "cell") & (frame["segment"] == "x")].iloc[0]
    assert x["estimate_used"] == "period_stratified"
    assert x["slice_abs_lift"] == pytest.approx(row["slice_abs_lift"], rel=1e-12)
    assert x["naive_abs_lift"] == pytest.approx(row["naive_abs_lift"], rel=1e-12)
    assert x["period_weights"] == "; ".join(f"{w:.6g}" for w in row["period_weights"])
    out = tmp_path / "r.html"
    assert run(tmp_path, *periods, "--format", "html", "--output", str(out)).exit_code == 0
    page = out.read_text()
    assert "<h2 id='bandit'>" in page and "<td>period-stratified</td>" in page
    lo, hi = row["slice_abs_ci_low"], row["slice_abs_ci_high"]
    from segab.formatting import num

    assert f"[{num(lo)}, {num(hi)}]" in page and "naive pooled (not used)" in page


def test_db_reads_the_store_periods(tmp_path: Path) -> None:
    """With --db, a config with bandit cells takes its periods from the store: the declared
    period 0 and what ``segab allocate`` recorded; the same as the library call with them."""
    from segab.config import load_experiments
    from segab.lifecycle.allocation_run import current_periods
    from segab.store import open_store
    from tests.lifecycle.test_allocate import CONFIG as BANDIT
    from tests.lifecycle.test_allocate import KEY, T0, allocate, simulate

    exp_dir, url = tmp_path / "bandits", f"sqlite:///{tmp_path / 'segab.db'}"
    exp_dir.mkdir()
    (exp_dir / f"{KEY}.yaml").write_text(yaml.safe_dump(BANDIT), encoding="utf-8")
    open_store(url, create=True)
    simulate(url, 0, 400, {"young": 0.5, "rest": 0.5}, seed=3)
    allocate(exp_dir, url, "--now", (T0 + dt.timedelta(days=1)).isoformat())
    simulate(url, 1, 400, {"young": 0.9, "rest": 0.5}, seed=4)
    args = ["analyze", KEY, "--db", url, "--experiments", str(exp_dir), "--format", "json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [p["number"] for p in doc["adaptive"]["periods"]] == [0, 1]
    rows = [r for r in doc["results"] if r["segment"] in ("young", "rest")]
    assert {r["estimate_used"] for r in rows} == {"period_stratified"}
    exp = load_experiments(exp_dir)[KEY]
    lib = analyze(exp, db_url=url, exposures="exposures", events="events",
                  periods=current_periods(exp, open_store(url)))  # fmt: skip
    assert [r.to_dict() for r in lib.results] == doc["results"]


def test_bandit_config_without_periods_says_so() -> None:
    x, e, _ = log(400)
    config = {**CONFIG, "allocation": {"mode": "bandit"}}
    r = analyze(parse_experiment(config), exposures=x, events=e)
    assert r.adaptive is None and all(row.adaptive is None for row in r.results)
    assert any("are bandits in the config, but no allocation periods" in n for n in r.notes)
