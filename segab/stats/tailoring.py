"""What tailoring is worth: the cross-fitted gain of a per-cell best arm.

Input: per cell ``c``, fold ``f`` (two folds, from a hash of the unit id) and arm
``a`` (arm 0 is control), the sufficient statistics ``n``, ``Σy`` and ``Σy²``
(for a binary metric ``Σy² = Σy``), as arrays of shape ``(cells, 2, arms)``.

The estimator (cross-fitting, as in policy learning: Athey and Wager,
Econometrica 2021; Chernozhukov et al. 2018 for the fold swap):

1. on fold ``f`` choose, for each cell, the arm with the highest mean
   (the *tailored* policy ``π̂_f``), and the arm with the highest cell-share-
   weighted mean over all cells (the *best single arm* ``â_f`` for everyone);
2. on the other fold ``g`` evaluate the gain of ``π̂_f`` over ``â_f``:
   ``G_g = Σ_c p_c (ȳ[c, g, π̂_f(c)] − ȳ[c, g, â_f])``, and over control
   (``ȳ[c, g, 0]`` in place of the single arm); ``p_c`` is the cell's share of
   all units (both folds, all arms);
3. average the two folds: ``Ĝ = (G_0 + G_1)/2``.

Given the choices, each ``G_g`` is unbiased for the true gain of the policy
chosen on the other fold, with variance ``V_g = Σ_c p_c² (s²_a/n_a + s²_b/n_b)``
over the cells whose two arms differ. The two folds' errors are *positively*
correlated through the choices (each fold's noise both picks one policy and
measures the other: with one cell and two equal arms the correlation is
``2/π``), so the independent-folds standard error ``√(V_0 + V_1)/2``
under-covers (about 90% at a nominal 95% in tests/stats/test_tailoring.py's
null-world simulation). The standard error bounds the correlation by 1 instead
(Cauchy–Schwarz): ``se = (√V_0 + √V_1)/2``, and the interval is ``Ĝ ± z·se``;
it is valid whatever the correlation, and conservative when it is small. The estimand is the
true gain of the two half-sample policies, averaged: what a tailored policy
learned from this much data is worth (the gain of the oracle policy, which
knows each cell's best arm, is larger). A gain over the best single arm of 0
means tailoring bought nothing over shipping one winner to everyone.

Example:
    >>> import numpy as np
    >>> n = np.full((2, 2, 2), 1000.0)
    >>> sums = np.array([[[100, 150], [100, 150]], [[100, 50], [100, 50]]], dtype=float)
    >>> r = tailoring_value(n, sums, sums)      # binary: Σy² = Σy
    >>> round(r.gain_over_single, 4), round(r.gain_over_control, 4)
    (0.025, 0.025)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from segab.errors import StatsError
from segab.stats.result import json_ready

__all__ = ["TailoringResult", "tailoring_value"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TailoringResult:
    """The cross-fitted value of tailoring, over the best single arm and over control.

    ``tailored_arms[f]`` are the per-cell arms chosen on fold ``f`` and
    ``single_arm[f]`` the arm chosen for everyone on fold ``f``; ``fold_gains[f]``
    the gain over the single arm of the policy chosen on fold ``f``, measured on the
    other fold, and ``fold_std_errors[f]`` its standard error given the choice.

    Example:
        >>> r = TailoringResult(0.01, 0.004, 0.002, 0.018, 0.02, 0.005, 0.01, 0.03,
        ...                     ((1, 0), (1, 0)), (1, 1), (0.01, 0.01), (0.004, 0.004), 0.05)
        >>> r.to_dict()["gain_over_single"]
        0.01
    """

    gain_over_single: float
    se_over_single: float
    ci_low_over_single: float
    ci_high_over_single: float
    gain_over_control: float
    se_over_control: float
    ci_low_over_control: float
    ci_high_over_control: float
    tailored_arms: tuple[tuple[int, ...], ...]
    single_arm: tuple[int, ...]
    fold_gains: tuple[float, ...]
    fold_std_errors: tuple[float, ...]
    alpha: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> r = TailoringResult(*[0.0] * 8, ((0,), (0,)), (0, 0), (0.0, 0.0), (0.0, 0.0), 0.05)
            >>> r.to_dict()["single_arm"]
            [0, 0]
        """
        return dict(json_ready(asdict(self)))


def _check(n: FloatArray, sums: FloatArray, sums_sq: FloatArray) -> None:
    if n.ndim != 3 or n.shape[1] != 2 or n.shape[2] < 2:
        raise StatsError(
            f"tailoring_value: found n of shape {n.shape}, expected (cells, 2 folds, arms >= 2)"
        )
    if sums.shape != n.shape or sums_sq.shape != n.shape:
        raise StatsError(
            f"tailoring_value: found sums {sums.shape} and sums_sq {sums_sq.shape} for n "
            f"{n.shape}, expected the same shape"
        )
    if np.any(n < 2):
        c, f, a = (int(v) for v in np.argwhere(n < 2)[0])
        raise StatsError(
            f"tailoring_value: cell {c}, fold {f}, arm {a} has {n[c, f, a]:g} units, "
            "expected at least 2 in every cell, fold and arm"
        )


def tailoring_value(
    n: FloatArray,
    sums: FloatArray,
    sums_sq: FloatArray,
    *,
    alpha: float = 0.05,
) -> TailoringResult:
    """Cross-fitted gain of the tailored policy over the best single arm and over control.

    Arrays are ``(cells, 2, arms)``; arm 0 is control. See the module docstring
    for the estimator and its standard error.

    Example:
        >>> import numpy as np
        >>> n = np.full((1, 2, 2), 500.0)
        >>> s = np.array([[[50.0, 60.0], [50.0, 60.0]]])
        >>> r = tailoring_value(n, s, s)
        >>> r.gain_over_single, round(r.gain_over_control, 3)   # one cell: nothing to tailor
        (0.0, 0.02)
    """
    n = np.asarray(n, dtype=np.float64)
    sums = np.asarray(sums, dtype=np.float64)
    sums_sq = np.asarray(sums_sq, dtype=np.float64)
    _check(n, sums, sums_sq)
    if not 0 < alpha < 1:
        raise StatsError(f"alpha: found {alpha}, expected a level in (0, 1)")
    mean = sums / n
    var_mean = np.maximum(sums_sq - sums * mean, 0.0) / (n - 1) / n  # s²/n per cell, fold, arm
    share = n.sum(axis=(1, 2)) / n.sum()
    cells = np.arange(n.shape[0])
    gains: list[float] = []
    var_gains: list[float] = []
    gains_c: list[float] = []
    var_gains_c: list[float] = []
    tailored: list[tuple[int, ...]] = []
    single: list[int] = []
    for f in (0, 1):
        g = 1 - f
        arms = np.argmax(mean[:, f, :], axis=1)
        best = int(np.argmax(share @ mean[:, f, :]))
        tailored.append(tuple(int(a) for a in arms))
        single.append(best)
        for ref, out, out_var in ((best, gains, var_gains), (0, gains_c, var_gains_c)):
            diff = mean[cells, g, arms] - mean[cells, g, ref]
            v = np.where(arms != ref, var_mean[cells, g, arms] + var_mean[cells, g, ref], 0.0)
            out.append(float(share @ diff))
            out_var.append(float((share**2) @ v))
    z = float(special.ndtri(1 - alpha / 2))
    gain, gain_c = (gains[0] + gains[1]) / 2, (gains_c[0] + gains_c[1]) / 2
    # the folds' errors are positively correlated through the choices: bound the
    # correlation by 1 (Cauchy-Schwarz) rather than assume independence
    se = (math.sqrt(var_gains[0]) + math.sqrt(var_gains[1])) / 2
    se_c = (math.sqrt(var_gains_c[0]) + math.sqrt(var_gains_c[1])) / 2
    warnings = []
    if tailored[0] != tailored[1]:
        warnings.append("the two folds chose different per-cell arms: the policy is not stable")
    return TailoringResult(
        gain_over_single=gain,
        se_over_single=se,
        ci_low_over_single=gain - z * se,
        ci_high_over_single=gain + z * se,
        gain_over_control=gain_c,
        se_over_control=se_c,
        ci_low_over_control=gain_c - z * se_c,
        ci_high_over_control=gain_c + z * se_c,
        tailored_arms=(tailored[0], tailored[1]),
        single_arm=(single[0], single[1]),
        fold_gains=(gains[0], gains[1]),
        fold_std_errors=(math.sqrt(var_gains[0]), math.sqrt(var_gains[1])),
        alpha=alpha,
        warnings=tuple(warnings),
    )
