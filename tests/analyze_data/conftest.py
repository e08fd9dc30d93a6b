"""Fixtures of the data half of ``segab analyze``: a small experiment and an event log."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from segab.config import Experiment, parse_experiment


def make_exp(**overrides: Any) -> Experiment:
    """Two stages, one segment plus the fallback, a/b, one metric of every kind."""
    raw: dict[str, Any] = {
        "key": "exp",
        "name": "Fixture",
        "unit": "user_id",
        "status": "running",
        "stages": ["awareness", "purchase"],
        "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
        "fallback": "rest",
        "cells": [
            {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
        ],
        "metrics": {
            "primary": {"key": "conv", "kind": "binary", "event": "purchase"},
            "secondary": [
                {"key": "rev", "kind": "continuous", "event": "revenue"},
                {"key": "rpc", "kind": "ratio", "event": "revenue", "denominator_event": "click"},
                {
                    "key": "roi",
                    "kind": "ratio",
                    "event": "revenue",
                    "cost_per_unit": {"a": 0.5, "b": 2.0},
                },
            ],
        },
        "analysis": {"attribution_window": "7d"},
    }
    raw.update(overrides)
    return parse_experiment(raw)


def exposures_df() -> pd.DataFrame:
    rows = [
        ("u1", "young", "awareness", "a", "2024-01-01 00:00:00"),
        ("u2", "young", "awareness", "a", "2024-01-01 00:00:00"),
        ("u3", "young", "awareness", "b", "2024-01-01 00:00:00"),
        ("u4", "young", "awareness", "b", "2024-01-01 00:00:00"),
        ("u5", "young", "purchase", "b", "2024-01-03 00:00:00"),
    ]
    df = pd.DataFrame(rows, columns=["user_id", "segment", "stage", "variant", "timestamp"])
    df.insert(1, "experiment", "exp")
    df.insert(2, "iteration", 1)
    df["in_experiment"] = True
    return df


def events_df() -> pd.DataFrame:
    rows = [
        ("u1", "purchase", None, "2024-01-02 00:00:00"),
        ("u1", "revenue", 10.0, "2024-01-02 00:00:00"),
        ("u1", "revenue", 5.0, "2024-01-03 00:00:00"),
        ("u1", "click", 1.0, "2024-01-02 00:00:00"),
        ("u1", "click", 1.0, "2024-01-02 01:00:00"),
        ("u2", "click", 1.0, "2024-01-02 00:00:00"),
        ("u3", "purchase", None, "2024-01-05 00:00:00"),
        ("u3", "revenue", 20.0, "2024-01-05 00:00:00"),
        ("u3", "click", 1.0, "2024-01-05 00:00:00"),
        # a second later: an exact repeat would be a duplicate event (counted)
        ("u3", "click", 1.0, "2024-01-05 00:00:01"),
        ("u3", "click", 1.0, "2024-01-06 00:00:00"),
        ("u5", "purchase", None, "2024-01-04 00:00:00"),
        ("u5", "revenue", 7.0, "2024-01-04 00:00:00"),
        ("u5", "page_view", None, "2024-01-04 00:00:00"),
    ]
    return pd.DataFrame(rows, columns=["user_id", "event", "value", "timestamp"])


@pytest.fixture
def exp() -> Experiment:
    return make_exp()


@pytest.fixture
def exposures() -> pd.DataFrame:
    return exposures_df()


@pytest.fixture
def events() -> pd.DataFrame:
    return events_df()


@pytest.fixture
def exp_factory() -> Any:
    return make_exp
