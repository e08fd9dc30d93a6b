"""The per-cell estimates and standard errors the shrinkage estimators take, checked once.

:func:`segab.stats.shrinkage.shrink`, :func:`segab.stats.tau2_bounds.tau2_upper_bound`,
:func:`segab.stats.npmle.npmle_arrays` and :func:`segab.stats.ash.ash_arrays` all read
one estimate and one standard error per cell (a row of cells per experiment for the
last two). A cell whose estimate is not finite, or whose standard error is not
finite and > 0, is a located :class:`~segab.errors.StatsError`, never a number.

Example:
    >>> y, se = checked_cells([0.1, 0.2], [0.05, 0.05], "shrink")
    >>> y.tolist(), se.dtype.name
    ([0.1, 0.2], 'float64')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError

__all__ = ["checked_cells"]

FloatArray = npt.NDArray[np.float64]


def checked_cells(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray,
    who: str,
    ndim: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """``estimates`` and ``std_errors`` as float arrays of ``ndim`` dimensions, checked.

    ``who`` names the caller in the errors: one standard error per estimate (the
    same shape), every estimate finite and every standard error finite and > 0.

    Example:
        >>> try:
        ...     checked_cells([[0.1, 0.2]], [[0.1, 0.0]], "npmle", ndim=2)
        ... except StatsError as exc:
        ...     print(exc)
        npmle: cell (0, 1) has estimate 0.2 and standard error 0.0, expected a finite estimate and a standard error > 0
    """  # noqa: E501
    y = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    if y.ndim != ndim or y.shape != se.shape:
        raise StatsError(
            f"{who}: found estimates of shape {y.shape} and standard errors of shape "
            f"{se.shape}, expected one standard error per estimate"
        )
    bad = ~(np.isfinite(y) & np.isfinite(se) & (se > 0))
    if np.any(bad):
        flat = int(np.argmax(bad))
        cell = np.unravel_index(flat, y.shape)
        where = int(cell[0]) if ndim == 1 else tuple(int(i) for i in cell)
        raise StatsError(
            f"{who}: cell {where} has estimate {y.flat[flat]} and standard error "
            f"{se.flat[flat]}, expected a finite estimate and a standard error > 0"
        )
    return y, se
