"""A synthetic population and its events, with known planted effects (vectorised numpy).

:func:`simulate_population` draws units with realistic attributes that hit every
segment of the example experiments (``age``, ``channel``, ``orders_last_year``,
``discount_affinity``, ``loyalty.tier``, ``loyalty.active``) and a journey: every
unit enters at the first stage and reaches each next stage with probability
:data:`PROGRESS` (one row per (unit, stage) reached, with the exposure
``timestamp``). Consecutive stages are separated by more than the attribution
window, so a stage's events never fall in another stage's window.

:func:`simulate_events` draws, for every assigned exposure (``in_experiment``),
the events of each metric: binary metrics emit their event with probability
``p``; continuous metrics emit values of mean ``mu`` (a normal score when the
metric's std is below its mean, else zero-inflated gamma revenue); all inside
``[t0, t0 + 0.9·window)``. ``p``/``mu`` are the metric's ``baseline`` times a
segment factor, times ``1 + rel_lift`` of the planted :class:`Effect` for that
(segment, stage, variant, metric), if any. An event shared by several metrics
(``revenue`` for ``clv`` and ``roi``) is driven by the first of them; the others'
true effects follow from it. :func:`truth` lists every planted effect and the
true control means; everything not listed has no effect.

Example:
    >>> from segab.config import parse_experiment
    >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "user_id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    ...                "control": "a"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "buy"}}})
    >>> pop = simulate_population(exp, 1000, seed=1)
    >>> pop["stage"].iloc[0], len(pop) > 1000
    ('awareness', True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from segab.assignment import plan_of
from segab.config.models import Experiment, Metric
from segab.errors import DataError, MissingColumnError

__all__ = [
    "CHANNELS",
    "PROGRESS",
    "Effect",
    "default_effects",
    "simulate_events",
    "simulate_population",
    "simulate_units",
    "truth",
]

PROGRESS = (0.6, 0.5, 0.7)
CHANNELS = ("social", "instagram", "tiktok", "youtube", "email", "store", "search")
_CHANNEL_P = {  # by age band: young (<35), middle, older (>=50)
    0: (0.3, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1),
    1: (0.15, 0.1, 0.05, 0.1, 0.25, 0.2, 0.15),
    2: (0.1, 0.05, 0.0, 0.05, 0.45, 0.25, 0.1),
}
TIERS = ("none", "bronze", "silver", "gold", "platinum")
START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
CHUNK = 250_000
DAY = 86_400.0


@dataclass(frozen=True)
class Effect:
    """A planted true effect: relative lift of ``variant`` over the control on ``metric``.

    Example:
        >>> Effect("young", "awareness", "video", "conversion", 0.4).rel_lift
        0.4
    """

    segment: str
    stage: str
    variant: str
    metric: str
    rel_lift: float


def _window(exp: Experiment) -> float:
    from segab.sums.aggregate import window_seconds

    return window_seconds(exp.analysis.attribution_window) or 7 * DAY


def _ids(start: int, n: int) -> np.ndarray:
    return ("u" + pd.Series(np.arange(start, start + n)).astype(str).str.zfill(8)).to_numpy()


def _population_chunk(
    exp: Experiment, start: int, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    band = rng.choice(3, size=n, p=(0.4, 0.3, 0.3))
    lo, hi = np.array([18, 35, 50])[band], np.array([35, 50, 81])[band]
    age = rng.integers(lo, hi)
    channel = np.empty(n, dtype=object)
    for b, probs in _CHANNEL_P.items():
        mask = band == b
        channel[mask] = rng.choice(np.array(CHANNELS, dtype=object), size=int(mask.sum()), p=probs)
    tier = rng.choice(np.array(TIERS, dtype=object), size=n, p=(0.4, 0.2, 0.2, 0.13, 0.07))
    active = (tier != "none") & (rng.random(n) < 0.75)
    stages = exp.stages
    steps = len(stages) - 1
    go = rng.random((n, max(steps, 1))) < np.resize(np.array(PROGRESS), max(steps, 1))
    reached = 1 + (np.cumprod(go, axis=1).sum(axis=1) if steps else np.zeros(n, dtype=int))
    gaps = _window(exp) + rng.uniform(0.5 * DAY, 3 * DAY, size=(n, max(steps, 1)))
    offsets = np.concatenate([np.zeros((n, 1)), np.cumsum(gaps, axis=1)], axis=1)
    entry = START.timestamp() + rng.uniform(0, 14 * DAY, size=n)
    row_unit = np.repeat(np.arange(n), reached)
    first = np.repeat(np.cumsum(reached) - reached, reached)
    row_stage = np.arange(len(row_unit)) - first
    seconds = np.round(entry[row_unit] + offsets[row_unit, row_stage])
    return pd.DataFrame(
        {
            exp.unit: _ids(start, n)[row_unit],
            "stage": np.array(stages, dtype=object)[row_stage],
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True),
            "age": age[row_unit],
            "channel": channel[row_unit],
            "orders_last_year": rng.poisson(2.2, size=n)[row_unit],
            "discount_affinity": np.round(rng.beta(2, 2, size=n), 2)[row_unit],
            "loyalty.tier": tier[row_unit],
            "loyalty.active": active[row_unit],
        }
    )


def simulate_population(
    experiment: Experiment,
    n_units: int,
    seed: int = 0,
    *,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Draw ``n_units`` units and their journey: one row per (unit, stage reached).

    Columns: the experiment's unit column, ``stage``, ``timestamp`` (exposure time,
    UTC) and the attributes. ``progress`` is called with the units done per chunk.

    Example:
        >>> from segab.config import load_experiments
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> pop = simulate_population(exp, 2000, seed=3)
        >>> sorted(pop["stage"].unique()) == sorted(exp.stages)
        True
    """
    if n_units < 1:
        raise DataError(f"n_units: found {n_units}, expected a positive number of units")
    frames = []
    for i, start in enumerate(range(0, n_units, CHUNK)):
        n = min(CHUNK, n_units - start)
        rng = np.random.default_rng([seed, i])
        frames.append(_population_chunk(experiment, start, n, rng))
        if progress is not None:
            progress(n)
    return pd.concat(frames, ignore_index=True)


def _cells(exp: Experiment) -> list[tuple[str, str, str, list[str]]]:
    out = []
    for (segment, stage), cell in plan_of(exp).cells.items():
        treatments = [v for v, _, _ in cell.ranges if v != cell.control]
        out.append((segment, stage, cell.control, treatments))
    return out


def default_effects(experiment: Experiment) -> list[Effect]:
    """The planted effects used when none are given: a fixed, documented pattern.

    Cells are numbered in plan order (segment, then stage); in every cell only the
    first treatment variant gets effects:

    - cell ``c % 3 == 0``: primary metric +40%, binary secondaries +25%, continuous
      secondaries +20% (a win); the first such cell also harms binary guardrails
      with ``direction: decrease`` by +150% (a guardrail alarm);
    - cell ``c % 3 == 1``: no effect at all (a null cell);
    - cell ``c % 3 == 2``: primary metric −30% (a loss).

    Example:
        >>> from segab.config import load_experiments
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> effects = default_effects(exp)
        >>> effects[0].metric, effects[0].rel_lift
        ('conversion', 0.4)
    """
    effects: list[Effect] = []
    primary = experiment.metrics.primary
    for c, (segment, stage, _control, treatments) in enumerate(_cells(experiment)):
        if not treatments:
            continue
        variant = treatments[0]
        if c % 3 == 0:
            effects.append(Effect(segment, stage, variant, primary.key, 0.4))
            for m in experiment.metrics.secondary:
                if m.event is not None and _driver(experiment, m.event) is m:
                    lift = 0.25 if m.kind == "binary" else 0.2
                    effects.append(Effect(segment, stage, variant, m.key, lift))
            if c == 0:
                for m in experiment.metrics.guardrail:
                    if m.kind == "binary" and m.direction == "decrease":
                        effects.append(Effect(segment, stage, variant, m.key, 1.5))
        elif c % 3 == 2:
            effects.append(Effect(segment, stage, variant, primary.key, -0.3))
    return effects


def _driver(exp: Experiment, event: str) -> Metric | None:
    for m in exp.metrics.all():
        if m.event == event:
            return m
    return None


def _segment_factor(exp: Experiment) -> dict[str, float]:
    return {s: 0.8 + 0.15 * (i % 4) for i, s in enumerate(exp.segment_keys())}


def _base(metric: Metric) -> tuple[float, float]:
    if metric.kind == "binary":
        return metric.baseline if metric.baseline is not None else 0.1, 0.0
    mean = metric.baseline if metric.baseline is not None else 10.0
    return mean, metric.std if metric.std is not None else abs(mean)


def truth(experiment: Experiment, effects: Sequence[Effect], seed: int) -> dict[str, Any]:
    """The planted truth as a JSON-ready dict (written to ``truth.json``).

    Example:
        >>> from segab.config import load_experiments
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> t = truth(exp, default_effects(exp), 7)
        >>> sorted(t)[:3]
        ['control_means', 'effects', 'experiment']
    """
    factor = _segment_factor(experiment)
    means = []
    for segment, stage, control, _ in _cells(experiment):
        for m in experiment.metrics.all():
            if m.event is None or _driver(experiment, m.event) is not m:
                continue
            base, _ = _base(m)
            mean = base * factor[segment]
            mean = min(mean, 0.95) if m.kind == "binary" else mean
            means.append(
                {
                    "segment": segment,
                    "stage": stage,
                    "variant": control,
                    "metric": m.key,
                    "mean": mean,
                }
            )
    return {
        "experiment": experiment.key,
        "iteration": experiment.iteration,
        "seed": seed,
        "window_seconds": _window(experiment),
        "effects": [asdict(e) for e in effects],
        "control_means": means,
        "note": (
            "rel_lift is the true relative lift of the variant's per-unit mean over the "
            "control's in that (segment, stage) cell; every (segment, stage, variant, metric) "
            "not listed has no effect; metrics sharing an event with an earlier metric "
            "(e.g. roi on revenue) follow that metric's effect"
        ),
    }


def _emit_times(t0: np.ndarray, window: float, rng: np.random.Generator) -> np.ndarray:
    return np.round(t0 + rng.uniform(0, 0.9 * window, size=len(t0)))


def simulate_events(
    experiment: Experiment,
    assignments: pd.DataFrame,
    effects: Sequence[Effect] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw the events of every assigned exposure, with the planted ``effects``.

    ``assignments`` is what ``segab assign`` writes (unit, segment, stage, variant,
    in_experiment, timestamp). Returns columns: the unit column, ``event``,
    ``value``, ``timestamp`` (UTC), sorted by time.

    Example:
        >>> from segab.config import load_experiments
        >>> from segab.bulk import assign_file
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> pop = simulate_population(exp, 500, seed=3)
        >>> a = pd.DataFrame({"unit_id": pop["user_id"], "segment": "everyone_else",
        ...     "stage": pop["stage"], "variant": "standard_ad", "in_experiment": True,
        ...     "timestamp": pop["timestamp"]})
        >>> ev = simulate_events(exp, a[a["stage"] == "awareness"], seed=3)
        >>> list(ev.columns)
        ['user_id', 'event', 'value', 'timestamp']
    """
    effects = default_effects(experiment) if effects is None else list(effects)
    unit_col = next((c for c in (experiment.unit, "unit_id", "unit") if c in assignments), None)
    needed = ["segment", "stage", "variant", "timestamp"]
    missing = [c for c in needed if c not in assignments] + ([] if unit_col else ["unit_id"])
    if missing:
        raise MissingColumnError(
            f"assignments: missing column(s) {missing}; it has {list(assignments.columns)}; "
            f"expected {['unit_id', *needed]}"
        )
    rows = assignments
    if "in_experiment" in rows:
        flag = rows["in_experiment"].astype(str).str.lower().isin(["true", "1"])
        rows = rows[flag]
    rows = rows[rows["variant"].notna() & rows["segment"].notna()]
    t0 = pd.to_datetime(rows["timestamp"], utc=True, format="ISO8601")
    t0_s = (t0 - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    units = rows[unit_col].astype(str).to_numpy()
    factor = rows["segment"].map(_segment_factor(experiment)).fillna(1.0).to_numpy()
    key_series = rows["segment"].astype(str) + "|" + rows["stage"].astype(str) + "|"
    keys = (key_series + rows["variant"].astype(str)).to_numpy()
    rng = np.random.default_rng(seed)
    window = _window(experiment)
    out_units, out_events, out_values, out_times = [], [], [], []
    done: set[str] = set()
    for m in experiment.metrics.all():
        for event in (m.event, m.denominator_event if m.kind == "ratio" else None):
            if event is None or event in done:
                continue
            done.add(event)
            driver = _driver(experiment, event) if event == m.event else None
            y, emit = _draw(driver, effects, keys, factor, rng)
            out_units.append(units[emit])
            out_events.append(np.full(int(emit.sum()), event, dtype=object))
            out_values.append(y[emit])
            out_times.append(_emit_times(t0_s[emit], window, rng))
    seconds = np.concatenate(out_times) if out_times else np.array([], dtype=float)
    frame = pd.DataFrame(
        {
            experiment.unit: np.concatenate(out_units) if out_units else np.array([], dtype=object),
            "event": np.concatenate(out_events) if out_events else np.array([], dtype=object),
            "value": np.concatenate(out_values) if out_values else np.array([], dtype=float),
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True),
        }
    )
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _draw(
    metric: Metric | None,
    effects: Sequence[Effect],
    keys: np.ndarray,
    factor: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per exposure row: the event's value and whether the event is emitted."""
    n = len(keys)
    if metric is None:  # a denominator event no metric drives: one unit-valued event each
        return np.ones(n), np.ones(n, dtype=bool)
    lifts = {
        f"{e.segment}|{e.stage}|{e.variant}": e.rel_lift for e in effects if e.metric == metric.key
    }
    lift = 1.0 + pd.Series(keys).map(lifts).fillna(0.0).to_numpy(dtype=float)
    base, std = _base(metric)
    if metric.kind == "binary":
        p = np.clip(np.minimum(base * factor, 0.95) * lift, 0.0, 1.0)
        return np.ones(n), rng.random(n) < p
    mu = base * factor * lift
    if std < abs(base):  # a score: everyone answers, normal around mu
        return rng.normal(mu, std), np.ones(n, dtype=bool)
    q = 0.25  # revenue: zero-inflated gamma with mean mu and (control) std
    mean_g = base / q
    var_g = (std**2 + base**2) / q - mean_g**2
    shape = mean_g**2 / var_g if var_g > 0 else 1e6
    values = rng.gamma(shape, (mean_g / shape) * factor * lift)
    return np.round(values, 2), rng.random(n) < q


def _first_metric(exp: Experiment, kind: str) -> Metric | None:
    return next(
        (m for m in exp.metrics.all() if m.kind == kind and m.event and _driver(exp, m.event) is m),
        None,
    )


def simulate_units(experiment: Experiment, n_units: int, seed: int = 0) -> pd.DataFrame:
    """One row per unit in the experiment: id, ``arm``, two attributes and two outcomes.

    Each unit enters at the first stage with the attributes of
    :func:`simulate_population`, is assigned there (:func:`segab.assign`; units
    outside the experiment, a holdout or a namespace are left out) and draws the
    events of :func:`simulate_events` with the planted effects. Columns: the unit
    column, ``arm`` (the variant), ``channel`` and ``tier`` (loyalty tier), the
    first binary metric (1 when its event happened) and the first continuous one
    (the sum of its event's values), each named by its metric key.

    Example:
        >>> from segab.config import load_experiments
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> units = simulate_units(exp, 3000, seed=2)
        >>> list(units.columns), units["user_id"].is_unique
        (['user_id', 'arm', 'channel', 'tier', 'conversion', 'satisfaction'], True)
    """
    from segab.assignment import assign
    from segab.text_values import nest_attributes

    pop = simulate_population(experiment, n_units, seed)
    first = pop[pop["stage"] == experiment.stages[0]].reset_index(drop=True)
    attrs = ["age", "channel", "orders_last_year", "discount_affinity"]
    attrs += ["loyalty.tier", "loyalty.active"]
    rows = zip(*(first[c].tolist() for c in [experiment.unit, *attrs]), strict=True)
    got = [
        assign(experiment, u, nest_attributes(zip(attrs, v, strict=True)), experiment.stages[0])
        for u, *v in rows
    ]
    keep = np.array([a.in_experiment for a in got], dtype=bool)
    first = first[keep].reset_index(drop=True)
    assignments = pd.DataFrame(
        {
            experiment.unit: first[experiment.unit],
            "segment": [a.segment for a, k in zip(got, keep, strict=True) if k],
            "stage": first["stage"],
            "variant": [a.variant for a, k in zip(got, keep, strict=True) if k],
            "in_experiment": True,
            "timestamp": first["timestamp"],
        }
    )
    events = simulate_events(experiment, assignments, seed=seed)
    out = pd.DataFrame(
        {
            experiment.unit: first[experiment.unit],
            "arm": assignments["variant"],
            "channel": first["channel"],
            "tier": first["loyalty.tier"],
        }
    )
    for kind in ("binary", "continuous"):
        metric = _first_metric(experiment, kind)
        if metric is None or metric.event is None:
            continue
        mine = events[events["event"] == metric.event]
        per_unit = mine.groupby(experiment.unit)["value"].agg(
            "sum" if kind == "continuous" else "size"
        )
        value = out[experiment.unit].map(per_unit).fillna(0.0)
        out[metric.key] = (value > 0).astype(int) if kind == "binary" else value.round(2)
    return out
