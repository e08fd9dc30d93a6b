"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from segab.config import Experiment, parse_experiment


def make_experiment(**overrides: Any) -> Experiment:
    """A minimal valid experiment, with fields overridden."""
    raw: dict[str, Any] = {
        "key": "exp",
        "name": "Test experiment",
        "unit": "user_id",
        "status": "running",
        "segments": [
            {"key": "young", "when": {"age": {"$lt": 35}}},
            {"key": "older", "when": {"age": {"$gte": 50}}},
        ],
        "fallback": "rest",
        "cells": [
            {
                "control": "a",
                "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            }
        ],
        "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}},
    }
    raw.update(overrides)
    return parse_experiment(raw)


@pytest.fixture
def experiment_factory() -> Callable[..., Experiment]:
    return make_experiment
