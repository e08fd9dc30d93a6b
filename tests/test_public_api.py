"""The public API is exactly segab.__all__ (a change here is an API change)."""

from __future__ import annotations

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
