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
