"""Honest effect estimates for adaptively allocated data (bandit cells).

When an arm's share changes between allocation periods and the baseline drifts,
counts pooled over periods mix the periods in different proportions in each arm:
the pooled difference is biased, and can even change sign (Simpson's paradox).
Two estimates stay honest:

* **Period-stratified** (:func:`period_stratified`). Within period ``t`` the
  weights were fixed before its data arrived, so the within-period difference
  ``Δ_t = ȳ_{T,t} − ȳ_{C,t}`` is an ordinary randomised comparison. The periods
  are combined with fixed weights ``w_t`` (normalised to sum to 1):
  ``Δ = Σ w_t Δ_t`` with ``Var(Δ) = Σ w_t² (v_{T,t} + v_{C,t})``, where ``v`` is
  the sample variance (``n − 1``) over ``n``: ``p(1 − p)/(n − 1)`` for a
  proportion, ``s²/n`` for a mean. The default weights are the period's share of
  the units, ``w_t = N_t / Σ N``, so ``Δ`` estimates the effect averaged over the
  traffic as it arrived. This is GrowthBook's choice ("weight by period"): its
  bandit SQL weights each period by its units, over all arms, as a share of all
  units in the experiment (per dimension), and forms each arm's mean as
  ``Σ w_t ȳ_{a,t}`` with variance ``Σ w_t² s²_{a,t}/n_{a,t}``. With more than two
  arms pass the all-arm period totals as ``weights`` to match it. A period in
  which either arm has fewer than 2 units has no estimate: it is left out, the
  other weights renormalised, with a warning (the estimand changes).
  The interval is ``Δ ± z·se``; the relative lift ``m_T/m_C − 1`` uses the same
  weighted arm means and the delta method.
* **Period-weighted arms** (:func:`period_weighted_arms`): each arm's
  ``Σ w_t ȳ_{a,t}`` and ``Σ w_t² v_{a,t}`` as independent normal posteriors, for an
  allocation that the drift does not bias (GrowthBook's bandit posterior).
* **Uniform slice** (:func:`uniform_slice_comparison`). The slice is split at
  fixed weights in every period, so its counts can be pooled: a plain A/B test
  through :func:`segab.stats.compare`.

Example:
    >>> from segab.stats.sufficient import ProportionStats as P
    >>> e = period_stratified([P(900, 90), P(100, 30)], [P(100, 9), P(900, 261)])
    >>> round(e.estimate, 6)  # -0.01 in each period
    -0.01
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from segab.errors import StatsError
from segab.stats.compare import compare
from segab.stats.frequentist import check_alpha
from segab.stats.posteriors import NormalArms
from segab.stats.result import Comparison, json_ready
from segab.stats.sufficient import MeanStats, ProportionStats

__all__ = [
    "StratifiedEstimate",
    "period_stratified",
    "period_weighted_arms",
    "uniform_slice_comparison",
]

PeriodStats = ProportionStats | MeanStats


@dataclass(frozen=True)
class StratifiedEstimate:
    """A period-stratified treatment effect (absolute and relative) with its interval.

    ``weights``, ``period_effects`` and ``period_variances`` have one entry per
    period given (weight 0 and NaN for a dropped period). ``control_mean`` and
    ``treatment_mean`` are the period-weighted arm means.

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> e = period_stratified([P(100, 10)], [P(100, 20)])
        >>> round(e.estimate, 4), e.dropped_periods
        (0.1, ())
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    rel_lift: float
    rel_ci_low: float
    rel_ci_high: float
    control_mean: float
    treatment_mean: float
    n_control: int
    n_treatment: int
    weights: tuple[float, ...]
    period_effects: tuple[float, ...]
    period_variances: tuple[float, ...]
    dropped_periods: tuple[int, ...]
    alpha: float
    method: str = "period_stratified"
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict (NaN → ``None``).

        Example:
            >>> from segab.stats.sufficient import ProportionStats as P
            >>> period_stratified([P(100, 10)], [P(100, 20)]).to_dict()["method"]
            'period_stratified'
        """
        return dict(json_ready(asdict(self)))


def _mean_var(s: PeriodStats) -> tuple[float, float]:
    """Mean and variance of the mean (sample variance with ``n − 1``, over ``n``)."""
    if s.n < 2:
        return math.nan, math.nan
    if isinstance(s, ProportionStats):
        return s.mean, s.variance / (s.n - 1)
    return s.mean, s.variance / s.n


def _check_periods(control: Sequence[PeriodStats], treatment: Sequence[PeriodStats]) -> None:
    if len(control) != len(treatment):
        raise StatsError(
            f"period_stratified: found {len(control)} control and {len(treatment)} treatment "
            "periods, expected one pair per allocation period"
        )
    if not control:
        raise StatsError("period_stratified: found no periods, expected at least one")
    kinds = {type(s) for s in (*control, *treatment)}
    if len(kinds) != 1 or not kinds <= {ProportionStats, MeanStats}:
        names = sorted(k.__name__ for k in kinds)
        raise StatsError(
            f"period_stratified: found {names}, expected all ProportionStats or all MeanStats"
        )


def period_stratified(
    control: Sequence[PeriodStats],
    treatment: Sequence[PeriodStats],
    *,
    weights: Sequence[float] | None = None,
    alpha: float = 0.05,
) -> StratifiedEstimate:
    """Combine the within-period effects with fixed period weights (see the module docstring).

    ``control[t]`` and ``treatment[t]`` are the arms' statistics in allocation
    period ``t``; ``weights`` (default: each period's units in the two arms) are
    normalised over the periods kept.

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> e = period_stratified([P(500, 50), P(100, 20)], [P(100, 12), P(500, 110)])
        >>> [round(x, 4) for x in (e.estimate, e.weights[0], e.period_effects[1])]
        [0.02, 0.5, 0.02]
    """
    alpha = check_alpha(alpha)
    _check_periods(control, treatment)
    n_periods = len(control)
    if weights is None:
        raw = np.array([c.n + t.n for c, t in zip(control, treatment, strict=True)], float)
    else:
        raw = np.asarray([float(w) for w in weights], dtype=np.float64)
        if raw.shape != (n_periods,) or not np.all(np.isfinite(raw)) or np.any(raw < 0):
            raise StatsError(
                f"weights: found {list(raw)}, expected {n_periods} non-negative numbers "
                "(one per period)"
            )
    mv_c = [_mean_var(s) for s in control]
    mv_t = [_mean_var(s) for s in treatment]
    effects = np.array([t[0] - c[0] for c, t in zip(mv_c, mv_t, strict=True)])
    variances = np.array([t[1] + c[1] for c, t in zip(mv_c, mv_t, strict=True)])
    keep = np.isfinite(effects) & np.isfinite(variances) & (raw > 0)
    warnings: list[str] = []
    dropped = tuple(int(i) for i in np.flatnonzero(~keep & (raw > 0)))
    if dropped:
        warnings.append(
            f"period(s) {list(dropped)} left out: an arm has fewer than 2 units there; "
            "the other periods' weights are renormalised"
        )
    if np.any(keep & (variances == 0)):
        warnings.append("a period has no variance in either arm: the interval may be too narrow")
    n_c = sum(s.n for s in control)
    n_t = sum(s.n for s in treatment)
    w = np.where(keep, raw, 0.0)
    nan = math.nan
    if w.sum() <= 0:
        warnings.append("no period with an estimate: effect undefined")
        nans = (nan,) * n_periods
        return StratifiedEstimate(
            *(nan,) * 10, n_c, n_t, (0.0,) * n_periods, nans, nans, dropped, alpha,
            warnings=tuple(warnings),
        )  # fmt: skip
    w = w / w.sum()
    m_c = float(np.sum(w[keep] * np.array([m for m, _ in mv_c])[keep]))
    m_t = float(np.sum(w[keep] * np.array([m for m, _ in mv_t])[keep]))
    v_c = float(np.sum(w[keep] ** 2 * np.array([v for _, v in mv_c])[keep]))
    v_t = float(np.sum(w[keep] ** 2 * np.array([v for _, v in mv_t])[keep]))
    est = m_t - m_c
    se = math.sqrt(v_c + v_t)
    z = float(special.ndtri(1 - alpha / 2))
    p = float(2 * special.ndtr(-abs(est) / se)) if se > 0 else nan
    if m_c != 0:
        rel = m_t / m_c - 1
        rel_se = math.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    else:
        rel, rel_se = nan, nan
        warnings.append("control mean is 0: relative lift undefined")
    return StratifiedEstimate(
        estimate=est,
        se=se,
        ci_low=est - z * se,
        ci_high=est + z * se,
        p_value=p,
        rel_lift=rel,
        rel_ci_low=rel - z * rel_se,
        rel_ci_high=rel + z * rel_se,
        control_mean=m_c,
        treatment_mean=m_t,
        n_control=n_c,
        n_treatment=n_t,
        weights=tuple(float(x) for x in w),
        period_effects=tuple(float(x) if k else nan for x, k in zip(effects, keep, strict=True)),
        period_variances=tuple(
            float(x) if k else nan for x, k in zip(variances, keep, strict=True)
        ),
        dropped_periods=dropped,
        alpha=alpha,
        warnings=tuple(warnings),
    )


def period_weighted_arms(
    arms: Sequence[Sequence[PeriodStats]], *, weights: Sequence[float] | None = None
) -> NormalArms:
    """Normal posteriors of each arm's period-weighted mean, for a drift-proof allocation.

    ``arms[k][t]`` is arm ``k`` in period ``t``. Each arm gets mean
    ``Σ w_t ȳ_{k,t}`` and variance ``Σ w_t² v_{k,t}`` (flat prior), with the
    period weights ``w_t`` of :func:`period_stratified` (default: the period's
    units over all arms) over the periods in which every arm has 2 units or more.

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> a = period_weighted_arms([[P(900, 90), P(100, 30)], [P(100, 9), P(900, 261)]])
        >>> [round(m, 6) for m in a.mean]
        [0.2, 0.19]
    """
    if len(arms) < 2:
        raise StatsError(f"period_weighted_arms: found {len(arms)} arm(s), expected at least 2")
    for k in range(1, len(arms)):
        _check_periods(arms[0], arms[k])
    n_periods = len(arms[0])
    if weights is None:
        raw = np.array([sum(a[t].n for a in arms) for t in range(n_periods)], dtype=np.float64)
    else:
        raw = np.asarray([float(w) for w in weights], dtype=np.float64)
        if raw.shape != (n_periods,) or not np.all(np.isfinite(raw)) or np.any(raw < 0):
            raise StatsError(
                f"weights: found {list(raw)}, expected {n_periods} non-negative numbers "
                "(one per period)"
            )
    mv = np.array([[_mean_var(a[t]) for t in range(n_periods)] for a in arms])  # (k, t, 2)
    keep = np.all(np.isfinite(mv), axis=(0, 2)) & (raw > 0)
    if not keep.any():
        raise StatsError(
            "period_weighted_arms: found no period in which every arm has 2 units or more, "
            "expected at least one"
        )
    w = np.where(keep, raw, 0.0) / raw[keep].sum()
    means = (mv[:, keep, 0] * w[keep]).sum(axis=1)
    variances = (mv[:, keep, 1] * w[keep] ** 2).sum(axis=1)
    return NormalArms(tuple(float(m) for m in means), tuple(math.sqrt(v) for v in variances))


def uniform_slice_comparison(
    control: Sequence[PeriodStats], treatment: Sequence[PeriodStats], **compare_options: Any
) -> Comparison:
    """The uniform slice's plain A/B test: its periods pooled, then :func:`compare`.

    Pooling is valid here because the slice's split never changes. Keyword
    options go to :func:`segab.stats.compare` (method, alpha, alternative, ...).

    Example:
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> c = uniform_slice_comparison([P(5000, 500), P(5000, 500)],
        ...                              [P(5000, 550), P(5000, 550)])
        >>> round(c.p_value, 6)
        0.021075
    """
    _check_periods(control, treatment)
    pooled_c = sum(control[1:], control[0])
    pooled_t = sum(treatment[1:], treatment[0])
    return compare(pooled_c, pooled_t, **compare_options)
