"""Point estimates and their variances for many cells at once (numpy arrays).

Every metric kind is reduced to the same :class:`Estimates`: the two arm means,
the absolute lift with the variance of its estimate, the relative lift with its
delta-method variance, and the degrees of freedom of the reference
distribution (``inf`` = normal). The inference modules (frequentist,
sequential, Bayesian) work on :class:`Estimates` only.

Relative lift, delta method: ``r = m_t/m_c − 1`` and
``Var(r) ≈ v_t/m_c² + m_t²·v_c/m_c⁴`` with ``v`` the variance of each mean.

Example:
    >>> import numpy as np
    >>> e = proportion_estimates(np.array([10000]), np.array([1000]),
    ...                          np.array([10000]), np.array([1100]))
    >>> round(float(e.abs_lift[0]), 6), round(float(e.rel_lift[0]), 6)
    (0.01, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.sufficient import REL_ZERO_TOL

__all__ = [
    "W_CONTROL_ZERO",
    "W_EMPTY",
    "W_FEW",
    "W_NO_CONVERSIONS",
    "W_NO_VARIANCE",
    "Estimates",
    "add_warning",
    "as_count_array",
    "as_float_array",
    "mean_estimates",
    "proportion_estimates",
    "relative_delta",
    "welch_df",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

W_EMPTY = "an arm has no units (n = 0): comparison undefined"
W_FEW = "an arm has fewer than 2 units: variance undefined, test undefined"
W_NO_VARIANCE = "no variance in either arm: test undefined"
W_NO_CONVERSIONS = "no conversions in either arm"
W_ALL_CONVERTED = "every unit converted in both arms"
W_CONTROL_ZERO = "control mean is zero: relative lift undefined"


@dataclass
class Estimates:
    """Per-cell estimates shared by every inference method (all arrays of one length).

    ``test_se`` is the standard error used by the test statistic when it
    differs from ``sqrt(abs_var)`` (the pooled SE of the two-proportion
    z-test). ``var_control_mean`` is ``Var(m_c)``, used for the relative lift
    under a prior.

    Example:
        >>> import numpy as np
        >>> e = mean_estimates(np.array([10]), np.array([10.0]), np.array([20.0]),
        ...                    np.array([10]), np.array([20.0]), np.array([60.0]))
        >>> e.test
        'welch_t'
    """

    control_mean: FloatArray
    treatment_mean: FloatArray
    n_control: IntArray
    n_treatment: IntArray
    abs_lift: FloatArray
    abs_var: FloatArray
    rel_lift: FloatArray
    rel_var: FloatArray
    var_control_mean: FloatArray
    df: FloatArray
    test: str
    warnings: list[list[str]]
    test_se: FloatArray | None = None
    variance_reduction: FloatArray | None = None
    # adjusted means when they differ from the raw ones (CUPED)
    adj_control_mean: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.abs_lift.shape[0])


def as_count_array(name: str, values: npt.ArrayLike) -> IntArray:
    """Validate and convert counts (integers >= 0) to an int64 array.

    Example:
        >>> as_count_array("n", [1, 2]).dtype
        dtype('int64')
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = np.atleast_1d(arr)
        if arr.ndim != 1:
            raise StatsError(f"{name}: found an array of shape {arr.shape}, expected 1-D")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise StatsError(f"{name}: found non-integer values, expected integer counts")
    elif arr.dtype.kind not in "iu" and arr.size:
        raise StatsError(f"{name}: found dtype {arr.dtype}, expected integer counts")
    out = arr.astype(np.int64)
    if np.any(out < 0):
        raise StatsError(f"{name}: found a negative count, expected counts >= 0")
    return out


def as_float_array(name: str, values: npt.ArrayLike) -> FloatArray:
    """Validate and convert sums (finite numbers) to a float64 array.

    Example:
        >>> as_float_array("s", [1, 2.5]).tolist()
        [1.0, 2.5]
    """
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise StatsError(f"{name}: found an array of shape {arr.shape}, expected 1-D")
    if not np.all(np.isfinite(arr)):
        raise StatsError(f"{name}: found a non-finite value, expected finite sums")
    return arr


def add_warning(warnings: list[list[str]], mask: npt.NDArray[np.bool_], message: str) -> None:
    """Append ``message`` to the warnings of every cell where ``mask`` is true.

    Example:
        >>> import numpy as np
        >>> w = [[], []]
        >>> add_warning(w, np.array([False, True]), "x")
        >>> w
        [[], ['x']]
    """
    for i in np.flatnonzero(mask):
        if message not in warnings[i]:
            warnings[i].append(message)


def welch_df(vm_c: FloatArray, vm_t: FloatArray, n_c: IntArray, n_t: IntArray) -> FloatArray:
    """Welch–Satterthwaite degrees of freedom from the variances of the two means.

    ``df = (v_t + v_c)² / (v_t²/(n_t−1) + v_c²/(n_c−1))`` with ``v = s²/n``.

    Example:
        >>> import numpy as np
        >>> float(welch_df(np.array([0.1]), np.array([0.1]), np.array([11]), np.array([11]))[0])
        20.0
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(
            (vm_c + vm_t) ** 2 / (vm_t**2 / (n_t - 1) + vm_c**2 / (n_c - 1)), dtype=np.float64
        )


def relative_delta(
    m_c: FloatArray, m_t: FloatArray, vm_c: FloatArray, vm_t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Relative lift ``m_t/m_c − 1`` and its delta-method variance.

    ``Var ≈ vm_t/m_c² + m_t²·vm_c/m_c⁴`` (NaN where ``m_c = 0``).

    Example:
        >>> import numpy as np
        >>> r, v = relative_delta(np.array([0.1]), np.array([0.11]), np.array([9e-6]),
        ...                       np.array([9.79e-6]))
        >>> round(float(r[0]), 6)
        0.1
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(m_c == 0, np.nan, m_c)
        rel = m_t / safe - 1.0
        var = vm_t / safe**2 + m_t**2 * vm_c / safe**4
    return rel, var


def proportion_estimates(
    n_c: npt.ArrayLike, x_c: npt.ArrayLike, n_t: npt.ArrayLike, x_t: npt.ArrayLike
) -> Estimates:
    """Estimates for binary metrics: unpooled Wald variance, pooled SE for the z-test.

    Example:
        >>> import numpy as np
        >>> e = proportion_estimates([100], [10], [100], [20])
        >>> round(float(e.abs_var[0]), 6)
        0.0025
    """
    nc, xc = as_count_array("n_control", n_c), as_count_array("conversions_control", x_c)
    nt, xt = as_count_array("n_treatment", n_t), as_count_array("conversions_treatment", x_t)
    if not (nc.shape == xc.shape == nt.shape == xt.shape):
        raise StatsError("proportion arrays: found different lengths, expected one value per cell")
    if np.any(xc > nc) or np.any(xt > nt):
        raise StatsError("proportion arrays: found conversions > n, expected conversions <= n")
    warnings: list[list[str]] = [[] for _ in range(nc.shape[0])]
    empty = (nc == 0) | (nt == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pc = np.where(nc > 0, xc / np.maximum(nc, 1), np.nan)
        pt = np.where(nt > 0, xt / np.maximum(nt, 1), np.nan)
        vm_c = pc * (1 - pc) / nc
        vm_t = pt * (1 - pt) / nt
        pooled = (xc + xt) / (nc + nt)
        test_se = np.sqrt(pooled * (1 - pooled) * (1.0 / nc + 1.0 / nt))
    abs_var = vm_c + vm_t
    rel, rel_var = relative_delta(pc, pt, vm_c, vm_t)
    add_warning(warnings, empty, W_EMPTY)
    add_warning(warnings, ~empty & (xc + xt == 0), W_NO_CONVERSIONS)
    add_warning(warnings, ~empty & (xc + xt == nc + nt), W_ALL_CONVERTED)
    add_warning(warnings, ~empty & (pc == 0), W_CONTROL_ZERO)
    return Estimates(
        control_mean=pc,
        treatment_mean=pt,
        n_control=nc,
        n_treatment=nt,
        abs_lift=pt - pc,
        abs_var=abs_var,
        rel_lift=rel,
        rel_var=rel_var,
        var_control_mean=vm_c,
        df=np.full(nc.shape, np.inf),
        test="z_test",
        warnings=warnings,
        test_se=test_se,
    )


def _sample_var(n: IntArray, s: FloatArray, ss: FloatArray) -> FloatArray:
    """Stable sample variance from sums; NaN for ``n < 2``, 0 within round-off."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = ss - s * (s / n)
        m2 = np.where(m2 <= REL_ZERO_TOL * np.abs(ss), 0.0, m2)
        return np.where(n >= 2, m2 / (n - 1), np.nan)


def mean_estimates(
    n_c: npt.ArrayLike,
    s_c: npt.ArrayLike,
    ss_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    s_t: npt.ArrayLike,
    ss_t: npt.ArrayLike,
) -> Estimates:
    """Estimates for continuous metrics (Welch): ``Var(Δ) = s_t²/n_t + s_c²/n_c``.

    Example:
        >>> e = mean_estimates([3], [6.0], [14.0], [3], [9.0], [29.0])
        >>> float(e.abs_lift[0]), float(e.abs_var[0])
        (1.0, 0.6666666666666666)
    """
    nc, nt = as_count_array("n_control", n_c), as_count_array("n_treatment", n_t)
    sc, sst = as_float_array("sum_control", s_c), as_float_array("sum_treatment", s_t)
    ssc, sstt = as_float_array("sum_sq_control", ss_c), as_float_array("sum_sq_treatment", ss_t)
    if not (nc.shape == sc.shape == ssc.shape == nt.shape == sst.shape == sstt.shape):
        raise StatsError("mean arrays: found different lengths, expected one value per cell")
    if np.any(ssc < 0) or np.any(sstt < 0):
        raise StatsError("mean arrays: found a negative sum of squares, expected >= 0")
    warnings: list[list[str]] = [[] for _ in range(nc.shape[0])]
    with np.errstate(divide="ignore", invalid="ignore"):
        mc = np.where(nc > 0, sc / np.maximum(nc, 1), np.nan)
        mt = np.where(nt > 0, sst / np.maximum(nt, 1), np.nan)
        vm_c = _sample_var(nc, sc, ssc) / nc
        vm_t = _sample_var(nt, sst, sstt) / nt
    return _finish_means(nc, nt, mc, mt, vm_c, vm_t, warnings, "welch_t")


def _finish_means(
    nc: IntArray,
    nt: IntArray,
    mc: FloatArray,
    mt: FloatArray,
    vm_c: FloatArray,
    vm_t: FloatArray,
    warnings: list[list[str]],
    test: str,
    *,
    df: FloatArray | None = None,
) -> Estimates:
    abs_var = vm_c + vm_t
    empty = (nc == 0) | (nt == 0)
    few = ~empty & ((nc < 2) | (nt < 2))
    add_warning(warnings, empty, W_EMPTY)
    add_warning(warnings, few, W_FEW)
    add_warning(warnings, ~empty & ~few & (abs_var == 0), W_NO_VARIANCE)
    add_warning(warnings, ~empty & (mc == 0), W_CONTROL_ZERO)
    rel, rel_var = relative_delta(mc, mt, vm_c, vm_t)
    return Estimates(
        control_mean=mc,
        treatment_mean=mt,
        n_control=nc,
        n_treatment=nt,
        abs_lift=mt - mc,
        abs_var=abs_var,
        rel_lift=rel,
        rel_var=rel_var,
        var_control_mean=vm_c,
        df=welch_df(vm_c, vm_t, nc, nt) if df is None else df,
        test=test,
        warnings=warnings,
    )


finish_means = _finish_means
