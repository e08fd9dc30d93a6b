"""Design-time power analysis: sample size per arm, minimum detectable effect, power.

segab uses ``statsmodels.stats.power`` (equal arms, ``ratio = 1``):

* binary metrics: ``NormalIndPower`` with Cohen's effect size
  ``h = 2·asin(√p₂) − 2·asin(√p₁)`` (``proportion_effectsize``);
* continuous metrics: ``TTestIndPower`` with Cohen's ``d = Δ/σ``.

``mde`` is relative to the baseline (``p₂ = p₁(1 + mde)``) when
``relative=True``, else absolute. Sample sizes are rounded up.

Example:
    >>> sample_size_per_arm(baseline=0.10, mde=0.10)
    14745
"""

from __future__ import annotations

import math
from typing import Literal

from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from segab.errors import StatsError
from segab.stats.frequentist import check_alpha

__all__ = ["Kind", "achieved_power", "minimum_detectable_effect", "sample_size_per_arm"]

Kind = Literal["binary", "continuous"]


def _check(kind: str, baseline: float, std: float | None, power: float | None) -> None:
    if kind not in ("binary", "continuous"):
        raise StatsError(f"kind: found {kind!r}, expected 'binary' or 'continuous'")
    if not math.isfinite(baseline):
        raise StatsError(f"baseline: found {baseline!r}, expected a finite number")
    if kind == "binary" and not 0.0 < baseline < 1.0:
        raise StatsError(f"baseline: found {baseline!r}, expected a conversion rate in (0, 1)")
    if kind == "continuous" and (std is None or not (math.isfinite(std) and std > 0)):
        raise StatsError(f"std: found {std!r}, expected the metric's standard deviation > 0")
    if power is not None and not 0.0 < power < 1.0:
        raise StatsError(f"power: found {power!r}, expected a number in (0, 1)")


def _effect_size(
    kind: str, baseline: float, mde: float, relative: bool, std: float | None
) -> float:
    delta = baseline * mde if relative else mde
    if not (math.isfinite(delta) and delta != 0):
        raise StatsError(f"mde: found {mde!r}, expected a non-zero effect")
    if kind == "binary":
        p2 = baseline + delta
        if not 0.0 < p2 < 1.0:
            raise StatsError(
                f"mde: found {mde!r}, which moves the rate {baseline} to {p2}, "
                "expected a rate in (0, 1)"
            )
        return abs(float(proportion_effectsize(p2, baseline)))
    return abs(delta) / float(std) if std is not None else math.nan


def _engine(kind: str) -> NormalIndPower | TTestIndPower:
    return NormalIndPower() if kind == "binary" else TTestIndPower()


def sample_size_per_arm(
    *,
    baseline: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: Kind = "binary",
    std: float | None = None,
) -> int:
    """Units per arm to detect ``mde`` with the given power (two-sided test at ``alpha``).

    Example:
        >>> sample_size_per_arm(baseline=10.0, mde=0.5, relative=False, kind="continuous", std=5.0)
        1571
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, power)
    es = _effect_size(kind, baseline, mde, relative, std)
    n = _engine(kind).solve_power(effect_size=es, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(n) - 1e-9)


def achieved_power(
    *,
    n_per_arm: float,
    baseline: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    kind: Kind = "binary",
    std: float | None = None,
) -> float:
    """Power of a two-sided test at ``alpha`` to detect ``mde`` with ``n_per_arm`` units per arm.

    Example:
        >>> round(achieved_power(n_per_arm=14745, baseline=0.10, mde=0.10), 3)
        0.8
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, None)
    if not n_per_arm >= 2:
        raise StatsError(f"n_per_arm: found {n_per_arm!r}, expected at least 2")
    es = _effect_size(kind, baseline, mde, relative, std)
    return float(_engine(kind).power(effect_size=es, nobs1=n_per_arm, alpha=alpha, ratio=1.0))


def minimum_detectable_effect(
    *,
    n_per_arm: float,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: Kind = "binary",
    std: float | None = None,
    relative: bool = True,
) -> float:
    """Smallest upward effect detectable with ``power`` (relative to baseline by default).

    For binary metrics Cohen's ``h`` is inverted: ``p₂ = sin²(asin(√p₁) + h/2)``.

    Example:
        >>> round(minimum_detectable_effect(n_per_arm=14745, baseline=0.10), 4)
        0.1
    """
    alpha = check_alpha(alpha)
    _check(kind, baseline, std, power)
    if not n_per_arm >= 2:
        raise StatsError(f"n_per_arm: found {n_per_arm!r}, expected at least 2")
    es = float(_engine(kind).solve_power(nobs1=n_per_arm, alpha=alpha, power=power, ratio=1.0))
    if kind == "binary":
        angle = math.asin(math.sqrt(baseline)) + es / 2
        if angle >= math.pi / 2:
            raise StatsError(
                f"n_per_arm: found {n_per_arm!r}, too small to detect any rate below 1 "
                f"from baseline {baseline}"
            )
        delta = math.sin(angle) ** 2 - baseline
    else:
        delta = es * float(std)  # type: ignore[arg-type]
    if relative:
        if baseline == 0:
            raise StatsError("baseline: found 0, expected non-zero for a relative MDE")
        return delta / abs(baseline)
    return delta
