"""Decisions: one verdict per comparison, with a one-line reason in plain words.

Pure functions of a :class:`~segab.stats.Comparison`, the metric's settings and
the cell's checks. The rules, in order (the first that applies wins):

1. ``investigate`` — the cell fails the sample-ratio check (SRM, p < 0.001):
   nothing in it can be trusted until the assignment is fixed.
2. The lift cannot be estimated: ``keep_running`` when an arm has too little
   data (fewer than 2 units, no conversions yet), ``investigate`` when the
   control's mean is undefined despite data (e.g. an ROI whose control costs 0).
3. ``investigate`` — on a guardrail row, the guardrail moved significantly in
   its bad direction. Harm uses the *unadjusted* test: a guardrail is a safety
   check, where a false alarm costs a look and a miss costs users. A guardrail
   with a ``margin`` is judged by its non-inferiority test instead
   (:mod:`segab.analysis.guardrails`): shown non-inferior, ``ship`` when also
   significantly better, else ``no_effect``; not shown, ``investigate`` when it is
   also harmed, else ``keep_running``. On a primary row that would ``ship``, a
   guardrail of the same cell and variant not shown non-inferior makes it
   ``keep_running`` (the primary must win *and* every margin must hold).
4. ``rollback`` — the variant is significantly worse on this metric (in the
   metric's ``direction``; significance after the multiple-testing correction).
   Otherwise ``investigate`` on a primary row when any guardrail of the same cell
   and variant is harmed.
5. ``ship`` — the variant is significantly better.
6. ``no_effect`` — powered (each arm has at least the units needed for the
   MDE at the configured power) and the relative CI lies inside ``(−MDE, +MDE)``.
7. ``keep_running`` — otherwise, with the number of extra units per arm that
   the configured MDE needs: :func:`segab.stats.sample_size_per_arm` at the
   observed control mean (and standard deviation) for binary and continuous
   metrics; for ratio metrics, or when already at that size, the size at which
   the current standard error would shrink enough (``se ∝ 1/√n``).

With ``analysis.shrinkage: eb`` a declared cell whose group was shrunk is judged on
its shrunk lift (:class:`~segab.analysis.shrinkage.ShrunkLift`): rules 4 and 5 ask
whether the robust EB interval excludes 0 (below it: worse, above it: better, in
the metric's direction) instead of the corrected p-value, and the reason says
``EB``. Rules 1-3, 6 and 7 (SRM, undefined lifts, guardrail harm, the power and
MDE arithmetic) use the raw comparison as before.

The primary metric's row is *the* decision of the cell. Secondary and
guardrail rows get a verdict on their own metric with the same vocabulary.
The MDE is the metric's ``mde``, else ``analysis.mde``, relative to the control.

Example:
    >>> from segab.config.models import AnalysisSettings, Metric
    >>> from segab.stats import ProportionStats, compare
    >>> m = Metric(key="conv", kind="binary", event="buy")
    >>> c = compare(ProportionStats(20000, 2000), ProportionStats(20000, 2300))
    >>> decide(c, m, role="primary", settings=AnalysisSettings()).decision
    'ship'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

from segab.analysis.guardrails import ni_text
from segab.analysis.shrinkage import ShrunkLift
from segab.config.models import AnalysisSettings, Metric
from segab.errors import StatsError
from segab.formatting import pct
from segab.stats import Comparison, SrmResult, sample_size_per_arm
from segab.stats.noninferiority import NonInferiority

__all__ = ["DECISIONS", "Verdict", "decide", "guardrail_harmed", "units_needed"]

DECISIONS = ("ship", "rollback", "keep_running", "no_effect", "investigate")


@dataclass(frozen=True)
class Verdict:
    """A decision, its one-line reason and, for ``keep_running``, extra units per arm.

    Example:
        >>> Verdict("keep_running", "not significant yet", 1200).more_units
        1200
    """

    decision: str
    reason: str
    more_units: int | None = None


def _pct(x: float) -> str:
    return pct(x, missing="n/a")


def _num(x: float) -> str:
    return f"{x:+.4g}" if math.isfinite(x) else "n/a"


def _effect(c: Comparison, key: str) -> str:
    """``conversion +12.0% (CI +4.0% to +20.0%)``; absolute when the relative lift is undefined."""
    if math.isfinite(c.rel_lift):
        return f"{key} {_pct(c.rel_lift)} (CI {_pct(c.rel_ci_low)} to {_pct(c.rel_ci_high)})"
    return f"{key} {_num(c.abs_lift)} (CI {_num(c.abs_ci_low)} to {_num(c.abs_ci_high)})"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.2g}"


def _evidence(c: Comparison, adjusted: bool = True) -> str:
    if c.method == "bayesian":
        ctw = c.chance_to_win
        return f"chance to win {pct(ctw, signed=False, missing='undefined')}"
    if adjusted and c.p_adjusted is not None and math.isfinite(c.p_adjusted):
        return f"adjusted p {_p(c.p_adjusted)}"
    return f"p {_p(c.p_value)}" if math.isfinite(c.p_value) else "p undefined"


def _better(c: Comparison, metric: Metric) -> bool:
    return c.abs_lift > 0 if metric.direction == "increase" else c.abs_lift < 0


def _mde(metric: Metric, settings: AnalysisSettings) -> float:
    return metric.mde if metric.mde is not None else settings.mde


def _raw_significant(c: Comparison) -> bool:
    if c.method == "bayesian":
        return c.significant
    return math.isfinite(c.p_value) and c.p_value < c.alpha


def guardrail_harmed(c: Comparison, metric: Metric) -> bool:
    """Whether the variant moved ``metric`` significantly in its bad direction (unadjusted).

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> m = Metric(key="unsub", kind="binary", event="u", direction="decrease")
        >>> guardrail_harmed(compare(ProportionStats(5000, 50), ProportionStats(5000, 125)), m)
        True
    """
    return (
        math.isfinite(c.abs_lift)
        and c.abs_lift != 0
        and _raw_significant(c)
        and not _better(c, metric)
    )


def units_needed(
    c: Comparison, metric: Metric, settings: AnalysisSettings, *, control_std: float | None = None
) -> int | None:
    """Units per arm needed to detect the MDE at the configured power (``None`` if unknown).

    Binary: :func:`~segab.stats.sample_size_per_arm` at the observed control
    rate (the config ``baseline`` when the observed rate is 0 or 1). Continuous:
    the same with the observed control standard deviation ``control_std``.
    Ratio, or when those are unavailable: ``n·(se·(z₁₋α/₂ + z_power)/δ)²`` with
    ``δ = MDE·|control mean|`` and the current standard error of the lift.

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> m = Metric(key="conv", kind="binary", event="buy", mde=0.1)
        >>> c = compare(ProportionStats(1000, 100), ProportionStats(1000, 104))
        >>> units_needed(c, m, AnalysisSettings())
        14745
    """
    mde = _mde(metric, settings)
    base = c.control_mean
    try:
        if metric.kind == "binary":
            if not (math.isfinite(base) and 0 < base < 1):
                base = metric.baseline if metric.baseline is not None else math.nan
            if not (math.isfinite(base) and 0 < base < 1):
                return None
            return sample_size_per_arm(
                baseline=base, mde=mde, alpha=settings.alpha, power=settings.power
            )
        if metric.kind == "continuous" and control_std is not None and control_std > 0:
            return sample_size_per_arm(
                baseline=base,
                mde=mde,
                alpha=settings.alpha,
                power=settings.power,
                kind="continuous",
                std=control_std,
            )
    except StatsError:
        return None
    return _from_se(c, mde, settings)


def _from_se(c: Comparison, mde: float, settings: AnalysisSettings) -> int | None:
    delta = mde * abs(c.control_mean)
    se = c.abs_se
    n = min(c.n_control, c.n_treatment)
    if se is None or not (math.isfinite(se) and se > 0 and delta > 0 and n > 0):
        return None
    z = float(special.ndtri(1 - settings.alpha / 2) + special.ndtri(settings.power))
    return math.ceil(n * (se * z / delta) ** 2)


def _undefined(c: Comparison) -> bool:
    if not math.isfinite(c.abs_lift):
        return True
    return c.method != "bayesian" and not math.isfinite(c.p_value)


def _undefined_verdict(c: Comparison, metric: Metric) -> Verdict:
    if c.n_control < 2 or c.n_treatment < 2:
        why = f"too few units to compare (control {c.n_control}, variant {c.n_treatment})"
        return Verdict("keep_running", why)
    if not math.isfinite(c.control_mean) and metric.kind == "ratio":
        why = f"{metric.key} is undefined for the control (its denominator or cost is 0)"
        return Verdict("investigate", why)
    detail = c.warnings[0] if c.warnings else "no variation in the outcome yet"
    return Verdict("keep_running", f"{metric.key} cannot be compared yet: {detail}")


def _inside_mde(c: Comparison, mde: float) -> bool:
    lo, hi = c.rel_ci_low, c.rel_ci_high
    return math.isfinite(lo) and math.isfinite(hi) and -mde < lo and hi < mde


def _not_significant(
    c: Comparison,
    metric: Metric,
    settings: AnalysisSettings,
    control_std: float | None,
    evidence: str | None = None,
) -> Verdict:
    evidence = _evidence(c) if evidence is None else evidence
    mde = _mde(metric, settings)
    need = units_needed(c, metric, settings, control_std=control_std)
    have = min(c.n_control, c.n_treatment)
    powered = need is not None and have >= need
    target = f"a {mde * 100:g}% MDE at {settings.power * 100:g}% power"
    if powered and _inside_mde(c, mde):
        why = (
            f"CI {_pct(c.rel_ci_low)} to {_pct(c.rel_ci_high)} rules out a {mde * 100:g}% "
            f"effect, with {have:,} units per arm (powered for {target})"
        )
        return Verdict("no_effect", why)
    if need is not None and not powered:
        more = need - have
        why = (
            f"not significant yet ({evidence}); needs about {more:,} more units per arm "
            f"({need:,} per arm for {target})"
        )
        return Verdict("keep_running", why, more)
    shrink = _shrink_units(c, mde)
    if shrink is not None:
        why = (
            f"powered but inconclusive ({_effect(c, metric.key)}, {evidence}); about "
            f"{shrink:,} more units per arm to rule a {mde * 100:g}% effect in or out"
        )
        return Verdict("keep_running", why, shrink)
    why = f"not significant yet ({evidence})"
    if need is None:
        why += f"; the units needed for {target} are unknown at a control mean of "
        why += f"{c.control_mean:.4g}"
    return Verdict("keep_running", why)


def _shrink_units(c: Comparison, mde: float) -> int | None:
    """Extra units per arm until the CI would fit inside ±MDE around the current lift."""
    lo, hi, lift = c.rel_ci_low, c.rel_ci_high, c.rel_lift
    if not all(math.isfinite(v) for v in (lo, hi, lift)):
        return None
    room = mde - abs(lift)
    half = (hi - lo) / 2
    have = min(c.n_control, c.n_treatment)
    if room <= 0 or half <= 0:
        return None
    return max(math.ceil(have * (half / room) ** 2) - have, 1)


def decide(
    c: Comparison,
    metric: Metric,
    *,
    role: str,
    settings: AnalysisSettings,
    srm: SrmResult | None = None,
    harmed_guardrails: Sequence[str] = (),
    control_std: float | None = None,
    shrunk: ShrunkLift | None = None,
    noninferiority: NonInferiority | None = None,
    not_noninferior: Sequence[str] = (),
) -> Verdict:
    """The verdict of one comparison (see the module docstring for the rules).

    ``noninferiority``: a guardrail row's test against its margin;
    ``not_noninferior``: on a primary row, the guardrails of the same cell and
    variant not shown non-inferior (``guardrail unsub not shown non-inferior (margin 1%)``).

    ``role`` is ``primary``, ``secondary`` or ``guardrail``; ``harmed_guardrails``
    names the guardrails harmed in the same cell and variant (used on primary
    rows); ``control_std`` is the control's standard deviation (continuous metrics);
    ``shrunk`` is the cell's shrunk lift when ``analysis.shrinkage`` is ``eb``.

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> m = Metric(key="conv", kind="binary", event="buy")
        >>> c = compare(ProportionStats(20000, 2000), ProportionStats(20000, 1600))
        >>> v = decide(c, m, role="primary", settings=AnalysisSettings())
        >>> v.decision, v.reason
        ('rollback', 'significantly worse: conv -20.0% (CI -25.0% to -15.0%), p < 0.001')
    """
    if srm is not None and srm.flagged:
        return Verdict(
            "investigate",
            f"sample ratio mismatch (p = {srm.p_value:.2g}): the split differs from the "
            "configured weights, so results cannot be trusted until assignment is fixed",
        )
    if _undefined(c) or min(c.n_control, c.n_treatment) < 2:
        return _undefined_verdict(c, metric)
    if role == "guardrail" and noninferiority is not None:
        return _ni_verdict(c, metric, noninferiority)
    if role == "guardrail" and guardrail_harmed(c, metric):
        why = f"guardrail harmed: {_effect(c, metric.key)}, {_evidence(c, adjusted=False)}"
        return Verdict("investigate", why)
    eb = shrunk is not None and shrunk.applied and math.isfinite(shrunk.estimate)
    if eb and shrunk is not None:
        effect = _eb_effect(c, shrunk, metric.key)
        significant = shrunk.excludes_zero
        better = shrunk.estimate > 0 if metric.direction == "increase" else shrunk.estimate < 0
        evidence = (
            "robust EB interval excludes 0"
            if significant
            else f"EB: robust EB CI {_num(shrunk.ci_low)} to {_num(shrunk.ci_high)} includes 0"
        )
    else:
        effect, significant = _effect(c, metric.key), c.significant
        better, evidence = _better(c, metric), _evidence(c)
    if significant and not better:
        return Verdict("rollback", f"significantly worse: {effect}, {evidence}")
    if role == "primary" and harmed_guardrails:
        names = "; ".join(harmed_guardrails)
        lead = f"{metric.key} wins ({_pct(c.rel_lift)})" if significant else "no clear win"
        return Verdict("investigate", f"{lead} but a guardrail is harmed: {names}")
    if significant and role == "primary" and not_noninferior:
        why = f"{metric.key} wins ({_pct(c.rel_lift)}) but " + "; ".join(not_noninferior)
        return Verdict("keep_running", why)
    if significant:
        return Verdict("ship", f"significantly better: {effect}, {evidence}")
    return _not_significant(c, metric, settings, control_std, evidence if eb else None)


def _eb_effect(c: Comparison, s: ShrunkLift, key: str) -> str:
    """``conv +0.0123 EB (robust EB CI +0.002 to +0.0226; raw +0.015)``."""
    return (
        f"{key} {_num(s.estimate)} EB (robust EB CI {_num(s.ci_low)} to {_num(s.ci_high)}; "
        f"raw {_num(c.abs_lift)})"
    )


def _ni_verdict(c: Comparison, metric: Metric, t: NonInferiority) -> Verdict:
    """The verdict of a guardrail row with a margin (rule 3)."""
    shown = f"{_effect(c, metric.key)}, {ni_text(t)}"
    if t.passed:
        if c.significant and _better(c, metric):
            return Verdict("ship", f"non-inferior and significantly better: {shown}")
        return Verdict("no_effect", f"non-inferior: {shown}")
    if guardrail_harmed(c, metric):
        return Verdict("investigate", f"guardrail harmed, not non-inferior: {shown}")
    return Verdict("keep_running", f"not shown non-inferior yet: {shown}")
