"""Experiment configs: models, validation and loading.

Example:
    >>> from segab.config import DEFAULT_STAGES
    >>> DEFAULT_STAGES[-1]
    'post_purchase'
"""

from segab.config.checks import check_experiment, resolve_cell_index, warn_experiment
from segab.config.loader import (
    Registry,
    config_schema,
    fingerprint,
    load_experiment,
    load_experiments,
    parse_experiment,
)
from segab.config.models import (
    DEFAULT_STAGES,
    AnalysisSettings,
    Cell,
    Experiment,
    Metric,
    Metrics,
    Namespace,
    SegmentDef,
    SegmentRef,
    Variant,
)

__all__ = [
    "DEFAULT_STAGES",
    "AnalysisSettings",
    "Cell",
    "Experiment",
    "Metric",
    "Metrics",
    "Namespace",
    "Registry",
    "SegmentDef",
    "SegmentRef",
    "Variant",
    "check_experiment",
    "config_schema",
    "fingerprint",
    "load_experiment",
    "load_experiments",
    "parse_experiment",
    "resolve_cell_index",
    "warn_experiment",
]
