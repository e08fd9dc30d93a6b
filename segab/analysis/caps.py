"""The ``caps`` block of an analysis: which cap each capped metric got, and whom it touched.

Example:
    >>> from segab.config import parse_experiment
    >>> from segab.sums.caps import AppliedCap
    >>> exp = parse_experiment({"key": "e", "unit": "id",
    ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
    ...     "metrics": {"primary": {"key": "rev", "kind": "continuous", "column": "rev",
    ...                             "cap": {"percentile": 0.99}}}})
    >>> block = caps_block((AppliedCap("rev", 81.5, 0.99, False, (("all", "all", "a", 3),)),), exp)
    >>> block[0]["cap"], block[0]["units_capped"], block[0]["description"]
    (81.5, {'a': 3}, 'p99 of per-unit values')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from segab.config.models import Experiment
from segab.sums.caps import AppliedCap

__all__ = ["caps_block"]


def caps_block(caps: Sequence[AppliedCap], experiment: Experiment) -> tuple[dict[str, Any], ...]:
    """Per capped metric: ``metric``, ``rule`` (``absolute``/``percentile``), ``percentile``,
    ``ignore_zeros``, ``description``, ``cap`` (the value applied) and ``units_capped``
    per arm (summed over cells).

    Example:
        >>> caps_block((), None)  # type: ignore[arg-type]
        ()
    """
    metrics = {m.key: m for m in experiment.metrics.all()} if caps else {}
    out = []
    for c in caps:
        rule = metrics[c.metric].cap
        out.append(
            {
                "metric": c.metric,
                "rule": "percentile" if c.percentile is not None else "absolute",
                "percentile": c.percentile,
                "ignore_zeros": c.ignore_zeros,
                "description": rule.describe() if rule is not None else "",
                "cap": c.value,
                "units_capped": c.by_arm(),
            }
        )
    return tuple(out)
