"""The ``segab history`` page: each cell's estimates and decisions across iterations.

:func:`history_html` renders the data of :func:`segab.lifecycle.history.history_data`
as a self-contained page (all text escaped) with one small inline-SVG chart per
segment: the relative lift of the primary metric over iterations, one line per stage
(the best treatment of that stage in each iteration, with its confidence interval as
a whisker).

Example:
    >>> history_html({"experiment": "e", "iterations": []}).startswith("<!DOCTYPE html>")
    True
"""

from __future__ import annotations

import html
import math
from typing import Any

from segab.analysis.results import SUMMARY_KEYS
from segab.formatting import pct
from segab.lifecycle.history import history_rows

__all__ = ["history_html"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pct(x: Any) -> str:
    return pct(_num(x), missing="")


def _series(data: dict[str, Any], segment: str) -> dict[str, list[tuple[int, float, Any, Any]]]:
    out: dict[str, list[tuple[int, float, Any, Any]]] = {}
    for it in data["iterations"]:
        best: dict[str, dict[str, Any]] = {}
        for c in it["cells"]:
            lift = _num(c.get("rel_lift"))
            if c.get("segment") != segment or lift is None:
                continue
            cur = best.get(c["stage"])
            if cur is None or lift > (_num(cur.get("rel_lift")) or -math.inf):
                best[c["stage"]] = c
        for stage, c in best.items():
            point = (
                it["iteration"],
                float(c["rel_lift"]),
                c.get("rel_ci_low"),
                c.get("rel_ci_high"),
            )
            out.setdefault(stage, []).append(point)
    return out


def _chart(data: dict[str, Any], segment: str) -> str:
    series = _series(data, segment)
    iters = [it["iteration"] for it in data["iterations"]]
    if not series or not iters:
        return "<p>no estimates yet</p>"
    w, h, pad = 360, 180, 36
    values = [v for pts in series.values() for _, m, lo, hi in pts for v in (m, _num(lo), _num(hi))]
    nums = [v for v in values if v is not None] + [0.0]
    lo_y, hi_y = min(nums), max(nums)
    if hi_y - lo_y < 1e-9:
        lo_y, hi_y = lo_y - 0.1, hi_y + 0.1
    x0, x1 = min(iters), max(iters)

    def sx(i: float) -> float:
        return pad + (i - x0) / (x1 - x0) * (w - 2 * pad) if x1 > x0 else w / 2

    def sy(v: float) -> float:
        return h - pad - (v - lo_y) / (hi_y - lo_y) * (h - 2 * pad)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="relative lift over iterations for {html.escape(segment)}">',
        f'<line x1="{pad}" y1="{sy(0):.1f}" x2="{w - pad}" y2="{sy(0):.1f}" stroke="#999" '
        'stroke-dasharray="3,3"/>',
        f'<text x="4" y="{sy(hi_y) + 4:.1f}" font-size="10">{_pct(hi_y)}</text>',
        f'<text x="4" y="{sy(lo_y) + 4:.1f}" font-size="10">{_pct(lo_y)}</text>',
    ]
    for i in iters:
        parts.append(
            f'<text x="{sx(i):.1f}" y="{h - 8}" font-size="10" text-anchor="middle">i{i}</text>'
        )
    for n, (stage, pts) in enumerate(sorted(series.items())):
        color = _COLORS[n % len(_COLORS)]
        path = " ".join(f"{sx(i):.1f},{sy(m):.1f}" for i, m, _, _ in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}"/>')
        for i, m, lo, hi in pts:
            if _num(lo) is not None and _num(hi) is not None:
                parts.append(
                    f'<line x1="{sx(i):.1f}" y1="{sy(float(lo)):.1f}" x2="{sx(i):.1f}" '
                    f'y2="{sy(float(hi)):.1f}" stroke="{color}" stroke-opacity="0.5"/>'
                )
            parts.append(
                f'<circle cx="{sx(i):.1f}" cy="{sy(m):.1f}" r="3" fill="{color}">'
                f"<title>{html.escape(stage)} i{i}: {_pct(m)}</title></circle>"
            )
        parts.append(
            f'<text x="{w - pad + 2}" y="{14 + 12 * n}" font-size="10" fill="{color}">'
            f"{html.escape(stage)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def history_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page: per-segment lift charts and the per-iteration table.

    Example:
        >>> "&lt;b&gt;" in history_html({"experiment": "<b>", "iterations": []})
        True
    """
    e = html.escape
    key = str(data.get("experiment", ""))
    segments = sorted({c["segment"] for it in data["iterations"] for c in it["cells"]})
    charts = "".join(
        f"<figure><figcaption>{e(s)}</figcaption>{_chart(data, s)}</figure>" for s in segments
    )
    cols = ("iteration", "status", *SUMMARY_KEYS)
    body = []
    for row in history_rows(data):
        cells = []
        for c in cols:
            v = row.get(c)
            text = _pct(v) if c.startswith("rel_") else ("" if v is None else str(v))
            num = _num(v)
            if c == "p_adjusted" and num is not None:
                text = f"{num:.3g}"
            cells.append(f"<td>{e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(key)}: history</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}figure{display:inline-block;"
        "margin:0 1em 1em 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:13px}</style></head><body>"
        f"<h1>{e(key)}: iterations</h1>"
        "<p>Relative lift of the primary metric per segment; one line per stage "
        "(best treatment of each iteration, whiskers: confidence interval).</p>"
        f"{charts or '<p>no analysis snapshots yet</p>'}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>\n"
    )
