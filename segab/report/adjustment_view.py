"""What the reports show of regression-adjusted metrics and post-stratified pooled rows.

One line per entry of ``AnalysisResult.adjustment`` (:func:`adjustment_lines`,
:func:`adjustment_html`) and a mark after an adjusted metric's name
(:func:`adjustment_title`).

Example:
    >>> from segab.analysis.results import AnalysisResult
    >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
    ...     adjustment=({"metric": "rev", "covariates": ["pre_rev", "age"],
    ...                  "post_stratified": False, "mean_variance_reduction": 0.42},))
    >>> adjustment_lines(r)[0].split(": ", 1)[1]
    'covariates pre_rev, age; variance reduction 42.0% (mean over cells)'
"""

from __future__ import annotations

import html

from segab.analysis.results import AnalysisResult
from segab.printable import printable

__all__ = ["adjustment_html", "adjustment_lines", "adjustment_title"]


def adjustment_lines(result: AnalysisResult) -> list[str]:
    """One line per adjusted metric, and one for post-stratification.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> adjustment_lines(r)
        []
    """
    out = []
    stratified = []
    for a in result.adjustment:
        if a.get("post_stratified"):
            stratified.append(printable(a["metric"]))
        if not a.get("covariates"):
            continue
        names = ", ".join(printable(c) for c in a["covariates"])
        vr = a.get("mean_variance_reduction")
        shown = f"{vr * 100:.1f}% (mean over cells)" if vr is not None else "n/a"
        out.append(
            f"Regression adjustment of {printable(a['metric'])} (Lin 2013): covariates {names}; "
            f"variance reduction {shown}"
        )
    if stratified:
        out.append(
            "Pooled rows post-stratified over their cells (Miratrix, Sekhon and Yu 2013): "
            + ", ".join(stratified)
        )
    return out


def adjustment_title(result: AnalysisResult, metric: str) -> str:
    """`` (adjusted for x, z)`` after a regression-adjusted metric's name, else empty.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
        ...     adjustment=({"metric": "rev", "covariates": ["pre_rev"]},))
        >>> adjustment_title(r, "rev"), adjustment_title(r, "conv")
        (' (adjusted for pre_rev)', '')
    """
    for a in result.adjustment:
        if a["metric"] == metric and a.get("covariates"):
            return f" (adjusted for {', '.join(printable(c) for c in a['covariates'])})"
    return ""


def adjustment_html(result: AnalysisResult) -> str:
    """The adjustment lines as HTML paragraphs (empty when nothing was adjusted).

    Example:
        >>> adjustment_html(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        ''
    """
    return "".join(
        f"<p class='note adjustment'>{html.escape(line)}</p>" for line in adjustment_lines(result)
    )
