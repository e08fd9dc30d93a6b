"""One bandit cell's next layout from its per-period sums (the pure core of ``segab allocate``).

For each bandit cell (:func:`segab.config.bandit_cells`), :func:`update_cell`:

1. **Burn-in**: while an arm has fewer than ``burn_in`` units (over all periods), or
   no period yet has 2 units or more in every arm, the cell keeps its current layout
   (status ``burn_in``).
2. **Posterior**: each arm's period-weighted mean and variance
   (:func:`segab.stats.adaptive.period_weighted_arms`: a normal posterior that a
   drifting baseline does not bias; the design of docs/statistics.md, "Bandits per
   cell"), then :func:`segab.stats.bandit.allocate` with the cell's floor, uniform
   slice (split at the declared weights: the slice buckets never change), top-two
   option and a seed recorded in the period's summary.
3. **Graduation** (:func:`segab.stats.bandit.graduation` over the posterior summaries
   of the recorded periods and this update): a cell that graduated at an earlier
   update keeps its layout (status ``graduated``) until ``segab iterate`` ships its
   leading arm; one that graduates now gets the new layout and the same status.

Example:
    >>> from segab.config import AllocationSettings
    >>> from segab.allocation_types import CellAllocation
    >>> from segab.stats.sufficient import ProportionStats as P
    >>> now = CellAllocation("all", "buy", ("a", "b"), (500, 500), (4500, 4500))
    >>> u = update_cell(now, [[P(400, 40)], [P(400, 80)]], AllocationSettings(mode="bandit"),
    ...                 (0.5, 0.5), seed=1, history=())
    >>> u.status, u.layout.slice_buckets, u.layout.adaptive_buckets[1] > 8000
    ('updated', (500, 500), True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from segab.allocation_types import AllocationPeriod, CellAllocation
from segab.config import AllocationSettings
from segab.errors import LifecycleError, StatsError
from segab.stats.adaptive import period_weighted_arms
from segab.stats.bandit import allocate, graduation
from segab.stats.best_arm import BestArm
from segab.stats.result import json_ready
from segab.stats.sufficient import MeanStats, ProportionStats

__all__ = [
    "CellUpdate",
    "best_arm_history",
    "cell_seed",
    "update_cell",
]

PeriodStats = ProportionStats | MeanStats


def cell_seed(base: int | str, number: int, segment: str, stage: str) -> int:
    """The recorded Monte Carlo seed of one cell's update: fixed by the config's seed
    (``allocation.seed``, else the experiment's seed), the period number and the cell.

    Example:
        >>> cell_seed(7, 1, "all", "buy") == cell_seed(7, 1, "all", "buy")
        True
        >>> cell_seed(7, 1, "all", "buy") != cell_seed(7, 2, "all", "buy")
        True
    """
    text = f"segab-allocate|{base}|{number}|{segment}|{stage}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class CellUpdate:
    """What ``segab allocate`` decided for one bandit cell.

    ``status`` is ``updated``, ``burn_in`` (layout kept: too few units) or
    ``graduated``; ``units`` the units per arm over all periods; ``layout`` the
    cell's layout in the new period (``previous`` in the last one). ``best`` is the
    posterior summary (``None`` in burn-in); ``graduation`` the rule's verdict.

    Example:
        >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (5000, 5000))
        >>> CellUpdate("s", "t", "burn_in", (3, 4), c, c, None, None, None).weights
        (0.5, 0.5)
    """

    segment: str
    stage: str
    status: str
    units: tuple[int, ...]
    previous: CellAllocation
    layout: CellAllocation
    best: BestArm | None
    seed: int | None
    graduation: Mapping[str, Any] | None
    sampling_weights: tuple[float, ...] | None = None

    @property
    def variants(self) -> tuple[str, ...]:
        """The cell's variants in declared order.

        Example:
            >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (5000, 5000))
            >>> CellUpdate("s", "t", "burn_in", (0, 0), c, c, None, None, None).variants
            ('a', 'b')
        """
        return self.layout.variants

    @property
    def weights(self) -> tuple[float, ...]:
        """The new period's share of each arm (its buckets over 10,000).

        Example:
            >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (2500, 7500))
            >>> CellUpdate("s", "t", "burn_in", (0, 0), c, c, None, None, None).weights
            (0.25, 0.75)
        """
        return tuple(b / 10_000 for b in self.layout.buckets)

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict (kept in the period's summary and printed).

        Example:
            >>> c = CellAllocation("s", "t", ("a", "b"), (0, 0), (5000, 5000))
            >>> CellUpdate("s", "t", "burn_in", (3, 4), c, c, None, None, None).to_dict()[
            ...     "units"]
            [3, 4]
        """
        return dict(
            json_ready(
                {
                    "segment": self.segment,
                    "stage": self.stage,
                    "status": self.status,
                    "variants": list(self.variants),
                    "units": list(self.units),
                    "weights": list(self.weights),
                    "previous_weights": [b / 10_000 for b in self.previous.buckets],
                    "slice_buckets": list(self.layout.slice_buckets),
                    "adaptive_buckets": list(self.layout.adaptive_buckets),
                    "prob_best": None if self.best is None else list(self.best.prob_best),
                    "expected_loss": None if self.best is None else list(self.best.expected_loss),
                    "sampling_weights": None
                    if self.sampling_weights is None
                    else list(self.sampling_weights),
                    "seed": self.seed,
                    "best": None if self.best is None else self.best.to_dict(),
                    "graduation": None if self.graduation is None else dict(self.graduation),
                }
            )
        )


def _best_from(d: Mapping[str, Any]) -> BestArm:
    names = {f.name for f in fields(BestArm)}
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names
    }
    return BestArm(**values)


def best_arm_history(
    periods: Sequence[AllocationPeriod], segment: str, stage: str
) -> tuple[BestArm, ...]:
    """The posterior summaries of one cell's updates, in period order (burn-in left out).

    Example:
        >>> best_arm_history([], "all", "buy")
        ()
    """
    out: list[BestArm] = []
    for p in periods:
        for c in p.summary.get("cells", ()) if isinstance(p.summary, Mapping) else ():
            if (
                isinstance(c, Mapping)
                and c.get("segment") == segment
                and c.get("stage") == stage
                and isinstance(c.get("best"), Mapping)
            ):
                out.append(_best_from(c["best"]))
    return tuple(out)


def _verdict(
    history: Sequence[BestArm], settings: AllocationSettings, variants: Sequence[str]
) -> dict[str, Any]:
    g = graduation(history, settings.graduation_rule())
    return {
        "graduated": g.graduated,
        "arm": None if g.arm is None else variants[g.arm],
        "update": g.update,
        "reason": g.reason,
        "updates": len(history),
    }


def update_cell(
    current: CellAllocation,
    stats: Sequence[Sequence[PeriodStats]],
    settings: AllocationSettings,
    declared_weights: Sequence[float],
    *,
    seed: int,
    history: Sequence[BestArm],
    lower_is_better: bool = False,
) -> CellUpdate:
    """One cell's update: burn-in, Thompson weights on the period-weighted posterior, graduation.

    ``stats[k][t]`` is arm ``k`` (in ``current.variants`` order) in period ``t``;
    ``history`` the cell's earlier posterior summaries (:func:`best_arm_history`).
    Raises :class:`LifecycleError` when the config's slice no longer matches ``current``.

    Example:
        >>> from segab.config import AllocationSettings
        >>> from segab.stats.sufficient import ProportionStats as P
        >>> c = CellAllocation("all", "buy", ("a", "b"), (500, 500), (4500, 4500))
        >>> update_cell(c, [[P(50, 5)], [P(400, 80)]], AllocationSettings(), (0.5, 0.5),
        ...             seed=1, history=()).status
        'burn_in'
    """
    units = tuple(sum(s.n for s in arm) for arm in stats)
    key = (current.segment, current.stage)
    earlier = _verdict(history, settings, current.variants) if history else None
    if earlier is not None and earlier["graduated"]:
        return CellUpdate(*key, "graduated", units, current, current, None, None, earlier)
    if min(units) < max(settings.burn_in, 2):
        return CellUpdate(*key, "burn_in", units, current, current, None, None, earlier)
    try:
        posteriors = period_weighted_arms(stats)
    except StatsError:  # no period with 2 units in every arm yet
        return CellUpdate(*key, "burn_in", units, current, current, None, None, earlier)
    a = allocate(
        posteriors,
        seed=seed,
        lower_is_better=lower_is_better,
        top_two=settings.top_two,
        floor=settings.floor,
        uniform_slice=settings.uniform_slice,
        declared_weights=declared_weights,
    )
    if a.slice_buckets != current.slice_buckets:
        raise LifecycleError(
            f"cell ({current.segment}, {current.stage}): uniform slice of "
            f"{list(current.slice_buckets)} buckets in the last period, "
            f"{list(a.slice_buckets)} from the config now: expected the slice unchanged for "
            "the whole iteration (change allocation.uniform_slice with `segab iterate`)"
        )
    layout = CellAllocation(*key, current.variants, a.slice_buckets, a.adaptive_buckets)
    verdict = _verdict((*history, a.best), settings, current.variants)
    status = "graduated" if verdict["graduated"] else "updated"
    return CellUpdate(
        *key, status, units, current, layout, a.best, seed, verdict, a.sampling_weights
    )
