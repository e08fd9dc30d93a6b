"""How the report shows shrinkage and the tailoring value (table, HTML).

A shrunk row's decision uses its robust EB interval; the table marks it ``EB``;
the forest plot draws the EB interval under the raw one, on the plot's relative
scale: the shrunk absolute lift times the row's own ``rel_lift / abs_lift`` (for
a mean metric ``1 / control mean``), a display conversion that ignores the
uncertainty of the control mean. The tailoring panel shows the cross-fitted gain
of the per-cell best arm over the best single arm and over control.

Example:
    >>> tailoring_lines({"metric": "conv", "gain_over_single": 0.01, "ci_low_over_single": 0.0,
    ...     "ci_high_over_single": 0.02, "gain_over_control": 0.02, "ci_low_over_control": 0.01,
    ...     "ci_high_over_control": 0.03})[0]
    'conv: tailored policy vs best single arm: +0.01 [+0, +0.02]'
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from segab.analysis.results import AnalysisResult, ResultRow
from segab.formatting import pct

__all__ = [
    "eb_applied",
    "eb_relative",
    "shrinkage_html",
    "tailoring_html",
    "tailoring_lines",
]


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _num(x: Any) -> str:
    v = float(x) if x is not None else math.nan
    return f"{v:+.4g}" if math.isfinite(v) else "–"


def eb_applied(r: ResultRow) -> bool:
    """Whether the row's decision used its shrunk lift (``decision_basis`` ``eb``).

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> c = compare(ProportionStats(100, 10), ProportionStats(100, 12))
        >>> eb_applied(ResultRow("s", "t", {}, "m", "primary", "binary", "b", "a", c, "x", "y"))
        False
    """
    return r.shrunk is not None and r.shrunk.applied and math.isfinite(r.shrunk.estimate)


def eb_relative(r: ResultRow) -> tuple[float, float, float]:
    """The shrunk lift and robust EB interval on the relative scale (NaN when not shrunk).

    Example:
        >>> from segab.analysis.shrinkage import ShrunkLift
        >>> from segab.stats import ProportionStats, compare
        >>> c = compare(ProportionStats(1000, 100), ProportionStats(1000, 120))
        >>> s = ShrunkLift(0.01, 0.0, 0.02, 0.5, "all", True)
        >>> r = ResultRow("s", "t", {}, "m", "primary", "binary", "b", "a", c, "x", "y", shrunk=s)
        >>> [round(v, 3) for v in eb_relative(r)]
        [0.1, 0.0, 0.2]
    """
    nan = (math.nan, math.nan, math.nan)
    s, c = r.shrunk, r.comparison
    if s is None or not eb_applied(r):
        return nan
    if math.isfinite(c.rel_lift) and math.isfinite(c.abs_lift) and c.abs_lift != 0:
        scale = c.rel_lift / c.abs_lift
    elif math.isfinite(c.control_mean) and c.control_mean > 0:
        scale = 1.0 / c.control_mean
    else:
        return nan
    return s.estimate * scale, s.ci_low * scale, s.ci_high * scale


def _gain(t: Mapping[str, Any], over: str) -> str:
    return (
        f"{_num(t.get(f'gain_over_{over}'))} [{_num(t.get(f'ci_low_over_{over}'))}, "
        f"{_num(t.get(f'ci_high_over_{over}'))}]"
    )


def tailoring_lines(t: Mapping[str, Any]) -> list[str]:
    """The tailoring value in two lines of text (gain over the best single arm, over control).

    Example:
        >>> tailoring_lines({"metric": "m"})[1]
        'm: tailored policy vs control everywhere: – [–, –]'
    """
    m = t.get("metric", "")
    return [
        f"{m}: tailored policy vs best single arm: {_gain(t, 'single')}",
        f"{m}: tailored policy vs control everywhere: {_gain(t, 'control')}",
    ]


def tailoring_html(result: AnalysisResult) -> str:
    """The "Tailoring value" panel (empty without a ``tailoring`` block).

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> tailoring_html(r)
        ''
    """
    t = result.tailoring
    if not t:
        return ""
    pct_alpha = pct(1 - float(t.get("alpha", 0.05)), signed=False, decimals=0)
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td class='num'><b>{_e(_num(t.get(f'gain_over_{k}')))}</b>"
        f"</td><td class='num'>[{_e(_num(t.get(f'ci_low_over_{k}')))}, "
        f"{_e(_num(t.get(f'ci_high_over_{k}')))}]</td></tr>"
        for k, label in (("single", "over the best single arm for everyone"),
                         ("control", "over control everywhere"))
    )  # fmt: skip
    arms = [str(a) for a in t.get("arms", [])]
    cells = t.get("cells", [])
    chosen = "".join(
        f"<tr><td>{_e(cell)}</td>"
        + "".join(f"<td>{_e(arms[a] if a < len(arms) else a)}</td>" for a in fold_arms)
        + "</tr>"
        for cell, *fold_arms in zip(cells, *t.get("tailored_arms", []), strict=False)
    )
    warnings = "".join(f"<p class='note'>{_e(w)}</p>" for w in t.get("warnings", []))
    return (
        "<h2 id='tailoring'>Tailoring value</h2>"
        f"<p class='muted'>What giving each segment × stage cell its own best arm is worth, "
        f"per unit, on {_e(t.get('metric'))} (cross-fitted over two folds of units split by a "
        f"hash of the unit id; {pct_alpha} intervals honest about the choice).</p>"
        "<table><thead><tr><th>gain of the tailored policy</th><th>estimate</th>"
        f"<th>CI</th></tr></thead><tbody>{rows}</tbody></table>"
        "<details><summary>Arms chosen per cell on each fold</summary><table><thead><tr>"
        "<th>cell</th><th>fold 0</th><th>fold 1</th></tr></thead>"
        f"<tbody>{chosen}</tbody></table></details>{warnings}"
    )


def shrinkage_html(result: AnalysisResult) -> str:
    """A note under the decisions: the estimator, the groups, tau² and the warnings.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> shrinkage_html(r)
        ''
    """
    b = result.shrinkage
    if not b:
        return ""
    over = {"grid": "the whole grid", "stage": "each stage"}.get(
        str(b.get("groups")), "the cells testing the same variant"
    )
    groups = "; ".join(
        f"{_e(f['metric'])} ({_e(f['label'])}, {f['k']} cells): "
        + (f"τ² {_e(_num(f['tau2']))}" if f.get("shrunk") else "not shrunk")
        for f in b.get("families", [])
    )
    warnings = "".join(f"<p class='note'>{_e(w)}</p>" for w in b.get("warnings", []))
    return (
        "<p class='note'><b>EB</b>: decisions of the declared cells use empirical-Bayes "
        f"shrinkage over {over} ({_e(str(b.get('tau2_method')).upper())}, robust EB "
        "intervals, Armstrong–Kolesár–Plagborg-Møller): a cell is significant when its "
        "robust EB interval excludes 0; pooled rows are not shrunk. In the forest plots the "
        f"dashed line under each cell is its EB interval. Groups: {groups}.</p>{warnings}"
    )
