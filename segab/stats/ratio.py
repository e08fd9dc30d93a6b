"""Ratio metrics (e.g. revenue per session) by the delta method.

Each unit contributes a numerator ``a`` and a denominator ``b``; the arm's
metric is ``R = Σa/Σb = ā/b̄``. By the delta method

``Var(R̂) ≈ (s_a² − 2R·s_ab + R²·s_b²) / (n·b̄²)``

with sample (``n − 1``) variances and covariance. The lift ``R_t − R_c`` is
tested with a z-test (``test = "delta_method_z"``); the relative lift uses the
same delta-method formula as the other metrics.

Example:
    >>> e = ratio_estimates([2], [4.0], [10.0], [2.0], [2.0], [4.0],
    ...                     [2], [6.0], [20.0], [2.0], [2.0], [6.0])
    >>> float(e.control_mean[0]), float(e.treatment_mean[0])
    (2.0, 3.0)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.estimates import (
    Estimates,
    add_warning,
    as_count_array,
    as_float_array,
    finish_means,
)

__all__ = ["W_ZERO_DENOMINATOR", "ratio_estimates", "ratio_variance"]

FloatArray = npt.NDArray[np.float64]

W_ZERO_DENOMINATOR = "denominator sums to zero in an arm: ratio undefined"


def ratio_variance(
    n: npt.NDArray[np.int64],
    a: FloatArray,
    aa: FloatArray,
    b: FloatArray,
    bb: FloatArray,
    ab: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """The ratio ``Σa/Σb`` and the delta-method variance of its estimate.

    Example:
        >>> import numpy as np
        >>> r, v = ratio_variance(np.array([2]), np.array([4.0]), np.array([10.0]),
        ...                       np.array([2.0]), np.array([2.0]), np.array([4.0]))
        >>> float(r[0]), float(v[0])
        (2.0, 1.0)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)
        nf = n.astype(np.float64)
        d = nf - 1
        var_a = np.maximum(aa - a * a / nf, 0.0) / d
        var_b = np.maximum(bb - b * b / nf, 0.0) / d
        cov = (ab - a * b / nf) / d
        mean_b = b / nf
        num = np.maximum(var_a - 2 * ratio * cov + ratio**2 * var_b, 0.0)
        var = np.where(n >= 2, num / (nf * mean_b**2), np.nan)
    return ratio, var


def ratio_estimates(
    n_c: npt.ArrayLike,
    a_c: npt.ArrayLike,
    aa_c: npt.ArrayLike,
    b_c: npt.ArrayLike,
    bb_c: npt.ArrayLike,
    ab_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    a_t: npt.ArrayLike,
    aa_t: npt.ArrayLike,
    b_t: npt.ArrayLike,
    bb_t: npt.ArrayLike,
    ab_t: npt.ArrayLike,
) -> Estimates:
    """Delta-method estimates from the six sums of each arm.

    Example:
        >>> e = ratio_estimates([2], [4.0], [10.0], [2.0], [2.0], [4.0],
        ...                     [2], [6.0], [20.0], [2.0], [2.0], [6.0])
        >>> float(e.abs_lift[0])
        1.0
    """
    nc, nt = as_count_array("n_control", n_c), as_count_array("n_treatment", n_t)
    names = ("num_sum", "num_sum_sq", "den_sum", "den_sum_sq", "num_den_sum")
    c = [
        as_float_array(f"{k}_control", v)
        for k, v in zip(names, (a_c, aa_c, b_c, bb_c, ab_c), strict=True)
    ]
    t = [
        as_float_array(f"{k}_treatment", v)
        for k, v in zip(names, (a_t, aa_t, b_t, bb_t, ab_t), strict=True)
    ]
    if any(arr.shape != nc.shape for arr in (nt, *c, *t)):
        raise StatsError("ratio arrays: found different lengths, expected one value per cell")
    rc, vc = ratio_variance(nc, *c)
    rt, vt = ratio_variance(nt, *t)
    warnings: list[list[str]] = [[] for _ in range(nc.shape[0])]
    add_warning(warnings, (nc > 0) & (nt > 0) & ((c[2] == 0) | (t[2] == 0)), W_ZERO_DENOMINATOR)
    return finish_means(
        nc, nt, rc, rt, vc, vt, warnings, "delta_method_z", df=np.full(nc.shape, np.inf)
    )
