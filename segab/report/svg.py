"""Inline SVG charts of the HTML report: a forest plot per metric and the funnel by variant.

Plain strings, no external assets; every user-supplied string goes through
:func:`html.escape`.

Example:
    >>> svg = forest_svg([ForestRow("young · awareness", "b", 0.1, 0.02, 0.18, "ship")], 0.05)
    >>> svg.startswith("<svg") and "young" in svg
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from segab.formatting import pct

__all__ = ["COLORS", "ForestRow", "forest_svg", "funnel_svg"]

COLORS = {
    "ship": "#1a7f37",
    "rollback": "#cf222e",
    "investigate": "#8250df",
    "keep_running": "#bf8700",
    "no_effect": "#0969da",
}
PALETTE = ("#57606a", "#0969da", "#bf3989", "#1a7f37", "#bc4c00", "#8250df", "#1b7c83")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class ForestRow:
    """One line of a forest plot: a label, the relative lift and its CI, the decision.

    ``pooled`` rows are drawn as diamonds. ``eb_lift``/``eb_low``/``eb_high`` (relative
    scale, NaN when absent) are the shrunk lift and its robust EB interval, drawn
    dashed under the raw interval.

    Example:
        >>> ForestRow("all segments · purchase", "b", 0.1, 0.0, 0.2, "ship", pooled=True).pooled
        True
    """

    label: str
    variant: str
    lift: float
    low: float
    high: float
    decision: str
    pooled: bool = False
    eb_lift: float = math.nan
    eb_low: float = math.nan
    eb_high: float = math.nan

    @property
    def has_eb(self) -> bool:
        """Whether the row has a shrunk interval to draw.

        Example:
            >>> ForestRow("a", "b", 0.1, 0.0, 0.2, "ship").has_eb
            False
        """
        return all(math.isfinite(v) for v in (self.eb_lift, self.eb_low, self.eb_high))


def _pct(x: float) -> str:
    return pct(x, missing="n/a")


def _nice_step(span: float) -> float:
    raw = span / 6
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _domain(rows: Sequence[ForestRow], mde: float) -> tuple[float, float]:
    values = [
        v
        for r in rows
        for v in (r.low, r.high, r.lift, r.eb_low, r.eb_high, r.eb_lift)
        if math.isfinite(v)
    ]
    lo = min([*values, -mde, 0.0])
    hi = max([*values, mde, 0.0])
    lo, hi = max(lo, -1.0), min(hi, 3.0)  # a CI beyond −100%/+300% is drawn clipped
    pad = (hi - lo) * 0.05 or 0.05
    return lo - pad, hi + pad


def forest_svg(rows: Sequence[ForestRow], mde: float, *, width: int = 1100) -> str:
    """A forest plot: one row per cell and variant (relative lift ± CI), pooled as diamonds.

    The shaded band is ±MDE; the vertical line is no effect. Colours follow the
    decision; intervals beyond the axis end in an arrow.

    Example:
        >>> "<polygon" in forest_svg([ForestRow("all", "b", 0.1, 0.0, 0.2, "ship", True)], 0.1)
        True
    """
    eb = any(r.has_eb for r in rows)
    label_w, right_w, row_h, top, bottom = 340, 300, 32 if eb else 24, 30, 34
    plot_w = width - label_w - right_w
    height = top + row_h * max(len(rows), 1) + bottom
    lo, hi = _domain(rows, mde)

    def x(v: float) -> float:
        return label_w + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" style="{FONT};font-size:12px">'
    ]
    y0, y1 = top - 8, height - bottom + 4
    out.append(
        f'<rect x="{x(-mde):.1f}" y="{y0}" width="{x(mde) - x(-mde):.1f}" '
        f'height="{y1 - y0}" fill="#eaeef2"/>'
    )
    out.append(f'<text x="{x(mde) + 4:.1f}" y="{y0 + 10}" fill="#57606a">±MDE</text>')
    step = _nice_step(hi - lo)
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-12:
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{y1}" x2="{tx:.1f}" y2="{y1 + 5}" stroke="#57606a"/>')
        out.append(
            f'<text x="{tx:.1f}" y="{y1 + 18}" text-anchor="middle" fill="#57606a">'
            f"{tick * 100:+.0f}%".replace("+0%", "0%")
            + "</text>"
        )
        tick += step
    out.append(f'<line x1="{x(0):.1f}" y1="{y0}" x2="{x(0):.1f}" y2="{y1}" stroke="#24292f"/>')
    out.append(
        f'<line x1="{label_w}" y1="{y1}" x2="{label_w + plot_w}" y2="{y1}" stroke="#57606a"/>'
    )
    out.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{14}" text-anchor="middle" fill="#57606a">'
        "relative lift of the variant over its control (CI)"
        + (" — solid: raw; dashed: EB (shrunk, robust EB interval)" if eb else "")
        + "</text>"
    )
    for i, r in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        color = COLORS.get(r.decision, "#57606a")
        if i % 2:
            out.append(
                f'<rect x="0" y="{cy - row_h / 2:.1f}" width="{width}" height="{row_h}" '
                'fill="#f6f8fa" fill-opacity="0.6"/>'
            )
        weight = "600" if r.pooled else "400"
        label = f"{r.label} · {r.variant}"
        limit = 46 if r.pooled else 50
        if len(label) > limit:
            label = label[: limit - 1] + "…"
        out.append(
            f'<text x="{label_w - 10}" y="{cy + 4:.1f}" text-anchor="end" '
            f'font-weight="{weight}" fill="#24292f"><title>{_e(r.label)} · {_e(r.variant)}'
            f"</title>{_e(label)}</text>"
        )
        value = f"{_pct(r.lift)} [{_pct(r.low)}, {_pct(r.high)}]"
        vy = cy - 2 if r.has_eb else cy + 4
        out.append(
            f'<text x="{label_w + plot_w + 12}" y="{vy:.1f}" fill="{color}" '
            f'font-size="11">{_e(value)}</text>'
        )
        if r.has_eb:
            out.append(_eb(r, x, cy + 5, color, label_w + plot_w + 12))
            cy -= 4
        out.append(
            f'<text x="{width - 8}" y="{cy + 4:.1f}" text-anchor="end" fill="{color}" '
            f'font-weight="600">{_e(r.decision.replace("_", " "))}</text>'
        )
        if not all(math.isfinite(v) for v in (r.lift, r.low, r.high)):
            continue
        out.append(
            f'<line x1="{x(r.low):.1f}" y1="{cy:.1f}" x2="{x(r.high):.1f}" y2="{cy:.1f}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        for end, beyond, sign in ((r.low, r.low < lo, -1), (r.high, r.high > hi, 1)):
            if beyond:
                ex = x(end)
                out.append(
                    f'<polygon points="{ex:.1f},{cy:.1f} {ex - 6 * sign:.1f},{cy - 4:.1f} '
                    f'{ex - 6 * sign:.1f},{cy + 4:.1f}" fill="{color}"/>'
                )
        px = x(r.lift)
        if r.pooled:
            out.append(
                f'<polygon points="{px - 7:.1f},{cy:.1f} {px:.1f},{cy - 7:.1f} '
                f'{px + 7:.1f},{cy:.1f} {px:.1f},{cy + 7:.1f}" fill="{color}"/>'
            )
        else:
            out.append(
                f'<rect x="{px - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" fill="{color}"/>'
            )
    out.append("</svg>")
    return "".join(out)


def _eb(r: ForestRow, x: Any, cy: float, color: str, text_x: float) -> str:
    """The shrunk interval of a row: dashed, a hollow marker, its value under the raw one."""
    value = f"EB {_pct(r.eb_lift)} [{_pct(r.eb_low)}, {_pct(r.eb_high)}]"
    px = x(r.eb_lift)
    return (
        f'<line x1="{x(r.eb_low):.1f}" y1="{cy:.1f}" x2="{x(r.eb_high):.1f}" y2="{cy:.1f}" '
        f'stroke="{color}" stroke-width="2" stroke-dasharray="4 2"/>'
        f'<rect x="{px - 3.5:.1f}" y="{cy - 3.5:.1f}" width="7" height="7" fill="#fff" '
        f'stroke="{color}" stroke-width="1.5"/>'
        f'<text x="{text_x}" y="{cy + 8:.1f}" fill="{color}" font-size="10">{_e(value)}</text>'
    )


def funnel_svg(
    funnel: Sequence[dict[str, Any]], stages: Sequence[str], *, width: int = 1100
) -> str:
    """The funnel by variant: for each stage, the share of exposed units that reach the
    next stage, per variant at that stage (pooled over segments).

    Example:
        >>> f = [{"segment": "s", "variant": "a", "stage": "awareness",
        ...       "next_stage": "purchase", "n_exposed": 100, "n_reached": 40}]
        >>> "40.0%" in funnel_svg(f, ["awareness", "purchase"])
        True
    """
    pooled: dict[tuple[str, str, str], list[int]] = {}
    for f in funnel:
        key = (str(f["stage"]), str(f["next_stage"]), str(f["variant"]))
        acc = pooled.setdefault(key, [0, 0])
        acc[0] += int(f["n_exposed"])
        acc[1] += int(f["n_reached"])
    order = {s: i for i, s in enumerate(stages)}
    keys = sorted(pooled, key=lambda k: (order.get(k[0], len(order)), k[0], k[2]))
    colors: dict[str, str] = {}
    label_w, right_w, bar_h, gap, head_h = 250, 200, 20, 6, 26
    plot_w = width - label_w - right_w
    groups: list[tuple[str, str]] = list(dict.fromkeys((k[0], k[1]) for k in keys))
    height = 10 + len(groups) * head_h + len(keys) * (bar_h + gap) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" style="{FONT};font-size:12px">'
    ]
    y = 10.0
    for stage, nxt in groups:
        out.append(
            f'<text x="8" y="{y + 17:.1f}" font-weight="600" fill="#24292f">'
            f"{_e(stage)} → {_e(nxt)}</text>"
        )
        y += head_h
        for key in [k for k in keys if (k[0], k[1]) == (stage, nxt)]:
            n, reached = pooled[key]
            rate = reached / n if n else 0.0
            color = colors.setdefault(key[2], PALETTE[len(colors) % len(PALETTE)])
            out.append(
                f'<text x="{label_w - 10}" y="{y + 14:.1f}" text-anchor="end" fill="#24292f">'
                f"{_e(key[2])}</text>"
            )
            out.append(
                f'<rect x="{label_w}" y="{y:.1f}" width="{plot_w}" height="{bar_h}" '
                'fill="#eaeef2"/>'
            )
            out.append(
                f'<rect x="{label_w}" y="{y:.1f}" width="{rate * plot_w:.1f}" height="{bar_h}" '
                f'fill="{color}"/>'
            )
            out.append(
                f'<text x="{label_w + plot_w + 10}" y="{y + 14:.1f}" fill="#24292f">'
                f"{pct(rate, signed=False)} ({reached:,} of {n:,})</text>"
            )
            y += bar_h + gap
    out.append("</svg>")
    return "".join(out)
