"""What the reports show of capped metrics and of guardrails with a non-inferiority margin.

- the caps: per capped metric, the rule, the cap that applied and the units it
  lowered per arm (:func:`caps_lines`, :func:`caps_html`);
- the non-inferiority tests of guardrails with a margin: one row per cell and
  variant, ``yes``/``no`` with the margin and the one-sided p-value
  (:func:`ni_rows`, :func:`ni_html`, :func:`ni_mark`).

Example:
    >>> from segab.analysis.results import AnalysisResult
    >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
    ...     caps=({"metric": "rev", "rule": "percentile", "description": "p99 of per-unit values",
    ...            "cap": 512.25, "units_capped": {"a": 3, "b": 5}},))
    >>> caps_lines(r)
    ['Cap on rev: p99 of per-unit values = 512.2; units capped per arm: a 3, b 5']
"""

from __future__ import annotations

import html
import math

from segab.analysis.results import AnalysisResult, ResultRow
from segab.formatting import num, p_text, pct

__all__ = ["NI_HEADER", "cap_title", "caps_html", "caps_lines", "ni_html", "ni_mark", "ni_rows"]


def _cap_value(value: float | None) -> str:
    return "none (no values)" if value is None or not math.isfinite(value) else f"{value:.4g}"


def caps_lines(result: AnalysisResult) -> list[str]:
    """One line per capped metric: its rule, the cap and the units capped per arm.

    Example:
        >>> caps_lines(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        []
    """
    out = []
    for c in result.caps:
        arms = ", ".join(f"{k} {n:,}" for k, n in c["units_capped"].items()) or "none"
        rule = c["description"]
        shown = _cap_value(c["cap"])
        head = f"{rule} = {shown}" if c["rule"] == "percentile" else shown
        out.append(f"Cap on {c['metric']}: {head}; units capped per arm: {arms}")
    return out


def cap_title(result: AnalysisResult, metric: str) -> str:
    """`` (capped at 512.2)`` after a capped metric's name, else an empty string.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
        ...     caps=({"metric": "rev", "cap": 40.0},))
        >>> cap_title(r, "rev"), cap_title(r, "conv")
        (' (capped at 40)', '')
    """
    for c in result.caps:
        if c["metric"] == metric:
            return f" (capped at {_cap_value(c['cap'])})"
    return ""


def ni_mark(r: ResultRow) -> str:
    """``NI yes`` / ``NI no`` (margin) for a guardrail row with a margin, else empty.

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> from segab.stats.noninferiority import NonInferiority
        >>> c = compare(ProportionStats(100, 10), ProportionStats(100, 9))
        >>> r = ResultRow("s", "t", {}, "g", "guardrail", "binary", "b", "a", c, "x", "y",
        ...     noninferiority=NonInferiority(0.02, "relative", 0.1, 0.46, False))
        >>> ni_mark(r)
        'NI no (margin 2%)'
    """
    t = r.noninferiority
    if t is None:
        return ""
    margin = pct(t.margin, signed=False) if t.scale == "relative" else num(t.margin).lstrip("+")
    return f"NI {'yes' if t.passed else 'no'} (margin {margin.replace('.0%', '%')})"


def ni_rows(result: AnalysisResult) -> list[tuple[str, ...]]:
    """Rows (cell, guardrail, variant vs control, lift, margin, one-sided p, non-inferior).

    Example:
        >>> ni_rows(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        []
    """
    out: list[tuple[str, ...]] = []
    for r in (*result.results, *result.pooled):
        t = r.noninferiority
        if t is None or r.dimensions:
            continue
        c = r.comparison
        lift = pct(c.rel_lift) if t.scale == "relative" else num(c.abs_lift)
        margin = ni_mark(r).split("(margin ")[1].rstrip(")")
        where = f"{r.segment or 'all segments'} / {r.stage or 'all stages'}"
        out.append(
            (where, r.metric, f"{r.variant} vs {r.control}", lift, margin,
             p_text(t.p_value), "yes" if t.passed else "no")
        )  # fmt: skip
    return out


NI_HEADER = (
    "cell",
    "guardrail",
    "variant vs control",
    "lift",
    "margin",
    "one-sided p",
    "non-inferior",
)


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def caps_html(result: AnalysisResult) -> str:
    """The caps as an HTML paragraph each (empty without capped metrics).

    Example:
        >>> caps_html(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        ''
    """
    return "".join(f"<p class='note cap'>{_e(line)}</p>" for line in caps_lines(result))


def ni_html(result: AnalysisResult) -> str:
    """The non-inferiority tests as an HTML table (empty without margins).

    Example:
        >>> ni_html(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}))
        ''
    """
    rows = ni_rows(result)
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in NI_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row[:-1])
        + f"<td class='{'ok' if row[-1] == 'yes' else 'bad'}'>{_e(row[-1])}</td></tr>"
        for row in rows
    )  # fmt: skip
    return (
        "<h3 id='noninferiority'>Non-inferiority guardrails</h3>"
        f"<table class='ni'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
