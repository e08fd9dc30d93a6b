"""`segab init` then `segab analyze` on four shapes of finished experiments, against an oracle.

Each shape is built synthetically, like a public data set of that shape: an email
campaign (three arms with spaces in a column named ``segment``), a mobile-game gate
test (TRUE/FALSE flags, a control chosen with ``--control``), a landing-page test
(repeated users) and a mailing with five labels that start with a space (a Yes/No
outcome). No preparation outside segab: the CSV as written goes to ``segab init``
(the config) and ``segab analyze --format json``.

Oracle, per metric of the drafted config and treatment arm: binary metrics use
``statsmodels.stats.proportion.proportions_ztest`` (the pooled two-proportion
z-test segab uses, :mod:`segab.stats.frequentist`); continuous metrics
``scipy.stats.ttest_ind(equal_var=False)`` (Welch); both on the data prepared in
pandas as segab documents it (a repeated unit counts once when its rows agree and
not at all when they differ; TRUE/FALSE and Yes/No read as 1/0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest

from segab.cli import cli

N = 6000


def email(rng: np.random.Generator) -> pd.DataFrame:
    arm = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], N)
    visit = rng.random(N) < np.where(arm == "No E-Mail", 0.10, 0.16)
    conversion = visit & (rng.random(N) < 0.12)
    return pd.DataFrame(
        {
            "recency": rng.integers(1, 13, N),
            "history_segment": rng.choice(["1) $0 - $100", "2) $100 - $200", "3) $200+"], N),
            "zip_code": rng.choice(["Surburban", "Rural", "Urban"], N),
            "newbie": rng.integers(0, 2, N),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], N),
            "segment": arm,
            "visit": visit.astype(int),
            "conversion": conversion.astype(int),
            "spend": np.where(conversion, rng.gamma(2.0, 60.0, N), 0.0).round(2),
        }
    )


def gates(rng: np.random.Generator) -> pd.DataFrame:
    arm = rng.choice(["gate_30", "gate_40"], N)
    r1 = rng.random(N) < np.where(arm == "gate_30", 0.45, 0.44)
    return pd.DataFrame(
        {
            "userid": rng.permutation(10 * N)[:N] + 116,
            "version": arm,
            "sum_gamerounds": rng.negative_binomial(1, 0.02, N),
            "retention_1": np.where(r1, "TRUE", "FALSE"),
            "retention_7": np.where(r1 & (rng.random(N) < 0.4), "TRUE", "FALSE"),
        }
    )


def landing(rng: np.random.Generator) -> pd.DataFrame:
    arm = rng.choice(["control", "treatment"], N)
    page = np.where(arm == "control", "old_page", "new_page")
    page = np.where(
        rng.random(N) < 0.02, np.where(page == "old_page", "new_page", "old_page"), page
    )
    df = pd.DataFrame(
        {
            "user_id": 600000 + np.arange(N),
            "timestamp": pd.Timestamp("2017-01-02") + pd.to_timedelta(rng.integers(0, 1e6, N), "s"),
            "group": arm,
            "landing_page": page,
            "converted": (rng.random(N) < 0.12).astype(int),
        }
    )
    agree = df.sample(60, random_state=1)  # the same user twice, rows alike
    differ = df.sample(40, random_state=2).assign(converted=lambda d: 1 - d["converted"])
    return pd.concat([df, agree, differ], ignore_index=True).sample(frac=1, random_state=3)


def mailing(rng: np.random.Generator) -> pd.DataFrame:
    labels = [" Control", " Civic Duty", " Neighbors", " Hawthorne", " Self"]
    arm = rng.choice(labels, N, p=[5 / 9] + [1 / 9] * 4)
    p = np.select([arm == " Neighbors", arm == " Control"], [0.38, 0.30], 0.33)
    return pd.DataFrame(
        {
            "id": np.arange(N) + 1,
            "sex": rng.choice(["male", "female"], N),
            "yob": rng.integers(1920, 1985, N),
            "treatment": arm,
            "voted": np.where(rng.random(N) < p, "Yes", "No"),
        }
    )


def _as_number(series: pd.Series) -> pd.Series:
    words = {"true": 1.0, "yes": 1.0, "false": 0.0, "no": 0.0}
    if not pd.api.types.is_numeric_dtype(series):
        return series.map(lambda v: words.get(str(v).strip().lower(), v)).astype(float)
    return series.astype(float)


def _prepared(df: pd.DataFrame, unit: str | None, read: list[str]) -> pd.DataFrame:
    """segab's documented reading of repeated units, done in pandas."""
    if unit is None or unit not in df:
        return df
    rows = df.drop_duplicates([unit, *read])
    counts = rows[unit].value_counts()
    return rows[rows[unit].map(counts) == 1]


def _oracle(x: pd.Series, y: pd.Series, kind: str) -> tuple[float, float]:
    """(relative lift, two-sided p) of treatment ``x`` over control ``y``."""
    rel = x.mean() / y.mean() - 1.0
    if kind == "binary":
        _, p = proportions_ztest([x.sum(), y.sum()], [len(x), len(y)])
    else:
        p = sps.ttest_ind(x, y, equal_var=False).pvalue
    return float(rel), float(p)


SHAPES: dict[str, tuple[Callable[[np.random.Generator], pd.DataFrame], str, list[str]]] = {
    "email": (email, "segment", []),
    "gates": (gates, "version", ["--control", "gate_30"]),
    "landing": (landing, "group", []),
    "mailing": (mailing, "treatment", []),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_init_then_analyze_matches_the_oracle(shape: str, tmp_path: Path) -> None:
    build, column, extra = SHAPES[shape]
    data = build(np.random.default_rng(7))
    path = tmp_path / f"{shape}.csv"
    data.to_csv(path, index=False)
    runner = CliRunner()
    exps = str(tmp_path / "experiments")
    init = ["init", shape, "--units", str(path), "--variant-column", column, *extra]
    result = runner.invoke(cli, [*init, "--experiments", exps])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "experiments" / f"{shape}.yaml").read_text())
    analyze = ["analyze", shape, "--units", str(path), "--variant-column", column]
    result = runner.invoke(cli, [*analyze, "--experiments", exps, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    cell = config["cells"][0]
    label = {v["key"]: v.get("value", v["key"]) for v in cell["variants"]}
    metrics = [config["metrics"]["primary"], *config["metrics"].get("secondary", [])]
    prepared = _prepared(data, config["unit"], [column, *(m["column"] for m in metrics)])
    control = prepared[prepared[column] == label[cell["control"]]]
    checked = 0
    for m in metrics:
        for key, lab in label.items():
            if key == cell["control"]:
                continue
            got = [r for r in rows if r["metric"] == m["key"] and r["variant"] == key]
            assert len(got) == 1, (m["key"], key, rows[:2])
            treated = prepared[prepared[column] == lab]
            x, y = _as_number(treated[m["column"]]), _as_number(control[m["column"]])
            rel, p = _oracle(x.dropna(), y.dropna(), m["kind"])
            assert got[0]["rel_lift"] == pytest.approx(rel, rel=1e-9, abs=1e-12)
            assert got[0]["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-12)
            checked += 1
    assert checked >= len(label) - 1


def test_the_drafted_configs_read_the_shapes_as_expected(tmp_path: Path) -> None:
    """Arms, control, unit, metric kinds and breakdowns of each shape's draft."""
    runner = CliRunner()
    expected = {
        "email": ("no_e-mail", "unit_id", {"visit": "binary", "spend": "continuous"}),
        "gates": ("gate_30", "userid", {"retention_7": "binary", "sum_gamerounds": "continuous"}),
        "landing": ("control", "user_id", {"converted": "binary"}),
        "mailing": ("control", "id", {"voted": "binary", "yob": "continuous"}),
    }
    for shape, (build, column, extra) in SHAPES.items():
        path = tmp_path / f"{shape}.csv"
        build(np.random.default_rng(3)).to_csv(path, index=False)
        out = tmp_path / f"{shape}.yaml"
        args = ["init", shape, "--units", str(path), "--variant-column", column, *extra]
        result = runner.invoke(cli, [*args, "--output", str(out)])
        assert result.exit_code == 0, result.output
        text = out.read_text()
        config = yaml.safe_load(text)
        control, unit, kinds = expected[shape]
        assert config["cells"][0]["control"] == control
        assert config["unit"] == unit
        metrics = [config["metrics"]["primary"], *config["metrics"].get("secondary", [])]
        assert {m["column"]: m["kind"] for m in metrics}.items() >= kinds.items()
        assert column not in {m["column"] for m in metrics}
        if shape == "email":
            assert "--by channel" in text and "--by zip_code" in text
            one_pass = next(line for line in text.splitlines() if "--breakdown" in line)
            assert "--breakdown channel" in one_pass and "--breakdown zip_code" in one_pass
            assert config["metrics"]["primary"]["column"] == "conversion"
        if shape == "mailing":
            values = {v["value"] for v in config["cells"][0]["variants"]}
            assert " Civic Duty" in values and " Control" in values
            weights = [v["weight"] for v in config["cells"][0]["variants"]]
            assert weights == [5, 1, 1, 1, 1]  # the control first, 5:1:1:1:1
        if shape == "landing":
            assert "repeated" in text and "--by landing_page" in text
