"""Oracle: GrowthBook's 2026 gbstats (``packages/stats``), from ``$SEGAB_GBSTATS_PATH``.

Post-stratification: the same point estimate; GrowthBook's variance is segab's
(conditional on the strata sizes, Miratrix et al. 2013) plus the multinomial
term for random strata sizes, which the test adds. One covariate: GrowthBook's
CUPED (one pooled θ) and segab's Lin regression are different estimators that
agree closely on a large sample. Skipped when the variable is unset.
"""

from __future__ import annotations

from typing import Any

import pytest

from analysis.gbstats_poststrat import compare_cuped, compare_post_stratified, load_gbstats

pytestmark = pytest.mark.peer  # `make test-peer` with $SEGAB_GBSTATS_PATH


@pytest.fixture(scope="module")
def gb() -> Any:
    loaded = load_gbstats()
    if isinstance(loaded, str):
        pytest.skip(loaded)
    return loaded


@pytest.mark.parametrize(("seed", "binary"), [(1, False), (2, True), (5, False)])
def test_post_stratified_matches_growthbook(gb: Any, seed: int, binary: bool) -> None:
    out = compare_post_stratified(gb, seed, binary)
    assert out["segab_effect"] == pytest.approx(out["gb_effect"], rel=1e-10)
    assert out["segab_se_plus_multinomial"] == pytest.approx(out["gb_se"], rel=1e-10)
    assert out["segab_se"] == pytest.approx(out["gb_se"], rel=1e-2)


def test_one_covariate_close_to_growthbook_cuped(gb: Any) -> None:
    out = compare_cuped(gb, 3)
    assert out["effect_digits"] > 3 and out["se_digits"] > 3
