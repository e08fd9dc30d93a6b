"""Experiment configs: models, validation and loading.

Example:
    >>> from segab.config import DEFAULT_STAGES
    >>> DEFAULT_STAGES[-1]
    'post_purchase'
"""

from segab.config.allocation import AllocationSettings, GraduationSettings, merge_allocation
from segab.config.allocation_cells import (
    bandit_cells,
    cell_allocation,
    check_allocation,
    declared_layout,
    declared_period,
)
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
    "AllocationSettings",
    "AnalysisSettings",
    "Cell",
    "Experiment",
    "GraduationSettings",
    "Metric",
    "Metrics",
    "Namespace",
    "Registry",
    "SegmentDef",
    "SegmentRef",
    "Variant",
    "bandit_cells",
    "cell_allocation",
    "check_allocation",
    "check_experiment",
    "config_schema",
    "declared_layout",
    "declared_period",
    "fingerprint",
    "load_experiment",
    "load_experiments",
    "merge_allocation",
    "parse_experiment",
    "resolve_cell_index",
    "warn_experiment",
]
