"""Non-inferiority tests of guardrails, and the sample sizes that power them.

A guardrail with margin ``m > 0`` (the largest acceptable harm, in its bad
direction) is tested one-sided against the margin. With ``Δ`` the estimate and
``se`` its standard error on the margin's scale (the absolute lift, or the
delta-method relative lift), for a metric whose good direction is ``increase``:

    H0: Δ ≤ −m   against   H1: Δ > −m,   z = (Δ + m)/se,   p = 1 − Φ(z)

and for ``decrease``: H0: Δ ≥ m, ``z = (m − Δ)/se``. The guardrail is shown
non-inferior when ``p < alpha``; alpha is *not* corrected over guardrails
(Schultzberg, Ankargren and Frånberg, "Risk-aware product decisions in A/B tests
with multiple metrics", Spotify, 2024, arXiv:2402.11609, section 3).

Sizing (same paper, section 3.4): a decision that needs the primary to win *and*
every one of ``G`` guardrails to pass keeps its power ``1 − β`` when each test is
powered at ``1 − β/(G + 1)``. The guardrail's size per arm, at a true effect of
0, is the one-sided z-test's
``n = 2σ²(z₁₋α + z₁₋β′)²/m²`` (statsmodels ``zt_ind_solve_power`` with
``alternative="larger"``, ``effect_size = m/σ``).

Example:
    >>> t = noninferiority(-0.001, 0.0042332, 0.01, "increase", 0.05)
    >>> round(t.z, 4), t.passed
    (2.1261, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from segab.errors import StatsError

__all__ = ["NonInferiority", "corrected_power", "noninferiority", "noninferiority_size_per_arm"]


@dataclass(frozen=True)
class NonInferiority:
    """The one-sided test of a guardrail against its margin.

    ``margin`` is on the ``scale`` of the test (``absolute`` or ``relative``);
    ``p_value`` is ``nan`` when the standard error is not a positive number.

    Example:
        >>> NonInferiority(0.01, "absolute", 2.0, 0.0228, True).passed
        True
    """

    margin: float
    scale: str
    z: float
    p_value: float
    passed: bool


def noninferiority(
    estimate: float, se: float | None, margin: float, direction: str, alpha: float
) -> NonInferiority:
    """Test ``estimate`` (standard error ``se``) against the non-inferiority ``margin``.

    ``direction`` is the metric's good direction (``increase`` or ``decrease``).
    Control 1,000 of 10,000 against 990 of 10,000 with a 1-point margin
    (docs: DOMAIN check case): z = 2.126056, p = 0.016749.

    Example:
        >>> se = math.sqrt(0.1 * 0.9 / 10000 + 0.099 * 0.901 / 10000)
        >>> t = noninferiority(0.099 - 0.1, se, 0.01, "increase", 0.05)
        >>> round(t.z, 6), round(t.p_value, 6)
        (2.126056, 0.016749)
    """
    if not (math.isfinite(margin) and margin > 0):
        raise StatsError(f"margin: found {margin!r}, expected a number > 0")
    if direction not in ("increase", "decrease"):
        raise StatsError(f"direction: found {direction!r}, expected 'increase' or 'decrease'")
    if se is None or not (math.isfinite(se) and se > 0) or not math.isfinite(estimate):
        return NonInferiority(margin, "absolute", math.nan, math.nan, False)
    z = (estimate + margin) / se if direction == "increase" else (margin - estimate) / se
    p = float(special.ndtr(-z))
    return NonInferiority(margin, "absolute", z, p, p < alpha)


def corrected_power(power: float, n_guardrails: int) -> float:
    """The power each test needs so that the decision keeps ``power``: ``1 − β/(G + 1)``.

    Example:
        >>> corrected_power(0.8, 0), round(corrected_power(0.8, 3), 6)
        (0.8, 0.95)
    """
    if not 0.0 < power < 1.0:
        raise StatsError(f"power: found {power!r}, expected a number in (0, 1)")
    if n_guardrails < 0:
        raise StatsError(f"guardrails: found {n_guardrails!r}, expected 0 or more")
    return 1.0 - (1.0 - power) / (n_guardrails + 1)


def noninferiority_size_per_arm(std: float, margin: float, alpha: float, power: float) -> int:
    """Units per arm for the one-sided non-inferiority z-test at a true effect of 0.

    ``std`` is the per-unit standard deviation (``√(p(1−p))`` for a rate), ``margin``
    the absolute margin. At least 2.

    Example:
        >>> noninferiority_size_per_arm(math.sqrt(0.1 * 0.9), 0.01, 0.05, 0.8)
        11129
    """
    for name, v in (("std", std), ("margin", margin)):
        if not (math.isfinite(v) and v > 0):
            raise StatsError(f"{name}: found {v!r}, expected a number > 0")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise StatsError(f"alpha, power: found {alpha!r}, {power!r}, expected numbers in (0, 1)")
    z = float(special.ndtri(1.0 - alpha) + special.ndtri(power))
    return max(2, math.ceil(2.0 * (std * z / margin) ** 2 - 1e-9))
