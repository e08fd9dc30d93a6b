"""Result types of the stats engine: frozen, JSON-ready through ``to_dict()``.

Undefined quantities are NaN in Python and ``None`` in ``to_dict()`` (also
``±inf``, the open end of a one-sided interval). A comparison whose p-value is
NaN is never significant.

Example:
    >>> c = Comparison(0.1, 0.11, 100, 100, 0.01, -0.07, 0.09, 0.1, -0.7, 0.9,
    ...                0.8, None, "z_test", "frequentist", 0.05)
    >>> c.significant
    False
    >>> c.with_adjusted(0.9).to_dict()["p_adjusted"]
    0.9
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ArmsTest",
    "Comparison",
    "ComparisonArrays",
    "HeterogeneityResult",
    "SrmResult",
    "json_ready",
]

FloatArray = npt.NDArray[np.float64]


def json_ready(value: Any) -> Any:
    """Turn NaN/±inf into ``None``, numpy scalars into Python, tuples into lists.

    Example:
        >>> json_ready({"a": float("nan"), "b": (1.0, float("inf"))})
        {'a': None, 'b': [1.0, None]}
    """
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one metric in one cell.

    ``abs_*`` is on the scale of the metric (treatment − control), ``rel_*`` is
    ``treatment/control − 1`` with a delta-method interval. For Bayesian
    comparisons the intervals are credible intervals and ``p_value`` is NaN
    (the decision uses ``chance_to_win``). For CUPED, ``control_mean`` and
    ``treatment_mean`` are the raw means and the lifts are the adjusted ones.
    ``abs_se``/``rel_se`` are the standard errors of the lifts (posterior
    standard deviations for Bayesian results), e.g. for :func:`heterogeneity`.

    Example:
        >>> c = Comparison(0.1, 0.12, 1000, 1000, 0.02, 0.01, 0.03, 0.2, 0.1, 0.3,
        ...                0.001, None, "z_test", "frequentist", 0.05)
        >>> c.significant
        True
    """

    control_mean: float
    treatment_mean: float
    n_control: int
    n_treatment: int
    abs_lift: float
    abs_ci_low: float
    abs_ci_high: float
    rel_lift: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float
    p_adjusted: float | None
    test: str
    method: str
    alpha: float
    chance_to_win: float | None = None
    expected_loss: float | None = None
    variance_reduction: float | None = None
    warnings: tuple[str, ...] = ()
    alternative: str = "two-sided"
    abs_se: float | None = None
    rel_se: float | None = None

    def with_adjusted(self, p_adjusted: float) -> Comparison:
        """Return a copy carrying the multiple-testing adjusted p-value.

        Example:
            >>> c = Comparison(0.1, 0.1, 1, 1, 0, 0, 0, 0, 0, 0, 0.01, None, "t", "m", 0.05)
            >>> c.with_adjusted(0.04).p_adjusted
            0.04
        """
        return replace(self, p_adjusted=float(p_adjusted))

    @property
    def significant(self) -> bool:
        """Whether the result is a finding at ``alpha``; undefined results never are.

        Frequentist/sequential: the adjusted p-value if present, else the raw
        one, is below ``alpha`` (NaN → False). Bayesian: the chance to win is
        beyond ``1 − alpha/2`` or below ``alpha/2`` (one-sided: ``1 − alpha`` or
        ``alpha``).

        Example:
            >>> c = Comparison(0.1, 0.1, 1, 1, 0, 0, 0, 0, 0, 0, float("nan"), None, "t", "m", 0.05)
            >>> c.significant
            False
        """
        if self.method == "bayesian":
            ctw = self.chance_to_win
            if ctw is None or not math.isfinite(ctw):
                return False
            if self.alternative == "larger":
                return ctw >= 1 - self.alpha
            if self.alternative == "smaller":
                return ctw <= self.alpha
            return ctw >= 1 - self.alpha / 2 or ctw <= self.alpha / 2
        p = self.p_adjusted if self.p_adjusted is not None else self.p_value
        return bool(math.isfinite(p) and p < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """Snake_case, JSON-ready dict (NaN/inf → ``None``), with ``significant``.

        Example:
            >>> c = Comparison(0.1, 0.1, 1, 1, 0, 0, 0, 0, 0, 0, float("nan"), None, "t", "m", 0.05)
            >>> c.to_dict()["p_value"] is None
            True
        """
        out = json_ready(asdict(self))
        out["significant"] = self.significant
        return dict(out)


_ARRAY_FIELDS = (
    "control_mean",
    "treatment_mean",
    "n_control",
    "n_treatment",
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
)


@dataclass(frozen=True)
class ComparisonArrays:
    """Many comparisons at once: one numpy array per numeric field of :class:`Comparison`.

    ``test`` and ``warnings`` are per-cell tuples. Index it, iterate it or call
    :meth:`to_comparisons` to get :class:`Comparison` objects.

    Example:
        >>> import numpy as np
        >>> from segab.stats.vectorized import compare_proportions_arrays
        >>> r = compare_proportions_arrays(np.array([1000]), np.array([100]),
        ...                                np.array([1000]), np.array([130]))
        >>> len(r), round(float(r.abs_lift[0]), 3)
        (1, 0.03)
    """

    control_mean: FloatArray
    treatment_mean: FloatArray
    n_control: npt.NDArray[np.int64]
    n_treatment: npt.NDArray[np.int64]
    abs_lift: FloatArray
    abs_ci_low: FloatArray
    abs_ci_high: FloatArray
    rel_lift: FloatArray
    rel_ci_low: FloatArray
    rel_ci_high: FloatArray
    p_value: FloatArray
    test: tuple[str, ...]
    method: str
    alpha: float
    alternative: str = "two-sided"
    chance_to_win: FloatArray | None = None
    expected_loss: FloatArray | None = None
    variance_reduction: FloatArray | None = None
    warnings: tuple[tuple[str, ...], ...] = field(default=())
    abs_se: FloatArray | None = None
    rel_se: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.abs_lift.shape[0])

    def __getitem__(self, i: int) -> Comparison:
        def opt(arr: FloatArray | None) -> float | None:
            return None if arr is None else float(arr[i])

        values: dict[str, Any] = {name: getattr(self, name)[i].item() for name in _ARRAY_FIELDS}
        return Comparison(
            **values,
            p_adjusted=None,
            test=self.test[i],
            method=self.method,
            alpha=self.alpha,
            chance_to_win=opt(self.chance_to_win),
            expected_loss=opt(self.expected_loss),
            variance_reduction=opt(self.variance_reduction),
            warnings=self.warnings[i] if self.warnings else (),
            alternative=self.alternative,
            abs_se=opt(self.abs_se),
            rel_se=opt(self.rel_se),
        )

    def __iter__(self) -> Iterator[Comparison]:
        return (self[i] for i in range(len(self)))

    def to_comparisons(self) -> list[Comparison]:
        """All cells as :class:`Comparison` objects.

        Example:
            >>> import numpy as np
            >>> from segab.stats.vectorized import compare_proportions_arrays
            >>> one = np.array([100])
            >>> compare_proportions_arrays(one, one // 10, one, one // 5).to_comparisons()[0].test
            'z_test'
        """
        return list(self)


@dataclass(frozen=True)
class ArmsTest:
    """Chi-square test of independence across all arms of a binary metric.

    Example:
        >>> ArmsTest(chi2=1.0, df=2, p_value=0.6, warnings=()).to_dict()["df"]
        2
    """

    chi2: float
    df: int
    p_value: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> ArmsTest(float("nan"), 1, float("nan")).to_dict()["chi2"] is None
            True
        """
        return dict(json_ready(asdict(self)))


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch check: observed counts against configured weights.

    Example:
        >>> SrmResult(0.5, 0.48, False, (500.0, 500.0)).flagged
        False
    """

    chi2: float
    p_value: float
    flagged: bool
    expected: tuple[float, ...]
    threshold: float = 0.001
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> SrmResult(0.5, 0.48, False, (500.0, 500.0)).to_dict()["expected"]
            [500.0, 500.0]
        """
        return dict(json_ready(asdict(self)))


@dataclass(frozen=True)
class HeterogeneityResult:
    """Cochran's Q test that an effect is the same across segments, with the pooled effect.

    Example:
        >>> h = HeterogeneityResult(0.5, 1, 0.48, 0.0, 0.1, 0.02, 0.06, 0.14, 2)
        >>> h.k
        2
    """

    q: float
    df: int
    p_value: float
    i_squared: float
    pooled: float
    pooled_se: float
    pooled_ci_low: float
    pooled_ci_high: float
    k: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> HeterogeneityResult(0.5, 1, 0.48, 0.0, 0.1, 0.02, 0.06, 0.14, 2).to_dict()["q"]
            0.5
        """
        return dict(json_ready(asdict(self)))
