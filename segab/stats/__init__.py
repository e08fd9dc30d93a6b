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

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use
    from segab.stats.bayesian import BetaPrior, NormalPrior
    from segab.stats.compare import compare, compare_many_arms
    from segab.stats.ebci import (
        ebci_critical_value,
        ebci_max_non_coverage,
        ebci_parametric_critical_value,
    )
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
    from segab.stats.shrinkage import ShrinkageGroup, ShrinkageResult, shrink, tau2_estimate
    from segab.stats.srm import srm_test
    from segab.stats.sufficient import CupedStats, MeanStats, ProportionStats, RatioStats
    from segab.stats.tailoring import TailoringResult, tailoring_value
    from segab.stats.vectorized import (
        compare_cells,
        compare_cuped_arrays,
        compare_means_arrays,
        compare_proportions_arrays,
        compare_ratio_arrays,
    )
    from segab.stats.winners import (
        WinnerResult,
        projection_critical_value,
        truncated_normal_cdf,
        winner_inference,
    )

# name -> module: importing one module (say segab.stats.result) does not load
# scipy and statsmodels through this package
_EXPORTS = {
    "ArmsTest": "segab.stats.result",
    "BetaPrior": "segab.stats.bayesian",
    "Comparison": "segab.stats.result",
    "ComparisonArrays": "segab.stats.result",
    "CupedStats": "segab.stats.sufficient",
    "HeterogeneityResult": "segab.stats.result",
    "MeanStats": "segab.stats.sufficient",
    "NormalPrior": "segab.stats.bayesian",
    "ProportionStats": "segab.stats.sufficient",
    "RatioStats": "segab.stats.sufficient",
    "ShrinkageGroup": "segab.stats.shrinkage",
    "ShrinkageResult": "segab.stats.shrinkage",
    "SrmResult": "segab.stats.result",
    "TailoringResult": "segab.stats.tailoring",
    "WinnerResult": "segab.stats.winners",
    "achieved_power": "segab.stats.power",
    "adjust_p_values": "segab.stats.multiple",
    "compare": "segab.stats.compare",
    "compare_cells": "segab.stats.vectorized",
    "compare_cuped_arrays": "segab.stats.vectorized",
    "compare_many_arms": "segab.stats.compare",
    "compare_means_arrays": "segab.stats.vectorized",
    "compare_proportions_arrays": "segab.stats.vectorized",
    "compare_ratio_arrays": "segab.stats.vectorized",
    "ebci_critical_value": "segab.stats.ebci",
    "ebci_max_non_coverage": "segab.stats.ebci",
    "ebci_parametric_critical_value": "segab.stats.ebci",
    "heterogeneity": "segab.stats.heterogeneity",
    "minimum_detectable_effect": "segab.stats.power",
    "projection_critical_value": "segab.stats.winners",
    "sample_size_per_arm": "segab.stats.power",
    "shrink": "segab.stats.shrinkage",
    "srm_test": "segab.stats.srm",
    "tailoring_value": "segab.stats.tailoring",
    "tau2_estimate": "segab.stats.shrinkage",
    "truncated_normal_cdf": "segab.stats.winners",
    "winner_inference": "segab.stats.winners",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segab.stats' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps ``segab.stats.compare`` and ``segab.stats.heterogeneity`` the functions.

    Importing a submodule binds it on its package under its own name; two
    submodules share their name with the function they define, which the eager
    imports used to rebind. Here the package declines those two bindings, so
    :func:`__getattr__` returns the functions (``sys.modules`` keeps the modules).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    "ShrinkageGroup",
    "ShrinkageResult",
    "SrmResult",
    "TailoringResult",
    "WinnerResult",
    "achieved_power",
    "adjust_p_values",
    "compare",
    "compare_cells",
    "compare_cuped_arrays",
    "compare_many_arms",
    "compare_means_arrays",
    "compare_proportions_arrays",
    "compare_ratio_arrays",
    "ebci_critical_value",
    "ebci_max_non_coverage",
    "ebci_parametric_critical_value",
    "heterogeneity",
    "minimum_detectable_effect",
    "projection_critical_value",
    "sample_size_per_arm",
    "shrink",
    "srm_test",
    "tailoring_value",
    "tau2_estimate",
    "truncated_normal_cdf",
    "winner_inference",
]
