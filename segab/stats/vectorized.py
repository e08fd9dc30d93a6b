"""The array path: compare many cells at once from numpy arrays of sufficient statistics.

``analyze`` and the benchmark call these; :func:`segab.stats.compare` calls
the same code with arrays of length one, so both always agree.

Example:
    >>> import numpy as np
    >>> r = compare_proportions_arrays(np.array([10000, 500]), np.array([1000, 50]),
    ...                                np.array([10000, 500]), np.array([1100, 70]))
    >>> [round(p, 6) for p in r.p_value.tolist()]
    [0.021075, 0.051625]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from segab.errors import StatsError
from segab.stats.bayesian import BetaPrior, NormalPrior, beta_binomial, normal_posterior
from segab.stats.cuped import cuped_estimates
from segab.stats.estimates import Estimates, mean_estimates, proportion_estimates
from segab.stats.frequentist import Alternative, check_alpha, check_alternative, frequentist
from segab.stats.ratio import ratio_estimates
from segab.stats.result import ComparisonArrays
from segab.stats.sequential import DEFAULT_TUNING, sequential
from segab.stats.sufficient import CupedStats, MeanStats, ProportionStats, RatioStats

__all__ = [
    "Method",
    "compare_cells",
    "compare_cuped_arrays",
    "compare_means_arrays",
    "compare_proportions_arrays",
    "compare_ratio_arrays",
    "infer",
]

Method = Literal["frequentist", "bayesian", "sequential"]
Prior = BetaPrior | NormalPrior | None


def infer(
    est: Estimates,
    *,
    method: Method = "frequentist",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    prior: Prior = None,
    sequential_tuning: float = DEFAULT_TUNING,
) -> ComparisonArrays:
    """Run the chosen inference method on precomputed :class:`Estimates`.

    Example:
        >>> r = infer(mean_estimates([3], [6.0], [14.0], [3], [9.0], [29.0]), method="sequential")
        >>> r.method
        'sequential'
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    if method == "frequentist":
        return frequentist(est, alpha=alpha, alternative=alternative)
    if method == "sequential":
        if alternative != "two-sided":
            raise StatsError(
                f"alternative: found {alternative!r} with method 'sequential', "
                "expected 'two-sided' (confidence sequences are two-sided)"
            )
        return sequential(est, alpha=alpha, tuning=sequential_tuning)
    if method == "bayesian":
        if prior is not None and not isinstance(prior, NormalPrior):
            raise StatsError(
                f"prior: found {type(prior).__name__} for a non-binary metric, expected NormalPrior"
            )
        return normal_posterior(est, prior=prior, alpha=alpha, alternative=alternative)
    raise StatsError(
        f"method: found {method!r}, expected 'frequentist', 'bayesian' or 'sequential'"
    )


def compare_proportions_arrays(
    n_c: npt.ArrayLike,
    x_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    x_t: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
    method: Method = "frequentist",
    prior: Prior = None,
    sequential_tuning: float = DEFAULT_TUNING,
    fisher_fallback: bool = True,
) -> ComparisonArrays:
    """Compare binary metrics in many cells: counts ``n`` and conversions ``x`` per arm.

    Frequentist: pooled z-test, unpooled Wald CI, Fisher exact fallback where
    an expected count is below 5. Bayesian: beta-binomial (``BetaPrior``).

    Example:
        >>> r = compare_proportions_arrays([10000], [1000], [10000], [1100])
        >>> [round(float(v), 7) for v in (r.abs_ci_low[0], r.abs_ci_high[0])]
        [0.0015041, 0.0184959]
    """
    if method == "bayesian":
        if prior is not None and not isinstance(prior, BetaPrior):
            raise StatsError(
                f"prior: found {type(prior).__name__} for a binary metric, expected BetaPrior"
            )
        return beta_binomial(n_c, x_c, n_t, x_t, prior=prior, alpha=alpha, alternative=alternative)
    est = proportion_estimates(n_c, x_c, n_t, x_t)
    if method == "frequentist":
        counts = (
            est.n_control,
            np.asarray(x_c, dtype=np.int64).reshape(-1),
            est.n_treatment,
            np.asarray(x_t, dtype=np.int64).reshape(-1),
        )
        return frequentist(
            est,
            alpha=alpha,
            alternative=alternative,
            counts=counts,
            fisher_fallback=fisher_fallback,
        )
    return infer(
        est,
        method=method,
        alpha=alpha,
        alternative=alternative,
        sequential_tuning=sequential_tuning,
    )


def compare_means_arrays(
    n_c: npt.ArrayLike,
    s_c: npt.ArrayLike,
    ss_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    s_t: npt.ArrayLike,
    ss_t: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
    method: Method = "frequentist",
    prior: NormalPrior | None = None,
    sequential_tuning: float = DEFAULT_TUNING,
) -> ComparisonArrays:
    """Compare continuous metrics in many cells from ``n``, ``Σy``, ``Σy²`` per arm (Welch).

    Example:
        >>> r = compare_means_arrays([3], [6.0], [14.0], [3], [9.0], [29.0])
        >>> float(r.abs_lift[0])
        1.0
    """
    est = mean_estimates(n_c, s_c, ss_c, n_t, s_t, ss_t)
    return infer(
        est,
        method=method,
        alpha=alpha,
        alternative=alternative,
        prior=prior,
        sequential_tuning=sequential_tuning,
    )


def compare_cuped_arrays(
    control: Sequence[npt.ArrayLike],
    treatment: Sequence[npt.ArrayLike],
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
    method: Method = "frequentist",
    prior: NormalPrior | None = None,
    sequential_tuning: float = DEFAULT_TUNING,
) -> ComparisonArrays:
    """CUPED comparisons; each arm is ``(n, y_sum, y_sum_sq, x_sum, x_sum_sq, xy_sum)`` arrays.

    Example:
        >>> c = ([3], [6.0], [14.0], [6.0], [14.0], [14.0])
        >>> compare_cuped_arrays(c, c).test
        ('cuped_welch_t',)
    """
    if len(control) != 6 or len(treatment) != 6:
        raise StatsError("CUPED arrays: expected 6 arrays per arm (n and five sums)")
    est = cuped_estimates(*control, *treatment)
    return infer(
        est,
        method=method,
        alpha=alpha,
        alternative=alternative,
        prior=prior,
        sequential_tuning=sequential_tuning,
    )


def compare_ratio_arrays(
    control: Sequence[npt.ArrayLike],
    treatment: Sequence[npt.ArrayLike],
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
    method: Method = "frequentist",
    prior: NormalPrior | None = None,
    sequential_tuning: float = DEFAULT_TUNING,
) -> ComparisonArrays:
    """Ratio comparisons; each arm is ``(n, num_sum, num_sum_sq, den_sum, den_sum_sq,
    num_den_sum)`` arrays.

    Example:
        >>> c = ([2], [4.0], [10.0], [2.0], [2.0], [4.0])
        >>> float(compare_ratio_arrays(c, c).abs_lift[0])
        0.0
    """
    if len(control) != 6 or len(treatment) != 6:
        raise StatsError("ratio arrays: expected 6 arrays per arm (n and five sums)")
    est = ratio_estimates(*control, *treatment)
    return infer(
        est,
        method=method,
        alpha=alpha,
        alternative=alternative,
        prior=prior,
        sequential_tuning=sequential_tuning,
    )


_FIELDS: dict[type, tuple[str, ...]] = {
    ProportionStats: ("n", "conversions"),
    MeanStats: ("n", "sum", "sum_sq"),
    CupedStats: ("n", "y_sum", "y_sum_sq", "x_sum", "x_sum_sq", "xy_sum"),
    RatioStats: ("n", "num_sum", "num_sum_sq", "den_sum", "den_sum_sq", "num_den_sum"),
}


def _columns(cells: Sequence[object], kind: type) -> list[npt.NDArray[Any]]:
    return [np.array([getattr(c, f) for c in cells]) for f in _FIELDS[kind]]


def compare_cells(
    controls: Sequence[ProportionStats | MeanStats | CupedStats | RatioStats],
    treatments: Sequence[ProportionStats | MeanStats | CupedStats | RatioStats],
    *,
    method: Method = "frequentist",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    prior: Prior = None,
    sequential_tuning: float = DEFAULT_TUNING,
    fisher_fallback: bool = True,
) -> ComparisonArrays:
    """Compare many (control, treatment) pairs of the same statistics type in one pass.

    Example:
        >>> r = compare_cells([ProportionStats(100, 10)] * 2, [ProportionStats(100, 20)] * 2)
        >>> len(r)
        2
    """
    if len(controls) != len(treatments):
        raise StatsError(
            f"compare_cells: found {len(controls)} controls and {len(treatments)} treatments, "
            "expected one treatment per control"
        )
    if not controls:
        raise StatsError("compare_cells: found no cells, expected at least one")
    kind = type(controls[0])
    if kind not in _FIELDS or any(type(c) is not kind for c in (*controls, *treatments)):
        raise StatsError(
            "compare_cells: found mixed or unknown statistics types, expected all "
            "ProportionStats, MeanStats, CupedStats or RatioStats"
        )
    ctl, trt = _columns(controls, kind), _columns(treatments, kind)
    if kind is ProportionStats:
        nc, xc = ctl
        nt, xt = trt
        return compare_proportions_arrays(
            nc,
            xc,
            nt,
            xt,
            alpha,
            alternative=alternative,
            method=method,
            prior=prior,
            sequential_tuning=sequential_tuning,
            fisher_fallback=fisher_fallback,
        )
    if prior is not None and not isinstance(prior, NormalPrior):
        raise StatsError(
            f"prior: found {type(prior).__name__} for a non-binary metric, expected NormalPrior"
        )
    if kind is MeanStats:
        est = mean_estimates(*ctl, *trt)
    elif kind is CupedStats:
        est = cuped_estimates(*ctl, *trt)
    else:
        est = ratio_estimates(*ctl, *trt)
    return infer(
        est,
        method=method,
        alpha=alpha,
        alternative=alternative,
        prior=prior,
        sequential_tuning=sequential_tuning,
    )
