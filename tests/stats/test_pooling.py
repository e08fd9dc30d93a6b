"""Pooling property: the statistics of concatenated data equal the sum of the statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segab.errors import StatsError
from segab.stats import CupedStats, MeanStats, ProportionStats, RatioStats

binary = st.lists(st.integers(0, 1), max_size=60)
reals = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
chunks = st.lists(st.lists(reals, max_size=30), min_size=1, max_size=5)


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


@given(st.lists(binary, min_size=1, max_size=6))
def test_proportions_pool_exactly(parts: list[list[int]]) -> None:
    pooled = sum(ProportionStats.from_values(p) for p in parts)
    assert pooled == ProportionStats.from_values([v for p in parts for v in p])


@given(chunks)
@settings(max_examples=150)
def test_means_pool(parts: list[list[float]]) -> None:
    pooled = sum(MeanStats.from_values(p) for p in parts)
    whole = MeanStats.from_values([v for p in parts for v in p])
    assert isinstance(pooled, MeanStats)
    assert pooled.n == whole.n
    scale = sum(abs(v) for p in parts for v in p)
    assert _close(pooled.sum, whole.sum, scale)
    assert _close(pooled.sum_sq, whole.sum_sq, scale * 1e6)
    values = np.array([v for p in parts for v in p])
    if whole.n >= 2 and np.var(values) > 1e-3:
        assert pooled.variance == pytest.approx(np.var(values, ddof=1), rel=1e-6)


@given(st.lists(st.lists(st.tuples(reals, reals), max_size=20), min_size=1, max_size=4))
@settings(max_examples=100)
def test_cuped_and_ratio_pool(parts: list[list[tuple[float, float]]]) -> None:
    flat = [pair for p in parts for pair in p]
    for kind in (CupedStats, RatioStats):
        pooled = sum(kind.from_values([a for a, _ in p], [b for _, b in p]) for p in parts)
        whole = kind.from_values([a for a, _ in flat], [b for _, b in flat])
        assert isinstance(pooled, kind)
        assert pooled.n == whole.n
        for f in ("y_sum", "x_sum", "xy_sum") if kind is CupedStats else ("num_sum", "den_sum"):
            scale = sum(abs(a) + abs(b) for a, b in flat) * 1e6
            assert _close(getattr(pooled, f), getattr(whole, f), scale)


def test_sum_starts_at_zero_and_rejects_mixing() -> None:
    assert sum([ProportionStats(3, 1)]) == ProportionStats(3, 1)
    with pytest.raises(TypeError):
        _ = ProportionStats(3, 1) + MeanStats(3, 1.0, 1.0)
    with pytest.raises(StatsError):
        ProportionStats(3, 1).add(MeanStats(3, 1.0, 1.0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ProportionStats(-1, 0), "n: found -1"),
        (lambda: ProportionStats(10, 11), "conversions <= n"),
        (lambda: ProportionStats(10.5, 1), "expected an integer count"),  # type: ignore[arg-type]
        (lambda: ProportionStats(True, 1), "expected an integer count"),
        (lambda: MeanStats(3, math.nan, 1.0), "sum: found nan"),
        (lambda: MeanStats(3, 1.0, -1.0), "sum_sq: found -1.0"),
        (lambda: MeanStats(3, math.inf, 1.0), "expected a finite number"),
        (lambda: CupedStats(2, 1.0, 1.0, 1.0, 1.0, math.nan), "xy_sum"),
        (lambda: RatioStats(-2, 1.0, 1.0, 1.0, 1.0, 1.0), "RatioStats.n"),
    ],
)
def test_validation_errors(build: object, match: str) -> None:
    with pytest.raises(StatsError, match=match):
        build()  # type: ignore[operator]


def test_numpy_integers_accepted() -> None:
    s = ProportionStats(np.int64(10), np.int32(3))  # type: ignore[arg-type]
    assert s == ProportionStats(10, 3) and type(s.n) is int


def test_variance_is_stable_for_large_means() -> None:
    """Values around 1e6 with spread ~30: the variance from float64 sums stays accurate.

    Below the documented limit (variance/mean² < 1e-12, e.g. 1e9 ± 50) the
    centered sum is float64 round-off and is reported as zero variance.
    """
    values = 1e6 + np.arange(-50, 51, dtype=np.float64)
    s = MeanStats.from_values(values)
    assert s.variance == pytest.approx(np.var(values, ddof=1), rel=1e-6)
    assert MeanStats.from_values([1e9] * 10).variance == 0.0
    assert MeanStats.from_values(1e9 + np.arange(-50, 51, dtype=np.float64)).variance == 0.0
