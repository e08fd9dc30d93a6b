"""Options of a metric beyond what it counts: capping and a non-inferiority margin.

- :class:`Cap` (``cap:``): winsorise each unit's value of a continuous or ratio
  metric (the numerator of a ratio) at an absolute ``value`` or at a ``percentile``
  of the per-unit values over the whole experiment, computed in the engine
  (docs/statistics.md, "Capping");
- ``covariates:`` columns of pre-exposure metrics or numeric unit attributes
  (:func:`check_covariates`); the metric's effect is then regression-adjusted
  (docs/statistics.md, "Regression adjustment");
- :class:`Margin` (``margin:``): the largest acceptable harm of a guardrail, in its
  bad ``direction``, ``absolute`` (in the metric's units) or ``relative`` (a share
  of the control mean); the guardrail is then tested for non-inferiority
  (docs/statistics.md, "Non-inferiority guardrails").

Example:
    >>> Cap(percentile=0.99, ignore_zeros=True).describe()
    'p99 of per-unit values, zeros ignored'
    >>> Margin(relative=0.02).describe()
    '2%'
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_COVARIATES", "Cap", "Margin", "check_covariates"]

MAX_COVARIATES = 10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Cap(_Strict):
    """A cap on each unit's value: ``value`` (absolute) or ``percentile`` (in (0, 1)).

    ``ignore_zeros`` leaves the units whose value is 0 out of the percentile (they
    are still counted and summed).

    Example:
        >>> Cap(value=500).describe(), Cap(percentile=0.999).describe()
        ('500', 'p99.9 of per-unit values')
    """

    value: float | None = Field(default=None)
    percentile: float | None = Field(default=None, gt=0.0, lt=1.0)
    ignore_zeros: bool = False

    @model_validator(mode="after")
    def _one_rule(self) -> Cap:
        if (self.value is None) == (self.percentile is None):
            raise ValueError(
                "a cap needs exactly one of 'value' (an absolute cap) or 'percentile' "
                "(in (0, 1), e.g. 0.99)"
            )
        if self.ignore_zeros and self.percentile is None:
            raise ValueError("'ignore_zeros' applies to a 'percentile' cap only")
        return self

    def describe(self) -> str:
        """The cap in words, for reports.

        Example:
            >>> Cap(percentile=0.95).describe()
            'p95 of per-unit values'
        """
        if self.percentile is None:
            return f"{self.value:g}"
        zeros = ", zeros ignored" if self.ignore_zeros else ""
        return f"p{self.percentile * 100:g} of per-unit values{zeros}"


class Margin(_Strict):
    """A guardrail's non-inferiority margin: ``absolute`` or ``relative`` (both > 0).

    Example:
        >>> Margin(absolute=0.01).scale, Margin(absolute=0.01).size
        ('absolute', 0.01)
    """

    absolute: float | None = Field(default=None, gt=0.0)
    relative: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _one_scale(self) -> Margin:
        if (self.absolute is None) == (self.relative is None):
            raise ValueError(
                "a margin needs exactly one of 'absolute' (in the metric's units) or "
                "'relative' (a share of the control mean, e.g. 0.02)"
            )
        return self

    @property
    def scale(self) -> str:
        """``absolute`` or ``relative``.

        Example:
            >>> Margin(relative=0.05).scale
            'relative'
        """
        return "absolute" if self.absolute is not None else "relative"

    @property
    def size(self) -> float:
        """The margin's size on its scale.

        Example:
            >>> Margin(relative=0.05).size
            0.05
        """
        return float(self.absolute if self.absolute is not None else self.relative or 0.0)

    def describe(self) -> str:
        """The margin in words: ``1%`` (relative) or ``0.01`` (absolute).

        Example:
            >>> Margin(absolute=0.5).describe()
            '0.5'
        """
        if self.relative is not None:
            return f"{self.relative * 100:g}%"
        return f"{self.size:g}"


def check_covariates(
    kind: str, column: str | None, covariates: list[str] | None, window: bool = False
) -> None:
    """Check a metric's ``covariates``: binary or continuous, distinct names, not the outcome,
    no retention ``window`` (its sums count mature units only).

    Raises ``ValueError`` (pydantic turns it into a located config error).

    Example:
        >>> check_covariates("continuous", "spend", ["pre_spend", "age"])
        >>> check_covariates("ratio", None, ["x"])
        Traceback (most recent call last):
        ...
        ValueError: 'covariates' apply to binary and continuous metrics, not ratio ones
    """
    if covariates is None:
        return
    if kind == "ratio":
        raise ValueError("'covariates' apply to binary and continuous metrics, not ratio ones")
    if window:
        raise ValueError("'covariates' and a retention 'window' cannot be combined")
    for name in covariates:
        if not name.strip():
            raise ValueError("'covariates': found an empty name, expected column names")
        if name == column:
            raise ValueError(
                f"'covariates': found the metric's own column {name!r}, expected pre-exposure "
                "columns (an outcome cannot adjust itself)"
            )
    repeated = sorted({c for c in covariates if covariates.count(c) > 1})
    if repeated:
        raise ValueError(f"'covariates': found {repeated} more than once, expected each once")
