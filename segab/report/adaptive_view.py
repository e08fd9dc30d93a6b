"""Bandit cells in the reports: which estimate decided, the uniform slice beside it, the
naive pooled figure marked as not used (:mod:`segab.analysis.adaptive`).

One row per bandit-cell comparison, in the table format (:func:`bandit_rows`) and as an
HTML section (:func:`adaptive_html`); JSON and CSV carry the same keys on the rows
(:data:`segab.analysis.adaptive.ADAPTIVE_KEYS`).

Example:
    >>> from segab.analysis.results import AnalysisResult
    >>> bandit_rows(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
    []
"""

from __future__ import annotations

import html
import math
from typing import Any

from segab.analysis.results import AnalysisResult, ResultRow
from segab.formatting import num, p_text

__all__ = ["BANDIT_HEADER", "BANDIT_TITLE", "adaptive_html", "bandit_lines", "bandit_rows"]

BANDIT_TITLE = "Bandit cells: the estimate each decision used"
BANDIT_HEADER = (
    "segment",
    "stage",
    "metric",
    "variant",
    "estimate used",
    "lift used (abs) [CI]",
    "uniform slice (abs) [CI], p",
    "naive pooled (not used)",
)
_NAMES = {"period_stratified": "period-stratified", "uniform_slice": "uniform slice"}


def _interval(x: Any, lo: Any, hi: Any) -> str:
    if x is None or not math.isfinite(float(x)):
        return "–"
    return f"{num(x)} [{num(lo)}, {num(hi)}]"


def _row(r: ResultRow) -> tuple[str, ...]:
    d = r.to_dict()
    c = r.comparison
    slice_text = _interval(d["slice_abs_lift"], d["slice_abs_ci_low"], d["slice_abs_ci_high"])
    if slice_text != "–":
        n = f"{d['slice_n_control']:,}/{d['slice_n_variant']:,}"
        slice_text += f", p {p_text(d['slice_p_value'])} (n {n})"
    naive = _interval(d["naive_abs_lift"], d["naive_abs_ci_low"], d["naive_abs_ci_high"])
    if d["naive_p_value"] is not None:
        naive += f", p {p_text(d['naive_p_value'])}"
    return (
        str(r.segment),
        str(r.stage),
        r.metric,
        r.variant,
        _NAMES.get(d["estimate_used"], d["estimate_used"]),
        _interval(c.abs_lift, c.abs_ci_low, c.abs_ci_high),
        slice_text,
        naive,
    )


def bandit_rows(result: AnalysisResult) -> list[tuple[str, ...]]:
    """The rows of the bandit-cell table, one per comparison of a bandit cell.

    Example:
        >>> bandit_rows.__name__   # see the module docstring
        'bandit_rows'
    """
    return [_row(r) for r in result.results if r.adaptive is not None]


def bandit_lines(result: AnalysisResult) -> list[str]:
    """The lines under the table: the periods, the weights and how pooled rows use the cells.

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> bandit_lines(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        []
    """
    block = result.adaptive
    if not block:
        return []
    periods = ", ".join(f"{p['number']} from {p['started_at']}" for p in block["periods"])
    return [
        f"Allocation periods: {periods}. Period-stratified: effects within each period, "
        f"weighted by {block['weights']}; the naive pooled figure mixes the periods in "
        f"different proportions per arm and is not used. Pooled rows: {block['pooled_rows']}."
    ]


def adaptive_html(result: AnalysisResult) -> str:
    """The HTML section of bandit cells ('' without any).

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> adaptive_html(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        ''
    """
    rows = bandit_rows(result)
    if not rows:
        return ""
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    notes = "".join(f"<p class='muted'>{html.escape(line)}</p>" for line in bandit_lines(result))
    return (
        f"<h2 id='bandit'>{html.escape(BANDIT_TITLE)}</h2>{notes}<table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in BANDIT_HEADER)
        + f"</tr>{body}</table>"
    )
