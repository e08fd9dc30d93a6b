"""Shared fixtures, and the CI rule: under ``CI=true`` a skipped test is a failed one.

CI (``.ci/run``) installs everything the suite needs (PostgreSQL URL, Java for
Spark, Debian's Chromium), so a test that skips there hides a missing install
step. Doctest lines marked ``+SKIP`` are examples that need outside resources
(a store on disk, a Spark cluster) and stay skipped, and so do cross-checks
against an *optional peer* that no registry serves (their skip reason starts with
``optional peer:``; GrowthBook's 2026 ``gbstats``, read from a path in an
environment variable, is one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any

import pytest
from _pytest.doctest import DoctestItem

from segab.config import Experiment, parse_experiment


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or isinstance(item, DoctestItem):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if "optional peer:" in reason:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true ({reason}): CI installs everything the suite needs, "
        "so this skip hides a missing install step in .ci/run"
    )


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
