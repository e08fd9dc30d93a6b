"""Bad input gives a defined result with a warning: never a crash, never a NaN finding."""

from __future__ import annotations

import json
import math

import pytest

from segab.errors import StatsError
from segab.stats import (
    CupedStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
    compare_many_arms,
    heterogeneity,
    srm_test,
)

METHODS = ["frequentist", "sequential", "bayesian"]

BAD_CELLS = [
    # (control, treatment, expected warning fragment)
    (ProportionStats(0, 0), ProportionStats(100, 10), "no units"),
    (ProportionStats(100, 10), ProportionStats(0, 0), "no units"),
    (ProportionStats(0, 0), ProportionStats(0, 0), "no units"),
    (ProportionStats(500, 0), ProportionStats(500, 0), "no conversions"),
    (ProportionStats(500, 500), ProportionStats(500, 500), "every unit converted"),
    (ProportionStats(500, 0), ProportionStats(500, 7), "control mean is zero"),
    (MeanStats(0, 0.0, 0.0), MeanStats(10, 10.0, 20.0), "no units"),
    (MeanStats(1, 5.0, 25.0), MeanStats(10, 10.0, 20.0), "fewer than 2 units"),
    (MeanStats(10, 30.0, 90.0), MeanStats(10, 30.0, 90.0), "no variance"),
    (MeanStats(10, 30.0, 90.0), MeanStats(12, 48.0, 192.0), "no variance"),
    (MeanStats(10, 0.0, 10.0), MeanStats(10, 5.0, 12.0), "control mean is zero"),
    (CupedStats(0, 0, 0, 0, 0, 0), CupedStats(5, 5.0, 7.0, 5.0, 7.0, 7.0), "no units"),
    (CupedStats(3, 3.0, 3.0, 3.0, 3.0, 3.0), CupedStats(3, 3.0, 3.0, 3.0, 3.0, 3.0), "no variance"),
    (RatioStats(0, 0, 0, 0, 0, 0), RatioStats(3, 3.0, 5.0, 3.0, 3.0, 3.0), "no units"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("control", "treatment", "fragment"), BAD_CELLS)
def test_defined_result_with_warning(
    control: object, treatment: object, fragment: str, method: str
) -> None:
    c = compare(control, treatment, method=method)  # type: ignore[arg-type]
    assert any(fragment in w for w in c.warnings), c.warnings
    if math.isnan(c.p_value) and c.method != "bayesian":
        assert not c.significant
    if c.chance_to_win is not None and math.isnan(c.chance_to_win):
        assert not c.significant
    json.dumps(c.to_dict(), allow_nan=False)  # JSON-ready: no NaN leaks out


def test_zero_conversions_is_not_significant() -> None:
    c = compare(ProportionStats(500, 0), ProportionStats(500, 0))
    assert c.test == "fisher_exact" and c.p_value == 1.0 and not c.significant
    assert math.isnan(c.abs_ci_low)
    z = compare(ProportionStats(500, 0), ProportionStats(500, 0), fisher_fallback=False)
    assert math.isnan(z.p_value) and not z.significant
    assert any("test undefined" in w for w in z.warnings)


def test_nan_p_value_passes_through_corrections() -> None:
    c = compare(MeanStats(10, 30.0, 90.0), MeanStats(10, 30.0, 90.0))
    assert not c.with_adjusted(math.nan).significant


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": 0}, "alpha"),
        ({"alternative": "bigger"}, "alternative"),
        ({"method": "magic"}, "method"),
        ({"method": "sequential", "sequential_tuning": -1}, "sequential_tuning"),
    ],
)
def test_bad_settings_raise(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(StatsError, match=match):
        compare(MeanStats(3, 3.0, 5.0), MeanStats(3, 4.0, 7.0), **kwargs)  # type: ignore[arg-type]


def test_mixed_types_raise() -> None:
    with pytest.raises(StatsError, match="same statistics type"):
        compare(ProportionStats(3, 1), MeanStats(3, 3.0, 5.0))


def test_srm_and_arms_edge_cases() -> None:
    empty = srm_test([0, 0], [0.5, 0.5])
    assert math.isnan(empty.p_value) and not empty.flagged and empty.warnings
    stray = srm_test([10, 5], [1.0, 0.0])
    assert stray.flagged
    with pytest.raises(StatsError, match="weights"):
        srm_test([10, 5], [-1.0, 2.0])
    with pytest.raises(StatsError, match="counts"):
        srm_test([10, 5], [0.5])
    t = compare_many_arms([ProportionStats(100, 0), ProportionStats(100, 0)])
    assert math.isnan(t.p_value) and t.warnings
    one = compare_many_arms([ProportionStats(100, 5), ProportionStats(0, 0)])
    assert math.isnan(one.p_value) and len(one.warnings) == 2


def test_heterogeneity_edge_cases() -> None:
    h = heterogeneity([0.1, math.nan, 0.2], [0.01, 0.01, 0.0])
    assert h.k == 1 and math.isnan(h.q) and h.pooled == pytest.approx(0.1) and h.warnings
    none = heterogeneity([], [])
    assert none.k == 0 and math.isnan(none.pooled)
    json.dumps(none.to_dict(), allow_nan=False)
