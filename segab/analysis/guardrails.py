"""Guardrails with a non-inferiority margin: their one-sided test on a comparison.

A guardrail's ``margin`` (:class:`~segab.config.metric_options.Margin`) is tested
on its own scale: an ``absolute`` margin against the absolute lift and its
standard error, a ``relative`` one against the delta-method relative lift and its
standard error (:func:`segab.stats.noninferiority.noninferiority`). Alpha is the
analysis' alpha, not corrected over guardrails (Schultzberg, Ankargren and
Frånberg 2024). The test is the fixed-horizon one-sided z-test whatever the
analysis ``method``.

Example:
    >>> from segab.config.models import Metric
    >>> from segab.stats import ProportionStats, compare
    >>> m = Metric(key="conv", kind="binary", event="buy", margin={"absolute": 0.01})
    >>> t = guardrail_test(compare(ProportionStats(10000, 1000), ProportionStats(10000, 990)), m)
    >>> round(t.p_value, 6), t.passed
    (0.016749, True)
"""

from __future__ import annotations

import math
from dataclasses import replace

from segab.config.models import Metric
from segab.stats import Comparison
from segab.stats.noninferiority import NonInferiority, noninferiority

__all__ = ["guardrail_test", "ni_keys", "ni_text"]


def guardrail_test(c: Comparison, metric: Metric) -> NonInferiority | None:
    """The non-inferiority test of ``metric`` on ``c`` (``None`` without a margin).

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> m = Metric(key="conv", kind="binary", event="buy")
        >>> guardrail_test(compare(ProportionStats(100, 10), ProportionStats(100, 9)), m) is None
        True
    """
    margin = metric.margin
    if margin is None:
        return None
    if margin.scale == "absolute":
        estimate, se = c.abs_lift, c.abs_se
    else:
        estimate, se = c.rel_lift, c.rel_se
    test = noninferiority(estimate, se, margin.size, metric.direction, c.alpha)
    return replace(test, scale=margin.scale)


def ni_text(t: NonInferiority) -> str:
    """``margin 1%, one-sided p = 0.017`` for reasons and reports.

    Example:
        >>> ni_text(NonInferiority(0.01, "relative", 2.1, 0.0167, True))
        'margin 1%, one-sided p = 0.017'
    """
    margin = f"{t.margin * 100:g}%" if t.scale == "relative" else f"{t.margin:g}"
    if not math.isfinite(t.p_value):
        return f"margin {margin}, p undefined"
    p = "< 0.001" if t.p_value < 0.001 else f"= {t.p_value:.2g}"
    return f"margin {margin}, one-sided p {p}"


def ni_keys(t: NonInferiority) -> dict[str, object]:
    """The JSON keys of a row's non-inferiority test.

    Example:
        >>> sorted(ni_keys(NonInferiority(0.01, "absolute", 2.0, 0.02, True)))
        ['margin', 'margin_scale', 'non_inferior', 'p_noninferiority']
    """
    return {
        "margin": t.margin,
        "margin_scale": t.scale,
        "p_noninferiority": t.p_value,
        "non_inferior": t.passed,
    }
