"""Multiple-testing corrections across the cells and metrics of an analysis.

Thin wrapper over ``statsmodels.stats.multitest.multipletests`` (not
reimplemented): ``"holm"`` controls the family-wise error rate,
``"bh"`` (Benjamini–Hochberg, ``fdr_bh``) the false discovery rate. NaN
p-values (undefined tests) pass through untouched and do not count in the
family.

Example:
    >>> [round(p, 3) for p in adjust_p_values([0.01, 0.04, float("nan")], "holm")]
    [0.02, 0.04, nan]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

from segab.errors import StatsError

__all__ = ["Correction", "adjust_p_values"]

Correction = Literal["none", "holm", "bh"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}


def adjust_p_values(p_values: Sequence[float], correction: Correction) -> list[float]:
    """Adjust a family of p-values; NaN entries stay NaN and are left out of the family.

    Example:
        >>> adjust_p_values([0.01, 0.02, 0.03], "bh")
        [0.03, 0.03, 0.03]
        >>> adjust_p_values([0.2], "none")
        [0.2]
    """
    if correction not in ("none", "holm", "bh"):
        raise StatsError(f"correction: found {correction!r}, expected 'none', 'holm' or 'bh'")
    values = [float(p) for p in p_values]
    for i, p in enumerate(values):
        if not math.isnan(p) and not 0.0 <= p <= 1.0:
            raise StatsError(f"p_values[{i}]: found {p}, expected a probability in [0, 1] or NaN")
    if correction == "none":
        return values
    arr = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(arr)
    out = arr.copy()
    if np.any(finite):
        _, adjusted, _, _ = multipletests(arr[finite], method=_METHODS[correction])
        out[finite] = adjusted
    return [float(v) for v in out]
