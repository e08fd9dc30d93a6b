"""segab's stats engine: pure functions over sufficient statistics.

No I/O and no rows: each cell is summarised by additive value objects
(:class:`ProportionStats`, :class:`MeanStats`, :class:`CupedStats`,
:class:`RatioStats`) that pool by ``+``. :func:`compare` returns a frozen
:class:`Comparison`; the ``compare_*_arrays`` functions do the same for many
cells at once. See ``docs/statistics.md`` for every formula.

Example:
    >>> from segab.stats import ProportionStats, compare
    >>> c = compare(ProportionStats(10000, 1000), ProportionStats(10000, 1100))
    >>> round(c.p_value, 6), round(c.rel_lift, 4)
    (0.021075, 0.1)
"""

from segab.stats.bayesian import BetaPrior, NormalPrior
from segab.stats.compare import compare, compare_many_arms
from segab.stats.heterogeneity import heterogeneity
from segab.stats.multiple import adjust_p_values
from segab.stats.power import achieved_power, minimum_detectable_effect, sample_size_per_arm
from segab.stats.result import (
    ArmsTest,
    Comparison,
    ComparisonArrays,
    HeterogeneityResult,
    SrmResult,
)
from segab.stats.srm import srm_test
from segab.stats.sufficient import CupedStats, MeanStats, ProportionStats, RatioStats
from segab.stats.vectorized import (
    compare_cells,
    compare_cuped_arrays,
    compare_means_arrays,
    compare_proportions_arrays,
    compare_ratio_arrays,
)

__all__ = [
    "ArmsTest",
    "BetaPrior",
    "Comparison",
    "ComparisonArrays",
    "CupedStats",
    "HeterogeneityResult",
    "MeanStats",
    "NormalPrior",
    "ProportionStats",
    "RatioStats",
    "SrmResult",
    "achieved_power",
    "adjust_p_values",
    "compare",
    "compare_cells",
    "compare_cuped_arrays",
    "compare_many_arms",
    "compare_means_arrays",
    "compare_proportions_arrays",
    "compare_ratio_arrays",
    "heterogeneity",
    "minimum_detectable_effect",
    "sample_size_per_arm",
    "srm_test",
]
