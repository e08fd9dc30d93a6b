"""Sizing a quantile metric in ``segab plan``: a mean with the sample quantile's variance.

A metric with ``quantile: q`` is compared on the arms' sample ``q``-quantiles,
whose variance per unit is ``q(1 − q)/f(ξ_q)²`` (``f``: the density at the
quantile), not the mean's ``σ²``. The plan cannot know ``f``; it assumes normal
per-unit values, for which that variance is ``σ²·q(1 − q)/φ(z_q)²``
(:func:`segab.stats.power.quantile_variance_factor`: ``π/2`` for the median,
2.92 at ``q = 0.9``). Every size of a quantile metric (the primary's cells, their
merges and reachable MDE, a margin guardrail, ``--tau``) therefore uses the
metric's ``std`` times ``√factor`` (:func:`sizing_std`), with the same relative
MDE on the metric's ``baseline`` (the baseline *quantile*). Skewed data have less
density at an upper quantile than a normal with the same ``std`` and need more
units (``analysis/quantile_plan_study.py --lognormal``).

Example:
    >>> from segab.config.models import Metric
    >>> m = Metric(key="p50", kind="continuous", column="spend", quantile=0.5)
    >>> round(sizing_std(m, 2.0), 4), sizing_std(m, None)
    (2.5066, None)
    >>> quantile_sizing(m)["method"]
    'normal_quantile'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from segab.config.models import Metric
from segab.stats.power import quantile_variance_factor

__all__ = ["quantile_sizing", "sizing_std", "sizing_text", "std_factor"]


def std_factor(metric: Metric) -> float:
    """``√(q(1 − q))/φ(z_q)`` for a quantile metric, 1 for any other.

    Example:
        >>> from segab.config.models import Metric
        >>> round(std_factor(Metric(key="p50", kind="continuous", column="v", quantile=0.5)), 4)
        1.2533
        >>> std_factor(Metric(key="c", kind="binary", event="x"))
        1.0
    """
    if metric.quantile is None:
        return 1.0
    return math.sqrt(quantile_variance_factor(metric.quantile))


def sizing_std(metric: Metric, std: float | None) -> float | None:
    """The per-unit standard deviation a size reads: ``std``, times ``√factor`` for a quantile.

    Example:
        >>> from segab.config.models import Metric
        >>> sizing_std(Metric(key="m", kind="continuous", column="v"), 3.0)
        3.0
        >>> q = Metric(key="p90", kind="continuous", column="v", quantile=0.9)
        >>> round(sizing_std(q, 1.0) ** 2, 3)
        2.922
    """
    if std is None or metric.quantile is None:
        return std
    return std * std_factor(metric)


def quantile_sizing(metric: Metric) -> dict[str, Any] | None:
    """The plan's ``sizing`` block for a quantile metric (``None`` for any other).

    Example:
        >>> from segab.config.models import Metric
        >>> block = quantile_sizing(Metric(key="p50", kind="continuous", column="v",
        ...                                quantile=0.5))
        >>> block["quantile"], round(block["variance_factor"], 4), round(block["std_factor"], 4)
        (0.5, 1.5708, 1.2533)
    """
    if metric.quantile is None:
        return None
    factor = quantile_variance_factor(metric.quantile)
    return {
        "method": "normal_quantile",
        "quantile": metric.quantile,
        "variance_factor": factor,
        "std_factor": math.sqrt(factor),
    }


def sizing_text(metric: str, block: Mapping[str, Any]) -> str:
    """One line saying how a quantile metric was sized (``segab plan``'s table output).

    Example:
        >>> text = sizing_text("p50", {"method": "normal_quantile", "quantile": 0.5,
        ...                            "variance_factor": math.pi / 2, "std_factor": 1.2533})
        >>> import textwrap
        >>> print(textwrap.fill(text, 80))
        p50 sized as the 0.5-quantile of normal values: the sample quantile's variance
        q(1 − q)/φ(z_q)² is 1.571 × the mean's (std × 1.253); skewed data may need more
        units
    """
    return (
        f"{metric} sized as the {block['quantile']:g}-quantile of normal values: the sample "
        f"quantile's variance q(1 − q)/φ(z_q)² is {block['variance_factor']:.4g} × the mean's "
        f"(std × {block['std_factor']:.4g}); skewed data may need more units"
    )
