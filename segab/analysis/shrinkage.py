"""Empirical-Bayes shrinkage of the declared cells' lifts, for ``analysis.shrinkage: eb``.

Every declared cell's comparison of a variant with its control is one member;
for each metric, the members of a *group* borrow strength from each other
(:func:`segab.stats.shrink`: REML between-cell variance, random-effects centre,
AKP's finite-sample correction, robust EB intervals at the analysis ``alpha``,
corrected for the estimation of the between-cell variance: ``interval="ucb"``, the
decision study's ``eb_grid_ucb``, the variant whose coverage held in every world).
``shrinkage_groups`` sets the groups: ``grid`` (every cell and variant of the
metric together, whatever the variant: the decision study's ``eb_grid``),
``stage`` (the cells of one stage: ``eb_stage``) or ``variant`` (the cells that
test the same variant against the same control). Only the declared cells' rows
take part (not ``--by`` breakdowns, not pooled rows: the pooled estimate is
unchanged by shrinkage). Variants sharing a control have correlated errors,
which the model treats as independent.
A cell whose lift or standard error is undefined, or whose cell fails the SRM
check, stays out of its family, with a warning; a group of fewer than 5 cells
is not shrunk (raw estimate, normal interval, a warning) and its rows keep the
raw decision.

Example:
    >>> items = [CellLift(i, "conv", "a", "b", f"s{i}", "buy", lift, 0.03)
    ...          for i, lift in enumerate([0.10, 0.02, -0.03, 0.05, 0.00])]
    >>> shrunk, block = shrink_cells(items, groups_by="grid", alpha=0.05)
    >>> round(shrunk[0].estimate, 4), shrunk[0].applied, block["families"][0]["k"]
    (0.0738, True, 5)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segab.stats.result import json_ready

if TYPE_CHECKING:  # the estimator (SciPy's optimiser) loads only when shrinkage runs
    from segab.stats.shrinkage import Center, FsCorrection, IntervalMethod, Tau2Method

__all__ = ["SHRINK_KEYS", "CellLift", "ShrunkLift", "shrink_cells", "shrinkage_summary"]

# the row keys added when analysis.shrinkage is eb (docs/statistics.md)
SHRINK_KEYS = (
    "shrunk_abs_lift",
    "shrunk_ci_low",
    "shrunk_ci_high",
    "shrinkage_weight",
    "decision_basis",
)
MIN_CELLS = 5
TAU2_METHOD: Tau2Method = "reml"
CENTER: Center = "random_effects"
FS_CORRECTION: FsCorrection = "pmt"
# the plug-in intervals under-cover with few cells (docs/statistics.md, the decision study:
# 0.927 at 16 cells); the Q-profile bound on the variance restores the coverage
INTERVAL: IntervalMethod = "ucb"


@dataclass(frozen=True)
class CellLift:
    """One declared cell's comparison as shrinkage sees it: the absolute lift and its error.

    ``key`` identifies the row for the caller; ``srm_flagged`` keeps the cell out.

    Example:
        >>> CellLift(0, "conv", "a", "b", "young", "buy", 0.01, 0.004).metric
        'conv'
    """

    key: Hashable
    metric: str
    control: str
    variant: str
    segment: str | None
    stage: str | None
    abs_lift: float
    abs_se: float | None
    srm_flagged: bool = False


@dataclass(frozen=True)
class ShrunkLift:
    """A cell's shrunk absolute lift and robust EB interval (``applied``: its group was shrunk).

    Example:
        >>> s = ShrunkLift(0.012, 0.002, 0.022, 0.6, "all", True)
        >>> s.excludes_zero, s.to_dict()["decision_basis"]
        (True, 'eb')
    """

    estimate: float
    ci_low: float
    ci_high: float
    weight: float
    group: str
    applied: bool

    @property
    def excludes_zero(self) -> bool:
        """Whether the robust EB interval lies wholly on one side of 0 (NaN: never).

        Example:
            >>> ShrunkLift(0.01, -0.001, 0.02, 0.5, "all", True).excludes_zero
            False
        """
        lo, hi = self.ci_low, self.ci_high
        return math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)

    def to_dict(self) -> dict[str, Any]:
        """The row keys :data:`SHRINK_KEYS` (NaN → ``None``).

        Example:
            >>> sorted(ShrunkLift(0.0, -1.0, 1.0, 1.0, "all", False).to_dict()) == sorted(
            ...     SHRINK_KEYS)
            True
        """
        out = {
            "shrunk_abs_lift": self.estimate,
            "shrunk_ci_low": self.ci_low,
            "shrunk_ci_high": self.ci_high,
            "shrinkage_weight": self.weight,
            "decision_basis": "eb" if self.applied else "raw",
        }
        return dict(json_ready(out))


def _usable(item: CellLift) -> str | None:
    """Why a cell stays out of its family, or ``None``."""
    if item.srm_flagged:
        return "its cell fails the sample-ratio check"
    se = item.abs_se
    if not math.isfinite(item.abs_lift) or se is None or not (math.isfinite(se) and se > 0):
        return "its lift or standard error is undefined"
    return None


def _where(item: CellLift) -> str:
    return f"({item.segment}, {item.stage}) {item.variant} vs {item.control}"


def _label(item: CellLift, groups_by: str) -> str:
    if groups_by == "stage":
        return str(item.stage)
    if groups_by == "variant":
        return f"{item.variant} vs {item.control}"
    return "all"


def shrink_cells(
    items: Sequence[CellLift], *, groups_by: str, alpha: float
) -> tuple[dict[Hashable, ShrunkLift], dict[str, Any]]:
    """Shrink each family's cells; the per-row results by key and the JSON ``shrinkage`` block.

    ``groups_by`` is ``"grid"``, ``"stage"`` or ``"variant"``. The block names the
    estimator and lists, per metric and group, its cells, the centre, ``tau2`` (after
    the finite-sample correction and before it), the kurtosis and whether it was shrunk.

    Example:
        >>> one = [CellLift("r", "conv", "a", "b", "all", "buy", 0.02, 0.01)]
        >>> shrunk, block = shrink_cells(one, groups_by="grid", alpha=0.05)
        >>> shrunk["r"].estimate, shrunk["r"].applied, "fewer than 5" in block["warnings"][0]
        (0.02, False, True)
    """
    families: dict[str, list[CellLift]] = defaultdict(list)
    for item in items:
        families[item.metric].append(item)
    out: dict[Hashable, ShrunkLift] = {}
    summaries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for metric, members in families.items():
        kept = []
        for item in members:
            why = _usable(item)
            if why is None:
                kept.append(item)
            else:
                warnings.append(f"{metric}: {_where(item)} not shrunk: {why}")
        if not kept:
            continue
        labels = [_label(i, groups_by) for i in kept]
        from segab.stats.shrinkage import shrink

        r = shrink(
            [i.abs_lift for i in kept],
            [float(i.abs_se or math.nan) for i in kept],
            labels,
            tau2_method=TAU2_METHOD,
            center=CENTER,
            fs_correction=FS_CORRECTION,
            alpha=alpha,
            min_cells=MIN_CELLS,
            interval=INTERVAL,
        )
        applied = {g.label: g.shrunk for g in r.groups}
        for j, item in enumerate(kept):
            out[item.key] = ShrunkLift(
                r.posterior_means[j],
                r.ci_low[j],
                r.ci_high[j],
                r.weights[j],
                labels[j],
                applied[labels[j]],
            )
        for g in r.groups:
            cells = [_where(i) for i, lab in zip(kept, labels, strict=True) if lab == g.label]
            summaries.append({"metric": metric, **g.to_dict(), "cells": cells})
        warnings.extend(f"{metric}: {w}" for w in r.warnings)
    block: dict[str, Any] = {
        "method": "eb",
        "groups": groups_by,
        "tau2_method": TAU2_METHOD,
        "center": CENTER,
        "fs_correction": FS_CORRECTION,
        "interval": "robust_ebci_ucb",
        "alpha": alpha,
        "min_cells": MIN_CELLS,
        "families": summaries,
        "warnings": warnings,
    }
    return out, dict(json_ready(block))


def shrinkage_summary(block: Mapping[str, Any]) -> str:
    """One line for the table's notes: estimator, groups and the number of shrunk groups.

    Example:
        >>> shrinkage_summary({"groups": "grid", "tau2_method": "reml", "families": []})
        'empirical-Bayes shrinkage over the grid (REML, robust EB intervals): 0 of 0 groups shrunk'
    """
    fams = list(block.get("families", ()))
    done = sum(1 for f in fams if f.get("shrunk"))
    over = {"grid": "the grid", "stage": "each stage"}.get(str(block.get("groups")), "each variant")
    return (
        f"empirical-Bayes shrinkage over {over} ({str(block.get('tau2_method')).upper()}, "
        f"robust EB intervals): {done} of {len(fams)} groups shrunk"
    )
