"""``segab iterate`` on bandit cells: ship a graduated cell's leading arm, or confirm it.

A bandit cell graduates in ``segab allocate`` (its leading arm's probability of
being best above ``graduation.prob_best`` for ``graduation.updates`` updates in a
row, or its expected loss below ``graduation.expected_loss``). ``segab iterate``
then treats it like a shipped winner (:func:`graduated_rows` turns the cell's
decisions into "ship the leading arm, drop the rest", so
:func:`segab.lifecycle.iterate.next_config` writes it as it writes any winner),
or, with ``confirm``, keeps the leading arm and the control in a **fixed-split
confirmatory test** (the leading arm ``keep_running``, the other treatments
dropped, the cell set to ``allocation: {mode: fixed}`` at equal weights), sized
with the power plan of ``segab plan`` (:func:`confirmation_plan`).
:func:`close_bandit_phase` records how the bandit phase ended as the iteration's
last allocation period, so ``segab history`` shows it.

Example:
    >>> rows = [{"segment": "all", "stage": "buy", "variant": "b", "control": "a",
    ...          "decision": "keep_running"}]
    >>> out = graduated_rows(rows, {("all", "buy"): {"arm": "b"}}, {("all", "buy"): ("a", ["b"])})
    >>> out[0]["decision"], out[0]["decision_source"]
    ('ship', 'bandit')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segab.allocation_types import AllocationPeriod
from segab.assignment import plan_of
from segab.config import merge_allocation, resolve_cell_index
from segab.config.allocation import AllocationSettings
from segab.config.models import Experiment
from segab.lifecycle.iterate import CellOutcome
from segab.lifecycle.plan import Baseline, PowerPlan, plan_experiment
from segab.lifecycle.traffic import equal_mix
from segab.store import allocation_periods, record_allocation_period
from segab.store.models import EXPOSURES_TABLE

__all__ = [
    "bandit_config",
    "bandit_phase",
    "cell_arms",
    "close_bandit_phase",
    "confirmation_plan",
    "graduated_rows",
]

Pair = tuple[str, str]


def graduated_rows(
    rows: Sequence[Mapping[str, Any]],
    graduated: Mapping[Pair, Mapping[str, Any]],
    arms: Mapping[Pair, tuple[str, Sequence[str]]],
    *,
    confirm: bool = False,
) -> list[dict[str, Any]]:
    """The primary metric's per-cell rows with the graduated cells' decisions replaced.

    ``arms`` maps each cell to its control and treatments. The leading arm gets
    ``ship`` (``keep_running`` with ``confirm``), the other treatments ``rollback``;
    a leading control drops every treatment. Rows get ``decision_source: bandit``.

    Example:
        >>> graduated_rows([], {("s", "t"): {"arm": "a"}}, {("s", "t"): ("a", ["b", "c"])})[1][
        ...     "decision"]
        'rollback'
    """
    out = [dict(r) for r in rows if (r.get("segment"), r.get("stage")) not in graduated]
    for pair, g in graduated.items():
        if pair not in arms:
            continue
        control, treatments = arms[pair]
        given = {
            r.get("variant"): dict(r) for r in rows if (r.get("segment"), r.get("stage")) == pair
        }
        for t in treatments:
            row = given.get(t) or {"segment": pair[0], "stage": pair[1], "variant": t,
                                   "control": control, "rel_lift": None}  # fmt: skip
            if t == g.get("arm"):
                row["decision"] = "keep_running" if confirm else "ship"
            else:
                row["decision"] = "rollback"
            out.append({**row, "decision_source": "bandit", "graduation": dict(g)})
    return out


def _old_cell(ran: Experiment, cell: Mapping[str, Any]) -> int | None:
    spec = (cell.get("segment", "*"), cell.get("stage", "*"))
    for i, c in enumerate(ran.cells):
        if (c.segment, c.stage) == spec:
            return i
    return resolve_cell_index(ran.cells, *spec)


def bandit_config(
    new_raw: dict[str, Any],
    ran: Experiment,
    outcomes: Sequence[CellOutcome],
    graduated: Mapping[Pair, Mapping[str, Any]],
    *,
    confirm: bool = False,
) -> tuple[dict[str, Any], list[CellOutcome]]:
    """The next config with the cells' ``allocation:`` carried over, and the outcomes of
    graduated cells marked ``graduated`` (shipped) or ``confirming``.

    A cell keeps the ``allocation:`` it declared; a cell left with one variant, or
    in a confirmatory test (an exact cell of its own), gets
    ``allocation: {mode: fixed}`` when it would otherwise be a bandit.

    Example:
        >>> bandit_config.__name__   # tests/lifecycle/test_graduation.py runs it
        'bandit_config'
    """
    raw_level = new_raw.get("allocation")
    level = AllocationSettings.model_validate(raw_level) if isinstance(raw_level, Mapping) else None
    confirming = {p for p in graduated if confirm}
    cells = new_raw.setdefault("cells", [])
    exact = {(c.get("segment"), c.get("stage")) for c in cells}
    for o in outcomes:  # a confirmation keeps the cell's spec: it needs its own, fixed cell
        if (o.segment, o.stage) in confirming and (o.segment, o.stage) not in exact:
            variants = [{"key": k, "weight": w / 10_000} for k, w in o.variants]
            cells.append({"segment": o.segment, "stage": o.stage, "control": o.control,
                          "variants": variants})  # fmt: skip
    for cell in cells:
        idx = _old_cell(ran, cell)
        old = None if idx is None else ran.cells[idx]
        if old is not None and old.allocation is not None:
            cell["allocation"] = old.allocation.model_dump(mode="json", exclude_unset=True)
        own = cell.get("allocation")
        settings = merge_allocation(
            level, AllocationSettings.model_validate(own) if isinstance(own, Mapping) else None
        )
        pair = (cell.get("segment", "*"), cell.get("stage", "*"))
        if settings.is_bandit and (len(cell["variants"]) < 2 or pair in confirming):
            cell["allocation"] = {**(own or {}), "mode": "fixed"}
    marked = []
    for o in outcomes:
        g = graduated.get((o.segment, o.stage))
        if g is None:
            marked.append(o)
        elif confirm and o.control != g.get("arm"):
            marked.append(dataclasses.replace(o, status="confirming"))
        else:
            marked.append(dataclasses.replace(o, status="graduated"))
    return new_raw, marked


def close_bandit_phase(
    engine: Engine,
    ran: Experiment,
    outcomes: Sequence[CellOutcome],
    graduated: Mapping[Pair, Mapping[str, Any]],
    now: dt.datetime | None = None,
) -> AllocationPeriod | None:
    """Record the end of the iteration's bandit phase as its last allocation period.

    The period keeps the last layouts; its summary says, per bandit cell, what
    ``segab iterate`` did (``graduated``: its arm shipped; ``confirming``; or the
    iteration's outcome). ``None`` when the iteration recorded no period.

    Example:
        >>> close_bandit_phase.__name__   # tests/lifecycle/test_graduation.py runs it
        'close_bandit_phase'
    """
    periods = allocation_periods(engine, ran.key, ran.iteration)
    if not periods:
        return None
    last = periods[-1]
    when = max(now or dt.datetime.now(dt.UTC), last.started_at)
    by_pair = {(o.segment, o.stage): o for o in outcomes}
    cells = []
    for c in last.cells:
        o = by_pair.get((c.segment, c.stage))
        g = graduated.get((c.segment, c.stage))
        cells.append(
            {
                "segment": c.segment,
                "stage": c.stage,
                "status": None if o is None else o.status,
                "control": None if o is None else o.control,
                "graduation": None if g is None else dict(g),
                "from_bandit_phase": g is not None,
            }
        )
    summary = {"source": "segab iterate", "closes_iteration": ran.iteration, "cells": cells}
    period = AllocationPeriod(ran.key, ran.iteration, last.number + 1, when, last.cells, summary)
    return record_allocation_period(engine, period)


def confirmation_plan(
    new: Experiment,
    pairs: Sequence[Pair],
    *,
    daily_units: float,
    baselines: Mapping[Pair, float] | None = None,
    days: int = 28,
) -> PowerPlan:
    """The power plan of the confirmatory cells of the next iteration (``segab plan``'s).

    ``daily_units``: units entering per day (e.g. measured in the bandit phase);
    ``baselines``: the control's mean per cell, measured in the bandit phase.

    Example:
        >>> confirmation_plan.__name__   # tests/lifecycle/test_graduation.py runs it
        'confirmation_plan'
    """
    measured = {p: Baseline(m, None, "bandit phase") for p, m in (baselines or {}).items()}
    plan = plan_experiment(
        new,
        equal_mix(new).shares,
        daily_units=daily_units,
        days=days,
        measured=measured,
        notes=["confirmatory tests of graduated bandit cells; every unit assumed to reach "
               "every stage"],
    )  # fmt: skip
    wanted = set(pairs)
    return dataclasses.replace(
        plan, cells=tuple(c for c in plan.cells if (c.segment, c.stage) in wanted)
    )


def cell_arms(exp: Experiment) -> dict[Pair, tuple[str, list[str]]]:
    """Each (segment, stage) cell's control and treatments, in plan order.

    Example:
        >>> from segab.config import parse_experiment
        >>> cell_arms(parse_experiment({"key": "e", "unit": "id", "stages": ["buy"],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}}))
        {('all', 'buy'): ('a', ['b'])}
    """
    out = {}
    for pair in plan_of(exp).cells:
        cell = exp.cells[resolve_cell_index(exp.cells, *pair) or 0]
        out[pair] = (cell.control, [v.key for v in cell.variants if v.key != cell.control])
    return out


def bandit_phase(
    engine: Engine, ran: Experiment, pairs: Sequence[Pair]
) -> tuple[float | None, dict[Pair, float]]:
    """What the bandit phase measured, for sizing its confirmation: units entering per day
    (distinct units over the span of their first exposures, at least a day), and each
    cell's control mean (its period-weighted posterior mean at the last update).

    Example:
        >>> from segab.config import parse_experiment
        >>> from segab.store import open_store
        >>> exp = parse_experiment({"key": "e", "unit": "id", "stages": ["buy"],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> bandit_phase(open_store("sqlite://", create=True), exp, [("all", "buy")])
        (None, {})
    """
    x = EXPOSURES_TABLE
    query = sa.select(
        sa.func.count(sa.distinct(x.c.unit_id)), sa.func.min(x.c.first_seen),
        sa.func.max(x.c.first_seen),
    ).where(x.c.experiment == ran.key, x.c.iteration == ran.iteration)  # fmt: skip
    with engine.connect() as conn:
        units, first, last = conn.execute(query).one()
    daily = None
    if units:
        days = max(1.0, (last - first).total_seconds() / 86_400)
        daily = units / days
    arms = cell_arms(ran)
    baselines: dict[Pair, float] = {}
    for p in allocation_periods(engine, ran.key, ran.iteration):
        for c in p.summary.get("cells", []) if isinstance(p.summary, Mapping) else []:
            pair = (c.get("segment"), c.get("stage"))
            best = c.get("best")
            if pair in pairs and isinstance(best, Mapping) and pair in arms:
                k = list(c.get("variants", [])).index(arms[pair][0])
                baselines[pair] = float(best["posterior_mean"][k])
    return daily, baselines
