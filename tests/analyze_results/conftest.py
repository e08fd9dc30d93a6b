"""Fixtures of the results half of ``segab analyze``: experiments and hand-built sums."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import pytest

from segab.config import Experiment, parse_experiment
from segab.sums.aggregate import SUM_COLUMNS, Aggregates

METRICS: dict[str, Any] = {
    "primary": {"key": "conv", "kind": "binary", "event": "purchase", "mde": 0.1},
    "secondary": [
        {"key": "rev", "kind": "continuous", "event": "revenue"},
        {
            "key": "roi",
            "kind": "ratio",
            "event": "revenue",
            "cost_per_unit": {"a": 1.0, "b": 2.0, "c": 2.0},
        },
    ],
    "guardrail": [
        {"key": "unsub", "kind": "binary", "event": "unsubscribe", "direction": "decrease"}
    ],
}


def make_exp(**overrides: Any) -> Experiment:
    """Two segments plus the fallback, two stages, a/b everywhere, one metric of each kind."""
    raw: dict[str, Any] = {
        "key": "exp",
        "name": "Fixture experiment",
        "unit": "user_id",
        "status": "running",
        "stages": ["awareness", "purchase"],
        "segments": [
            {"key": "young", "when": {"age": {"$lt": 35}}},
            {"key": "older", "when": {"age": {"$gte": 50}}},
        ],
        "fallback": "rest",
        "cells": [
            {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
        ],
        "metrics": METRICS,
        "analysis": {"correction": "holm", "mde": 0.1},
    }
    raw.update(overrides)
    return parse_experiment(raw)


def sums_frame(rows: Iterable[dict[str, Any]], dims: Sequence[str] = ()) -> pd.DataFrame:
    """A ``sums`` frame: each row gives segment, stage, variant, metric and some sums."""
    cols = ["segment", "stage", "variant", *dims, "metric", *SUM_COLUMNS]
    out = []
    for r in rows:
        rec = {c: r.get(c, 0.0) for c in cols}
        rec["n"] = int(r["n"])
        out.append(rec)
    return pd.DataFrame(out, columns=cols)


def binary(segment: str, stage: str, variant: str, n: int, x: int, metric: str = "conv") -> dict:
    return {
        "segment": segment,
        "stage": stage,
        "variant": variant,
        "metric": metric,
        "n": n,
        "sum": float(x),
        "sum_sq": float(x),
    }


def aggregates(
    sums: pd.DataFrame,
    dims: Sequence[str] = (),
    exposures: pd.DataFrame | None = None,
    quality: dict[str, int] | None = None,
) -> Aggregates:
    """Aggregates from hand-built sums; exposure counts default to the primary metric's n."""
    if exposures is None:
        first = sums["metric"].iloc[0] if len(sums) else "conv"
        keys = ["segment", "stage", "variant", *dims]
        exposures = sums.loc[sums["metric"] == first, [*keys, "n"]].reset_index(drop=True)
    funnel = pd.DataFrame(
        {c: [] for c in ("segment", "variant", "stage", "next_stage", "n_exposed", "n_reached")}
    )
    return Aggregates(sums, exposures, funnel, dict(quality or {}), tuple(dims))


@pytest.fixture
def exp() -> Experiment:
    return make_exp()
