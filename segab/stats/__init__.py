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
    from segab.stats.adaptive import (
        StratifiedEstimate,
        period_stratified,
        period_weighted_arms,
        uniform_slice_comparison,
    )
    from segab.stats.aipw import AdaptiveEstimate, adaptively_weighted
    from segab.stats.ash import ash_arrays
    from segab.stats.bandit import (
        Allocation,
        Graduation,
        GraduationRule,
        allocate,
        constrained_weights,
        graduation,
        round_to_grid,
        top_two_weights,
    )
    from segab.stats.bayesian import BetaPrior, NormalPrior
    from segab.stats.best_arm import BestArm, best_arm, beta_prob_greater
    from segab.stats.compare import compare, compare_many_arms
    from segab.stats.eb_power import eb_power, eb_sample_size_per_arm
    from segab.stats.ebci import (
        ebci_critical_value,
        ebci_max_non_coverage,
        ebci_parametric_critical_value,
    )
    from segab.stats.heterogeneity import heterogeneity
    from segab.stats.multiple import adjust_p_values
    from segab.stats.npmle import NpmleArrays, NpmleResult, npmle, npmle_arrays
    from segab.stats.posteriors import BetaArms, NormalArms, arm_posteriors
    from segab.stats.power import (
        achieved_power,
        minimum_detectable_effect,
        quantile_variance_factor,
        sample_size_per_arm,
    )
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
    from segab.stats.tau2_bounds import tau2_upper_bound
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
    "AdaptiveEstimate": "segab.stats.aipw",
    "Allocation": "segab.stats.bandit",
    "ArmsTest": "segab.stats.result",
    "BestArm": "segab.stats.best_arm",
    "BetaArms": "segab.stats.posteriors",
    "BetaPrior": "segab.stats.bayesian",
    "Comparison": "segab.stats.result",
    "ComparisonArrays": "segab.stats.result",
    "CupedStats": "segab.stats.sufficient",
    "Graduation": "segab.stats.bandit",
    "GraduationRule": "segab.stats.bandit",
    "HeterogeneityResult": "segab.stats.result",
    "MeanStats": "segab.stats.sufficient",
    "NormalArms": "segab.stats.posteriors",
    "NormalPrior": "segab.stats.bayesian",
    "NpmleArrays": "segab.stats.npmle",
    "NpmleResult": "segab.stats.npmle",
    "ProportionStats": "segab.stats.sufficient",
    "RatioStats": "segab.stats.sufficient",
    "ShrinkageGroup": "segab.stats.shrinkage",
    "ShrinkageResult": "segab.stats.shrinkage",
    "SrmResult": "segab.stats.result",
    "StratifiedEstimate": "segab.stats.adaptive",
    "TailoringResult": "segab.stats.tailoring",
    "WinnerResult": "segab.stats.winners",
    "achieved_power": "segab.stats.power",
    "adaptively_weighted": "segab.stats.aipw",
    "adjust_p_values": "segab.stats.multiple",
    "allocate": "segab.stats.bandit",
    "arm_posteriors": "segab.stats.posteriors",
    "ash_arrays": "segab.stats.ash",
    "best_arm": "segab.stats.best_arm",
    "beta_prob_greater": "segab.stats.best_arm",
    "compare": "segab.stats.compare",
    "compare_cells": "segab.stats.vectorized",
    "compare_cuped_arrays": "segab.stats.vectorized",
    "compare_many_arms": "segab.stats.compare",
    "compare_means_arrays": "segab.stats.vectorized",
    "compare_proportions_arrays": "segab.stats.vectorized",
    "compare_ratio_arrays": "segab.stats.vectorized",
    "constrained_weights": "segab.stats.bandit",
    "eb_power": "segab.stats.eb_power",
    "eb_sample_size_per_arm": "segab.stats.eb_power",
    "ebci_critical_value": "segab.stats.ebci",
    "ebci_max_non_coverage": "segab.stats.ebci",
    "ebci_parametric_critical_value": "segab.stats.ebci",
    "graduation": "segab.stats.bandit",
    "heterogeneity": "segab.stats.heterogeneity",
    "minimum_detectable_effect": "segab.stats.power",
    "npmle": "segab.stats.npmle",
    "npmle_arrays": "segab.stats.npmle",
    "period_stratified": "segab.stats.adaptive",
    "period_weighted_arms": "segab.stats.adaptive",
    "projection_critical_value": "segab.stats.winners",
    "quantile_variance_factor": "segab.stats.power",
    "round_to_grid": "segab.stats.bandit",
    "sample_size_per_arm": "segab.stats.power",
    "shrink": "segab.stats.shrinkage",
    "srm_test": "segab.stats.srm",
    "tailoring_value": "segab.stats.tailoring",
    "tau2_estimate": "segab.stats.shrinkage",
    "tau2_upper_bound": "segab.stats.tau2_bounds",
    "top_two_weights": "segab.stats.bandit",
    "truncated_normal_cdf": "segab.stats.winners",
    "uniform_slice_comparison": "segab.stats.adaptive",
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
    "AdaptiveEstimate",
    "Allocation",
    "ArmsTest",
    "BestArm",
    "BetaArms",
    "BetaPrior",
    "Comparison",
    "ComparisonArrays",
    "CupedStats",
    "Graduation",
    "GraduationRule",
    "HeterogeneityResult",
    "MeanStats",
    "NormalArms",
    "NormalPrior",
    "NpmleArrays",
    "NpmleResult",
    "ProportionStats",
    "RatioStats",
    "ShrinkageGroup",
    "ShrinkageResult",
    "SrmResult",
    "StratifiedEstimate",
    "TailoringResult",
    "WinnerResult",
    "achieved_power",
    "adaptively_weighted",
    "adjust_p_values",
    "allocate",
    "arm_posteriors",
    "ash_arrays",
    "best_arm",
    "beta_prob_greater",
    "compare",
    "compare_cells",
    "compare_cuped_arrays",
    "compare_many_arms",
    "compare_means_arrays",
    "compare_proportions_arrays",
    "compare_ratio_arrays",
    "constrained_weights",
    "eb_power",
    "eb_sample_size_per_arm",
    "ebci_critical_value",
    "ebci_max_non_coverage",
    "ebci_parametric_critical_value",
    "graduation",
    "heterogeneity",
    "minimum_detectable_effect",
    "npmle",
    "npmle_arrays",
    "period_stratified",
    "period_weighted_arms",
    "projection_critical_value",
    "quantile_variance_factor",
    "round_to_grid",
    "sample_size_per_arm",
    "shrink",
    "srm_test",
    "tailoring_value",
    "tau2_estimate",
    "tau2_upper_bound",
    "top_two_weights",
    "truncated_normal_cdf",
    "uniform_slice_comparison",
    "winner_inference",
]
