"""Multiple-testing corrections across the cells and metrics of an analysis.

The closed forms, in numpy: ``"holm"`` controls the family-wise error rate
(sorted ascending, ``p_adj(i) = max over j <= i of min(1, (m - j + 1) p(j))``),
``"bh"`` (Benjamini–Hochberg) the false discovery rate (``p_adj(i) = min over
j >= i of min(1, m p(j) / j)``). They equal ``statsmodels.stats.multitest.
multipletests`` (methods ``holm`` and ``fdr_bh``; the oracle of the tests), which
segab does not call at analysis time because its Holm branch runs a full
``gc.collect()`` per call (a second per analysis with a large heap). NaN
p-values (undefined tests) pass through untouched and do not count in the family.

Example:
    >>> [round(p, 3) for p in adjust_p_values([0.01, 0.04, float("nan")], "holm")]
    [0.02, 0.04, nan]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from segab.errors import StatsError

__all__ = ["Correction", "adjust_p_values"]

Correction = Literal["none", "holm", "bh"]


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    scaled = np.minimum(1.0, p[order] * np.arange(m, 0, -1))
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


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
        out[finite] = (_holm if correction == "holm" else _bh)(arr[finite])
    return [float(v) for v in out]
