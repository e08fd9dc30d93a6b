"""segab: segment-aware A/B testing.

Declare experiments per customer segment and journey stage, assign units
deterministically without a server, and analyze lift with trustworthy
statistics.

Example:
    >>> import segab
    >>> reg = segab.load_experiments("experiments")            # doctest: +SKIP
    >>> segab.assign(reg["journey_content"], "u42", {"age": 28, "channel": "social"},
    ...              "awareness").variant                         # doctest: +SKIP
    'educational_guide'
"""

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # every name is imported on first use (below), so `import segab` is light
    from segab.analysis.api import analyze
    from segab.analysis.results import AnalysisResult
    from segab.assignment import assign, compile_plan
    from segab.assignment_types import Assignment, Reason
    from segab.config import (
        Experiment,
        Registry,
        config_schema,
        fingerprint,
        load_experiment,
        load_experiments,
        parse_experiment,
    )
    from segab.errors import (
        AssignmentError,
        ConfigError,
        DataError,
        SegabError,
        StatsError,
        StoreError,
    )
    from segab.hashing import BUCKETS, HASH_VERSION
    from segab.sticky import InMemoryStickyLookup, StickyLookup, assign_sticky
    from segab.store.logger import ExposureLogger
    from segab.store.sticky import StoreStickyLookup

_LAZY = {
    "analyze": ("segab.analysis.api", "analyze"),
    "AnalysisResult": ("segab.analysis.results", "AnalysisResult"),
    "ExposureLogger": ("segab.store.logger", "ExposureLogger"),
    "assign": ("segab.assignment", "assign"),
    "compile_plan": ("segab.assignment", "compile_plan"),
    "Assignment": ("segab.assignment_types", "Assignment"),
    "Reason": ("segab.assignment_types", "Reason"),
    "assign_sticky": ("segab.sticky", "assign_sticky"),
    "InMemoryStickyLookup": ("segab.sticky", "InMemoryStickyLookup"),
    "StickyLookup": ("segab.sticky", "StickyLookup"),
    "StoreStickyLookup": ("segab.store.sticky", "StoreStickyLookup"),
    **{
        name: ("segab.config", name)
        for name in (
            "Experiment",
            "Registry",
            "config_schema",
            "fingerprint",
            "load_experiment",
            "load_experiments",
            "parse_experiment",
        )
    },
    **{
        name: ("segab.errors", name)
        for name in (
            "AssignmentError",
            "ConfigError",
            "DataError",
            "SegabError",
            "StatsError",
            "StoreError",
        )
    },
    "BUCKETS": ("segab.hashing", "BUCKETS"),
    "HASH_VERSION": ("segab.hashing", "HASH_VERSION"),
}


def __getattr__(name: str) -> Any:
    """Import the public API on first use (PEP 562).

    ``import segab`` loads nothing but this module, so the console script can
    start handling Ctrl-C before the heavy imports, and apps pay only for what
    they use.

    Example:
        >>> import segab
        >>> segab.ExposureLogger.__name__
        'ExposureLogger'
    """
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'segab' has no attribute {name!r}")


__all__ = [
    "BUCKETS",
    "HASH_VERSION",
    "AnalysisResult",
    "Assignment",
    "AssignmentError",
    "ConfigError",
    "DataError",
    "Experiment",
    "ExposureLogger",
    "InMemoryStickyLookup",
    "Reason",
    "Registry",
    "SegabError",
    "StatsError",
    "StickyLookup",
    "StoreError",
    "StoreStickyLookup",
    "__version__",
    "analyze",
    "assign",
    "assign_sticky",
    "compile_plan",
    "config_schema",
    "fingerprint",
    "load_experiment",
    "load_experiments",
    "parse_experiment",
]
