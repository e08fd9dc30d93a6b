"""Adaptively weighted AIPW contrast (Hadad, Hirshberg, Zhan, Wager and Athey, PNAS 2021).

For arm ``w`` and a unit ``i`` of allocation period ``t``, the augmented
inverse-propensity score is ``Γ_i(w) = μ̂_t(w) + 1{W_i = w}(Y_i − μ̂_t(w))/e_t(w)``,
with ``e_t(w)`` the arm's assignment probability in that period (known by
design) and ``μ̂_t(w)`` a plug-in from the periods before ``t`` only: here the
arm's mean over periods ``< t`` (0 in the first period, where the score is
plain IPW). Each arm's value is ``Q̂(w) = Σ_i h_i Γ_i(w) / Σ_i h_i`` with the
evaluation weights ``h_i = sqrt(e_t(w))`` of the units of period ``t``: the
paper's variance-stabilising "constant allocation rate" weights in the
non-contextual case (also Luedtke and van der Laan's, 2016). The contrast
``Δ = Q̂(T) − Q̂(C)`` has the variance estimate
``Σ_i (c_T,i (Γ_i(T) − Q̂(T)) − c_C,i (Γ_i(C) − Q̂(C)))²`` with
``c_w,i = h_i(w)/Σ h(w)``, and the interval ``Δ ± z·se`` is asymptotically
valid even when an arm's share shrinks over time.

Everything is computed from per-period sums (``n``, ``Σy``, ``Σy²`` per arm and
the period's units ``N_t`` over all arms): every score in a period is linear in
``Y``, so the sums of squares expand exactly.

The method assumes each arm's mean is stable over time: its period weights
follow the allocation and differ between the arms, so with a drifting baseline
its estimand is not the traffic-weighted effect (use :func:`period_stratified`).

Example:
    >>> from segab.stats.sufficient import ProportionStats as P
    >>> e = adaptively_weighted([P(500, 50), P(200, 20)], [P(500, 60), P(800, 96)],
    ...                         [0.5, 0.2], [0.5, 0.8])
    >>> round(e.estimate, 4)
    0.02
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from segab.errors import StatsError
from segab.stats.frequentist import check_alpha
from segab.stats.result import json_ready
from segab.stats.sufficient import MeanStats, ProportionStats

__all__ = ["AdaptiveEstimate", "adaptively_weighted"]

PeriodStats = ProportionStats | MeanStats


@dataclass(frozen=True)
class AdaptiveEstimate:
    """The adaptively weighted AIPW contrast of treatment against control.

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> adaptively_weighted([P(100, 10)], [P(100, 20)], [0.5], [0.5]).method
        'aw_aipw'
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    control_value: float
    treatment_value: float
    alpha: float
    method: str = "aw_aipw"
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict.

        Example:
            >>> from segab.stats.sufficient import ProportionStats as P
            >>> adaptively_weighted([P(9, 1)], [P(9, 2)], [0.5], [0.5]).to_dict()["alpha"]
            0.05
        """
        return dict(json_ready(asdict(self)))


def _sums(periods: Sequence[PeriodStats]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.array([s.n for s in periods], dtype=np.float64)
    if all(isinstance(s, ProportionStats) for s in periods):
        y = np.array([s.conversions for s in periods], dtype=np.float64)  # type: ignore[union-attr]
        return n, y, y
    if all(isinstance(s, MeanStats) for s in periods):
        return (
            n,
            np.array([s.sum for s in periods]),  # type: ignore[union-attr]
            np.array([s.sum_sq for s in periods]),  # type: ignore[union-attr]
        )
    raise StatsError("adaptively_weighted: expected all ProportionStats or all MeanStats")


def _probs(name: str, values: Sequence[float], periods: int) -> np.ndarray:
    e = np.asarray([float(v) for v in values], dtype=np.float64)
    if e.shape != (periods,) or not np.all((e > 0) & (e <= 1)):
        raise StatsError(
            f"{name}: found {[float(v) for v in e]}, expected {periods} assignment "
            "probabilities in (0, 1] (one per period)"
        )
    return e


def _lagged_means(n: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The arm's mean over the periods before each period (0 before any data)."""
    cn = np.concatenate([[0.0], np.cumsum(n)[:-1]])
    cs = np.concatenate([[0.0], np.cumsum(s)[:-1]])
    return np.divide(cs, cn, out=np.zeros_like(cs), where=cn > 0)


def adaptively_weighted(
    control: Sequence[PeriodStats],
    treatment: Sequence[PeriodStats],
    control_probs: Sequence[float],
    treatment_probs: Sequence[float],
    *,
    period_units: Sequence[float] | None = None,
    alpha: float = 0.05,
) -> AdaptiveEstimate:
    """Adaptively weighted AIPW estimate of treatment − control (see the module docstring).

    ``control_probs[t]``/``treatment_probs[t]`` are the arms' assignment
    probabilities in period ``t``; ``period_units[t]`` the units of period ``t``
    over all arms (default: the two arms' units).

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> e = adaptively_weighted([P(1000, 100)], [P(1000, 120)], [0.5], [0.5])
        >>> round(e.estimate, 6), round(e.se, 6)  # one period: the difference, IPW's se
        (0.02, 0.014826)
    """
    alpha = check_alpha(alpha)
    if len(control) != len(treatment) or not control:
        raise StatsError(
            f"adaptively_weighted: found {len(control)} control and {len(treatment)} treatment "
            "periods, expected the same number, at least one"
        )
    periods = len(control)
    e_c = _probs("control_probs", control_probs, periods)
    e_t = _probs("treatment_probs", treatment_probs, periods)
    n_c, s_c, ss_c = _sums(control)
    n_t, s_t, ss_t = _sums(treatment)
    if period_units is None:
        units = n_c + n_t
    else:
        units = np.asarray([float(u) for u in period_units], dtype=np.float64)
        if units.shape != (periods,) or np.any(units < n_c + n_t):
            raise StatsError(
                "period_units: expected one count per period, at least the two arms' units"
            )
    m_c, m_t = _lagged_means(n_c, s_c), _lagged_means(n_t, s_t)
    h_c, h_t = np.sqrt(e_c), np.sqrt(e_t)
    big_h_c, big_h_t = float(np.sum(h_c * units)), float(np.sum(h_t * units))
    if big_h_c <= 0 or big_h_t <= 0:
        raise StatsError("adaptively_weighted: found no units, expected at least one period")
    q_c = float(np.sum(h_c * (units * m_c + (s_c - n_c * m_c) / e_c))) / big_h_c
    q_t = float(np.sum(h_t * (units * m_t + (s_t - n_t * m_t) / e_t))) / big_h_t
    c_c, c_t = h_c / big_h_c, h_t / big_h_t
    # each unit's term c_T(Γ(T) − Q_T) − c_C(Γ(C) − Q_C) is a + b·Y within its group
    base_t, base_c = c_t * (m_t - q_t), c_c * (m_c - q_c)
    a_t = c_t * (m_t * (1 - 1 / e_t) - q_t) - base_c
    b_t = c_t / e_t
    a_c = base_t - c_c * (m_c * (1 - 1 / e_c) - q_c)
    b_c = -c_c / e_c
    other = units - n_c - n_t
    var = float(
        np.sum(
            n_t * a_t**2 + 2 * a_t * b_t * s_t + b_t**2 * ss_t
            + n_c * a_c**2 + 2 * a_c * b_c * s_c + b_c**2 * ss_c
            + other * (base_t - base_c) ** 2
        )
    )  # fmt: skip
    est = q_t - q_c
    se = math.sqrt(max(var, 0.0))
    z = float(special.ndtri(1 - alpha / 2))
    warnings = []
    if se == 0:
        warnings.append("no variance in the scores: interval undefined")
    p = float(2 * special.ndtr(-abs(est) / se)) if se > 0 else math.nan
    return AdaptiveEstimate(
        estimate=est,
        se=se if se > 0 else math.nan,
        ci_low=est - z * se if se > 0 else math.nan,
        ci_high=est + z * se if se > 0 else math.nan,
        p_value=p,
        control_value=q_c,
        treatment_value=q_t,
        alpha=alpha,
        warnings=tuple(warnings),
    )
