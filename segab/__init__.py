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

__all__ = [
    "BUCKETS",
    "HASH_VERSION",
    "Assignment",
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
]
