"""The public API is exactly segab.__all__ (a change here is an API change)."""

from __future__ import annotations

import pytest

import segab

EXPECTED = {
    "BUCKETS",
    "HASH_VERSION",
    "AnalysisResult",
    "Assignment",
    "ExposureLogger",
    "analyze",
    "AssignmentError",
    "ConfigError",
    "DataError",
    "Experiment",
    "Reason",
    "Registry",
    "SegabError",
    "StatsError",
    "StoreError",
    "__version__",
    "assign",
    "assign_sticky",
    "InMemoryStickyLookup",
    "StickyLookup",
    "StoreStickyLookup",
    "compile_plan",
    "config_schema",
    "fingerprint",
    "load_experiment",
    "load_experiments",
    "parse_experiment",
}


def test_all_is_the_documented_api() -> None:
    assert set(segab.__all__) == EXPECTED
    for name in segab.__all__:
        assert hasattr(segab, name), name


def test_public_callables_have_docstrings_with_examples() -> None:
    for name in segab.__all__:
        obj = getattr(segab, name)
        if callable(obj) and not (isinstance(obj, type) and issubclass(obj, Exception)):
            doc = obj.__doc__ or ""
            assert "Example" in doc or "example" in doc.lower(), f"{name} has no example"


def test_lazy_packages_export_what_they_list() -> None:
    import segab.analysis
    import segab.stats

    for package in (segab.stats, segab.analysis):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
        with pytest.raises(AttributeError):
            package.no_such_name  # noqa: B018


def test_the_data_half_does_not_load_the_statistics_stack() -> None:
    """Importing `segab analyze` loads scipy/statsmodels only when statistics run."""
    import subprocess
    import sys

    code = "import sys, segab.cli.analyze_cmd; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_stats_functions_named_like_their_modules_stay_functions() -> None:
    import importlib

    import segab.stats

    for name in ("compare", "heterogeneity"):
        importlib.import_module(f"segab.stats.{name}")
        assert callable(getattr(segab.stats, name)), name


# A frequentist analysis end to end on a small unit table (two segments; a binary and a
# continuous metric; no count small enough for the Fisher exact fallback), then its
# decisions (units_needed -> sample_size_per_arm) and its dict form.
_ANALYSIS = """
import sys

import numpy as np
import pandas as pd

import segab.analysis.compute
from segab import analyze
from segab.config import parse_experiment

exp = parse_experiment({
    "key": "exp", "name": "Import check", "unit": "user_id", "status": "running",
    "stages": ["awareness"],
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [{"control": "a",
               "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "column": "conv", "mde": 0.1},
                "secondary": [{"key": "rev", "kind": "continuous", "column": "rev"}]},
    "analysis": {"correction": "holm", "mde": 0.1},
})
rng = np.random.default_rng(7)
n = 4000
arm = np.where(rng.random(n) < 0.5, "a", "b")
conv = (rng.random(n) < np.where(arm == "a", 0.20, 0.24)).astype(int)
units = pd.DataFrame({
    "segment": np.where(rng.random(n) < 0.5, "young", "rest"),
    "arm": arm,
    "conv": conv,
    "rev": np.round(rng.gamma(2.0, 5.0, n) * conv, 2),
})
result = analyze(exp, units=units, variant_column="arm")
rows = result.decisions()
assert rows and all(r.comparison.test != "fisher_exact" for r in result.results), rows
assert result.heterogeneity and result.to_dict()
print(sorted(m for m in sys.modules if m.startswith(("scipy.stats", "statsmodels"))))
"""


def test_a_frequentist_analysis_loads_neither_scipy_stats_nor_statsmodels() -> None:
    """`segab analyze` statistics run on scipy.special closed forms: scipy.stats (~0.65 s to
    import) and statsmodels stay unloaded. Their results are checked against those
    libraries in tests/stats/test_oracles.py."""
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run(
        [sys.executable, "-c", _ANALYSIS],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
