"""The posterior of each arm's metric: :class:`BetaArms` (binary) and :class:`NormalArms`.

Binary metrics get ``Beta(a + x, b + n − x)`` from a ``Beta(a, b)`` prior (default
``Beta(1, 1)``); continuous and ratio metrics ``N(mean, var)`` with the arm's mean
and the variance of that mean (``s²/n``, delta method for ratios), i.e. a flat
prior on each arm's mean. :mod:`segab.stats.best_arm` compares them.

Example:
    >>> type(arm_posteriors([ProportionStats(10, 1), ProportionStats(10, 2)])).__name__
    'BetaArms'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segab.errors import StatsError
from segab.stats.bayesian import BetaPrior
from segab.stats.ratio import ratio_variance
from segab.stats.sufficient import MeanStats, ProportionStats, RatioStats

__all__ = ["ArmPosteriors", "BetaArms", "NormalArms", "arm_posteriors"]


def _check_arms(name: str, first: Sequence[float], second: Sequence[float]) -> None:
    if len(first) != len(second):
        raise StatsError(
            f"{name}: found {len(first)} and {len(second)} parameters, expected one pair per arm"
        )
    if len(first) < 2:
        raise StatsError(f"{name}: found {len(first)} arm(s), expected at least 2")


@dataclass(frozen=True)
class BetaArms:
    """Independent ``Beta(a_k, b_k)`` posteriors of K arms' conversion rates.

    Example:
        >>> BetaArms.from_stats([ProportionStats(10, 2), ProportionStats(10, 5)])
        BetaArms(a=(3.0, 6.0), b=(9.0, 6.0))
    """

    a: tuple[float, ...]
    b: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_arms("BetaArms", self.a, self.b)
        for name in ("a", "b"):
            values = tuple(float(v) for v in getattr(self, name))
            for k, v in enumerate(values):
                if not (math.isfinite(v) and v > 0):
                    raise StatsError(f"BetaArms.{name}[{k}]: found {v!r}, expected a number > 0")
            object.__setattr__(self, name, values)

    @classmethod
    def from_stats(
        cls, stats: Sequence[ProportionStats], prior: BetaPrior | None = None
    ) -> BetaArms:
        """Posteriors ``Beta(a + x, b + n − x)`` from each arm's counts.

        Example:
            >>> arms = [ProportionStats(4, 1), ProportionStats(4, 3)]
            >>> BetaArms.from_stats(arms, BetaPrior(2, 2)).a
            (3.0, 5.0)
        """
        prior = prior or BetaPrior()
        for k, s in enumerate(stats):
            if not isinstance(s, ProportionStats):
                raise StatsError(
                    f"arm {k}: found {type(s).__name__}, "
                    "expected ProportionStats for a beta posterior"
                )
        return cls(
            tuple(prior.a + s.conversions for s in stats),
            tuple(prior.b + s.n - s.conversions for s in stats),
        )

    @property
    def mean(self) -> tuple[float, ...]:
        """Posterior means ``a/(a + b)``."""
        return tuple(a / (a + b) for a, b in zip(self.a, self.b, strict=True))

    @property
    def sd(self) -> tuple[float, ...]:
        """Posterior standard deviations."""
        return tuple(
            math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
            for a, b in zip(self.a, self.b, strict=True)
        )


@dataclass(frozen=True)
class NormalArms:
    """Independent ``N(mean_k, sd_k²)`` posteriors of K arms' means.

    Example:
        >>> NormalArms((1.0, 1.2), (0.1, 0.1)).sd
        (0.1, 0.1)
    """

    mean: tuple[float, ...]
    sd: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_arms("NormalArms", self.mean, self.sd)
        means = tuple(float(v) for v in self.mean)
        sds = tuple(float(v) for v in self.sd)
        for k, (m, s) in enumerate(zip(means, sds, strict=True)):
            if not math.isfinite(m):
                raise StatsError(f"NormalArms.mean[{k}]: found {m!r}, expected a finite number")
            if not (math.isfinite(s) and s > 0):
                raise StatsError(f"NormalArms.sd[{k}]: found {s!r}, expected a number > 0")
        object.__setattr__(self, "mean", means)
        object.__setattr__(self, "sd", sds)

    @classmethod
    def from_stats(cls, stats: Sequence[MeanStats | RatioStats | ProportionStats]) -> NormalArms:
        """Flat-prior posteriors: each arm's mean and the variance of that mean.

        ``MeanStats``: ``s²/n``; ``RatioStats``: the delta-method variance;
        ``ProportionStats`` (the normal approximation GrowthBook uses for all
        metrics): ``p(1 − p)/(n − 1)``, the sample variance over ``n``.

        Example:
            >>> arms = NormalArms.from_stats([MeanStats.from_moments(100, 10.0, 4.0),
            ...                               MeanStats.from_moments(400, 11.0, 4.0)])
            >>> arms.mean, arms.sd
            ((10.0, 11.0), (0.2, 0.1))
        """
        means, sds = [], []
        for k, s in enumerate(stats):
            if isinstance(s, RatioStats):
                r, v = ratio_variance(
                    np.array([s.n]),
                    np.array([s.num_sum]),
                    np.array([s.num_sum_sq]),
                    np.array([s.den_sum]),
                    np.array([s.den_sum_sq]),
                    np.array([s.num_den_sum]),
                )
                mean, var = float(r[0]), float(v[0])
            elif isinstance(s, ProportionStats):
                mean = s.mean
                var = s.variance / (s.n - 1) if s.n > 1 else math.nan
            elif isinstance(s, MeanStats):
                mean = s.mean
                var = s.variance / s.n if s.n > 1 else math.nan
            else:
                raise StatsError(
                    f"arm {k}: found {type(s).__name__}, expected MeanStats, RatioStats or "
                    "ProportionStats for a normal posterior"
                )
            if not (math.isfinite(var) and var > 0):
                raise StatsError(
                    f"arm {k}: found n = {s.n} and variance of the mean {var!r}, expected at "
                    "least 2 units and a positive variance"
                )
            means.append(mean)
            sds.append(math.sqrt(var))
        return cls(tuple(means), tuple(sds))


ArmPosteriors = BetaArms | NormalArms


def arm_posteriors(
    stats: Sequence[ProportionStats | MeanStats | RatioStats], prior: BetaPrior | None = None
) -> ArmPosteriors:
    """Beta posteriors for ``ProportionStats`` arms, normal ones for means and ratios.

    Example:
        >>> type(arm_posteriors([ProportionStats(10, 1), ProportionStats(10, 2)])).__name__
        'BetaArms'
    """
    if stats and all(isinstance(s, ProportionStats) for s in stats):
        return BetaArms.from_stats(stats, prior)  # type: ignore[arg-type]
    if prior is not None:
        raise StatsError("prior: a BetaPrior applies to ProportionStats arms only")
    return NormalArms.from_stats(stats)
