"""The result of ``segab analyze``: frozen rows and one :class:`AnalysisResult`.

A :class:`ResultRow` is one variant against its cell's control for one metric,
in one scope: a declared (segment, stage) cell, a ``--by`` breakdown of a cell,
or a pooled row (``segment`` and/or ``stage`` are ``None``). It carries the stats
engine's :class:`~segab.stats.Comparison` plus the decision and its reason.

``AnalysisResult.to_dict()`` is the JSON document (snake_case, NaN → ``null``);
``to_pandas()`` gives one row per result with every field, for notebooks, where
``_repr_html_`` shows the compact HTML summary.

Example:
    >>> from segab.stats import ProportionStats, compare
    >>> c = compare(ProportionStats(1000, 100), ProportionStats(1000, 130))
    >>> row = ResultRow("young", "purchase", {}, "conv", "primary", "binary", "b", "a", c,
    ...                 "ship", "conv +30%")
    >>> sorted(row.to_dict())[:3]
    ['abs_ci_high', 'abs_ci_low', 'abs_lift']
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segab.analysis.guardrails import ni_keys
from segab.analysis.shrinkage import SHRINK_KEYS, ShrunkLift
from segab.stats.noninferiority import NonInferiority
from segab.stats.result import Comparison, json_ready

if TYPE_CHECKING:
    import pandas as pd

    from segab.analysis.adaptive import AdaptiveEstimate

__all__ = [
    "JSON_KEYS",
    "NI_KEYS",
    "OPTIONAL_JSON_KEYS",
    "ROW_KEYS",
    "SHRINK_KEYS",
    "AnalysisResult",
    "MetricInfo",
    "ResultRow",
]

JSON_KEYS = (
    "experiment",
    "iteration",
    "method",
    "alpha",
    "correction",
    "results",
    "pooled",
    "heterogeneity",
    "srm",
    "data_quality",
    "funnel",
    "data_issues",
    "unknown_arms",
    "skipped",
    "notes",
    "breakdowns",
)
ROW_KEYS = (
    "segment",
    "stage",
    "dimensions",
    "metric",
    "variant",
    "control",
    "n_control",
    "n_variant",
    "control_mean",
    "variant_mean",
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "decision",
    "reason",
    "test",
    "warnings",
)
BAYES_KEYS = ("chance_to_win", "expected_loss")
# document keys present only when asked for (analysis.shrinkage: eb; the tailoring value;
# retention windows: ``maturity``, per windowed metric its window, analysis time, and the
# mature and not-yet-mature units per arm; ``caps``: per capped metric, the cap and the
# units it lowered per arm)
# ``adaptive``: the allocation periods and bandit cells (segab.analysis.adaptive)
OPTIONAL_JSON_KEYS = ("shrinkage", "tailoring", "maturity", "caps", "adaptive")
OPTIONAL_JSON_KEYS = ("shrinkage", "tailoring", "maturity", "caps", "adjustment")
# row keys of a guardrail with a non-inferiority margin (segab.analysis.guardrails)
NI_KEYS = ("margin", "margin_scale", "p_noninferiority", "non_inferior")
# the columns of a compact summary (notebook HTML, history page), in ROW_KEYS order
SUMMARY_KEYS = tuple(
    k
    for k in ROW_KEYS
    if k in {"segment", "stage", "variant", "control", "decision", "reason", "p_adjusted"}
    or k.startswith("rel_")
)
# ROW_KEYS that the comparison holds under another name
_COMPARISON_NAMES = {"n_variant": "n_treatment", "variant_mean": "treatment_mean"}


@dataclass(frozen=True)
class MetricInfo:
    """What the renderers need to know about a metric: role, kind, direction, MDE.

    ``roi`` marks a ratio metric with ``cost_per_unit``: its means are ROI,
    ``(revenue − cost)/cost``; ``quantile`` a quantile metric's level.

    Example:
        >>> MetricInfo("conv", "primary", "binary", "increase", 0.05).role
        'primary'
    """

    key: str
    role: str
    kind: str
    direction: str
    mde: float
    roi: bool = False
    quantile: float | None = None  # a quantile metric: the level it compares


@dataclass(frozen=True)
class ResultRow:
    """One variant against its control for one metric, in one cell or pooled scope.

    ``segment``/``stage`` are ``None`` when pooled over them; ``dimensions`` maps
    each column of the row's breakdown to its value (None: a NULL value); empty
    for the plain cells; ``n_segments`` counts the cells pooled in.

    Example:
        >>> from segab.stats import MeanStats, compare
        >>> c = compare(MeanStats(3, 6.0, 14.0), MeanStats(3, 9.0, 29.0))
        >>> r = ResultRow(None, None, {}, "rev", "secondary", "continuous", "b", "a", c,
        ...               "keep_running", "not significant yet")
        >>> r.to_dict()["segment"] is None, r.to_dict()["abs_lift"]
        (True, 1.0)
    """

    segment: str | None
    stage: str | None
    dimensions: Mapping[str, Any]
    metric: str
    role: str
    kind: str
    variant: str
    control: str
    comparison: Comparison
    decision: str
    reason: str
    more_units: int | None = None
    n_cells: int = 1
    shrunk: ShrunkLift | None = None
    noninferiority: NonInferiority | None = None
    adaptive: AdaptiveEstimate | None = None
    quantile: float | None = None  # a quantile metric's level (JSON key ``quantile``)

    @property
    def significant(self) -> bool:
        """Significance at ``alpha`` after correction (NaN p-values never are).

        Example:
            >>> ResultRow.significant.__doc__.split()[0]
            'Significance'
        """
        return self.comparison.significant

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: exactly :data:`ROW_KEYS`, plus the Bayesian fields when Bayesian
        and :data:`SHRINK_KEYS` when the row was part of an ``analysis.shrinkage: eb`` run,
        and :data:`NI_KEYS` on a guardrail with a non-inferiority margin, and
        :data:`segab.analysis.adaptive.ADAPTIVE_KEYS` on a bandit cell's row.
        ``quantile`` (its level) on a quantile metric's row.
        ``variance_reduction`` on a regression-adjusted or post-stratified row.

        Example:
            >>> from segab.stats import ProportionStats, compare
            >>> c = compare(ProportionStats(10, 0), ProportionStats(10, 0))
            >>> r = ResultRow("s", "t", {}, "m", "primary", "binary", "b", "a", c, "x", "y")
            >>> r.to_dict()["rel_lift"] is None
            True
        """
        c = self.comparison
        out: dict[str, Any] = {
            key: getattr(self, key)
            if hasattr(self, key)
            else getattr(c, _COMPARISON_NAMES.get(key, key))
            for key in ROW_KEYS
        }
        out["dimensions"] = dict(self.dimensions)
        out["warnings"] = list(c.warnings)
        if c.method == "bayesian":
            out["chance_to_win"] = c.chance_to_win
            out["expected_loss"] = c.expected_loss
        if self.shrunk is not None:
            out.update(self.shrunk.to_dict())
        if self.noninferiority is not None:
            out.update(ni_keys(self.noninferiority))
        if self.adaptive is not None:  # a bandit cell: segab.analysis.adaptive.ADAPTIVE_KEYS
            out.update(self.adaptive.to_dict())
        if self.quantile is not None:
            out["quantile"] = self.quantile
        if c.variance_reduction is not None:  # regression-adjusted or post-stratified
            out["variance_reduction"] = c.variance_reduction
        return dict(json_ready(out))

    def flat(self) -> dict[str, Any]:
        """Every field in one flat dict (``breakdown`` as ``a*b``, its values as ``by_<name>``).

        Example:
            >>> from segab.stats import ProportionStats, compare
            >>> c = compare(ProportionStats(100, 10), ProportionStats(100, 12))
            >>> r = ResultRow("s", "t", {"channel": "email"}, "m", "primary", "binary",
            ...               "b", "a", c, "keep_running", "more data")
            >>> r.flat()["by_channel"], r.flat()["role"]
            ('email', 'primary')
        """
        base = self.to_dict()
        dims = base.pop("dimensions")
        out: dict[str, Any] = {"segment": base.pop("segment"), "stage": base.pop("stage")}
        if dims:  # which breakdown: tells a NULL value from a column outside it
            out["breakdown"] = "*".join(dims)
        out.update({f"by_{k}": v for k, v in dims.items()})
        out.update(base)
        c = self.comparison
        out.update(
            role=self.role,
            kind=self.kind,
            test=c.test,
            n_cells=self.n_cells,
            more_units=self.more_units,
            warnings="; ".join(c.warnings),
        )
        if isinstance(out.get("period_weights"), list):
            out["period_weights"] = "; ".join(f"{w:.6g}" for w in out["period_weights"])
        return out


def _rows_frame(rows: Sequence[ResultRow], scope: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([r.flat() for r in rows])
    if len(frame):
        frame.insert(0, "scope", scope)
    return frame


@dataclass(frozen=True)
class AnalysisResult:
    """Everything ``segab analyze`` found: per-cell and pooled rows, checks and counters.

    ``breakdowns`` lists each breakdown's columns (``--by a --by b`` is one,
    ``[["a", "b"]]``; each ``--breakdown`` one more); a row's ``dimensions`` holds
    its own breakdown's columns only, and the rows without are the plain cells.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> list(r.to_dict())[:3]
        ['experiment', 'iteration', 'method']
    """

    experiment: str
    iteration: int
    method: str
    alpha: float
    correction: str
    results: tuple[ResultRow, ...]
    pooled: tuple[ResultRow, ...]
    heterogeneity: tuple[dict[str, Any], ...]
    srm: tuple[dict[str, Any], ...]
    data_quality: Mapping[str, int]
    funnel: tuple[dict[str, Any], ...] = ()
    name: str = ""
    metrics: tuple[MetricInfo, ...] = ()
    dimensions: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    hypothesis: str = ""
    notes: tuple[str, ...] = field(default=())
    data_issues: tuple[dict[str, Any], ...] = ()
    unknown_arms: tuple[dict[str, Any], ...] = ()
    skipped: tuple[dict[str, Any], ...] = ()
    shrinkage: Mapping[str, Any] | None = None
    tailoring: Mapping[str, Any] | None = None
    caps: tuple[dict[str, Any], ...] = ()
    breakdowns: tuple[tuple[str, ...], ...] = ()
    maturity: tuple[Mapping[str, Any], ...] = ()
    adaptive: Mapping[str, Any] | None = None
    adjustment: tuple[dict[str, Any], ...] = ()  # regression adjustment, post-stratification

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: keys :data:`JSON_KEYS`, NaN → ``None``.

        ``shrinkage``, ``tailoring``, ``maturity`` and ``caps`` (:data:`OPTIONAL_JSON_KEYS`)
        follow when they were computed (``caps``: one entry per capped metric); with
        ``shrinkage`` every row of ``results`` has :data:`SHRINK_KEYS` (``None`` for a row
        left out of shrinkage).

        Example:
            >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
            >>> tuple(r.to_dict()) == JSON_KEYS
            True
        """
        results = [r.to_dict() for r in self.results]
        out: dict[str, Any] = {
            "experiment": self.experiment,
            "iteration": self.iteration,
            "method": self.method,
            "alpha": self.alpha,
            "correction": self.correction,
            "results": results,
            "pooled": [r.to_dict() for r in self.pooled],
            "heterogeneity": list(self.heterogeneity),
            "srm": list(self.srm),
            "data_quality": dict(self.data_quality),
            "funnel": list(self.funnel),
            "data_issues": [dict(i) for i in self.data_issues],
            "unknown_arms": [dict(a) for a in self.unknown_arms],
            "skipped": [dict(k) for k in self.skipped],
            "notes": list(self.notes),
            "breakdowns": [list(b) for b in self.breakdowns],
        }
        if self.shrinkage is not None:
            for row in results:
                for key in SHRINK_KEYS:
                    row.setdefault(key, None)
            out["shrinkage"] = dict(self.shrinkage)
        if self.tailoring is not None:
            out["tailoring"] = dict(self.tailoring)
        if self.maturity:
            out["maturity"] = [dict(m) for m in self.maturity]
        if self.caps:
            out["caps"] = [dict(c) for c in self.caps]
        if self.adaptive is not None:
            out["adaptive"] = dict(self.adaptive)
        if self.adjustment:
            out["adjustment"] = [dict(a) for a in self.adjustment]
        return dict(json_ready(out))

    def to_pandas(self) -> pd.DataFrame:
        """One row per result, cells first then pooled, with a ``scope`` column.

        Example:
            >>> AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}).to_pandas()
            Empty DataFrame
            Columns: []
            Index: []
        """
        import pandas as pd

        frames = [_rows_frame(self.results, "cell"), _rows_frame(self.pooled, "pooled")]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def decisions(self) -> list[ResultRow]:
        """The primary metric's rows of the declared cells: one decision per cell and variant.

        Example:
            >>> AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}).decisions()
            []
        """
        return [r for r in self.results if r.role == "primary" and not r.dimensions]

    def _repr_html_(self) -> str:
        counts: dict[str, int] = {}
        for r in self.decisions():
            counts[r.decision] = counts.get(r.decision, 0) + 1
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no cells"
        head = (
            f"<p><b>{html.escape(self.experiment)}</b> (iteration {self.iteration}, "
            f"{html.escape(self.method)}, alpha {self.alpha}, correction "
            f"{html.escape(self.correction)}): {html.escape(summary)}</p>"
        )
        cols = ["scope", "metric", *SUMMARY_KEYS]
        frame = self.to_pandas()
        if frame.empty:
            return head
        table = frame[[c for c in cols if c in frame.columns]].to_html(
            index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.4g}"
        )
        return head + table
