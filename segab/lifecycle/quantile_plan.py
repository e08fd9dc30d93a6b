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
units (``analysis/quantile_plan_study.py --lognormal``). So when an earlier
iteration's snapshot holds the cell's comparison, the plan reads the sample
quantile's per-unit standard deviation off its interval instead
(:func:`measured_quantile_sd`: the order-statistic standard error the analysis
measured, no normal model), and uses it for that cell.

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
from statistics import NormalDist
from typing import Any

from segab.config.models import Metric
from segab.stats.power import quantile_variance_factor

__all__ = [
    "measured_quantile_sd",
    "quantile_sizing",
    "sizing_std",
    "sizing_text",
    "std_factor",
]


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


def sizing_std(metric: Metric, std: float | None, measured: float | None = None) -> float | None:
    """The per-unit standard deviation a size reads: ``std``, times ``√factor`` for a quantile.

    ``measured``: a quantile metric's per-unit standard deviation of the sample
    quantile, measured in an earlier iteration (:func:`measured_quantile_sd`); it
    replaces the normal model.

    Example:
        >>> from segab.config.models import Metric
        >>> sizing_std(Metric(key="m", kind="continuous", column="v"), 3.0)
        3.0
        >>> q = Metric(key="p90", kind="continuous", column="v", quantile=0.9)
        >>> round(sizing_std(q, 1.0) ** 2, 3), sizing_std(q, 1.0, measured=2.5)
        (2.922, 2.5)
    """
    if metric.quantile is not None and measured is not None:
        return measured
    if std is None or metric.quantile is None:
        return std
    return std * std_factor(metric)


def measured_quantile_sd(
    ci_low: float | None,
    ci_high: float | None,
    n_control: int | None,
    n_variant: int | None,
    alpha: float,
) -> float | None:
    """The per-unit standard deviation of a sample quantile, from a comparison's interval.

    A quantile comparison's interval is ``diff ± z_{1−α/2}·se`` with ``se² = se_c² +
    se_t²`` (:func:`segab.stats.quantile.compare_quantiles`); with one per-unit
    variance ``v`` for both arms, ``se² = v(1/n_c + 1/n_t)``, so ``√v = se/√(1/n_c +
    1/n_t)``. ``None`` when the interval is missing, one-sided or empty.

    Example:
        >>> z = NormalDist().inv_cdf(0.975)
        >>> round(measured_quantile_sd(-z, z, 100, 100, 0.05), 6)   # se 1: √v = 1/√(2/100)
        7.071068
        >>> measured_quantile_sd(-1.0, math.inf, 100, 100, 0.05) is None
        True
    """
    if ci_low is None or ci_high is None or not n_control or not n_variant:
        return None
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)) or ci_high <= ci_low:
        return None
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return (ci_high - ci_low) / (2.0 * z) / math.sqrt(1.0 / n_control + 1.0 / n_variant)


def quantile_sizing(metric: Metric, measured_cells: int = 0) -> dict[str, Any] | None:
    """The plan's ``sizing`` block for a quantile metric (``None`` for any other).

    ``measured_cells``: the cells sized with a quantile standard deviation measured
    in an earlier iteration (the others: the normal model).

    Example:
        >>> from segab.config.models import Metric
        >>> block = quantile_sizing(Metric(key="p50", kind="continuous", column="v",
        ...                                quantile=0.5))
        >>> block["quantile"], round(block["variance_factor"], 4), round(block["std_factor"], 4)
        (0.5, 1.5708, 1.2533)
        >>> block["measured_cells"]
        0
    """
    if metric.quantile is None:
        return None
    factor = quantile_variance_factor(metric.quantile)
    return {
        "method": "normal_quantile",
        "quantile": metric.quantile,
        "variance_factor": factor,
        "std_factor": math.sqrt(factor),
        "measured_cells": measured_cells,
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
    measured = block.get("measured_cells", 0)
    lead = (
        f"{metric}: {measured} cell{'s' if measured != 1 else ''} sized with the sample "
        "quantile's standard deviation measured in an earlier iteration; the others "
        if measured
        else f"{metric} "
    )
    return lead + (
        f"sized as the {block['quantile']:g}-quantile of normal values: the sample "
        f"quantile's variance q(1 − q)/φ(z_q)² is {block['variance_factor']:.4g} × the mean's "
        f"(std × {block['std_factor']:.4g}); skewed data may need more units"
    )
