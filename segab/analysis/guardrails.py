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
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import replace

from segab.config.models import AnalysisSettings, Experiment, Metric
from segab.stats import Comparison
from segab.stats.noninferiority import NonInferiority, corrected_power, noninferiority

__all__ = ["decision_settings", "guardrail_test", "guardrail_tests", "ni_keys", "ni_text"]


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


def guardrail_tests(
    items: Iterable[tuple[Hashable, Hashable, Comparison, Metric]],
) -> tuple[dict[Hashable, NonInferiority], dict[Hashable, list[str]]]:
    """The tests of the guardrail rows ``(row id, where, comparison, metric)`` with a margin,
    by row id, and per ``where`` (scope, cell, variant) the guardrails not shown
    non-inferior and not harmed either (a harmed one is reported as harmed).

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> m = Metric(key="u", kind="binary", event="u", margin={"absolute": 0.001})
        >>> c = compare(ProportionStats(1000, 100), ProportionStats(1000, 100))
        >>> tests, failed = guardrail_tests([(1, "cell", c, m)])
        >>> tests[1].passed, failed["cell"]
        (False, ['guardrail u not shown non-inferior (margin 0.001)'])
    """
    from segab.analysis.decisions import guardrail_harmed  # decisions imports this module

    tests: dict[Hashable, NonInferiority] = {}
    failed: dict[Hashable, list[str]] = defaultdict(list)
    for key, where, c, metric in items:
        t = guardrail_test(c, metric)
        if t is None or metric.margin is None:
            continue
        tests[key] = t
        if not t.passed and not guardrail_harmed(c, metric):
            margin = metric.margin.describe()
            failed[where].append(f"guardrail {metric.key} not shown non-inferior (margin {margin})")
    return tests, dict(failed)


def decision_settings(experiment: Experiment) -> AnalysisSettings:
    """The analysis settings decisions use: with ``G`` margin guardrails, ``power`` is the
    split power ``1 − β/(G + 1)`` (the units a ``keep_running`` row asks for, as
    ``segab plan`` sizes the cells).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "c", "kind": "binary", "event": "x"},
        ...                 "guardrail": [{"key": "u", "kind": "binary", "event": "u",
        ...                                "margin": {"absolute": 0.01}}]}})
        >>> round(decision_settings(exp).power, 6)
        0.9
    """
    settings = experiment.analysis
    margins = sum(1 for m in experiment.metrics.guardrail if m.margin is not None)
    if not margins:
        return settings
    return settings.model_copy(update={"power": corrected_power(settings.power, margins)})
