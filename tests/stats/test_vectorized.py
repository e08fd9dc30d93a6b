"""The array path and single-cell compare() agree, cell by cell."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from segab.stats import (
    CupedStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
    compare_cells,
    compare_means_arrays,
    compare_proportions_arrays,
)

FIELDS = (
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "abs_se",
    "rel_se",
)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)


def _cells(seed: int = 0, k: int = 32) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n_c = rng.integers(0, 3000, k)
    n_t = rng.integers(0, 3000, k)
    n_c[:3] = [0, 5, 2000]
    n_t[:3] = [100, 6, 2000]
    x_c = rng.binomial(n_c, 0.08)
    x_t = rng.binomial(n_t, 0.09)
    return n_c, x_c, n_t, x_t


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
def test_proportion_arrays_agree_with_compare(method: str) -> None:
    n_c, x_c, n_t, x_t = _cells()
    arr = compare_proportions_arrays(n_c, x_c, n_t, x_t, 0.05, method=method)  # type: ignore[arg-type]
    for i in range(len(n_c)):
        one = compare(
            ProportionStats(int(n_c[i]), int(x_c[i])),
            ProportionStats(int(n_t[i]), int(x_t[i])),
            method=method,  # type: ignore[arg-type]
        )
        row = arr[i]
        for f in (*FIELDS, "p_value", "chance_to_win", "expected_loss"):
            assert _same(getattr(row, f), getattr(one, f)), (i, f)
        assert row.test == one.test and row.warnings == one.warnings


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_mean_arrays_agree_with_compare(alternative: str) -> None:
    rng = np.random.default_rng(1)
    cells = [
        (
            MeanStats.from_values(rng.gamma(2, 10, rng.integers(2, 500))),
            MeanStats.from_values(rng.gamma(2, 11, rng.integers(2, 500))),
        )
        for _ in range(32)
    ]
    c, t = zip(*cells, strict=True)
    arr = compare_means_arrays(
        [s.n for s in c],
        [s.sum for s in c],
        [s.sum_sq for s in c],
        [s.n for s in t],
        [s.sum for s in t],
        [s.sum_sq for s in t],
        alternative=alternative,  # type: ignore[arg-type]
    )
    for i, (a, b) in enumerate(cells):
        one = compare(a, b, alternative=alternative)  # type: ignore[arg-type]
        for f in (*FIELDS, "p_value"):
            assert _same(getattr(arr[i], f), getattr(one, f)), (i, f)


def test_compare_cells_cuped_and_ratio() -> None:
    rng = np.random.default_rng(2)
    cup: list[tuple[Any, Any]] = []
    rat: list[tuple[Any, Any]] = []
    for _ in range(8):
        x = rng.normal(5, 1, (2, 200))
        y = x + rng.normal(0, 1, (2, 200))
        cup.append((CupedStats.from_values(y[0], x[0]), CupedStats.from_values(y[1], x[1])))
        rat.append((RatioStats.from_values(y[0], x[0]), RatioStats.from_values(y[1], x[1])))
    for pairs in (cup, rat):
        ctl, trt = zip(*pairs, strict=True)
        arr = compare_cells(list(ctl), list(trt))
        for i, (a, b) in enumerate(pairs):
            one = compare(a, b)
            for f in (*FIELDS, "p_value", "variance_reduction"):
                assert _same(getattr(arr[i], f), getattr(one, f))


def test_to_comparisons_and_iteration() -> None:
    n_c, x_c, n_t, x_t = _cells(3, 4)
    arr = compare_proportions_arrays(n_c, x_c, n_t, x_t)
    assert len(arr.to_comparisons()) == 4 == len(list(arr))
