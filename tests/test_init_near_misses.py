"""`segab init` then `segab analyze` on a table whose amounts hold a few ``N/A``.

The draft keeps the column as a continuous outcome and says how many values are not
numbers, with examples; a true/false column with one stray ``Y`` is named in the
draft's "Not used" with that value (not drafted as a breakdown); ``segab analyze``
then leaves the rows with text out of every metric and counts them in ``bad_values``.
Oracle: ``scipy.stats.ttest_ind(equal_var=False)`` (Welch, as segab) and
``statsmodels``' pooled two-proportion z-test on the rows whose amount is a number.
A third of ``N/A`` is too many: no outcome column, and the error says why.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest

from segab.cli import cli

N = 2000


def _table(rng: np.random.Generator, text_share: float) -> pd.DataFrame:
    arm = rng.choice(["Control", "New offer"], N)
    bought = rng.random(N) < np.where(arm == "Control", 0.10, 0.14)
    spend = np.where(bought, rng.gamma(2.0, 30.0, N), 0.0).round(2).astype(str).astype(object)
    bad = rng.choice(N, int(text_share * N), replace=False)
    spend[bad] = rng.choice(["N/A", "-", "$12.00"], len(bad))
    flag = np.where(rng.random(N) < 0.3, "TRUE", "FALSE").astype(object)
    flag[5] = "Y"
    return pd.DataFrame(
        {"customer_id": np.arange(N), "arm": arm, "bought": bought.astype(int), "spend": spend,
         "newsletter": flag}
    )  # fmt: skip


def _init(tmp_path: Path, data: pd.DataFrame) -> tuple[CliRunner, list[str]]:
    path = tmp_path / "t.csv"
    data.to_csv(path, index=False)
    exps = str(tmp_path / "experiments")
    return CliRunner(), ["--units", str(path), "--variant-column", "arm", "--experiments", exps]


def test_a_few_text_amounts_are_drafted_counted_and_left_out(tmp_path: Path) -> None:
    data = _table(np.random.default_rng(3), 0.01)
    runner, args = _init(tmp_path, data)
    result = runner.invoke(cli, ["init", "t", *args])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "experiments" / "t.yaml").read_text()
    config = yaml.safe_load(text)
    metrics = [config["metrics"]["primary"], *config["metrics"]["secondary"]]
    assert {m["column"]: m["kind"] for m in metrics} == {"bought": "binary", "spend": "continuous"}
    assert "20 values (" in text and "are not numbers" in text
    assert "\"newsletter\": 0/1, true/false or yes/no but for 1 value ('Y')" in text
    result = runner.invoke(cli, ["analyze", "t", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data_quality"]["bad_values"] == 20
    assert sum(i["count"] for i in doc["data_issues"]) == 20
    kept = data[pd.to_numeric(data["spend"], errors="coerce").notna()]
    ctl, new = kept[kept["arm"] == "Control"], kept[kept["arm"] == "New offer"]
    rows = {r["metric"]: r for r in doc["results"]}
    x, y = new["spend"].astype(float), ctl["spend"].astype(float)
    assert rows["spend"]["p_value"] == pytest.approx(
        sps.ttest_ind(x, y, equal_var=False).pvalue, rel=1e-6
    )
    counts = [int(new["bought"].sum()), int(ctl["bought"].sum())]
    _, p = proportions_ztest(counts, [len(new), len(ctl)])
    assert rows["bought"]["p_value"] == pytest.approx(p, rel=1e-6)
    assert (rows["bought"]["n_control"], rows["bought"]["n_variant"]) == (len(ctl), len(new))


def test_a_third_of_text_is_not_an_outcome_and_the_error_says_why(tmp_path: Path) -> None:
    data = _table(np.random.default_rng(4), 0.33).drop(columns=["bought"])
    runner, args = _init(tmp_path, data)
    result = runner.invoke(cli, ["init", "t", *args])
    assert result.exit_code == 1
    assert "no outcome column" in result.output
    assert "'spend': numbers but for 660 values" in result.output and "33%" in result.output
    assert "'newsletter': 0/1, true/false or yes/no but for 1 value ('Y')" in result.output


def test_a_time_column_is_named_as_the_time_to_keep_each_units_earliest_row(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    n = 1500
    data = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 1000, n),  # about a third repeated
            "seen_at": pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.permutation(n), "min"),
            "converted": (rng.random(n) < 0.2).astype(int),
        }
    )
    data["arm"] = np.where(data["customer_id"] % 2 == 0, "Control", "New offer")
    runner, args = _init(tmp_path, data)
    result = runner.invoke(cli, ["init", "t", *args])
    assert result.exit_code == 0, result.output
    path = tmp_path / "experiments" / "t.yaml"
    text = path.read_text()
    hint = "`analysis: {dedupe: first, time_column: seen_at}`"
    assert f'"seen_at": times (timestamp, {n:,} distinct): with repeated units, {hint}' in text
    assert "seen_at" not in text.split("# Not used:")[0]  # not a metric, not a breakdown
    path.write_text(text + "analysis: {dedupe: first, time_column: seen_at}\n")
    result = runner.invoke(cli, ["analyze", "t", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    first = data.sort_values("seen_at").groupby("customer_id").head(1)
    ctl, new = first[first["arm"] == "Control"], first[first["arm"] == "New offer"]
    doc = json.loads(result.stdout)
    assert doc["data_quality"]["duplicate_units"] == n - len(first)
    (row,) = doc["results"]
    _, p = proportions_ztest(
        [int(new["converted"].sum()), int(ctl["converted"].sum())], [len(new), len(ctl)]
    )
    assert (row["n_control"], row["n_variant"]) == (len(ctl), len(new))
    assert row["p_value"] == pytest.approx(p, rel=1e-6)


def test_numbers_with_a_decimal_comma_are_named_as_such_not_taken_for_text(
    tmp_path: Path,
) -> None:
    # a semicolon file from a spreadsheet set to a decimal comma: the amounts are text to
    # segab (read as numbers they would all be bad values), and the draft says why
    rng = np.random.default_rng(6)
    n = 400
    amounts = [f"{x:.2f}".replace(".", ",") for x in rng.gamma(2.0, 30.0, n)]
    prices = rng.choice(["9,99", "19,99", "1.299,00"], n)  # few values: not a breakdown
    bought = (rng.random(n) < 0.2).astype(int)
    arm = rng.choice(["Kontrolle", "Neu"], n)
    path = tmp_path / "t.csv"
    lines = ["kunden_id;gruppe;umsatz;preis;gekauft"]
    lines += [f"{i};{arm[i]};{amounts[i]};{prices[i]};{bought[i]}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    exps = str(tmp_path / "experiments")
    args = ["--units", str(path), "--variant-column", "gruppe", "--experiments", exps]
    result = CliRunner().invoke(cli, ["init", "t", *args, "--control", "Kontrolle"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "experiments" / "t.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["metrics"] == {
        "primary": {"key": "gekauft", "kind": "binary", "column": "gekauft"}
    }
    for column in ("umsatz", "preis"):
        assert f'"{column}": numbers with a decimal comma (' in text
    assert "--by preis" not in text
    # nothing else to draft: the error names the decimal comma
    path.write_text("\n".join(line.rsplit(";", 1)[0] for line in lines) + "\n")
    result = CliRunner().invoke(cli, ["init", "u", *args, "--control", "Kontrolle"])
    assert result.exit_code == 1
    assert "'umsatz': numbers with a decimal comma" in result.output
