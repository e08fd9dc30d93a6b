"""Post-stratification: a pooled effect as the population-weighted average of strata effects.

Miratrix, Sekhon and Yu (2013), "Adjusting treatment effect estimates by
post-stratification in randomized experiments", JRSS-B 75(2), 369-396. With
strata ``s`` (the cells a pooled row pools), ``n_s`` units in stratum ``s`` (both
arms) and ``w_s = n_s/n``:

* ``Δ̂_PS = Σ_s w_s Δ̂_s`` with ``Δ̂_s`` the stratum's own estimate (difference in
  means, or its regression-adjusted version, :mod:`segab.stats.regression`);
* ``Var(Δ̂_PS | W) = Σ_s w_s² Var(Δ̂_s)``: their variance *conditional on* ``W``,
  the arms' unit counts in each stratum (Section 3 of the paper, the conditional
  variance, with each stratum's ``σ²_s(1)/n_s(1) + σ²_s(0)/n_s(0)`` estimated by
  its Welch (or regression) variance and the unidentifiable treatment-effect
  heterogeneity term dropped, which makes it conservative). Between-strata
  differences in the outcome's level do not enter it: that is the variance it
  removes, compared with pooling the sums;
* the arms' post-stratified means ``Σ_s w_s m_{a,s}`` (variances ``Σ_s w_s² v_{a,s}``)
  give the relative lift by the delta method;
* degrees of freedom: Welch–Satterthwaite over the strata's components.

A stratum where an arm has fewer than 2 units cannot be estimated: it is left
out (its units with it) and the row says so in a warning.

Example:
    >>> from segab.stats.estimates import mean_estimates
    >>> strata = mean_estimates([3, 3], [3.0, 30.0], [5.0, 302.0], [3, 3], [6.0, 33.0],
    ...                         [14.0, 365.0])
    >>> e = post_stratify([strata])
    >>> float(e.abs_lift[0]), e.test
    (1.0, 'post_stratified')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segab.errors import StatsError
from segab.stats.estimates import Estimates, add_warning, relative_delta

__all__ = ["W_STRATA_LEFT_OUT", "post_stratify"]

W_STRATA_LEFT_OUT = "post-stratification: strata with fewer than 2 units in an arm left out"
TEST = "post_stratified"


def _one(e: Estimates) -> tuple[float, ...]:
    """The pooled means, variances, df, strata left out and units kept of one row."""
    nc, nt = e.n_control.astype(np.float64), e.n_treatment.astype(np.float64)
    vc = e.var_control_mean
    vt = e.abs_var - vc
    ac = e.adj_control_mean if e.adj_control_mean is not None else e.control_mean
    at = ac + e.abs_lift
    ok = (e.n_control >= 2) & (e.n_treatment >= 2) & np.isfinite(e.abs_var) & np.isfinite(ac)
    w = np.where(ok, nc + nt, 0.0)
    total = w.sum()
    if total <= 0:
        nan = float("nan")
        return (nan,) * 9 + (float(ok.size - ok.sum()), float(nc.sum()), float(nt.sum()))
    w = w / total

    def wsum(x: np.ndarray) -> float:
        return float(np.sum(np.where(ok, w * x, 0.0)))

    def wsum2(x: np.ndarray) -> float:
        return float(np.sum(np.where(ok, w * w * x, 0.0)))

    mc_raw = wsum(e.control_mean)
    mt_raw = wsum(e.treatment_mean)
    m_c, m_t = wsum(ac), wsum(at)
    v_c, v_t = wsum2(vc), wsum2(vt)
    v = wsum2(e.abs_var)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = np.where(ok, (w * w * e.abs_var) ** 2 / e.df, 0.0)
        df = v * v / float(np.sum(parts)) if np.sum(parts) > 0 else np.inf
    kept_c = float(np.sum(np.where(ok, nc, 0.0)))
    kept_t = float(np.sum(np.where(ok, nt, 0.0)))
    left_out = float(ok.size - ok.sum())
    return (mc_raw, mt_raw, m_c, m_t, v_c, v_t, v, df, 0.0, left_out, kept_c, kept_t)


def post_stratify(strata: Sequence[Estimates], raw_var: Sequence[float] | None = None) -> Estimates:
    """One post-stratified estimate per item of ``strata`` (an :class:`Estimates` over its strata).

    ``raw_var`` (optional, one per item): the variance of the estimate without
    post-stratification, for ``variance_reduction = 1 − Var_PS/raw_var``.

    Example:
        >>> from segab.stats.estimates import proportion_estimates
        >>> s = proportion_estimates([100, 100], [10, 50], [100, 100], [20, 60])
        >>> e = post_stratify([s], raw_var=[0.005])
        >>> round(float(e.abs_lift[0]), 6), round(float(e.abs_var[0]), 8)
        (0.1, 0.00185)
    """
    if not strata:
        raise StatsError("post_stratify: found no pooled rows, expected at least one")
    if raw_var is not None and len(raw_var) != len(strata):
        raise StatsError(
            f"post_stratify: found {len(raw_var)} raw variances for {len(strata)} rows, "
            "expected one per row"
        )
    rows = np.array([_one(e) for e in strata], dtype=np.float64)
    mc, mt, ac, at, vc, vt, var, df, _, left_out, kept_c, kept_t = rows.T
    warnings: list[list[str]] = [[] for _ in strata]
    for i, e in enumerate(strata):
        for w in e.warnings:
            for msg in w:
                if msg not in warnings[i]:
                    warnings[i].append(msg)
    add_warning(warnings, left_out > 0, W_STRATA_LEFT_OUT)
    rel, rel_var = relative_delta(ac, at, vc, vt)
    reduction = None
    if raw_var is not None:
        raw = np.asarray(raw_var, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            reduction = np.where(raw > 0, 1.0 - var / raw, np.nan)
    return Estimates(
        control_mean=mc,
        treatment_mean=mt,
        n_control=kept_c.astype(np.int64),
        n_treatment=kept_t.astype(np.int64),
        abs_lift=at - ac,
        abs_var=var,
        rel_lift=rel,
        rel_var=rel_var,
        var_control_mean=vc,
        df=df,
        test=TEST,
        warnings=warnings,
        variance_reduction=reduction,
        adj_control_mean=ac,
    )
