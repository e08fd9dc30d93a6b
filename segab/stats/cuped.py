"""CUPED variance reduction (Deng, Xu, Kohavi, Walker, WSDM 2013) on sufficient statistics.

With outcome ``y`` and pre-period covariate ``x`` per unit:

* ``θ = Σ_arms S_xy / Σ_arms S_xx`` where ``S`` are the centered (within-arm)
  cross-products, i.e. the covariance/variance pooled across both arms. This
  is the OLS coefficient of ``x`` in ``y ~ treatment + x``, so the adjusted
  lift equals the OLS treatment coefficient exactly.
* adjusted arm mean ``ȳ − θ(x̄_arm − x̄)`` with ``x̄`` the mean over both arms;
* adjusted per-unit variance ``s_y² − 2θ·s_xy + θ²·s_x²`` (``= s_y²(1 − ρ²)``
  when θ is the arm's own slope);
* Welch t-test on the adjusted values; ``variance_reduction`` is
  ``1 − Var(Δ̂_adj)/Var(Δ̂)``.

If the covariate has no variance, θ = 0 (no adjustment) with a warning.

Example:
    >>> # same covariate in both arms, y = x in control and x + 1 in treatment
    >>> e = cuped_estimates([3], [6.0], [14.0], [6.0], [14.0], [14.0],
    ...                     [3], [9.0], [29.0], [6.0], [14.0], [20.0])
    >>> float(e.theta[0]), float(e.abs_lift[0]), float(e.variance_reduction[0])
    (1.0, 1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.estimates import (
    Estimates,
    add_warning,
    as_count_array,
    as_float_array,
    finish_means,
    relative_delta,
)
from segab.stats.sufficient import REL_ZERO_TOL

__all__ = ["W_NO_COVARIATE_VARIANCE", "CupedEstimates", "cuped_estimates"]

FloatArray = npt.NDArray[np.float64]

W_NO_COVARIATE_VARIANCE = "covariate has no variance: CUPED adjustment not applied"


@dataclass
class CupedEstimates(Estimates):
    """:class:`Estimates` plus the pooled ``theta`` of every cell.

    Example:
        >>> CupedEstimates.__mro__[1].__name__
        'Estimates'
    """

    theta: FloatArray | None = None


def _centered(n: npt.NDArray[np.int64], a: FloatArray, b: FloatArray, ab: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, ab - a * (b / np.maximum(n, 1)), 0.0)


def cuped_estimates(
    n_c: npt.ArrayLike,
    y_c: npt.ArrayLike,
    yy_c: npt.ArrayLike,
    x_c: npt.ArrayLike,
    xx_c: npt.ArrayLike,
    xy_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    y_t: npt.ArrayLike,
    yy_t: npt.ArrayLike,
    x_t: npt.ArrayLike,
    xx_t: npt.ArrayLike,
    xy_t: npt.ArrayLike,
) -> CupedEstimates:
    """CUPED-adjusted Welch estimates from the six sums of each arm.

    Example:
        >>> from segab.stats.sufficient import CupedStats
        >>> c = CupedStats.from_values([1.0, 2.0, 3.5], [1.0, 2.0, 3.0])
        >>> t = CupedStats.from_values([2.0, 3.0, 4.5], [1.0, 2.0, 3.0])
        >>> e = cuped_estimates(*[[getattr(c, f)] for f in ("n", "y_sum", "y_sum_sq", "x_sum",
        ...     "x_sum_sq", "xy_sum")], *[[getattr(t, f)] for f in ("n", "y_sum", "y_sum_sq",
        ...     "x_sum", "x_sum_sq", "xy_sum")])
        >>> round(float(e.abs_lift[0]), 12)
        1.0
    """
    nc, nt = as_count_array("n_control", n_c), as_count_array("n_treatment", n_t)
    names = ("y_sum", "y_sum_sq", "x_sum", "x_sum_sq", "xy_sum")
    c = [
        as_float_array(f"{k}_control", v)
        for k, v in zip(names, (y_c, yy_c, x_c, xx_c, xy_c), strict=True)
    ]
    t = [
        as_float_array(f"{k}_treatment", v)
        for k, v in zip(names, (y_t, yy_t, x_t, xx_t, xy_t), strict=True)
    ]
    if any(a.shape != nc.shape for a in (nt, *c, *t)):
        raise StatsError("CUPED arrays: found different lengths, expected one value per cell")
    ycs, yycs, xcs, xxcs, xycs = c
    yts, yyts, xts, xxts, xyts = t
    syy_c, syy_t = _centered(nc, ycs, ycs, yycs), _centered(nt, yts, yts, yyts)
    sxx_c, sxx_t = _centered(nc, xcs, xcs, xxcs), _centered(nt, xts, xts, xxts)
    sxy_c, sxy_t = _centered(nc, xcs, ycs, xycs), _centered(nt, xts, yts, xyts)
    syy_c = np.where(syy_c <= REL_ZERO_TOL * np.abs(yycs), 0.0, syy_c)
    syy_t = np.where(syy_t <= REL_ZERO_TOL * np.abs(yyts), 0.0, syy_t)
    sxx = sxx_c + sxx_t
    no_x = sxx <= REL_ZERO_TOL * (np.abs(xxcs) + np.abs(xxts))
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(no_x, 0.0, (sxy_c + sxy_t) / np.where(no_x, 1.0, sxx))
        x_bar = (xcs + xts) / (nc + nt)
        mc = np.where(nc > 0, ycs / np.maximum(nc, 1), np.nan)
        mt = np.where(nt > 0, yts / np.maximum(nt, 1), np.nan)
        adj_c = mc - theta * (xcs / nc - x_bar)
        adj_t = mt - theta * (xts / nt - x_bar)
        m2_c = np.maximum(syy_c - 2 * theta * sxy_c + theta**2 * sxx_c, 0.0)
        m2_t = np.maximum(syy_t - 2 * theta * sxy_t + theta**2 * sxx_t, 0.0)
        vm_c = np.where(nc >= 2, m2_c / (nc - 1), np.nan) / nc
        vm_t = np.where(nt >= 2, m2_t / (nt - 1), np.nan) / nt
        raw_var = (
            np.where(nc >= 2, syy_c / (nc - 1), np.nan) / nc
            + np.where(nt >= 2, syy_t / (nt - 1), np.nan) / nt
        )
    warnings: list[list[str]] = [[] for _ in range(nc.shape[0])]
    add_warning(warnings, no_x & (nc > 0) & (nt > 0), W_NO_COVARIATE_VARIANCE)
    base = finish_means(nc, nt, adj_c, adj_t, vm_c, vm_t, warnings, "cuped_welch_t")
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(raw_var > 0, 1.0 - base.abs_var / raw_var, np.nan)
    rel, rel_var = relative_delta(adj_c, adj_t, vm_c, vm_t)
    return CupedEstimates(
        control_mean=mc,
        treatment_mean=mt,
        n_control=nc,
        n_treatment=nt,
        abs_lift=adj_t - adj_c,
        abs_var=base.abs_var,
        rel_lift=rel,
        rel_var=rel_var,
        var_control_mean=vm_c,
        df=base.df,
        test="cuped_welch_t",
        warnings=base.warnings,
        variance_reduction=reduction,
        adj_control_mean=adj_c,
        theta=theta,
    )
