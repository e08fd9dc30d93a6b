"""``segab plan --tau``: cell sizes when decisions use shrunken estimates (issue 18).

With ``analysis.shrinkage: eb`` each cell borrows strength from the others, so a
cell whose effect is like the others' needs fewer units. For every planned cell
(:class:`~segab.lifecycle.plan.CellPower` with a size) this module sizes it with
:func:`segab.stats.eb_sample_size_per_arm`: the effect ``δ = mde × baseline``,
the per-unit standard deviation (``√(p(1 − p))`` for a binary metric; a quantile
metric's ``std`` times ``√(q(1 − q))/φ(z_q)``, :mod:`segab.lifecycle.quantile_plan`), the
expected spread ``τ`` of the true cell effects (absolute, in the metric's
units: e.g. the ``tau2`` an earlier iteration's shrinkage block reports), the
``K`` cells planned, and the same power as the plain plan. The days needed follow
from the cell's smallest arm's daily units, as in the plain plan.

The model assumes the cell's effect is near the others' (see
:mod:`segab.stats.eb_power`); a cell expected to differ from the rest should be
planned without shrinkage, which the plain columns show.

Example:
    >>> from segab.config import parse_experiment
    >>> from segab.lifecycle.plan import plan_experiment
    >>> exp = parse_experiment({"key": "e", "unit": "id", "stages": ["buy"],
    ...     "segments": [{"key": f"s{i}", "when": {"k": i}} for i in range(8)],
    ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    ...                "control": "a"}],
    ...     "analysis": {"shrinkage": "eb"},
    ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x",
    ...                             "baseline": 0.2, "mde": 0.1}}})
    >>> shares = {(f"s{i}", "buy"): 1 / 8 for i in range(8)}
    >>> plan = plan_experiment(exp, shares, daily_units=8000)
    >>> block = shrinkage_sizes(plan, exp, tau=0.005)
    >>> plan.cells[0].n_per_arm, block["cells"][0]["n_per_arm"] < plan.cells[0].n_per_arm
    (6508, True)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from segab.errors import LifecycleError, StatsError
from segab.lifecycle.guardrail_plan import decision_power
from segab.lifecycle.quantile_plan import sizing_std
from segab.stats.eb_power import eb_sample_size_per_arm

if TYPE_CHECKING:
    from segab.config.models import Experiment
    from segab.lifecycle.plan import PowerPlan

__all__ = ["shrinkage_sizes"]


def shrinkage_sizes(
    plan: PowerPlan, experiment: Experiment, *, tau: float, kappa: float = math.inf
) -> dict[str, Any]:
    """The ``shrinkage`` block of a plan: per sized cell, ``n_per_arm`` and ``days_needed``.

    Example:
        >>> shrinkage_sizes.__name__   # see the module docstring for a full run
        'shrinkage_sizes'
    """
    if not (math.isfinite(tau) and tau > 0):
        raise LifecycleError(f"--tau: found {tau!r}, expected a spread of cell effects > 0")
    sized = [c for c in plan.cells if c.n_per_arm is not None and c.baseline is not None]
    cells = []
    for c in sized:
        base = float(c.baseline)  # type: ignore[arg-type]
        std = math.sqrt(base * (1 - base)) if plan.kind == "binary" else c.std
        std = sizing_std(experiment.metrics.primary, std)  # a quantile's: std·√(q(1 − q))/φ(z_q)
        if std is None or std <= 0:
            continue
        try:
            n = eb_sample_size_per_arm(
                c.mde * base,
                std,
                tau=tau,
                cells=len(sized),
                alpha=plan.alpha,
                power=decision_power(experiment),
                kappa=kappa,
            )
        except StatsError as exc:
            raise LifecycleError(f"cell ({c.segment}, {c.stage}): {exc}") from exc
        rate = c.smallest_arm_daily
        days = math.ceil(n / rate - 1e-9) if rate > 0 else None
        cells.append(
            {
                "segment": c.segment,
                "stage": c.stage,
                "n_per_arm": n,
                "days_needed": days,
                "adequate": days is not None and days <= plan.days,
            }
        )
    return {
        "tau": tau,
        "kappa": None if math.isinf(kappa) else kappa,
        "cells_shrunk_together": len(sized),
        "model": "each cell's effect at the cells' mean; robust EB interval (AKP 2022)",
        "applies": experiment.analysis.shrinkage == "eb",
        "cells": cells,
    }
