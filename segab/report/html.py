"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, no assets).

Sections: a summary with the decision counts, the decisions table (primary metric,
one row per cell and variant, with its reason), a forest plot per metric (relative
lift ± CI per cell, pooled rows as diamonds), the funnel by variant, the SRM and
data-quality panels, heterogeneity, and every result in a collapsible table.
Every user-supplied string (keys, names, values, reasons) goes through
:func:`html.escape`.

Example:
    >>> from segab.analysis.results import AnalysisResult
    >>> r = AnalysisResult("<e>", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
    >>> page = render_html(r)
    >>> "&lt;e&gt;" in page and "<e>" not in page
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from segab.analysis.results import AnalysisResult, MetricInfo, ResultRow
from segab.formatting import num, p_text, pct
from segab.report.adaptive_view import adaptive_html
from segab.report.adjustment_view import adjustment_html
from segab.report.maturity_view import maturity_html, window_mark
from segab.report.metric_options_view import caps_html, ni_html, ni_mark
from segab.report.quantile_view import quantile_mark
from segab.report.render import evidence
from segab.report.shrinkage_view import eb_applied, eb_relative, shrinkage_html, tailoring_html
from segab.report.svg import COLORS, ForestRow, forest_svg, funnel_svg

__all__ = ["render_html"]

CSS = """
:root{--fg:#24292f;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);
 font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 10px;
 border-bottom:1px solid var(--line);padding-bottom:6px}
h3{font-size:15px;margin:22px 0 6px}
.sub{color:var(--muted);margin:0}.hyp{margin:10px 0 0;max-width:900px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:20px 0 4px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:112px}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;
 font-weight:600;white-space:nowrap}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:var(--muted)}.panels{display:grid;grid-template-columns:3fr 2fr;gap:28px}
.chart{overflow-x:auto}details summary{cursor:pointer;color:#0969da;margin:8px 0}
.note{color:var(--muted);font-size:12px}.wide-last td:last-child{min-width:260px}
"""


#: Counters of problems in the data; the others count rows filtered by design (units
#: outside the experiment, other experiments, events outside the attribution window).
ISSUES = (
    "multi_variant_units",
    "duplicate_exposures",
    "events_before_exposure",
    "events_unknown_units",
    "empty_ids",
    "missing_outcomes",
    "missing_variant",
    "bad_values",
    "bad_timestamps",
    "undeclared_exposures",
    "duplicate_events",
    "duplicate_units",
    "unknown_arms",
)


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


_pct = pct


def _num(x: float | None) -> str:
    return num(x, digits=4)


def _p(x: float | None) -> str:
    return _e(p_text(x))


def _badge(decision: str) -> str:
    color = COLORS.get(decision, "#57606a")
    return f'<span class="badge" style="background:{color}">{_e(decision.replace("_", " "))}</span>'


def _where(r: ResultRow) -> str:
    parts = [r.segment or "all segments", r.stage or "all stages"]
    parts += [f"{k}={v}" for k, v in r.dimensions.items()]
    return " · ".join(str(p) for p in parts)


def _lift(r: ResultRow) -> str:
    c = r.comparison
    if r.shrunk is not None and eb_applied(r):
        s = r.shrunk
        raw = _pct(c.rel_lift) if math.isfinite(c.rel_lift) else _num(c.abs_lift)
        return (
            f"<b>{_num(s.estimate)}</b> <span class='muted'>abs, EB</span><br><span "
            f"class='muted'>[{_num(s.ci_low)}, {_num(s.ci_high)}]; raw {raw}</span>"
        )
    if math.isfinite(c.rel_lift):
        ci = f"[{_pct(c.rel_ci_low)}, {_pct(c.rel_ci_high)}]"
        return f"<b>{_pct(c.rel_lift)}</b><br><span class='muted'>{ci}</span>"
    if not math.isfinite(c.abs_lift):
        return "–"
    ci = f"[{_num(c.abs_ci_low)}, {_num(c.abs_ci_high)}] abs"
    return f"{_num(c.abs_lift)}<br><span class='muted'>{ci}</span>"


def _mean(r: ResultRow, x: float) -> str:
    if r.kind == "binary" and math.isfinite(x):
        return pct(x, signed=False, decimals=2)
    return _num(x)


def _evidence(r: ResultRow) -> str:
    return _e(evidence(r))


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int], cls: str = ""
) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{v}</td>' if i in numeric else f"<td>{v}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _summary(result: AnalysisResult) -> str:
    counts: dict[str, int] = {}
    for r in result.decisions():
        counts[r.decision] = counts.get(r.decision, 0) + 1
    cards = [
        f'<div class="card"><b style="color:{COLORS[d]}">{counts.get(d, 0)}</b>'
        f"<span>{_e(d.replace('_', ' '))}</span></div>"
        for d in COLORS
    ]
    flagged = sum(1 for s in result.srm if s.get("flagged"))
    issues = sum(int(v) for k, v in result.data_quality.items() if k in ISSUES)
    units = sum(r.comparison.n_control + r.comparison.n_treatment for r in result.decisions())
    cards.append(f'<div class="card"><b>{units:,}</b><span>exposures compared</span></div>')
    srm_class = "bad" if flagged else "ok"
    cards.append(
        f'<div class="card"><b class="{srm_class}">{flagged}</b><span>SRM alerts</span></div>'
    )
    cards.append(f'<div class="card"><b>{issues:,}</b><span>data-quality issues</span></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _decisions(result: AnalysisResult) -> str:
    rows = result.decisions()
    if not rows:
        return "<p class='muted'>No comparisons: no cell has both a control and a variant.</p>"
    ev = "chance to win" if result.method == "bayesian" else "p (adj.)"
    header = ["cell", "variant vs control", "n (variant / control)", "control → variant"]
    header += ["lift [CI]", ev, "decision", "reason"]
    body = [
        [
            _e(_where(r)),
            f"<b>{_e(r.variant)}</b> <span class='muted'>vs {_e(r.control)}</span>",
            f"{r.comparison.n_treatment:,} / {r.comparison.n_control:,}",
            f"{_mean(r, r.comparison.control_mean)} → {_mean(r, r.comparison.treatment_mean)}",
            _lift(r),
            _evidence(r),
            _badge(r.decision),
            _e(r.reason),
        ]
        for r in rows
    ]
    return _table(header, body, {2, 3, 5}, cls="wide-last")


def _forest_rows(result: AnalysisResult, metric: str) -> list[ForestRow]:
    stages = list(result.stages)
    order = {s: i for i, s in enumerate(stages)}
    cells = [r for r in result.results if r.metric == metric and not r.dimensions]
    pooled = [r for r in result.pooled if r.metric == metric and not r.dimensions]
    out: list[ForestRow] = []

    def row(r: ResultRow, is_pooled: bool) -> ForestRow:
        c = r.comparison
        label = _where(r)
        if is_pooled:
            label = f"pooled · {r.stage or 'all stages'} ({r.n_cells} cells)"
            label += "".join(f" · {k}={v}" for k, v in r.dimensions.items())
        return ForestRow(
            label,
            r.variant,
            c.rel_lift,
            c.rel_ci_low,
            c.rel_ci_high,
            r.decision,
            is_pooled,
            *eb_relative(r),
        )

    seen_stages = sorted({r.stage for r in cells if r.stage}, key=lambda s: order.get(s, 99))
    for stage in seen_stages:
        out += [row(r, False) for r in cells if r.stage == stage]
        out += [row(r, True) for r in pooled if r.stage == stage]
    out += [row(r, False) for r in cells if not r.stage]
    out += [row(r, True) for r in pooled if r.stage is None]
    return out


def _forests(result: AnalysisResult) -> str:
    parts = []
    infos: Sequence[MetricInfo] = result.metrics or tuple(
        MetricInfo(k, "", "", "increase", 0.05)
        for k in dict.fromkeys(r.metric for r in result.results)
    )
    for info in infos:
        rows = _forest_rows(result, info.key)
        if not rows:
            continue
        if not any(math.isfinite(r.low) and math.isfinite(r.high) for r in rows):
            parts.append(
                f"<h3>{_e(info.key)}</h3><p class='muted'>No cell has a defined relative "
                "lift and interval to plot (see the tables).</p>"
            )
            continue
        better = "higher is better" if info.direction == "increase" else "lower is better"
        extra = (
            "; ROI = (revenue − cost)/cost, lift of revenue per unit of cost" if info.roi else ""
        )
        parts.append(
            f"<h3>{_e(info.key)}{window_mark(result, info.key)}{quantile_mark(result, info.key)}"
            " <span class='muted'>"
            f"({_e(info.role)}, {_e(info.kind)}, {better}, MDE {info.mde * 100:g}%{_e(extra)})"
            "</span></h3>"
            f"<div class='chart'>{forest_svg(rows, info.mde)}</div>"
        )
    return "".join(parts) or "<p class='muted'>No comparisons to plot.</p>"


def _srm(result: AnalysisResult) -> str:
    if not result.srm:
        return "<p class='muted'>No cell with two or more variants to check.</p>"
    rows = []
    for s in result.srm:
        flag = "<span class='bad'>SRM</span>" if s.get("flagged") else "<span class='ok'>ok</span>"
        pairs = zip(s["variants"], s["observed"], s["weights"], strict=True)
        split = "<br>".join(
            f"{_e(v)}: {n:,} <span class='muted'>({pct(w, signed=False)})</span>"
            for v, n, w in pairs
        )
        part = "<br><span class='muted'>uniform slice</span>" if s.get("part") else ""
        rows.append(
            [f"{_e(s['segment'])}<br>{_e(s['stage'])}{part}", split, _p(s["p_value"]), flag]
        )
    return _table(["cell", "observed (configured share)", "p", "check"], rows, {2})


def _quality(result: AnalysisResult) -> str:
    if not result.data_quality:
        return "<p class='muted'>No data-quality counters.</p>"
    rows = [
        [
            _e(k.replace("_", " ")),
            f"<span class='{'bad' if v and k in ISSUES else 'muted'}'>{int(v):,}</span>",
        ]
        for k, v in result.data_quality.items()
    ]
    table = _table(["counter", "count"], rows, {1})
    if result.unknown_arms:
        arms = [[_e(a["label"]), f"<span class='bad'>{int(a['units']):,}</span>"]
                for a in result.unknown_arms]  # fmt: skip
        table += "<h3>Arms the config does not declare</h3>" + _table(["label", "units"], arms, {1})
    if not result.data_issues:
        return table
    kept_out = [
        [
            _e(i["table"]),
            _e(i["column"]),
            _e(str(i["kind"]).replace("_", " ")),
            f"<span class='bad'>{int(i['count']):,}</span>",
            _e("; ".join(i["examples"])),
        ]
        for i in result.data_issues
    ]
    head = ["input", "column", "kept out", "rows", "first locations"]
    return table + "<h3>Rows kept out of the sums</h3>" + _table(head, kept_out, {3})


def _heterogeneity(result: AnalysisResult) -> str:
    if not result.heterogeneity:
        return "<p class='muted'>No (stage, variant) tested in two or more segments.</p>"
    rows = [
        [
            _e(h["stage"]),
            _e(h["metric"]),
            _e(h["variant"]),
            str(h["k"]),
            _num(h["q"]),
            _p(h["p_value"]),
            _pct(h["i_squared"]).lstrip("+") if h["i_squared"] is not None else "–",
            f"{_pct(h['pooled'])} [{_pct(h['pooled_ci_low'])}, {_pct(h['pooled_ci_high'])}]",
        ]
        for h in result.heterogeneity
    ]
    header = ["stage", "metric", "variant", "segments", "Q", "p", "I²", "inverse-variance lift"]
    return _table(header, rows, {3, 4, 5, 6})


def _all_rows(result: AnalysisResult) -> str:
    ev = "chance to win" if result.method == "bayesian" else "p (adj.)"
    header = ["scope", "cell", "metric", "variant vs control", "n", "control", "variant"]
    header += ["lift [CI]", "p", ev, "decision", "reason"]
    rows = []
    for scope, items in (("cell", result.results), ("pooled", result.pooled)):
        for r in items:
            c = r.comparison
            rows.append(
                [
                    scope,
                    _e(_where(r)),
                    _e(r.metric) + window_mark(result, r.metric) + quantile_mark(result, r.metric),
                    f"{_e(r.variant)} <span class='muted'>vs {_e(r.control)}</span>",
                    f"{c.n_treatment:,} / {c.n_control:,}",
                    _mean(r, c.control_mean),
                    _mean(r, c.treatment_mean),
                    _lift(r),
                    _p(c.p_value),
                    _evidence(r),
                    _badge(r.decision) + (f" {_e(ni_mark(r))}" if r.noninferiority else ""),
                    _e(r.reason),
                ]
            )
    return _table(header, rows, {4, 5, 6, 8, 9}, cls="wide-last")


def render_html(result: AnalysisResult) -> str:
    """The whole report as one HTML string (write it to a ``.html`` file).

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> "<svg" not in render_html(r) and "</html>" in render_html(r)
        True
    """
    title = result.name or result.experiment
    sub = (
        f"{_e(result.experiment)} · iteration {result.iteration} · {_e(result.method)} · "
        f"alpha {result.alpha:g} · correction {_e(result.correction)}"
    )
    if result.breakdowns:  # each breakdown, its columns crossed
        sub += " · by " + "; ".join(" × ".join(_e(c) for c in b) for b in result.breakdowns)
    elif result.dimensions:
        sub += " · by " + ", ".join(_e(d) for d in result.dimensions)
    funnel = (
        "<p class='muted'>Share of the units exposed at a stage that reach the next stage, by "
        "the variant they saw at that stage, pooled over segments.</p>"
        f"<div class='chart'>{funnel_svg(result.funnel, result.stages)}</div>"
        if result.funnel
        else "<p class='muted'>No funnel: the input has no journey stages to follow.</p>"
    )
    notes = "".join(f"<p class='note'>Note: {_e(n)}</p>" for n in result.notes)
    hyp = f"<p class='hyp'>{_e(result.hypothesis)}</p>" if result.hypothesis else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>segab · {_e(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><p class='sub'>{sub}</p>{hyp}"
        f"{_summary(result)}"
        f"<h2 id='decisions'>Decisions</h2>{_decisions(result)}{adaptive_html(result)}"
        f"{shrinkage_html(result)}{tailoring_html(result)}{maturity_html(result)}"
        f"{caps_html(result)}{adjustment_html(result)}{ni_html(result)}"
        f"<h2 id='lift'>Lift by cell</h2>{_forests(result)}"
        f"<h2 id='funnel'>Funnel by variant</h2>{funnel}"
        "<div class='panels'>"
        f"<div><h2 id='srm'>Sample ratio</h2>{_srm(result)}</div>"
        f"<div><h2 id='quality'>Data quality</h2>{_quality(result)}</div></div>"
        f"<h2 id='heterogeneity'>Heterogeneity across segments</h2>{_heterogeneity(result)}"
        f"<h2 id='all'>All results</h2><details><summary>Show every cell, breakdown and pooled row"
        f"</summary>{_all_rows(result)}</details>{notes}"
        "</main></body></html>\n"
    )
