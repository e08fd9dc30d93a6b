"""The landing-page shape end to end on the command line, with no preparation outside segab.

``segab analyze landing --units ab.csv --attributes countries.csv --by country --format
json`` on ~2000 users (~3% rows whose group and page disagree, ~2% repeated users, a
countries file) gives, per country and overall, the numbers of the data prepared in
pandas. Oracle: ``statsmodels.stats.proportion.proportions_ztest`` (segab's test for
binary metrics, pooled SE), or ``scipy.stats.fisher_exact`` where an expected count of
the 2x2 table is below 5 (segab's fallback, :mod:`segab.stats.frequentist`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportions_ztest

from segab.cli.main import cli
from tests.robustness.landing_data import FULL, config, landing, prepare


def oracle_p(g: pd.DataFrame) -> tuple[int, int, float]:
    c, t = g[g["group"] == "control"]["converted"], g[g["group"] == "treatment"]["converted"]
    n_c, x_c, n_t, x_t = len(c), int(c.sum()), len(t), int(t.sum())
    total, conv = n_c + n_t, x_c + x_t
    if min(n_c, n_t) * min(conv, total - conv) < 5 * total:  # an expected count below 5
        p = fisher_exact([[x_t, n_t - x_t], [x_c, n_c - x_c]]).pvalue
    else:
        p = proportions_ztest([x_t, x_c], [n_t, n_c])[1]
    return n_c, n_t, float(p)


def test_landing_page_analysis_equals_statsmodels_on_the_prepared_rows(tmp_path: Path) -> None:
    rows, countries = landing(2000, seed=5)
    rows.to_csv(tmp_path / "ab.csv", index=False)
    countries.to_csv(tmp_path / "countries.csv", index=False)
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "landing.yaml").write_text(yaml.safe_dump(config(**FULL)))
    args = ["analyze", "landing", "--units", str(tmp_path / "ab.csv"), "--variant-column"]
    args += ["group", "--attributes", str(tmp_path / "countries.csv"), "--by", "country"]
    args += ["--format", "json", "--experiments", str(experiments)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads(res.output)
    prepared, quality = prepare(rows, countries)
    groups = {None: prepared}
    groups.update(dict(iter(prepared.groupby("country"))))
    groups["<none>"] = prepared[prepared["country"].isna()]
    seen = set()
    for r in doc["results"]:
        dims = r["dimensions"]  # {} overall; {"country": None} for users without one
        country = None if not dims else (dims["country"] or "<none>")
        n_c, n_t, p = oracle_p(groups[country])
        assert (r["n_control"], r["n_variant"]) == (n_c, n_t), country
        assert r["p_value"] == pytest.approx(p, rel=1e-9), country
        seen.add(country)
    assert seen == set(groups)
    for key, value in quality.items():
        assert doc["data_quality"][key] == value, key
    assert quality["filtered_out"] > 40 and quality["duplicate_units"] > 30
