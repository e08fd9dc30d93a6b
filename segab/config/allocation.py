"""The ``allocation:`` settings of an experiment or a cell: fixed split or Thompson bandit.

A cell runs at its declared split (``mode: fixed``, the default) or adapts its
split between allocation periods (``mode: bandit``): ``segab allocate`` reads the
decision ``metric`` (the primary by default) and moves traffic toward the arms
likely to be best, at most once per ``cadence``, once every arm has ``burn_in``
units; every arm keeps at least ``floor`` of the cell's traffic, and a
``uniform_slice`` of it is always split at the declared weights (its units give
an unbiased plain A/B test). A cell **graduates** when one arm's probability of
being best is above ``graduation.prob_best`` at ``graduation.updates``
consecutive updates (or, optionally, its expected loss is below
``graduation.expected_loss``, in the metric's units). The design and its study
are in docs/statistics.md, "Bandits per cell".

Set at the experiment level (``allocation:`` beside ``cells:``) the settings
apply to every cell; a cell's own ``allocation:`` overrides the fields it sets
(:func:`merge_allocation`).

Example:
    >>> s = AllocationSettings(mode="bandit", floor=0.05)
    >>> s.uniform_slice, s.cadence, s.graduation.prob_best, s.graduation_rule().consecutive
    (0.1, '1d', 0.99, 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # segab.stats.bandit loads numpy: only when a rule is asked for
    from segab.stats.bandit import GraduationRule

__all__ = ["AllocationSettings", "GraduationSettings", "merge_allocation"]

_DURATION = r"^\d+(s|m|h|d|w)$"


class _Strict(BaseModel):
    # as the other config models: unknown fields refused, no coercion, no NaN
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class GraduationSettings(_Strict):
    """When a bandit cell graduates: ``prob_best`` for ``updates`` updates in a row,
    or (optional) an expected loss below ``expected_loss`` (in the metric's units).

    Example:
        >>> GraduationSettings(prob_best=0.95).updates
        3
    """

    prob_best: float = Field(default=0.99, ge=0.5, lt=1.0)
    updates: int = Field(default=3, ge=1, le=1000)
    expected_loss: float | None = Field(default=None, gt=0.0)


class AllocationSettings(_Strict):
    """How one cell's traffic is split: ``fixed`` (declared weights) or ``bandit``.

    Example:
        >>> AllocationSettings().mode, AllocationSettings().burn_in
        ('fixed', 100)
        >>> AllocationSettings(mode="bandit", top_two=True, seed=7).graduation.updates
        3
    """

    mode: Literal["fixed", "bandit"] = "fixed"
    metric: str | None = Field(default=None, min_length=1, max_length=64)
    cadence: str = Field(default="1d", pattern=_DURATION)
    burn_in: int = Field(default=100, ge=0)
    floor: float = Field(default=0.01, ge=0.0, le=1.0)
    uniform_slice: float = Field(default=0.1, ge=0.0, lt=1.0)
    top_two: bool = False
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    graduation: GraduationSettings = Field(default_factory=GraduationSettings)

    @property
    def is_bandit(self) -> bool:
        """Whether the cell adapts its split.

        Example:
            >>> AllocationSettings(mode="bandit").is_bandit
            True
        """
        return self.mode == "bandit"

    def graduation_rule(self) -> GraduationRule:
        """The graduation settings as the statistics' :class:`~segab.stats.bandit.GraduationRule`.

        Example:
            >>> AllocationSettings(graduation={"prob_best": 0.95, "updates": 2}).graduation_rule()
            GraduationRule(prob_threshold=0.95, consecutive=2, loss_threshold=None, \
relative_loss=False)
        """
        from segab.stats.bandit import GraduationRule

        g = self.graduation
        return GraduationRule(
            prob_threshold=g.prob_best, consecutive=g.updates, loss_threshold=g.expected_loss
        )


def merge_allocation(
    experiment_level: AllocationSettings | None, cell_level: AllocationSettings | None
) -> AllocationSettings:
    """A cell's effective settings: the experiment's, overridden by the fields the cell sets.

    Example:
        >>> exp = AllocationSettings(mode="bandit", cadence="12h")
        >>> cell = AllocationSettings.model_validate({"floor": 0.05})
        >>> m = merge_allocation(exp, cell)
        >>> m.mode, m.cadence, m.floor
        ('bandit', '12h', 0.05)
        >>> merge_allocation(None, None).mode
        'fixed'
    """
    base = experiment_level or AllocationSettings()
    if cell_level is None:
        return base
    update = {name: getattr(cell_level, name) for name in cell_level.model_fields_set}
    return base.model_copy(update=update)
