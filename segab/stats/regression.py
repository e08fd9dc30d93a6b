"""Regression adjustment with several covariates, on sufficient statistics.

CUPED (:mod:`segab.stats.cuped`) generalised to ``K`` covariates (pre-exposure
metrics, numeric unit attributes). Each arm of a cell is summarised by
:class:`RegressionStats`: ``n``, ``Σy``, ``Σy²``, ``Σx_j``, ``Σx_j·y`` and
``Σx_j·x_k`` (``j ≤ k``), all additive, so cells and stages pool by ``+``.

**Estimator: Lin (2013), the interacted regression.** Lin, "Agnostic notes on
regression adjustments to experimental data: reexamining Freedman's critique",
Annals of Applied Statistics 7(1). The OLS of ``y`` on
``[1, T, X − x̄, T·(X − x̄)]``, with ``x̄`` the covariate means pooled over the
two arms of the cell; its coefficient of ``T`` is the adjusted effect. The model
is saturated per arm, so it is two OLS fits, one per arm, of ``y`` on
``[1, X − x̄]``: with ``S`` the within-arm centered cross-products,

* ``β_a = S_xx⁻¹ S_xy`` (a pseudo-inverse when the covariates are collinear or
  constant, as ``statsmodels`` does), the arm's slopes;
* ``a_a = ȳ_a − β_a'(x̄_a − x̄)``, the arm's intercept at ``x̄`` (its adjusted mean);
* ``Δ̂ = a_t − a_c``.

**Standard error: classical within each arm.** ``σ̂_a² = RSS_a/(n_a − 1 − r_a)``
(``r_a`` the rank of ``S_xx``) and ``Var(a_a) = σ̂_a²(1/n_a + d'S_xx⁻¹d)`` with
``d = x̄_a − x̄``: exactly the squared standard error of the intercept of
``statsmodels.api.OLS(y_a, [1, X_a − x̄]).fit()`` (non-robust covariance), and
``Var(Δ̂) = Var(a_t) + Var(a_c)``. An arm's residual variance is its own, so the
error is robust to different variances in the two arms (as Welch's test is);
a fully heteroskedasticity-robust (HC) error needs fourth moments, which
second-order sums do not hold. Degrees of freedom: Welch–Satterthwaite with
``n_a − 1 − r_a`` per arm. The relative lift is ``a_t/a_c − 1`` by the delta
method, as for CUPED. ``variance_reduction`` is ``1 − Var(Δ̂)/Var_Welch(Δ̂_raw)``.

Example:
    >>> c = RegressionStats.from_values([1.0, 2.0, 3.5, 3.0], [[1.0], [2.0], [3.0], [4.0]])
    >>> t = RegressionStats.from_values([2.0, 3.0, 4.5, 4.0], [[1.0], [2.0], [3.0], [4.0]])
    >>> e = regression_estimates([c], [t])
    >>> round(float(e.abs_lift[0]), 12), e.test
    (1.0, 'lin_regression_t')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.estimates import Estimates, add_warning, relative_delta
from segab.stats.sufficient import _check_sum

__all__ = [
    "W_COLLINEAR",
    "W_FEW_FOR_COVARIATES",
    "RegressionStats",
    "arm_fit",
    "pair_index",
    "regression_estimates",
]

FloatArray = npt.NDArray[np.float64]

W_COLLINEAR = "covariates constant or collinear in an arm: pseudo-inverse used"
W_FEW_FOR_COVARIATES = "an arm has too few units for its covariates: variance undefined"
TEST = "lin_regression_t"


def pair_index(k: int) -> list[tuple[int, int]]:
    """The ``(j, l)`` pairs with ``j ≤ l`` of ``k`` covariates, in the order of ``xx_sum``.

    Example:
        >>> pair_index(2)
        [(0, 0), (0, 1), (1, 1)]
    """
    return [(j, m) for j in range(k) for m in range(j, k)]


@dataclass(frozen=True)
class RegressionStats:
    """An outcome ``y`` with ``K`` covariates ``x`` in one arm: additive sums.

    ``x_sum[j] = Σx_j``, ``xy_sum[j] = Σx_j·y``, ``xx_sum`` holds ``Σx_j·x_l`` for
    the pairs of :func:`pair_index`. ``+`` pools two cells with the same covariates.

    Example:
        >>> s = RegressionStats.from_values([1.0, 2.0], [[1.0, 0.0], [2.0, 1.0]])
        >>> s.xx_sum, (s + s).n, s.mean
        ((5.0, 2.0, 1.0), 4, 1.5)
    """

    n: int
    y_sum: float
    y_sum_sq: float
    x_sum: tuple[float, ...]
    xy_sum: tuple[float, ...]
    xx_sum: tuple[float, ...]

    def __post_init__(self) -> None:
        n = self.n
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 0:
            raise StatsError(f"RegressionStats.n: found {n!r}, expected an integer count >= 0")
        object.__setattr__(self, "n", int(n))
        object.__setattr__(self, "y_sum", _check_sum("RegressionStats", "y_sum", self.y_sum))
        object.__setattr__(
            self, "y_sum_sq", _check_sum("RegressionStats", "y_sum_sq", self.y_sum_sq)
        )
        for name in ("x_sum", "xy_sum", "xx_sum"):
            values = tuple(_check_sum("RegressionStats", name, v) for v in getattr(self, name))
            object.__setattr__(self, name, values)
        k = len(self.x_sum)
        if k == 0 or len(self.xy_sum) != k or len(self.xx_sum) != k * (k + 1) // 2:
            raise StatsError(
                f"RegressionStats: found {len(self.x_sum)} x_sum, {len(self.xy_sum)} xy_sum "
                f"and {len(self.xx_sum)} xx_sum values, expected K >= 1, K and K(K+1)/2"
            )

    @property
    def k(self) -> int:
        """The number of covariates."""
        return len(self.x_sum)

    @property
    def mean(self) -> float:
        """The raw mean of ``y`` (NaN when ``n = 0``)."""
        return self.y_sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """The raw sample variance of ``y`` (NaN when ``n < 2``)."""
        if self.n < 2:
            return math.nan
        return max(self.y_sum_sq - self.y_sum * self.y_sum / self.n, 0.0) / (self.n - 1)

    def __add__(self, other: object) -> RegressionStats:
        if not isinstance(other, RegressionStats):
            return NotImplemented
        if other.k != self.k:
            raise StatsError(
                f"cannot add RegressionStats with {other.k} covariates to one with {self.k}"
            )
        return RegressionStats(
            self.n + other.n,
            self.y_sum + other.y_sum,
            self.y_sum_sq + other.y_sum_sq,
            tuple(a + b for a, b in zip(self.x_sum, other.x_sum, strict=True)),
            tuple(a + b for a, b in zip(self.xy_sum, other.xy_sum, strict=True)),
            tuple(a + b for a, b in zip(self.xx_sum, other.xx_sum, strict=True)),
        )

    def __radd__(self, other: object) -> RegressionStats:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self.__add__(other)

    def xx_matrix(self) -> FloatArray:
        """``X'X`` of the covariates (``K × K``, symmetric).

        Example:
            >>> RegressionStats(2, 3.0, 5.0, (3.0,), (5.0,), (5.0,)).xx_matrix().tolist()
            [[5.0]]
        """
        out = np.zeros((self.k, self.k))
        for (j, m), v in zip(pair_index(self.k), self.xx_sum, strict=True):
            out[j, m] = out[m, j] = v
        return out

    @classmethod
    def from_values(cls, y: Iterable[float], x: Iterable[Sequence[float]]) -> RegressionStats:
        """Summarise outcomes and their covariate rows (one row of ``K`` values per unit).

        Example:
            >>> RegressionStats.from_values([2.0], [[1.0, 3.0]]).xy_sum
            (2.0, 6.0)
        """
        ys = np.asarray(list(y), dtype=np.float64)
        xs = np.asarray([list(r) for r in x], dtype=np.float64)
        if xs.ndim != 2 or xs.shape[0] != ys.shape[0]:
            raise StatsError(
                f"RegressionStats.from_values: found {ys.shape[0]} outcomes and covariate "
                f"rows of shape {xs.shape}, expected one row of K values per outcome"
            )
        k = xs.shape[1]
        return cls(
            n=int(ys.shape[0]),
            y_sum=math.fsum(ys),
            y_sum_sq=math.fsum(ys * ys),
            x_sum=tuple(math.fsum(xs[:, j]) for j in range(k)),
            xy_sum=tuple(math.fsum(xs[:, j] * ys) for j in range(k)),
            xx_sum=tuple(math.fsum(xs[:, j] * xs[:, m]) for j, m in pair_index(k)),
        )


@dataclass(frozen=True)
class ArmFit:
    """One arm's OLS of ``y`` on ``[1, X − center]``: intercept, its variance, slopes.

    Example:
        >>> s = RegressionStats.from_values([1.0, 2.0, 3.0], [[1.0], [2.0], [3.0]])
        >>> f = arm_fit(s, np.array([2.0]))
        >>> f.intercept, f.slopes.tolist(), f.df
        (2.0, [1.0], 1)
    """

    intercept: float
    var_intercept: float
    slopes: FloatArray
    df: int
    rank_deficient: bool


def arm_fit(s: RegressionStats, center: FloatArray) -> ArmFit:
    """The OLS of one arm at ``center`` (see the module doc), from its sums.

    Example:
        >>> s = RegressionStats.from_values([1.0, 2.5, 3.0, 5.0], [[1.0], [2.0], [3.0], [4.0]])
        >>> round(arm_fit(s, np.array([2.5])).var_intercept, 6)
        0.046875
    """
    n = s.n
    if n == 0:
        return ArmFit(math.nan, math.nan, np.full(s.k, np.nan), 0, False)
    xbar = np.asarray(s.x_sum) / n
    ybar = s.y_sum / n
    sxx = s.xx_matrix() - n * np.outer(xbar, xbar)
    sxy = np.asarray(s.xy_sum) - n * xbar * ybar
    syy = max(s.y_sum_sq - n * ybar * ybar, 0.0)
    scale = np.sqrt(np.clip(np.diag(sxx), 0.0, None))
    tol = 1e-10 * max(float(np.max(np.abs(np.diag(s.xx_matrix())))), 1e-300)
    ok = np.diag(sxx) > tol  # a covariate constant in this arm contributes nothing
    inv = np.zeros_like(sxx)
    rank = 0
    if ok.any():
        sub = sxx[np.ix_(ok, ok)] / np.outer(scale[ok], scale[ok])  # a correlation matrix
        sub_inv = np.linalg.pinv(sub, rcond=1e-10, hermitian=True)
        rank = int(np.linalg.matrix_rank(sub, tol=1e-10, hermitian=True))
        inv[np.ix_(ok, ok)] = sub_inv / np.outer(scale[ok], scale[ok])
    beta = inv @ sxy
    d = xbar - center
    intercept = ybar - float(beta @ d)
    rss = max(syy - float(beta @ sxy), 0.0)
    df = n - 1 - rank
    sigma2 = rss / df if df > 0 else math.nan
    var = sigma2 * (1.0 / n + float(d @ inv @ d)) if df > 0 else math.nan
    return ArmFit(intercept, var, beta, df, rank < s.k)


def regression_estimates(
    controls: Sequence[RegressionStats], treatments: Sequence[RegressionStats]
) -> Estimates:
    """Lin's regression-adjusted estimates, one per (control, treatment) pair of cells.

    Example:
        >>> c = RegressionStats(3, 6.0, 14.0, (6.0,), (14.0,), (14.0,))
        >>> t = RegressionStats(3, 9.0, 29.0, (6.0,), (20.0,), (14.0,))
        >>> e = regression_estimates([c], [t])
        >>> float(e.abs_lift[0]), float(e.abs_var[0])   # y = x and y = x + 1: exact fits
        (1.0, 0.0)
    """
    if len(controls) != len(treatments) or not controls:
        raise StatsError(
            f"regression_estimates: found {len(controls)} controls and {len(treatments)} "
            "treatments, expected one treatment per control and at least one"
        )
    size = len(controls)
    cols: dict[str, list[float]] = {
        k: [] for k in ("mc", "mt", "ac", "at", "vc", "vt", "df", "raw", "nc", "nt")
    }
    warnings: list[list[str]] = [[] for _ in range(size)]
    collinear = np.zeros(size, dtype=bool)
    few = np.zeros(size, dtype=bool)
    for i, (c, t) in enumerate(zip(controls, treatments, strict=True)):
        if c.k != t.k:
            raise StatsError(
                f"regression_estimates: cell {i} has {c.k} covariates in control and {t.k} in "
                "treatment, expected the same covariates in both arms"
            )
        n = c.n + t.n
        center = (np.asarray(c.x_sum) + np.asarray(t.x_sum)) / n if n else np.zeros(c.k)
        fc, ft = arm_fit(c, center), arm_fit(t, center)
        collinear[i] = fc.rank_deficient or ft.rank_deficient
        few[i] = c.n >= 2 and t.n >= 2 and (fc.df <= 0 or ft.df <= 0)
        vc, vt = fc.var_intercept, ft.var_intercept
        denom = vc**2 / fc.df + vt**2 / ft.df if fc.df > 0 < ft.df else math.nan
        df = (vc + vt) ** 2 / denom if denom > 0 else math.nan
        raw = c.variance / c.n + t.variance / t.n if c.n >= 2 and t.n >= 2 else math.nan
        for key, value in (("mc", c.mean), ("mt", t.mean), ("ac", fc.intercept),
                           ("at", ft.intercept), ("vc", vc), ("vt", vt), ("df", df),
                           ("raw", raw), ("nc", c.n), ("nt", t.n)):  # fmt: skip
            cols[key].append(float(value))
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    nc, nt = arr["nc"].astype(np.int64), arr["nt"].astype(np.int64)
    abs_var = arr["vc"] + arr["vt"]
    from segab.stats.estimates import W_CONTROL_ZERO, W_EMPTY, W_FEW, W_NO_VARIANCE

    empty = (nc == 0) | (nt == 0)
    add_warning(warnings, empty, W_EMPTY)
    add_warning(warnings, ~empty & ((nc < 2) | (nt < 2)), W_FEW)
    add_warning(warnings, few, W_FEW_FOR_COVARIATES)
    add_warning(warnings, ~empty & collinear, W_COLLINEAR)
    add_warning(warnings, ~empty & (abs_var == 0), W_NO_VARIANCE)
    add_warning(warnings, ~empty & (arr["ac"] == 0), W_CONTROL_ZERO)
    rel, rel_var = relative_delta(arr["ac"], arr["at"], arr["vc"], arr["vt"])
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(arr["raw"] > 0, 1.0 - abs_var / arr["raw"], np.nan)
    return Estimates(
        control_mean=arr["mc"],
        treatment_mean=arr["mt"],
        n_control=nc,
        n_treatment=nt,
        abs_lift=arr["at"] - arr["ac"],
        abs_var=abs_var,
        rel_lift=rel,
        rel_var=rel_var,
        var_control_mean=arr["vc"],
        df=arr["df"],
        test=TEST,
        warnings=warnings,
        variance_reduction=reduction,
        adj_control_mean=arr["ac"],
    )
