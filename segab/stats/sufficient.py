"""Sufficient statistics: frozen value objects that add together.

A segment/stage/variant cell is summarised by a handful of sums. Segments and
stages pool by ``+`` (and ``sum()``), because every field is additive. Each
object validates itself on construction and raises
:class:`segab.errors.StatsError` with a message naming the field, what was
found and what was expected.

Variances are computed from the sums in float64 by subtracting the mean
afterwards (``(Σy² − Σy·ȳ)/(n−1)``); a result that is negative or within the
float64 precision of the sums (``≤ 1e-12·Σy²``) is treated as exactly zero.

Example:
    >>> a = ProportionStats(n=100, conversions=10)
    >>> b = ProportionStats(n=50, conversions=5)
    >>> (a + b).mean
    0.1
    >>> sum([a, b]) == a + b
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Self

from segab.errors import StatsError

__all__ = [
    "REL_ZERO_TOL",
    "CupedStats",
    "MeanStats",
    "ProportionStats",
    "RatioStats",
    "SufficientStats",
    "centered_cross",
]

#: A centered sum of squares below this fraction of the raw sum of squares is
#: float64 round-off, and is treated as zero.
REL_ZERO_TOL = 1e-12


def _check_count(cls: str, name: str, value: object) -> int:
    dtype = getattr(value, "dtype", None)
    if isinstance(value, int) and not isinstance(value, bool):
        out = value
    elif dtype is not None and dtype.kind in "iu":  # numpy integer scalars
        out = int(value)  # type: ignore[call-overload]
    else:
        raise StatsError(
            f"{cls}.{name}: found {value!r} ({type(value).__name__}), expected an integer count"
        )
    if out < 0:
        raise StatsError(f"{cls}.{name}: found {out}, expected a count >= 0")
    return out


def _check_sum(cls: str, name: str, value: object, *, nonneg: bool = False) -> float:
    if isinstance(value, bool):
        raise StatsError(f"{cls}.{name}: found {value!r}, expected a finite number")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StatsError(
            f"{cls}.{name}: found {value!r} ({type(value).__name__}), expected a finite number"
        ) from None
    if not math.isfinite(out):
        raise StatsError(f"{cls}.{name}: found {out}, expected a finite number")
    if nonneg and out < 0:
        raise StatsError(f"{cls}.{name}: found {out}, expected a sum of squares >= 0")
    return out


def centered_cross(n: int, sum_a: float, sum_b: float, sum_ab: float, *, square: bool) -> float:
    """Centered cross-product ``Σ(a−ā)(b−b̄) = Σab − Σa·Σb/n`` from sums.

    With ``square=True`` (``a`` is ``b``) the result is clipped at zero and
    values within float64 round-off of ``Σab`` are set to exactly zero.

    Example:
        >>> centered_cross(3, 6.0, 6.0, 14.0, square=True)  # values 1, 2, 3
        2.0
    """
    if n == 0:
        return 0.0
    out = sum_ab - sum_a * (sum_b / n)
    if square and out <= REL_ZERO_TOL * abs(sum_ab):
        return 0.0
    return out


class _Additive:
    """Field-wise ``+`` for the frozen dataclasses below (and ``sum()`` via ``0 +``)."""

    def __add__(self, other: object) -> Self:
        if type(other) is not type(self):
            return NotImplemented
        kwargs: dict[str, Any] = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)  # type: ignore[arg-type]
        }
        return type(self)(**kwargs)

    def __radd__(self, other: object) -> Self:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self.__add__(other)

    def add(self, other: Self) -> Self:
        """Pool two cells (same as ``self + other``).

        Example:
            >>> ProportionStats(10, 1).add(ProportionStats(10, 2))
            ProportionStats(n=20, conversions=3)
        """
        if type(other) is not type(self):
            raise StatsError(
                f"cannot add {type(other).__name__} to {type(self).__name__}: "
                "expected the same kind of statistics"
            )
        return self + other


@dataclass(frozen=True)
class ProportionStats(_Additive):
    """A binary metric in one cell: units ``n`` and ``conversions`` among them.

    Example:
        >>> s = ProportionStats(n=200, conversions=50)
        >>> s.mean, s.variance
        (0.25, 0.1875)
    """

    n: int
    conversions: int

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "n", _check_count(name, "n", self.n))
        object.__setattr__(self, "conversions", _check_count(name, "conversions", self.conversions))
        if self.conversions > self.n:
            raise StatsError(
                f"{name}.conversions: found {self.conversions} with n = {self.n}, "
                "expected conversions <= n"
            )

    @property
    def mean(self) -> float:
        """Conversion rate ``x/n`` (NaN when ``n = 0``)."""
        return self.conversions / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Per-unit Bernoulli variance ``p(1−p)`` (NaN when ``n = 0``)."""
        p = self.mean
        return p * (1.0 - p)

    @classmethod
    def from_values(cls, values: Iterable[int | bool]) -> ProportionStats:
        """Summarise 0/1 outcomes.

        Example:
            >>> ProportionStats.from_values([0, 1, 1, 0])
            ProportionStats(n=4, conversions=2)
        """
        vals = [int(v) for v in values]
        if any(v not in (0, 1) for v in vals):
            raise StatsError("ProportionStats.from_values: found a value not in {0, 1}")
        return cls(n=len(vals), conversions=sum(vals))


@dataclass(frozen=True)
class MeanStats(_Additive):
    """A continuous metric in one cell: ``n``, ``Σy`` and ``Σy²``.

    Example:
        >>> s = MeanStats.from_values([1.0, 2.0, 3.0])
        >>> s.mean, s.variance
        (2.0, 1.0)
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "n", _check_count(name, "n", self.n))
        object.__setattr__(self, "sum", _check_sum(name, "sum", self.sum))
        object.__setattr__(self, "sum_sq", _check_sum(name, "sum_sq", self.sum_sq, nonneg=True))

    @property
    def mean(self) -> float:
        """Sample mean (NaN when ``n = 0``)."""
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance with ``n − 1`` (NaN when ``n < 2``), computed stably."""
        if self.n < 2:
            return math.nan
        return centered_cross(self.n, self.sum, self.sum, self.sum_sq, square=True) / (self.n - 1)

    @classmethod
    def from_values(cls, values: Iterable[float]) -> MeanStats:
        """Summarise raw values with exactly rounded sums (``math.fsum``).

        Example:
            >>> MeanStats.from_values([2.0, 4.0])
            MeanStats(n=2, sum=6.0, sum_sq=20.0)
        """
        vals = [float(v) for v in values]
        return cls(n=len(vals), sum=math.fsum(vals), sum_sq=math.fsum(v * v for v in vals))

    @classmethod
    def from_moments(cls, n: int, mean: float, variance: float) -> MeanStats:
        """Build from ``n``, mean and sample variance (useful for summaries and tests).

        Example:
            >>> MeanStats.from_moments(3, 2.0, 1.0)
            MeanStats(n=3, sum=6.0, sum_sq=14.0)
        """
        return cls(n=n, sum=n * mean, sum_sq=(n - 1) * variance + n * mean * mean)


@dataclass(frozen=True)
class CupedStats(_Additive):
    """A continuous outcome ``y`` with a pre-period covariate ``x`` (CUPED).

    Example:
        >>> s = CupedStats.from_values([1.0, 2.0, 4.0], [1.0, 2.0, 3.0])
        >>> s.y.mean, s.x.mean
        (2.3333333333333335, 2.0)
    """

    n: int
    y_sum: float
    y_sum_sq: float
    x_sum: float
    x_sum_sq: float
    xy_sum: float

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "n", _check_count(name, "n", self.n))
        for f in ("y_sum", "x_sum", "xy_sum"):
            object.__setattr__(self, f, _check_sum(name, f, getattr(self, f)))
        for f in ("y_sum_sq", "x_sum_sq"):
            object.__setattr__(self, f, _check_sum(name, f, getattr(self, f), nonneg=True))

    @property
    def y(self) -> MeanStats:
        """The outcome alone."""
        return MeanStats(self.n, self.y_sum, self.y_sum_sq)

    @property
    def x(self) -> MeanStats:
        """The covariate alone."""
        return MeanStats(self.n, self.x_sum, self.x_sum_sq)

    @property
    def covariance(self) -> float:
        """Sample covariance of ``x`` and ``y`` (NaN when ``n < 2``)."""
        if self.n < 2:
            return math.nan
        cross = centered_cross(self.n, self.x_sum, self.y_sum, self.xy_sum, square=False)
        return cross / (self.n - 1)

    @classmethod
    def from_values(cls, y: Iterable[float], x: Iterable[float]) -> CupedStats:
        """Summarise paired outcome/covariate values.

        Example:
            >>> CupedStats.from_values([1.0], [2.0]).xy_sum
            2.0
        """
        ys, xs = [float(v) for v in y], [float(v) for v in x]
        if len(ys) != len(xs):
            raise StatsError(
                f"CupedStats.from_values: found {len(ys)} outcomes and {len(xs)} covariates, "
                "expected the same length"
            )
        return cls(
            n=len(ys),
            y_sum=math.fsum(ys),
            y_sum_sq=math.fsum(v * v for v in ys),
            x_sum=math.fsum(xs),
            x_sum_sq=math.fsum(v * v for v in xs),
            xy_sum=math.fsum(a * b for a, b in zip(ys, xs, strict=True)),
        )


@dataclass(frozen=True)
class RatioStats(_Additive):
    """A ratio metric (e.g. revenue per session): per-unit numerator and denominator sums.

    The metric is ``Σnum / Σden``; its variance comes from the delta method.

    Example:
        >>> s = RatioStats.from_values([10.0, 0.0, 5.0], [2.0, 1.0, 1.0])
        >>> s.mean
        3.75
    """

    n: int
    num_sum: float
    num_sum_sq: float
    den_sum: float
    den_sum_sq: float
    num_den_sum: float

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "n", _check_count(name, "n", self.n))
        for f in ("num_sum", "den_sum", "num_den_sum"):
            object.__setattr__(self, f, _check_sum(name, f, getattr(self, f)))
        for f in ("num_sum_sq", "den_sum_sq"):
            object.__setattr__(self, f, _check_sum(name, f, getattr(self, f), nonneg=True))

    @property
    def mean(self) -> float:
        """The ratio ``Σnum / Σden`` (NaN when ``Σden = 0``)."""
        return self.num_sum / self.den_sum if self.den_sum != 0 else math.nan

    @property
    def numerator(self) -> MeanStats:
        """The per-unit numerator alone."""
        return MeanStats(self.n, self.num_sum, self.num_sum_sq)

    @property
    def denominator(self) -> MeanStats:
        """The per-unit denominator alone."""
        return MeanStats(self.n, self.den_sum, self.den_sum_sq)

    @classmethod
    def from_values(cls, num: Iterable[float], den: Iterable[float]) -> RatioStats:
        """Summarise per-unit numerator/denominator pairs.

        Example:
            >>> RatioStats.from_values([1.0, 3.0], [1.0, 1.0]).mean
            2.0
        """
        ns, ds = [float(v) for v in num], [float(v) for v in den]
        if len(ns) != len(ds):
            raise StatsError(
                f"RatioStats.from_values: found {len(ns)} numerators and {len(ds)} denominators, "
                "expected the same length"
            )
        return cls(
            n=len(ns),
            num_sum=math.fsum(ns),
            num_sum_sq=math.fsum(v * v for v in ns),
            den_sum=math.fsum(ds),
            den_sum_sq=math.fsum(v * v for v in ds),
            num_den_sum=math.fsum(a * b for a, b in zip(ns, ds, strict=True)),
        )


SufficientStats = ProportionStats | MeanStats | CupedStats | RatioStats
