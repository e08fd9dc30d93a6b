"""The estimate ``segab iterate`` records for a shipped winner, adjusted for its selection.

A cell's shipped variant is the best-looking of its treatments, so its raw lift is
biased upwards (the winner's curse). For each shipped cell this module records,
next to the raw lift and interval:

* with two or more treatments, the **hybrid** estimate and interval of Andrews,
  Kitagawa and McCloskey ("Inference on Winners", QJE 2024;
  :func:`segab.stats.winner_inference`) for the treatment with the largest lift in
  the metric's direction. The treatments share the control, so their lifts are
  correlated: ``Cov(Δ_j, Δ_k) = v_c``, the variance of the control mean. For a
  binary metric ``v_c = p_c(1 − p_c)/n_c``; otherwise the rows carry no control
  variance and ``v_c = mean_j se_j² · (1/n_c) / (1/n_c + 1/n_j)``, exact when the
  arms' variances are equal. Standard errors come from the rows' intervals:
  ``se = (ci_high − ci_low) / (2 z_{1−α/2})``;
* with ``analysis.shrinkage: eb``, the shrunken (empirical-Bayes) lift and its
  robust interval, which account for the choice of a cell among many;
* ``recorded``: which of them the history shows (``hybrid``, else ``eb``, else
  ``raw``: one treatment and no shrinkage leave nothing to adjust for, a
  selection among one).

Example:
    >>> rows = [
    ...     {"segment": "s", "stage": "t", "variant": "b", "control": "a", "n_control": 1000,
    ...      "n_variant": 1000, "control_mean": 0.10, "abs_lift": 0.03,
    ...      "abs_ci_low": 0.003, "abs_ci_high": 0.057, "decision": "ship"},
    ...     {"segment": "s", "stage": "t", "variant": "c", "control": "a", "n_control": 1000,
    ...      "n_variant": 1000, "control_mean": 0.10, "abs_lift": 0.025,
    ...      "abs_ci_low": -0.002, "abs_ci_high": 0.052, "decision": "keep_running"}]
    >>> e = winner_estimate(rows, "b", kind="binary", direction="increase", alpha=0.05)
    >>> e["recorded"], e["raw_abs_lift"], e["adjusted_abs_lift"] < 0.03
    ('hybrid', 0.03, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from segab.stats import winner_inference

__all__ = ["winner_estimate"]


def _se(row: Mapping[str, Any], z: float) -> float | None:
    lo, hi = row.get("abs_ci_low"), row.get("abs_ci_high")
    if lo is None or hi is None:
        return None
    se = (float(hi) - float(lo)) / (2 * z)
    return se if math.isfinite(se) and se > 0 else None


def _control_variance(rows: Sequence[Mapping[str, Any]], ses: Sequence[float], kind: str) -> float:
    n_c = float(rows[0]["n_control"])
    p = rows[0].get("control_mean")
    if kind == "binary" and p is not None and 0 < float(p) < 1:
        return float(p) * (1 - float(p)) / n_c
    shares = [(1 / n_c) / (1 / n_c + 1 / float(r["n_variant"])) for r in rows]
    return sum(se * se * s for se, s in zip(ses, shares, strict=True)) / len(rows)


def winner_estimate(
    rows: Sequence[Mapping[str, Any]],
    shipped: str,
    *,
    kind: str,
    direction: str,
    alpha: float,
) -> dict[str, Any]:
    """The selection-adjusted record of a cell's shipped variant (rules in the module doc).

    ``rows`` are the cell's primary-metric rows, one per treatment (analysis JSON
    rows: ``variant``, ``n_control``, ``n_variant``, ``control_mean``, ``abs_lift``,
    ``abs_ci_low``, ``abs_ci_high`` and, with shrinkage, ``shrunk_*``).

    Example:
        >>> row = {"variant": "b", "n_control": 500, "n_variant": 500, "control_mean": 2.0,
        ...        "abs_lift": 0.4, "abs_ci_low": 0.1, "abs_ci_high": 0.7}
        >>> e = winner_estimate([row], "b", kind="continuous", direction="increase", alpha=0.05)
        >>> e["recorded"], e["adjusted_abs_lift"], e["note"]
        ('raw', 0.4, 'one treatment and no shrinkage: nothing to adjust for')
    """
    by_variant = {str(r["variant"]): r for r in rows}
    row = by_variant[shipped]
    out: dict[str, Any] = {
        "variant": shipped,
        "raw_abs_lift": row.get("abs_lift"),
        "raw_ci_low": row.get("abs_ci_low"),
        "raw_ci_high": row.get("abs_ci_high"),
        "treatments": len(rows),
    }
    z = float(sps.norm.ppf(1 - alpha / 2))
    usable = [r for r in rows if r.get("abs_lift") is not None and _se(r, z) is not None]
    recorded, note = "raw", "one treatment and no shrinkage: nothing to adjust for"
    if len(rows) >= 2:
        note = "a treatment's interval is missing: no selection adjustment"
    if len(rows) >= 2 and len(usable) == len(rows):
        sign = 1.0 if direction == "increase" else -1.0
        ses = [_se(r, z) or 0.0 for r in usable]
        v_c = _control_variance(usable, ses, kind)
        cov = [
            [(ses[i] ** 2 if i == j else min(v_c, ses[i] * ses[j])) for j in range(len(ses))]
            for i in range(len(ses))
        ]
        est = [sign * float(r["abs_lift"]) for r in usable]
        w = winner_inference(est, cov=np.array(cov), alpha=alpha)
        if str(usable[w.winner]["variant"]) == shipped:
            lo, hi = sorted((sign * w.hybrid_ci_low, sign * w.hybrid_ci_high))
            out.update(
                adjusted_abs_lift=sign * w.hybrid_estimate,
                adjusted_ci_low=lo,
                adjusted_ci_high=hi,
                method="akm_hybrid",
            )
            recorded, note = "hybrid", "the best of several treatments: AKM hybrid interval"
        else:
            note = "the shipped variant is not the largest lift: no selection adjustment"
    if row.get("shrunk_abs_lift") is not None:
        out.update(
            eb_abs_lift=row["shrunk_abs_lift"],
            eb_ci_low=row.get("shrunk_ci_low"),
            eb_ci_high=row.get("shrunk_ci_high"),
        )
    if recorded == "raw" and row.get("shrunk_abs_lift") is not None:
        out.update(
            adjusted_abs_lift=row["shrunk_abs_lift"],
            adjusted_ci_low=row.get("shrunk_ci_low"),
            adjusted_ci_high=row.get("shrunk_ci_high"),
            method="robust_eb",
        )
        recorded, note = "eb", "shrunken toward the other cells (robust EB interval)"
    if recorded == "raw":
        out.update(
            adjusted_abs_lift=row.get("abs_lift"),
            adjusted_ci_low=row.get("abs_ci_low"),
            adjusted_ci_high=row.get("abs_ci_high"),
            method="raw",
        )
    out["recorded"] = recorded
    out["note"] = note
    return out
