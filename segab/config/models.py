"""Pydantic models of an experiment config (the structure of a YAML file).

These models check shapes and types only; the cross-field rules (weights sum to
one, control among the variants, known stages and segments...) live in
:mod:`segab.config.checks`, so that every problem of a file is collected at once.

Example:
    >>> exp = Experiment.model_validate({
    ...     "key": "demo", "name": "Demo", "unit": "user_id",
    ...     "segments": [{"key": "all", "when": {}}],
    ...     "cells": [{"variants": [{"key": "control", "weight": 0.5},
    ...                             {"key": "b", "weight": 0.5}], "control": "control"}],
    ...     "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}}})
    >>> exp.seed, exp.stages[0]
    ('demo', 'awareness')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

from segab.config.allocation import AllocationSettings
from segab.config.metric_options import MAX_COVARIATES, Cap, Margin, check_covariates

__all__ = [
    "DEFAULT_STAGES",
    "MAX_CELLS",
    "MAX_METRICS",
    "MAX_SEGMENTS",
    "MAX_STAGES",
    "MAX_VARIANTS",
    "AnalysisSettings",
    "Cell",
    "Experiment",
    "Metric",
    "MetricWindow",
    "Metrics",
    "Namespace",
    "SegmentDef",
    "SegmentRef",
    "Variant",
]

DEFAULT_STAGES = ("awareness", "consideration", "purchase", "post_purchase")
# Upper bounds that keep every check and plan of a config fast (the checks compare
# segments pairwise and resolve a cell for every segment and stage).
MAX_SEGMENTS = 256
MAX_STAGES = 32
MAX_CELLS = 512
MAX_VARIANTS = 64
MAX_METRICS = 64
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _Strict(BaseModel):
    # strict: a number is a number (not true, nor the string "0.5"), a string is a string;
    # NaN and infinity are refused wherever a float is expected
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Variant(_Strict):
    """One arm of a cell: its key, its traffic weight, its label in the data and what it shows.

    ``weight`` is any non-negative number: the weights of a cell are normalised
    (``1/1/1`` and ``0.3333`` x 3 both split it in thirds; see
    :func:`segab.config.checks.weight_basis_points`). ``value`` is the arm's label
    as it appears in data (a unit table's arm column, an exposure log): any
    non-empty string, spaces and punctuation included (``" Civic Duty"``,
    ``"No E-Mail"``); without it the label is the key.

    Example:
        >>> Variant(key="no_email", weight=1, value="No E-Mail").label
        'No E-Mail'
        >>> Variant(key="social_video", weight=0.5).label
        'social_video'
    """

    key: str = Field(pattern=NAME_PATTERN, max_length=64)
    weight: float = Field(ge=0.0, le=1e9)
    value: str | None = Field(default=None, min_length=1, max_length=256)
    description: str = ""

    @property
    def label(self) -> str:
        """The arm's label in data: ``value``, else the key.

        Example:
            >>> Variant(key="a", weight=1.0, value=" Control").label
            ' Control'
        """
        return self.key if self.value is None else self.value

    @model_serializer(mode="wrap")
    def _without_value(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a variant without a label dumps (and fingerprints) as before labels existed
        data = handler(self)
        if self.value is None and isinstance(data, dict):
            data.pop("value", None)
        return data


class Cell(_Strict):
    """The variants of one (segment, stage) pair; ``*`` applies to all of them.

    Example:
        >>> c = Cell(segment="*", stage="purchase", control="a",
        ...          variants=[Variant(key="a", weight=1.0)])
        >>> c.coverage
        1.0
    """

    segment: str = "*"
    stage: str = "*"
    control: str
    coverage: float = Field(default=1.0, gt=0.0, le=1.0)
    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)
    allocation: AllocationSettings | None = None  # overrides the experiment's (bandit cells)

    @model_serializer(mode="wrap")
    def _without_allocation(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a cell without allocation settings dumps (and fingerprints) as before
        data = handler(self)
        if self.allocation is None and isinstance(data, dict):
            data.pop("allocation", None)
        return data


class SegmentDef(_Strict):
    """A segment defined inline: a key and a condition over user attributes.

    Example:
        >>> SegmentDef(key="older_email", when={"age": {"$gte": 45}}).key
        'older_email'
    """

    key: str = Field(pattern=NAME_PATTERN, max_length=64)
    description: str = ""
    when: dict[str, Any]


class SegmentRef(_Strict):
    """A reference to a segment of the shared ``segments.yaml`` library.

    Example:
        >>> SegmentRef(ref="young_social").ref
        'young_social'
    """

    ref: str = Field(pattern=NAME_PATTERN, max_length=64)


def _segment_kind(value: Any) -> str:
    """A segment with a ``ref`` is a reference; anything else is validated as a definition."""
    is_ref = isinstance(value, SegmentRef) or (isinstance(value, Mapping) and "ref" in value)
    return "SegmentRef" if is_ref else "SegmentDef"


# one error list per segment: the union is decided by the presence of ``ref``
_Segment = Annotated[
    Annotated[SegmentDef, Tag("SegmentDef")] | Annotated[SegmentRef, Tag("SegmentRef")],
    Discriminator(_segment_kind),
]


def _everyone() -> list[SegmentDef | SegmentRef]:
    return [SegmentDef(key="all", when={})]


DURATION_PATTERN = r"^\d+(s|m|h|d|w)$"


class MetricWindow(_Strict):
    """A window after each unit's first exposure, ``[start, end)``, as durations (``7d``).

    A binary metric with a window asks "did the unit do ``event`` between ``start``
    and ``end`` after its first exposure" (day-7 retention: ``{start: 7d, end: 8d}``);
    only units whose window has fully passed count (docs/statistics.md, "Retention").

    Example:
        >>> MetricWindow(start="7d", end="8d").end
        '8d'
    """

    start: str = Field(default="0s", pattern=DURATION_PATTERN)
    end: str = Field(pattern=DURATION_PATTERN)


class Metric(_Strict):
    """A metric: what it counts and how it is compared.

    ``kind`` is ``binary`` (did the unit do ``event`` at least once),
    ``continuous`` (the sum of ``event`` values, or the ``column`` value) or
    ``ratio`` (``event``'s value sum over ``denominator_event``'s, or ROI with
    ``cost_per_unit``). ``column`` names the outcome column in one-row-per-unit
    data. ``direction`` says which way is good. ``mde`` is the minimum
    detectable effect, relative to the control mean. ``where`` (event logs) counts
    only the events whose property columns match a condition in the syntax of
    segment rules; ``window`` (binary metrics of event logs) makes a retention or
    windowed-conversion metric (:class:`MetricWindow`). ``quantile`` (continuous
    metrics, in (0, 1)) compares that quantile of the per-unit values instead of
    their mean (docs/statistics.md, "Quantile metrics").

    Example:
        >>> Metric(key="conv", kind="binary", event="purchase").direction
        'increase'
        >>> m = Metric(key="d7", kind="binary", event="session", window={"end": "8d",
        ...     "start": "7d"}, where={"channel": "email"})
        >>> m.window.start, "where" in Metric(key="c", kind="binary", event="e").model_dump()
        ('7d', False)
    """

    key: str = Field(pattern=NAME_PATTERN, max_length=64)
    kind: Literal["binary", "continuous", "ratio"]
    event: str | None = None
    column: str | None = None
    denominator_event: str | None = None
    denominator_column: str | None = None
    cost_per_unit: float | dict[str, float] | None = None
    direction: Literal["increase", "decrease"] = "increase"
    mde: float | None = Field(default=None, gt=0.0)
    baseline: float | None = None
    std: float | None = Field(default=None, gt=0.0)
    description: str = ""
    # event filter: a condition on the event rows' property columns (segment-rule syntax)
    where: dict[str, Any] | None = None
    # retention / windowed conversion: [start, end) after the unit's first exposure
    window: MetricWindow | None = None
    # capping (continuous and ratio) and a guardrail's non-inferiority margin
    # (segab.config.metric_options)
    cap: Cap | None = None
    margin: Margin | None = None
    # a quantile metric (continuous only): compare this quantile of per-unit values, not the mean
    quantile: float | None = Field(default=None, gt=0.0, lt=1.0)
    # regression adjustment: pre-exposure / attribute columns (segab.config.metric_options)
    covariates: list[str] | None = Field(default=None, min_length=1, max_length=MAX_COVARIATES)

    @model_validator(mode="after")
    def _needs_a_source(self) -> Metric:
        if self.event is None and self.column is None:
            raise ValueError("a metric needs an 'event' (event log) or a 'column' (unit table)")
        if self.cap is not None and self.kind == "binary":
            raise ValueError("'cap' applies to continuous and ratio metrics, not binary ones")
        if self.quantile is not None and (self.kind != "continuous" or self.cap is not None):
            raise ValueError("'quantile' applies to continuous metrics without a 'cap'")
        check_covariates(self.kind, self.column, self.covariates, self.window is not None)
        return self

    @model_serializer(mode="wrap")
    def _without_unset_options(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a metric without a filter, window, cap or margin dumps (and fingerprints) as before
        data = handler(self)
        if isinstance(data, dict):
            for name in ("where", "window", "cap", "margin", "quantile", "covariates"):
                if data.get(name) is None:
                    data.pop(name, None)
        return data


class Metrics(_Strict):
    """The primary metric, secondary metrics and guardrails.

    Example:
        >>> m = Metrics(primary=Metric(key="conv", kind="binary", event="purchase"))
        >>> [x.key for x in m.all()]
        ['conv']
    """

    primary: Metric
    secondary: list[Metric] = Field(default_factory=list, max_length=MAX_METRICS)
    guardrail: list[Metric] = Field(default_factory=list, max_length=MAX_METRICS)

    @model_validator(mode="after")
    def _margins_on_guardrails(self) -> Metrics:
        for role, metrics in (("primary", [self.primary]), ("secondary", self.secondary)):
            for m in metrics:
                if m.margin is not None:
                    raise ValueError(
                        f"{role} metric {m.key!r}: 'margin' (non-inferiority) applies to "
                        "guardrail metrics only"
                    )
        return self

    def all(self) -> list[Metric]:
        """Every metric, primary first.

        Example:
            >>> Metrics(primary=Metric(key="c", kind="binary", event="e")).all()[0].key
            'c'
        """
        return [self.primary, *self.secondary, *self.guardrail]

    def role_of(self, key: str) -> str:
        """Return ``primary``, ``secondary`` or ``guardrail`` for a metric key.

        Example:
            >>> Metrics(primary=Metric(key="c", kind="binary", event="e")).role_of("c")
            'primary'
        """
        if key == self.primary.key:
            return "primary"
        if any(m.key == key for m in self.guardrail):
            return "guardrail"
        return "secondary"


class AnalysisSettings(_Strict):
    """How results are computed and judged.

    Example:
        >>> AnalysisSettings().correction
        'holm'
        >>> s = AnalysisSettings(shrinkage="eb")
        >>> s.wants_tailoring, "shrinkage" in AnalysisSettings().model_dump()
        (True, False)
    """

    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["none", "holm", "bh"] = "holm"
    method: Literal["frequentist", "bayesian", "sequential"] = "frequentist"
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    mde: float = Field(default=0.05, gt=0.0)
    attribution_window: str | None = Field(default=None, pattern=r"^\d+(s|m|h|d|w)$")
    sequential_tuning: float = Field(default=5000.0, gt=0.0)
    # exact repeats of an event row (unit, event, value, time): counted always; dropped or
    # kept (default: kept; docs/data-quality.md says why)
    duplicate_events: Literal["keep", "drop"] = "keep"
    # the rows an analysis reads (docs/data-quality.md, "Filters, attributes and first
    # exposures"): a condition in the syntax of segment rules; the other rows are counted
    # in ``filtered_out`` and excluded before anything else
    filter: dict[str, Any] | None = None
    # repeated unit ids of a unit table: ``identical`` (identical rows count once, rows that
    # differ keep the unit out) or ``first`` (the unit's earliest row by ``time_column``)
    dedupe: Literal["identical", "first"] = "identical"
    time_column: str | None = Field(default=None, min_length=1)
    # empirical-Bayes shrinkage of the per-cell lifts (docs/statistics.md, "Shrinkage in
    # segab analyze"): ``eb`` reports shrunk lifts and robust EB intervals beside the raw
    # ones and decides the declared cells on them; ``shrinkage_groups`` is what cells
    # borrow from: the whole grid (``grid``), the cells of the same stage (``stage``) or
    # the cells testing the same variant against the same control (``variant``)
    shrinkage: Literal["none", "eb"] = "none"
    shrinkage_groups: Literal["grid", "stage", "variant"] = "grid"
    # the cross-fitted value of tailoring (two folds by a hash of the unit id, computed in
    # the engine): ``None`` computes it exactly when ``shrinkage`` is ``eb``
    tailoring: bool | None = None
    # pooled rows as the population-weighted average of their cells' effects (Miratrix et al.)
    post_stratify: bool = False

    @model_serializer(mode="wrap")
    def _without_unset_rows_settings(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a config that sets none of them dumps (and fingerprints) as before
        data = handler(self)
        if isinstance(data, dict):
            for name, default in (
                ("filter", None),
                ("dedupe", "identical"),
                ("shrinkage", "none"),
                ("shrinkage_groups", "grid"),
                ("tailoring", None),
                ("post_stratify", False),
            ):
                if data.get(name, default) == default:
                    data.pop(name, None)
            if data.get("time_column") is None:
                data.pop("time_column", None)
        return data

    @property
    def wants_tailoring(self) -> bool:
        """Whether the engine computes fold sums for the tailoring value.

        Example:
            >>> AnalysisSettings().wants_tailoring, AnalysisSettings(tailoring=True).wants_tailoring
            (False, True)
        """
        return self.shrinkage == "eb" if self.tailoring is None else self.tailoring


class Namespace(_Strict):
    """A hash range shared by mutually exclusive experiments.

    Example:
        >>> Namespace(key="homepage", range=(0.0, 0.5)).range
        (0.0, 0.5)
    """

    key: str = Field(pattern=NAME_PATTERN, max_length=64)
    range: tuple[float, float] = Field(strict=False)  # a YAML/JSON list; its numbers strict


class Experiment(_Strict):
    """A validated experiment config.

    ``attributes`` optionally declares the type of attribute columns read from
    files (``{age: number, vip: boolean, zip: string}``); see
    :mod:`segab.text_values`.

    Example:
        >>> exp = Experiment.model_validate({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> exp.status, exp.iteration, exp.randomization
        ('draft', 1, 'per_stage')
    """

    key: str = Field(pattern=NAME_PATTERN, max_length=64)
    name: str = ""  # optional: the key when empty
    hypothesis: str = ""
    owner: str = ""
    status: Literal["draft", "running", "stopped", "concluded"] = "draft"
    iteration: int = Field(default=1, ge=1)
    seed: str = Field(default="", pattern=r"^[^|]*$")
    unit: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    stages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STAGES), min_length=1, max_length=MAX_STAGES
    )
    randomization: Literal["per_stage", "journey"] = "per_stage"
    # optional: one segment ``all`` (everyone) when a file declares none
    segments: list[_Segment] = Field(
        default_factory=_everyone,
        min_length=1,
        max_length=MAX_SEGMENTS,
    )
    fallback: str | None = Field(default=None, pattern=NAME_PATTERN)
    groups: dict[str, list[Any]] = Field(default_factory=dict)
    attributes: dict[str, Literal["number", "string", "boolean"]] = Field(default_factory=dict)
    cells: list[Cell] = Field(min_length=1, max_length=MAX_CELLS)
    metrics: Metrics
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)
    allocation: AllocationSettings | None = None  # every cell's, unless a cell overrides
    namespace: Namespace | None = None
    forced: dict[str, str] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    _plan: Any = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="<memory>")

    @model_validator(mode="after")
    def _default_seed(self) -> Experiment:
        if not self.seed:
            object.__setattr__(self, "seed", self.key)
        if not self.name:
            object.__setattr__(self, "name", self.key)
        return self

    @model_serializer(mode="wrap")
    def _without_empty_attributes(self, handler: SerializerFunctionWrapHandler) -> Any:
        # an experiment that declares no attribute types dumps (and fingerprints) as before
        data = handler(self)
        if not self.attributes and isinstance(data, dict):
            data.pop("attributes", None)
        if self.allocation is None and isinstance(data, dict):
            data.pop("allocation", None)
        return data

    @property
    def source(self) -> str:
        """The file this experiment was loaded from (``<memory>`` otherwise).

        Example:
            >>> Experiment.model_json_schema()["title"]
            'Experiment'
        """
        return self._source

    def segment_keys(self) -> list[str]:
        """Ordered segment keys, the fallback last when there is one.

        Example:
            >>> exp = Experiment.model_validate({
            ...     "key": "e", "name": "E", "unit": "id", "fallback": "rest",
            ...     "segments": [{"key": "all", "when": {}}],
            ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
            ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
            >>> exp.segment_keys()
            ['all', 'rest']
        """
        keys = [s.key if isinstance(s, SegmentDef) else s.ref for s in self.segments]
        if self.fallback is not None:
            keys.append(self.fallback)
        return keys
