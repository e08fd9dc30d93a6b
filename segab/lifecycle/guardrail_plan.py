"""Sizing for guardrails with a non-inferiority margin (part of ``segab plan``).

A cell ships only when its primary metric wins *and* every guardrail with a
margin is shown non-inferior. Schultzberg, Ankargren and Frånberg ("Risk-aware
product decisions in A/B tests with multiple metrics", Spotify, 2024,
arXiv:2402.11609, sections 3.3-3.4) show that such a rule needs no alpha
correction for the guardrails, but that the type-II error must be split: with
``G`` guardrails with a margin and one primary, each test is powered at
``1 − β/(G + 1)`` so that the decision keeps power ``1 − β`` (a Bonferroni bound
on the misses). segab plan therefore sizes each cell at the largest of

* the primary's size at power ``1 − β/(G + 1)`` and the analysis alpha (one
  primary: no alpha correction; segab's primary test stays two-sided), and
* each guardrail's non-inferiority size at the same power and the *uncorrected*
  one-sided alpha, at a true effect of 0:
  ``n = 2σ²(z₁₋α + z₁₋β′)²/m²`` with ``m`` the absolute margin (a relative margin
  times the guardrail's ``baseline``) and ``σ`` its ``std`` (``√(p(1−p))`` for a
  binary guardrail at its ``baseline``).

The guardrails' baselines come from the config (``baseline``, ``std``); a guardrail
without them is listed with a note and does not size the cells. A quantile
guardrail (``quantile: q``; its margin is on the quantile's scale) is sized with
``σ`` its ``std`` times ``√(q(1 − q))/φ(z_q)``, the sample quantile's standard
deviation for normal data (:mod:`segab.lifecycle.quantile_plan`), and says so in its note.

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "unit": "id",
    ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "c", "kind": "binary", "event": "x", "baseline": 0.1},
    ...                 "guardrail": [{"key": "u", "kind": "binary", "event": "u",
    ...                                "baseline": 0.1, "margin": {"absolute": 0.01}}]}})
    >>> round(decision_power(exp), 3), guardrail_sizes(exp)[0].n_per_arm
    (0.9, 15415)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from segab.config.models import Experiment, Metric
from segab.lifecycle.quantile_plan import std_factor
from segab.stats.noninferiority import corrected_power, noninferiority_size_per_arm

__all__ = ["GuardrailSize", "decision_power", "guardrail_floor", "guardrail_sizes"]


@dataclass(frozen=True)
class GuardrailSize:
    """The units per arm one guardrail's non-inferiority test needs (``None``: unknown).

    Example:
        >>> GuardrailSize("unsub", 0.01, "absolute", 0.1, 0.3, 15415).n_per_arm
        15415
    """

    metric: str
    margin: float
    scale: str
    baseline: float | None
    std: float | None
    n_per_arm: int | None
    note: str = ""


def _margined(exp: Experiment) -> list[Metric]:
    return [m for m in exp.metrics.guardrail if m.margin is not None]


def decision_power(exp: Experiment) -> float:
    """The power each test is sized for: ``1 − β/(G + 1)``, G the guardrails with a margin.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "c", "kind": "binary", "event": "x"}}})
        >>> decision_power(exp)
        0.8
    """
    return corrected_power(exp.analysis.power, len(_margined(exp)))


def _size(m: Metric, exp: Experiment, power: float) -> GuardrailSize:
    margin = m.margin
    assert margin is not None  # _margined keeps those with a margin
    base, std = m.baseline, m.std
    if m.kind == "binary" and base is not None and 0 < base < 1:
        std = math.sqrt(base * (1 - base))
    absolute = margin.absolute
    if absolute is None and base is not None and base != 0:
        absolute = margin.size * abs(base)
    if std is None or absolute is None:
        need = "baseline" if m.kind == "binary" else "baseline and std"
        note = f"set metrics.guardrail {m.key!r} {need} to size its non-inferiority test"
        return GuardrailSize(m.key, margin.size, margin.scale, base, std, None, note)
    factor = std_factor(m)  # a quantile's √(q(1 − q))/φ(z_q), else 1
    n = noninferiority_size_per_arm(std * factor, absolute, exp.analysis.alpha, power)
    note = ""
    if m.quantile is not None:
        note = (
            f"guardrail {m.key!r} sized as the {m.quantile:g}-quantile of normal values: "
            f"std {std:g} × {factor:.4g}; skewed data may need more units"
        )
    return GuardrailSize(m.key, margin.size, margin.scale, base, std, n, note)


def guardrail_sizes(exp: Experiment) -> tuple[GuardrailSize, ...]:
    """Each guardrail with a margin: its size per arm at the corrected power.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "c", "kind": "binary", "event": "x"},
        ...                 "guardrail": [{"key": "g", "kind": "continuous", "event": "v",
        ...                                "margin": {"relative": 0.02}}]}})
        >>> guardrail_sizes(exp)[0].n_per_arm is None
        True
    """
    power = decision_power(exp)
    return tuple(_size(m, exp, power) for m in _margined(exp))


def guardrail_floor(exp: Experiment) -> int:
    """The largest guardrail size per arm (0 without sized guardrails).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "c", "kind": "binary", "event": "x"}}})
        >>> guardrail_floor(exp)
        0
    """
    return max((g.n_per_arm for g in guardrail_sizes(exp) if g.n_per_arm is not None), default=0)
