"""Empirical-Bayes shrinkage of cell effects, with robust EB confidence intervals.

Each cell ``i`` has an estimate ``y_i`` (say, treatment − control) with standard
error ``σ_i``. The normal-normal model: ``y_i ~ N(θ_i, σ_i²)`` and, inside a group
of cells (a stage, or the whole grid), ``θ_i`` varies around a mean ``μ`` with
variance ``τ²``. The posterior mean is ``θ̂_i = μ̂ + w_i(y_i − μ̂)`` with the
shrinkage weight ``w_i = τ̂²/(τ̂² + σ_i²)`` (1: no shrinkage, 0: all the way to
the mean): noisy cells move most.

**Between-cell variance** (``tau2_method``, named in the result):

- ``"reml"``: restricted maximum likelihood of ``y_i ~ N(μ, σ_i² + τ²)``
  (Fisher scoring, as in metafor's ``rma(method="REML")``), ``τ² ≥ 0``;
- ``"moments"``: method of moments, ``Q_ω = Σω_i(y_i − ȳ_ω)²`` equated to its
  expectation (DerSimonian and Kacker 2007); with ``ω = 1/σ²`` this is
  DerSimonian–Laird, with ``ω = 1`` and equal errors it is
  ``Σ(y − ȳ)²/(k − 1) − σ²``;
- ``"akp"``: Armstrong, Kolesár and Plagborg-Møller's moment estimator
  ``Σω_i(ε̂_i² − σ_i²)/Σω_i`` (no degrees-of-freedom correction), as their R
  package ``ebci`` computes it.

**Mean** (``center``): ``"random_effects"`` weighs cells by their marginal
precision ``1/(σ_i² + τ̂²)``; with it the inverse-variance pooled estimate
``Σ(θ̂_i/σ_i²)/Σ(1/σ_i²)`` of the shrunk effects equals that of the raw ones
(because ``w_i/σ_i² = 1/σ_i² − 1/(σ_i² + τ²)``), so shrinkage moves cells, not
the overall effect. ``"inverse_variance"`` (``1/σ_i²``) and ``"simple"`` (equal)
are the alternatives (``"simple"`` also makes the moment weights ``ω`` equal,
which are otherwise ``1/σ_i²``).

**Robust EB intervals** (Armstrong, Kolesár and Plagborg-Møller, Econometrica
2022): ``θ̂_i ± cva_α(σ_i²/μ₂, κ)·w_i·σ_i`` with :func:`ebci_critical_value`;
``μ₂ = τ̂²`` and the kurtosis ``κ = μ̃₄/μ₂²``, ``μ̃₄ = Σω(ε̂⁴ − 6σ²ε̂² + 3σ⁴)/Σω``.
Their finite-sample correction ``fs_correction="pmt"`` (posterior mean
truncation, as AKP and their R package define it) floors ``μ₂`` at ``2Σω²σ⁴/(Σω·Σωσ²)`` and ``κ`` at
``1 + 32Σω²σ⁸/(Σω·Σωσ⁴)/μ₂²``, so a group is never shrunk all the way to its
mean; ``"none"`` truncates at 0 and 1 (an estimate of 0 leaves the intervals
undefined). Coverage is on average over the cells of a group, not cell by cell.

**Finite-sample correction of the intervals** (``interval="ucb"``; the default
``"plugin"`` is AKP's interval above): ``μ₂`` is replaced, for the intervals
only, by its Q-profile upper confidence bound ``μ₂ᵁ`` at level ``1 − β``
(:func:`segab.stats.tau2_bounds.tau2_upper_bound`, never below the estimate),
and the critical values are taken at level ``α − β`` (``β = α/10`` by default):
``c_i ± cva_{α−β}(σ_i²/μ₂ᵁ, κ)·wᵁ_i·σ_i`` with ``wᵁ_i = μ₂ᵁ/(μ₂ᵁ + σ_i²)`` and
centre ``c_i = μ̂ + wᵁ_i(y_i − μ̂)``. For any fixed ``v ≥ μ₂`` the normalised
bias of the ``v``-shrunk estimate, ``−(σ/v)(θ − μ)``, has second moment
``σ²μ₂/v² ≤ σ²/v`` and the kurtosis of the effects, so (``r`` increasing in
``t = b²``; scale ``t`` up to mean ``σ²/v``) its average non-coverage is at most
``ρ(σ²/v, κ, χ)``: the interval is valid at ``α − β`` whenever ``μ₂ᵁ ≥ μ₂``, which
fails with probability ``β``. The point estimates (``posterior_means``) stay the
MSE-oriented ones; ``ci_centers`` and ``ci_weights`` give the intervals' own.

A group with fewer than ``min_cells`` cells (default 5) is not shrunk: its
posterior means are the raw estimates and its intervals the normal ones, with a
warning. One cell alone is always unchanged.

Example:
    >>> r = shrink([0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5, tau2_method="moments")
    >>> [round(v, 6) for v in r.posterior_means]
    [0.073765, 0.022915, -0.008866, 0.041984, 0.010202]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from segab.errors import StatsError
from segab.stats.cell_inputs import checked_cells
from segab.stats.ebci import ebci_critical_value, ebci_parametric_critical_value
from segab.stats.result import json_ready
from segab.stats.tau2_bounds import tau2_upper_bound

__all__ = [
    "Center",
    "FsCorrection",
    "IntervalMethod",
    "ShrinkageGroup",
    "ShrinkageResult",
    "Tau2Method",
    "restricted_log_likelihood",
    "shrink",
    "tau2_estimate",
]

Tau2Method = Literal["reml", "moments", "akp"]
IntervalMethod = Literal["plugin", "ucb"]
Center = Literal["random_effects", "inverse_variance", "simple"]
FsCorrection = Literal["pmt", "none"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShrinkageGroup:
    """What was estimated for one group of cells.

    ``tau2`` is the between-cell variance used (``μ₂``, after the finite-sample
    correction), ``tau2_uncorrected`` the estimator's value before it (the
    moment estimators can be negative). ``kappa`` is the kurtosis used by the
    robust intervals. ``shrunk`` is False for a group left alone (too few cells).
    ``tau2_upper`` is the ``μ₂ᵁ`` the intervals use with ``interval="ucb"``
    (``tau2`` with ``"plugin"``).

    Example:
        >>> g = ShrinkageGroup("all", 5, 0.028, 0.00157, 0.00157, 1.5, 1.2, True)
        >>> g.to_dict()["k"]
        5
    """

    label: str
    k: int
    mean: float
    tau2: float
    tau2_uncorrected: float
    kappa: float
    kappa_uncorrected: float
    shrunk: bool
    tau2_upper: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> ShrinkageGroup("s", 1, 0.0, math.nan, math.nan, math.nan, math.nan, False
            ...                ).to_dict()["tau2"] is None
            True
        """
        return dict(json_ready(asdict(self)))


@dataclass(frozen=True)
class ShrinkageResult:
    """Raw and shrunk cell effects with robust EB intervals, in input order.

    ``weights`` are the shrinkage weights ``w_i`` (1 = unchanged),
    ``m2`` the second moments ``σ_i²/μ₂`` of the normalised bias and
    ``critical_values`` the ``cva_α(m2_i, κ)`` of the robust intervals
    ``posterior_means ± critical_values·weights·std_errors``;
    ``parametric_ci_*`` is the interval under normal effects (``± z√w σ``).
    With ``interval_method="ucb"`` the intervals are
    ``ci_centers ± critical_values·ci_weights·std_errors`` at level
    ``interval_alpha = α − β``, ``m2 = σ²/μ₂ᵁ`` (with ``"plugin"``: the posterior
    means, the weights and ``α``).

    Example:
        >>> r = shrink([0.1, 0.0, 0.05, 0.02, -0.01], [0.02] * 5)
        >>> r.tau2_method, r.groups[0].k, len(r.to_dict()["posterior_means"])
        ('reml', 5, 5)
    """

    estimates: tuple[float, ...]
    std_errors: tuple[float, ...]
    group_labels: tuple[str, ...]
    posterior_means: tuple[float, ...]
    weights: tuple[float, ...]
    m2: tuple[float, ...]
    critical_values: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    parametric_ci_low: tuple[float, ...]
    parametric_ci_high: tuple[float, ...]
    groups: tuple[ShrinkageGroup, ...]
    tau2_method: str
    center: str
    fs_correction: str
    alpha: float
    warnings: tuple[str, ...] = ()
    interval_method: str = "plugin"
    interval_alpha: float = math.nan
    ci_centers: tuple[float, ...] = ()
    ci_weights: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → ``None``).

        Example:
            >>> shrink([0.1], [0.02]).to_dict()["weights"]
            [1.0]
        """
        return dict(json_ready(asdict(self)))


def restricted_log_likelihood(tau2: float, estimates: FloatArray, variances: FloatArray) -> float:
    """REML log-likelihood of ``y_i ~ N(μ, σ_i² + τ²)`` (μ integrated out), up to a constant.

    ``−½[Σ log v_i + log Σ 1/v_i + Σ (y_i − μ̂)²/v_i]`` with ``v_i = σ_i² + τ²``
    and ``μ̂`` the ``1/v``-weighted mean (Harville 1977).

    Example:
        >>> y, v = np.array([0.1, 0.0, 0.05]), np.array([1e-3] * 3)
        >>> restricted_log_likelihood(0.001, y, v) > restricted_log_likelihood(0.5, y, v)
        True
    """
    v = variances + tau2
    w = 1.0 / v
    mu = float(np.sum(w * estimates) / np.sum(w))
    return -0.5 * float(
        np.sum(np.log(v)) + math.log(float(np.sum(w))) + np.sum(w * (estimates - mu) ** 2)
    )


def _reml(y: FloatArray, var: FloatArray, start: float) -> float:
    """Fisher scoring on the REML likelihood from ``start``, with step halving, ``τ² ≥ 0``."""
    tau2 = max(start, 0.0)
    ll = restricted_log_likelihood(tau2, y, var)
    for _ in range(200):
        w = 1.0 / (var + tau2)
        sw = float(np.sum(w))
        mu = float(np.sum(w * y) / sw)
        score = float(np.sum(w * w * (y - mu) ** 2)) - (sw - float(np.sum(w * w)) / sw)
        info = (
            float(np.sum(w * w)) - 2 * float(np.sum(w**3)) / sw + (float(np.sum(w * w)) / sw) ** 2
        )
        step = score / info if info > 0 else 0.0
        new = max(tau2 + step, 0.0)
        new_ll = restricted_log_likelihood(new, y, var)
        halvings = 0
        while new_ll < ll - 1e-15 * abs(ll) and halvings < 60:
            step /= 2.0
            new = max(tau2 + step, 0.0)
            new_ll = restricted_log_likelihood(new, y, var)
            halvings += 1
        converged = abs(new - tau2) <= 1e-12 * max(1.0, tau2) + 1e-16 * float(np.max(var))
        tau2, ll = new, new_ll
        if converged:
            break
    return tau2


def _omega(var: FloatArray, center: str) -> FloatArray:
    return np.ones_like(var) if center == "simple" else 1.0 / var


def tau2_estimate(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray,
    method: Tau2Method = "reml",
    center: Center = "random_effects",
) -> float:
    """The between-cell variance ``τ²`` of one group, before any truncation.

    ``"moments"`` and ``"akp"`` can be negative (the result then truncates);
    ``"reml"`` is the maximiser over ``τ² ≥ 0``. ``center`` sets the moment
    weights ``ω`` (``1`` for ``"simple"``, ``1/σ²`` otherwise).

    Example:
        >>> round(tau2_estimate([0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5, "moments"), 6)
        0.00157
    """
    y = np.asarray(estimates, dtype=np.float64)
    var = np.asarray(std_errors, dtype=np.float64) ** 2
    if y.shape != var.shape or y.ndim != 1:
        raise StatsError(
            f"tau2_estimate: found {y.shape} estimates and {var.shape} standard errors, "
            "expected two vectors of one length"
        )
    k = y.shape[0]
    if k < 2:
        return math.nan
    om = _omega(var, center)
    so = float(np.sum(om))
    ybar = float(np.sum(om * y) / so)
    if method == "akp":
        return float(np.sum(om * ((y - ybar) ** 2 - var)) / so)
    q = float(np.sum(om * (y - ybar) ** 2))
    expected_noise = float(np.sum(om * var)) - float(np.sum(om * om * var)) / so
    mom = (q - expected_noise) / (so - float(np.sum(om * om)) / so)
    if method == "moments":
        return mom
    if method == "reml":
        return _reml(y, var, mom)
    raise StatsError(f"tau2_method: found {method!r}, expected 'reml', 'moments' or 'akp'")


def _group(
    y: FloatArray,
    se: FloatArray,
    method: Tau2Method,
    center: Center,
    fs: FsCorrection,
    kappa: float | None,
) -> tuple[float, float, float, float, float]:
    """``(mean, μ₂, μ₂ uncorrected, κ, κ uncorrected)`` of one group (k ≥ 2)."""
    var = se * se
    raw = tau2_estimate(y, se, method, center)
    om = _omega(var, center)
    so = float(np.sum(om))
    if fs == "pmt":
        mu2 = max(raw, 2.0 * float(np.sum(om * om * var * var)) / (so * float(np.sum(om * var))))
    else:
        mu2 = max(raw, 0.0)
    wts = 1.0 / (var + mu2) if center == "random_effects" else om
    mean = float(np.sum(wts * y) / np.sum(wts))
    eps = y - mean
    mu4 = float(np.sum(om * (eps**4 - 6 * var * eps**2 + 3 * var * var)) / so)
    kappa_raw = mu4 / raw**2 if raw != 0 else math.nan
    if kappa is not None:
        k_used = float(kappa)
    elif mu2 <= 0:
        k_used = math.nan
    elif fs == "pmt":
        floor = 32.0 * float(np.sum(om * om * var**4)) / (so * float(np.sum(om * var * var)))
        k_used = max(mu4 / mu2**2, 1.0 + floor / mu2**2)
    else:
        k_used = max(mu4 / mu2**2, 1.0)
    return mean, mu2, raw, k_used, kappa_raw


def shrink(
    estimates: Sequence[float] | FloatArray,
    std_errors: Sequence[float] | FloatArray,
    groups: Sequence[Hashable] | None = None,
    *,
    tau2_method: Tau2Method = "reml",
    center: Center = "random_effects",
    fs_correction: FsCorrection = "pmt",
    kappa: float | None = None,
    alpha: float = 0.05,
    min_cells: int = 5,
    intervals: bool = True,
    interval: IntervalMethod = "plugin",
    beta: float | None = None,
) -> ShrinkageResult:
    """Shrink cell effects towards their group's mean; robust EB intervals for each cell.

    ``groups`` gives each cell's group label (say, its stage); ``None`` puts all
    cells in one group (the whole grid). ``kappa=None`` estimates the kurtosis
    per group; ``math.inf`` uses the second-moment-only intervals.
    ``intervals=False`` skips the critical values (NaN), e.g. for a simulation
    that tabulates them. ``interval="ucb"`` corrects the intervals for the
    estimation of ``μ₂`` (module docstring): ``μ₂ᵁ`` at level ``1 − β``
    (``beta=None``: ``α/10``), critical values at ``α − β``.

    Example:
        >>> r = shrink([0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5,
        ...            tau2_method="moments", fs_correction="none")
        >>> round(r.weights[0], 6), round(r.groups[0].tau2, 5)
        (0.635628, 0.00157)
        >>> shrink([0.1, 0.2], [0.05, 0.05]).warnings[0][:34]
        "group 'all': 2 cell(s), fewer than"
        >>> y, se = [0.10, 0.02, -0.03, 0.05, 0.00], [0.03] * 5
        >>> u = shrink(y, se, interval="ucb")
        >>> u.posterior_means == shrink(y, se).posterior_means, round(u.interval_alpha, 6)
        (True, 0.045)
    """
    y, se = checked_cells(estimates, std_errors, "shrink")
    if not 0 < alpha < 1:
        raise StatsError(f"alpha: found {alpha}, expected a level in (0, 1)")
    if kappa is not None and not kappa >= 1:
        raise StatsError(f"kappa: found {kappa}, expected a kurtosis >= 1, inf or None")
    if center not in ("random_effects", "inverse_variance", "simple"):
        raise StatsError(
            f"center: found {center!r}, expected 'random_effects', 'inverse_variance' or 'simple'"
        )
    if interval not in ("plugin", "ucb"):
        raise StatsError(f"interval: found {interval!r}, expected 'plugin' or 'ucb'")
    b = alpha / 10 if beta is None else beta
    if interval == "ucb" and not 0 < b < alpha:
        raise StatsError(f"beta: found {b}, expected a level in (0, alpha)")
    a_ci = alpha - b if interval == "ucb" else alpha
    if fs_correction not in ("pmt", "none"):
        raise StatsError(f"fs_correction: found {fs_correction!r}, expected 'pmt' or 'none'")
    labels = ["all"] * y.size if groups is None else [str(g) for g in groups]
    if len(labels) != y.size:
        raise StatsError(
            f"groups: found {len(labels)} labels for {y.size} cells, expected one each"
        )
    n = y.size
    post, w, m2, cv = y.copy(), np.ones(n), np.zeros(n), np.full(n, math.nan)
    centers, w_ci = y.copy(), np.ones(n)
    z = float(special.ndtri(1 - alpha / 2))
    lo, hi = y - z * se, y + z * se
    p_lo, p_hi = lo.copy(), hi.copy()
    warnings: list[str] = []
    summaries: list[ShrinkageGroup] = []
    nan = math.nan
    for label in dict.fromkeys(labels):
        idx = np.array([i for i, g in enumerate(labels) if g == label])
        gy, gse = y[idx], se[idx]
        k = idx.size
        if k < max(min_cells, 2):
            warnings.append(
                f"group {label!r}: {k} cell(s), fewer than {max(min_cells, 2)}: "
                "not shrunk (raw estimates and normal intervals)"
            )
            summaries.append(ShrinkageGroup(label, k, nan, nan, nan, nan, nan, False))
            cv[idx] = z
            continue
        mean, mu2, raw, kap, kap_raw = _group(gy, gse, tau2_method, center, fs_correction, kappa)
        mu2_ci = mu2
        if interval == "ucb" and mu2 > 0:
            mu2_ci = max(mu2, tau2_upper_bound(gy, gse, b))
        summaries.append(
            ShrinkageGroup(label, k, mean, mu2, raw, kap, kap_raw, True, tau2_upper=mu2_ci)
        )
        gw = mu2 / (mu2 + gse * gse)
        w[idx] = gw
        post[idx] = mean + gw * (gy - mean)
        gw_ci = mu2_ci / (mu2_ci + gse * gse)
        w_ci[idx] = gw_ci
        centers[idx] = mean + gw_ci * (gy - mean)
        if mu2 <= 0:
            warnings.append(
                f"group {label!r}: between-cell variance estimated at 0: every cell is shrunk "
                "to the mean and the robust intervals are undefined (fs_correction='pmt' avoids it)"
            )
            m2[idx] = math.inf
            lo[idx] = hi[idx] = p_lo[idx] = p_hi[idx] = nan
            continue
        m2[idx] = gse * gse / mu2_ci
        gm2 = gse * gse / mu2
        half_p = np.array([ebci_parametric_critical_value(m, alpha) for m in gm2]) * gw * gse
        p_lo[idx], p_hi[idx] = post[idx] - half_p, post[idx] + half_p
        if intervals:
            gcv = np.array([ebci_critical_value(float(m), kap, a_ci) for m in m2[idx]])
            cv[idx] = gcv
            half = gcv * gw_ci * gse
            lo[idx], hi[idx] = centers[idx] - half, centers[idx] + half
        else:
            lo[idx] = hi[idx] = nan
    return ShrinkageResult(
        estimates=tuple(y.tolist()),
        std_errors=tuple(se.tolist()),
        group_labels=tuple(labels),
        posterior_means=tuple(post.tolist()),
        weights=tuple(w.tolist()),
        m2=tuple(m2.tolist()),
        critical_values=tuple(cv.tolist()),
        ci_low=tuple(lo.tolist()),
        ci_high=tuple(hi.tolist()),
        parametric_ci_low=tuple(p_lo.tolist()),
        parametric_ci_high=tuple(p_hi.tolist()),
        groups=tuple(summaries),
        tau2_method=tau2_method,
        center=center,
        fs_correction=fs_correction,
        alpha=alpha,
        warnings=tuple(warnings),
        interval_method=interval,
        interval_alpha=a_ci,
        ci_centers=tuple(centers.tolist()),
        ci_weights=tuple(w_ci.tolist()),
    )
