"""Traffic mixes for ``segab plan``: units reaching each (segment, stage) per unit entering.

:func:`traffic_mix` reads a sample of units (one row per unit and stage reached,
with the attributes the segments read) and resolves each row's segment exactly as
:func:`segab.assign` does; :func:`equal_mix` assumes given (or equal) segment shares
and every stage reached when there is no sample.

Example:
    >>> TrafficMix({("all", "buy"): 1.0}, 100.0, 10, "x.csv").daily_units
    100.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from segab.assignment import plan_of, resolve_segment
from segab.conditions import condition_fields
from segab.config.models import Experiment, SegmentDef
from segab.errors import DataError, LifecycleError, MissingColumnError

__all__ = ["CellKey", "TrafficMix", "equal_mix", "traffic_mix"]

CellKey = tuple[str, str]


@dataclass(frozen=True)
class TrafficMix:
    """Units reaching each (segment, stage) per unit entering, and the daily volume if known.

    Example:
        >>> TrafficMix({("all", "purchase"): 0.5}, None, 10, "sample.csv").shares
        {('all', 'purchase'): 0.5}
    """

    shares: dict[CellKey, float]
    daily_units: float | None
    n_units: int
    source: str


def _nest(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            child = node.setdefault(p, {})
            node = child if isinstance(child, dict) else {}
        node[leaf] = value
    return out


def traffic_mix(
    experiment: Experiment,
    frame: pd.DataFrame,
    *,
    stage_column: str = "stage",
    timestamp_column: str = "timestamp",
    source: str = "<frame>",
) -> TrafficMix:
    """Segment/stage mix of a traffic sample (one row per unit and stage reached).

    Segments are resolved exactly as :func:`segab.assign` does (first match, else
    the fallback); rows matching no segment count in the total only. The share of a
    cell is its rows over the distinct units. With a ``timestamp`` column the daily
    volume is the distinct units over the days the sample spans (at least one).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "stages": ["buy"], "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
        ...     "fallback": "rest",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> df = pd.DataFrame({"id": ["u1", "u2", "u3", "u4"], "stage": "buy",
        ...                    "age": [20, 30, 40, 50]})
        >>> traffic_mix(exp, df).shares
        {('young', 'buy'): 0.5, ('rest', 'buy'): 0.5}
    """
    unit = next((c for c in (experiment.unit, "unit_id", "unit") if c in frame.columns), None)
    missing = [c for c in (stage_column,) if c not in frame.columns] + ([] if unit else ["unit"])
    if missing:
        raise MissingColumnError(
            f"{source}: missing column(s) {missing}; it has {list(frame.columns)}; expected "
            f"the unit column ({experiment.unit!r}), {stage_column!r} and the segment attributes"
        )
    if frame.empty:
        raise DataError(f"{source}: no rows, expected a sample of units")
    wanted: set[str] = set()
    for seg in experiment.segments:
        if isinstance(seg, SegmentDef):
            wanted |= condition_fields(seg.when)
    attrs = [
        str(c)
        for c in frame.columns
        if c in wanted or any(str(c).startswith(f + ".") or f.startswith(f"{c}.") for f in wanted)
    ]
    plan = plan_of(experiment)
    sub = frame[attrs].astype(object)
    sub = sub.where(sub.notna(), None)
    keys: list[tuple[Any, ...]] = list(sub.itertuples(index=False, name=None))
    segment_of: dict[tuple[Any, ...], str | None] = {}
    for key in dict.fromkeys(keys):
        segment_of[key] = resolve_segment(plan, _nest(dict(zip(attrs, key, strict=True))))[0]
    segments = [segment_of[k] for k in keys]
    n_units = int(frame[unit].nunique())
    counts = (
        pd.DataFrame({"segment": segments, "stage": frame[stage_column].astype(str).tolist()})
        .dropna()
        .value_counts(sort=False)
    )
    shares: dict[CellKey, float] = {}
    for pair, n in counts.items():
        seg_key, st = str(pair[0]), str(pair[1])  # type: ignore[index]
        if st in experiment.stages:
            shares[(seg_key, st)] = float(n) / n_units
    ordered = {
        (seg, st): shares[(seg, st)]
        for seg in experiment.segment_keys()
        for st in experiment.stages
        if (seg, st) in shares
    }
    daily = None
    if timestamp_column in frame.columns:
        ts = pd.to_datetime(frame[timestamp_column], utc=True, format="ISO8601", errors="coerce")
        ts = ts.dropna()
        if len(ts):
            span = (ts.max() - ts.min()).total_seconds() / 86_400.0
            daily = n_units / max(1.0, span)
    return TrafficMix(ordered, daily, n_units, source)


def equal_mix(
    experiment: Experiment, segment_shares: Mapping[str, float] | None = None
) -> TrafficMix:
    """A mix without a traffic sample: given segment shares (else equal), every stage reached.

    Every unit is assumed to reach every stage, which overstates late stages:
    prefer a traffic sample (:func:`traffic_mix`).

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id", "stages": ["buy"],
        ...     "segments": [{"key": "a", "when": {"x": 1}}, {"key": "b", "when": {}}],
        ...     "cells": [{"variants": [{"key": "c", "weight": 1.0}], "control": "c"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> equal_mix(exp).shares
        {('a', 'buy'): 0.5, ('b', 'buy'): 0.5}
    """
    keys = experiment.segment_keys()
    if segment_shares:
        unknown = sorted(set(segment_shares) - set(keys))
        if unknown:
            raise LifecycleError(f"--share: unknown segment(s) {unknown}; expected one of {keys}")
        total = sum(segment_shares.values())
        if not total > 0:
            raise LifecycleError(f"--share: found shares summing to {total}, expected > 0")
        weights = {k: segment_shares.get(k, 0.0) / total for k in keys}
    else:
        weights = {k: 1.0 / len(keys) for k in keys}
    shares = {(seg, st): weights[seg] for seg in keys for st in experiment.stages}
    return TrafficMix(shares, None, 0, "equal" if not segment_shares else "--share")
