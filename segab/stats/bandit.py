"""Thompson-sampling allocation for one cell, and the rule that graduates a bandit.

:func:`allocate` turns each arm's sufficient statistics into new traffic weights:

1. **Thompson weights**: the posterior probability that each arm is best
   (:func:`~segab.stats.best_arm.best_arm`: beta-binomial for binary metrics,
   normal for means and ratios; exact, quadrature or seeded Monte Carlo).
2. **Top-two** (optional, for best-arm identification rather than regret):
   Russo's top-two Thompson sampling, whose allocation probabilities follow from
   the best-arm probabilities ``α`` in closed form (:func:`top_two_weights`):
   ``ψ_i = β·α_i + (1 − β)·α_i·Σ_{j≠i} α_j / Σ_{l≠j} α_l``.
   With two arms and ``β = 1/2`` this is always 50/50.
3. **Uniform slice and floor** (:func:`constrained_weights`): a share ``s`` of the
   cell's traffic is always split at the declared weights ``u`` and never adapted
   (its units give a plain A/B test); the rest, ``1 − s``, follows the Thompson
   weights ``t`` after a floor: every arm gets at least ``floor`` of the cell's
   traffic. The final weight is ``w_k = s·u_k + (1 − s)·a_k`` with
   ``a_k = g_k + (1 − Σg)·t_k`` and ``g_k = max(0, floor − s·u_k)/(1 − s)``, the
   least adaptive share that lifts arm ``k`` to the floor (an additive floor, as
   GrowthBook's minimum variation weight: the order of the arms is kept).
4. **Bucket grid** (:func:`round_to_grid`): the slice's ``round(s·G)`` buckets and
   the adaptive part's remaining buckets are each rounded by largest remainder
   (Hamilton), so ``buckets = slice_buckets + adaptive_buckets`` sums exactly to
   ``G`` (``segab.hashing.BUCKETS`` = 10,000) and every arm is within 2 buckets
   of ``w_k·G``.

:func:`graduation` reads the history of updates: the cell graduates when one
arm's probability of being best stays above a threshold for ``k`` consecutive
updates, or when an arm's expected loss falls below a threshold.

Example:
    >>> from segab.stats.sufficient import ProportionStats
    >>> a = allocate([ProportionStats(1000, 100), ProportionStats(1000, 120)],
    ...              floor=0.05, uniform_slice=0.1)
    >>> a.buckets, a.slice_buckets, round(a.best.prob_best[1], 6)
    ((1191, 8809), (500, 500), 0.923183)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from segab.errors import StatsError
from segab.stats.bayesian import BetaPrior
from segab.stats.best_arm import BestArm, BestArmMethod, best_arm
from segab.stats.posteriors import ArmPosteriors, BetaArms, NormalArms, arm_posteriors
from segab.stats.result import json_ready
from segab.stats.sufficient import MeanStats, ProportionStats, RatioStats

__all__ = [
    "GRID",
    "Allocation",
    "Graduation",
    "GraduationRule",
    "allocate",
    "constrained_weights",
    "graduation",
    "round_to_grid",
    "top_two_weights",
]

GRID = 10_000  # = segab.hashing.BUCKETS (checked in the tests; stats imports no hashing)
_TOL = 1e-9


def _unit(name: str, value: float, *, closed_high: bool = True) -> float:
    v = float(value)
    ok = 0.0 <= v <= 1.0 if closed_high else 0.0 <= v < 1.0
    if not (math.isfinite(v) and ok):
        high = "1]" if closed_high else "1)"
        raise StatsError(f"{name}: found {value!r}, expected a number in [0, {high}")
    return v


def _simplex(name: str, weights: Sequence[float]) -> np.ndarray:
    w = np.asarray([float(x) for x in weights], dtype=np.float64)
    if w.ndim != 1 or w.size < 2:
        raise StatsError(f"{name}: found {w.size} weight(s), expected one per arm (at least 2)")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-6:
        raise StatsError(
            f"{name}: found {[float(x) for x in w]}, expected non-negative weights summing to 1"
        )
    return w / w.sum()


def top_two_weights(prob_best: Sequence[float], beta: float = 0.5) -> tuple[float, ...]:
    """Allocation probabilities of top-two Thompson sampling (Russo, 2016/2020).

    A first posterior draw names a leader ``I``; with probability ``β`` it is
    played, otherwise draws are repeated until a different leader ``J`` appears
    and ``J`` is played. So ``P(play i) = β·α_i + (1 − β)·Σ_{j≠i} α_j·α_i/Σ_{l≠j} α_l``
    (when every other arm has probability 0 the challenger is uniform).

    Example:
        >>> top_two_weights([0.9, 0.1])
        (0.5, 0.5)
        >>> [round(x, 4) for x in top_two_weights([0.7, 0.2, 0.1])]
        [0.4764, 0.3444, 0.1792]
    """
    beta = _unit("top_two_beta", beta)
    alpha = _simplex("prob_best", prob_best)
    k = alpha.size
    out = beta * alpha
    for j in range(k):
        rest = np.delete(np.arange(k), j)
        denom = float(alpha[rest].sum())
        challenger = alpha[rest] / denom if denom > 0 else np.full(k - 1, 1.0 / (k - 1))
        out[rest] += (1 - beta) * alpha[j] * challenger
    return tuple(float(x) for x in out / out.sum())


def constrained_weights(
    sampling: Sequence[float],
    *,
    floor: float = 0.0,
    uniform_slice: float = 0.0,
    declared: Sequence[float] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Final weights after the uniform slice and the floor, and the adaptive part's weights.

    Returns ``(weights, adaptive)``: ``weights`` are the shares of the cell's
    traffic (``≥ floor``, summing to 1), ``adaptive`` the split of the adaptive
    ``1 − s`` of the traffic (``weights = s·declared + (1 − s)·adaptive``).

    Example:
        >>> w, a = constrained_weights([1.0, 0.0], floor=0.1, uniform_slice=0.1)
        >>> [round(x, 6) for x in w], [round(x, 6) for x in a]
        ([0.9, 0.1], [0.944444, 0.055556])
    """
    t = _simplex("sampling weights", sampling)
    k = t.size
    floor = _unit("floor", floor)
    s = _unit("uniform_slice", uniform_slice)
    u = np.full(k, 1.0 / k) if declared is None else _simplex("declared weights", declared)
    if u.size != k:
        raise StatsError(f"declared weights: found {u.size}, expected one per arm ({k})")
    if floor * k > 1 + _TOL:
        raise StatsError(
            f"floor: found {floor} with {k} arms, expected floor × arms <= 1 ({1 / k:.4g} at most)"
        )
    if s >= 1.0:
        if np.any(u < floor - _TOL):
            raise StatsError(
                f"floor: found {floor} with a uniform slice of 1 and declared weights "
                f"{[float(x) for x in u]}, expected every declared weight >= floor"
            )
        return tuple(float(x) for x in u), tuple(float(x) for x in u)
    need = np.maximum(0.0, floor - s * u) / (1 - s)
    if need.sum() > 1 + _TOL:
        raise StatsError(
            f"floor: found {floor} with a uniform slice of {s}, expected the floors to fit "
            "in the cell's traffic"
        )
    adaptive = need + max(0.0, 1.0 - float(need.sum())) * t
    adaptive /= adaptive.sum()
    weights = s * u + (1 - s) * adaptive
    return tuple(float(x) for x in weights), tuple(float(x) for x in adaptive)


def round_to_grid(weights: Sequence[float], grid: int = GRID) -> tuple[int, ...]:
    """Integer bucket counts summing exactly to ``grid``, by largest remainder.

    Each count is ``⌊w·grid⌋`` or one more; the extra buckets go to the largest
    fractional parts (the first arm on ties). A weight that is a multiple of
    ``1/grid`` (within 1e-9 buckets) is kept exactly.

    Example:
        >>> round_to_grid([1 / 3, 1 / 3, 1 / 3])
        (3334, 3333, 3333)
    """
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise StatsError(f"grid: found {grid!r}, expected a positive integer")
    w = _simplex("weights", weights)
    q = w * grid
    base = np.floor(q + _TOL).astype(np.int64)
    rest = int(grid - base.sum())
    order = np.argsort(-(q - base), kind="stable")
    base[order[:rest]] += 1
    return tuple(int(x) for x in base)


@dataclass(frozen=True)
class Allocation:
    """New weights for one cell and the posterior summary that produced them.

    ``sampling_weights`` are the Thompson (or top-two) weights before the slice
    and the floor; ``weights`` the final shares; ``buckets`` their rounding to
    the grid, laid out as ``slice_buckets`` (never adapted, at the declared
    weights) plus ``adaptive_buckets``.

    Example:
        >>> from segab.stats.sufficient import ProportionStats
        >>> a = allocate([ProportionStats(500, 50), ProportionStats(500, 50)])
        >>> a.buckets, sum(a.buckets)
        ((5000, 5000), 10000)
    """

    best: BestArm
    sampling_weights: tuple[float, ...]
    weights: tuple[float, ...]
    buckets: tuple[int, ...]
    slice_buckets: tuple[int, ...]
    adaptive_buckets: tuple[int, ...]
    floor: float
    uniform_slice: float
    declared_weights: tuple[float, ...]
    top_two: bool
    grid: int

    @property
    def bucket_weights(self) -> tuple[float, ...]:
        """The shares actually served: ``buckets / grid``.

        Example:
            >>> from segab.stats.sufficient import ProportionStats
            >>> allocate([ProportionStats(9, 1), ProportionStats(9, 1)], grid=4).bucket_weights
            (0.5, 0.5)
        """
        return tuple(b / self.grid for b in self.buckets)

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict (what an allocation period records).

        Example:
            >>> from segab.stats.sufficient import ProportionStats
            >>> d = allocate([ProportionStats(9, 1), ProportionStats(9, 1)]).to_dict()
            >>> d["buckets"], d["best"]["method"]
            ([5000, 5000], 'exact')
        """
        return dict(json_ready(asdict(self)))


def allocate(
    arms: Sequence[ProportionStats | MeanStats | RatioStats] | ArmPosteriors,
    *,
    prior: BetaPrior | None = None,
    method: BestArmMethod = "auto",
    seed: int | None = None,
    draws: int = 100_000,
    lower_is_better: bool = False,
    top_two: bool = False,
    top_two_beta: float = 0.5,
    floor: float = 0.0,
    uniform_slice: float = 0.0,
    declared_weights: Sequence[float] | None = None,
    grid: int = GRID,
) -> Allocation:
    """Thompson-sampling weights for one cell, with floor, uniform slice and bucket grid.

    ``arms`` are the cell's per-arm sufficient statistics on the decision metric
    (``ProportionStats`` → beta-binomial with ``prior``; ``MeanStats`` or
    ``RatioStats`` → normal) or ready posteriors. ``declared_weights`` (default
    equal) split the uniform slice. See the module docstring for each step.

    Example:
        >>> from segab.stats.sufficient import ProportionStats
        >>> arms = [ProportionStats(1000, 100), ProportionStats(1000, 120),
        ...         ProportionStats(1000, 90)]
        >>> a = allocate(arms, seed=7, floor=0.02)
        >>> a.best.method, a.best.seed, min(a.weights) >= 0.02, sum(a.buckets)
        ('monte_carlo', 7, True, 10000)
    """
    posteriors = (
        arms if isinstance(arms, BetaArms | NormalArms) else arm_posteriors(list(arms), prior)
    )
    best = best_arm(
        posteriors, method=method, seed=seed, draws=draws, lower_is_better=lower_is_better
    )
    sampling = top_two_weights(best.prob_best, top_two_beta) if top_two else best.prob_best
    k = len(sampling)
    declared = (
        tuple(1.0 / k for _ in range(k))
        if declared_weights is None
        else tuple(float(x) for x in _simplex("declared weights", declared_weights))
    )
    weights, adaptive = constrained_weights(
        sampling, floor=floor, uniform_slice=uniform_slice, declared=declared
    )
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise StatsError(f"grid: found {grid!r}, expected a positive integer")
    slice_total = round(float(uniform_slice) * grid)
    slice_buckets = round_to_grid(declared, slice_total) if slice_total else (0,) * k
    rest = grid - slice_total
    adaptive_buckets = round_to_grid(adaptive, rest) if rest else (0,) * k
    return Allocation(
        best=best,
        sampling_weights=tuple(float(x) for x in sampling),
        weights=weights,
        buckets=tuple(a + b for a, b in zip(slice_buckets, adaptive_buckets, strict=True)),
        slice_buckets=slice_buckets,
        adaptive_buckets=adaptive_buckets,
        floor=float(floor),
        uniform_slice=float(uniform_slice),
        declared_weights=declared,
        top_two=top_two,
        grid=grid,
    )


@dataclass(frozen=True)
class GraduationRule:
    """When a bandit cell graduates (stops adapting and ships its leading arm).

    * ``prob_threshold``/``consecutive``: one arm's probability of being best is
      above ``prob_threshold`` in each of the last ``consecutive`` updates;
    * ``loss_threshold`` (optional): an arm's expected loss is below it; with
      ``relative_loss`` the loss is divided by that arm's posterior mean (as a
      share of the metric, like GrowthBook's risk threshold of 0.25%).

    Example:
        >>> GraduationRule().consecutive
        3
    """

    prob_threshold: float = 0.95
    consecutive: int = 3
    loss_threshold: float | None = None
    relative_loss: bool = False

    def __post_init__(self) -> None:
        if not (0.5 <= float(self.prob_threshold) < 1.0):
            raise StatsError(
                f"GraduationRule.prob_threshold: found {self.prob_threshold!r}, "
                "expected a number in [0.5, 1)"
            )
        if isinstance(self.consecutive, bool) or not isinstance(self.consecutive, int):
            raise StatsError(
                f"GraduationRule.consecutive: found {self.consecutive!r}, expected an integer >= 1"
            )
        if self.consecutive < 1:
            raise StatsError(
                f"GraduationRule.consecutive: found {self.consecutive!r}, expected an integer >= 1"
            )
        if self.loss_threshold is not None and not (
            math.isfinite(self.loss_threshold) and self.loss_threshold > 0
        ):
            raise StatsError(
                f"GraduationRule.loss_threshold: found {self.loss_threshold!r}, "
                "expected None or a number > 0"
            )


@dataclass(frozen=True)
class Graduation:
    """The first update at which a cell graduated, if any.

    ``update`` indexes the history; ``reason`` is ``"probability"`` or ``"loss"``.

    Example:
        >>> Graduation(False).arm is None
        True
    """

    graduated: bool
    arm: int | None = None
    update: int | None = None
    reason: Literal["probability", "loss"] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> Graduation(True, 1, 4, "probability").to_dict()["arm"]
            1
        """
        return dict(json_ready(asdict(self)))


def graduation(history: Sequence[BestArm], rule: GraduationRule | None = None) -> Graduation:
    """Scan the updates in order and return the first graduation (pure).

    The probability criterion wins over the loss criterion at the same update.
    The loss criterion picks the arm with the smallest (relative) loss.

    Example:
        >>> from segab.stats.best_arm import best_arm
        >>> from segab.stats.posteriors import NormalArms
        >>> ups = [best_arm(NormalArms((0.0, m), (1.0, 1.0))) for m in (1.0, 2.5, 2.6, 2.7)]
        >>> graduation(ups, GraduationRule(prob_threshold=0.95, consecutive=3))
        Graduation(graduated=True, arm=1, update=3, reason='probability')
    """
    rule = rule or GraduationRule()
    streak_arm, streak = -1, 0
    for i, up in enumerate(history):
        lead = up.leader
        if up.prob_best[lead] > rule.prob_threshold:
            streak = streak + 1 if lead == streak_arm else 1
            streak_arm = lead
        else:
            streak_arm, streak = -1, 0
        if streak >= rule.consecutive:
            return Graduation(True, lead, i, "probability")
        if rule.loss_threshold is not None:
            loss = np.asarray(up.expected_loss, dtype=np.float64)
            if rule.relative_loss:
                with np.errstate(divide="ignore", invalid="ignore"):
                    loss = loss / np.abs(np.asarray(up.posterior_mean, dtype=np.float64))
            arm = int(np.nanargmin(loss)) if np.any(np.isfinite(loss)) else -1
            if arm >= 0 and loss[arm] < rule.loss_threshold:
                return Graduation(True, arm, i, "loss")
    return Graduation(False)
