"""Text renderings of an :class:`~segab.analysis.results.AnalysisResult`: table, JSON, CSV.

The table (rich) shows the decisions first (primary metric, one row per cell and
variant), then every metric's lifts, the pooled rows, heterogeneity, SRM and data
quality. JSON is :meth:`AnalysisResult.to_dict` (NaN → ``null``); CSV is one row
per result (cells, then pooled) with a ``scope`` column. The HTML report lives in
:mod:`segab.report.html`.

Strings from data and config (names, ``--by`` values, reasons, notes, examples of bad
rows) are shown literally: the table builds its cells with
:func:`segab.report.terminal.cell` (never read as rich markup) and both the table and
the CSV write control characters as escapes (:func:`segab.printable.printable`). JSON
is exact (its encoder escapes every control character); HTML escapes everything.

Example:
    >>> from segab.analysis.results import AnalysisResult
    >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
    >>> render(r, "json").splitlines()[1]
    '  "experiment": "e",'
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segab.analysis.results import AnalysisResult, ResultRow
from segab.analysis.shrinkage import shrinkage_summary
from segab.errors import DataError
from segab.formatting import num, p_text, pct
from segab.printable import printable
from segab.report.adaptive_view import BANDIT_HEADER, BANDIT_TITLE, bandit_lines, bandit_rows
from segab.report.adjustment_view import adjustment_lines, adjustment_title
from segab.report.formats import FORMATS
from segab.report.maturity_view import maturity_line, maturity_of, window_label
from segab.report.metric_options_view import NI_HEADER, cap_title, caps_lines, ni_mark, ni_rows
from segab.report.quantile_view import quantile_title
from segab.report.shrinkage_view import eb_applied, tailoring_lines

if TYPE_CHECKING:  # rich loads with the table format only (JSON and CSV do without it)
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "FORMATS",
    "evidence",
    "render",
    "render_csv",
    "render_json",
    "render_table",
    "table_renderables",
]

STYLE = {
    "ship": "bold green",
    "rollback": "bold red",
    "investigate": "bold magenta",
    "keep_running": "yellow",
    "no_effect": "cyan",
}


_pct = pct
_num = num
_p = p_text


def _lift(r: ResultRow) -> str:
    c = r.comparison
    if r.shrunk is not None and eb_applied(r):  # the estimate the decision used
        s = r.shrunk
        return f"{_num(s.estimate)} [{_num(s.ci_low)}, {_num(s.ci_high)}] abs EB"
    if math.isfinite(c.rel_lift):
        return f"{_pct(c.rel_lift)} [{_pct(c.rel_ci_low)}, {_pct(c.rel_ci_high)}]"
    if not math.isfinite(c.abs_lift):
        return "–"
    return f"{_num(c.abs_lift)} [{_num(c.abs_ci_low)}, {_num(c.abs_ci_high)}] abs"


def evidence(r: ResultRow) -> str:
    """The evidence column: chance to win (Bayesian), ``EB`` for a row decided on its
    robust EB interval, else the adjusted p-value.

    Example:
        >>> from segab.stats import ProportionStats, compare
        >>> c = compare(ProportionStats(1000, 100), ProportionStats(1000, 140))
        >>> evidence(ResultRow("s", "t", {}, "m", "primary", "binary", "b", "a", c, "x", "y"))
        '0.006'
    """
    c = r.comparison
    if eb_applied(r):
        return "EB"
    if c.method == "bayesian":
        return pct(c.chance_to_win, signed=False)
    return _p(c.p_adjusted if c.p_adjusted is not None else c.p_value)


def _where(r: ResultRow) -> str:
    parts = [r.segment or "all segments", r.stage or "all stages"]
    parts += [f"{k}={v}" for k, v in r.dimensions.items()]
    return " / ".join(str(p) for p in parts)


def _decision(r: ResultRow) -> Text:
    from rich.text import Text

    return Text(printable(r.decision), style=STYLE.get(r.decision, ""))


def _evidence_label(result: AnalysisResult) -> str:
    return "chance to win" if result.method == "bayesian" else "p (adj.)"


def _decisions_table(result: AnalysisResult) -> Table | None:
    from rich.table import Table
    from rich.text import Text

    from segab.report.terminal import cells

    rows = result.decisions()
    if not rows:
        return None
    primary = rows[0].metric
    title = Text(f"Decisions (primary metric: {printable(primary)})")
    t = Table(title=title, title_justify="left", expand=True)
    t.add_column("cell", overflow="fold", ratio=2)
    t.add_column("variant", overflow="fold", ratio=2)
    t.add_column("lift [CI]", ratio=2, min_width=9)
    t.add_column(_evidence_label(result), justify="right", no_wrap=True, min_width=6)
    t.add_column("decision", no_wrap=True, min_width=12)
    t.add_column("reason", overflow="fold", ratio=5)
    for r in rows:
        t.add_row(*cells(_where(r), r.variant, _lift(r), evidence(r), _decision(r), r.reason))
    return t


def _metric_table(result: AnalysisResult, metric: str, rows: Sequence[ResultRow]) -> Table:
    from rich.table import Table
    from rich.text import Text

    from segab.report.terminal import cells

    block = maturity_of(result, metric)
    title = (
        f"Metric: {printable(metric)}{quantile_title(result, metric)}{cap_title(result, metric)}"
    )
    title += adjustment_title(result, metric)
    if block is not None:  # a retention metric: n counts the mature units
        title += f" ({window_label(block)}; n: units whose window has passed)"
    t = Table(title=Text(title), title_justify="left", expand=True)
    for name, justify in (
        ("cell", "left"),
        ("variant vs control", "left"),
        ("n", "right"),
        ("control", "right"),
        ("variant", "right"),
        ("lift [CI]", "left"),
        (_evidence_label(result), "right"),
        ("decision", "left"),
    ):
        wrap = name in ("decision", "n") or name == _evidence_label(result)
        t.add_column(name, justify=justify, overflow="fold", no_wrap=wrap)  # type: ignore[arg-type]
    for r in rows:
        c = r.comparison
        t.add_row(
            *cells(
                _where(r) + (f" ({r.n_cells} cells)" if r.n_cells > 1 else ""),
                f"{r.variant} vs {r.control}",
                f"{c.n_treatment:,}/{c.n_control:,}",
                _num(c.control_mean),
                _num(c.treatment_mean),
                _lift(r),
                evidence(r),
                _decision(r).append(f" {ni_mark(r)}" if r.noninferiority else ""),
            )
        )
    return t


def _small_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    from segab.report.terminal import cells

    t = Table(title=Text(title), title_justify="left")
    for h in header:
        t.add_column(h, overflow="fold")
    for row in rows:
        t.add_row(*cells(*row))
    return t


def table_renderables(result: AnalysisResult) -> list[RenderableType]:
    """The rich renderables of the table format, in order (for printing to a console).

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> len(table_renderables(r)) >= 1
        True
    """
    from rich.text import Text

    from segab.report.terminal import cell

    head = Text.assemble(
        (printable(result.experiment), "bold"),
        f" (iteration {result.iteration}) — {result.method}, alpha {result.alpha:g}, "
        f"correction {result.correction}",
    )
    if result.name:
        head.append(f"\n{printable(result.name)}", style="dim")
    if result.breakdowns:
        shown = "; ".join(" × ".join(printable(c) for c in b) for b in result.breakdowns)
        head.append(f"\nbreakdowns: {shown}", style="dim")
    out: list[RenderableType] = [head]
    decisions = _decisions_table(result)
    if decisions is not None:
        out.append(decisions)
    if bandit := bandit_rows(result):
        out.append(_small_table(BANDIT_TITLE, BANDIT_HEADER, bandit))
        out.extend(cell(line, style="dim") for line in bandit_lines(result))
    if result.shrinkage:
        out.append(cell(f"EB: {shrinkage_summary(result.shrinkage)}; a cell marked EB is "
                        "decided on its robust EB interval", style="dim"))  # fmt: skip
        out.extend(cell(f"EB: {w}", style="dim") for w in result.shrinkage.get("warnings", []))
    if result.tailoring:
        out.extend(cell(f"Tailoring value: {line}") for line in tailoring_lines(result.tailoring))
    out.extend(cell(line) for line in caps_lines(result))
    out.extend(cell(line) for line in adjustment_lines(result))
    if ni := ni_rows(result):
        out.append(_small_table("Non-inferiority guardrails", NI_HEADER, ni))
    order = [m.key for m in result.metrics] or sorted({r.metric for r in result.results})
    for metric in order:
        rows = [r for r in (*result.results, *result.pooled) if r.metric == metric]
        if rows:
            out.append(_metric_table(result, metric, rows))
        block = maturity_of(result, metric)
        if block is not None:
            out.append(cell(maturity_line(block), style="dim"))
    if result.heterogeneity:
        rows_h = [
            (h["stage"], h["metric"], h["variant"], h["k"], _num(h["q"]), _p(h["p_value"]),
             _pct(h["i_squared"]).lstrip("+"))
            for h in result.heterogeneity
        ]  # fmt: skip
        header = ("stage", "metric", "variant", "segments", "Q", "p", "I²")
        out.append(_small_table("Heterogeneity across segments", header, rows_h))
    if result.srm:
        rows_s = [
            (s["segment"] + (" (uniform slice)" if s.get("part") else ""), s["stage"],
             " / ".join(f"{n:,}" for n in s["observed"]),
             " / ".join(pct(w, signed=False) for w in s["weights"]), _p(s["p_value"]),
             Text("SRM", style="bold red") if s["flagged"] else "ok")
            for s in result.srm
        ]  # fmt: skip
        header_s = ("segment", "stage", "observed", "configured", "p", "check")
        out.append(_small_table("Sample ratio mismatch", header_s, rows_s))
    dq = [(k.replace("_", " "), f"{v:,}") for k, v in result.data_quality.items()]
    if dq:
        out.append(_small_table("Data quality", ("counter", "count"), dq))
    if result.data_issues:
        rows_i = [
            (i["table"], i["column"], i["kind"].replace("_", " "), f"{i['count']:,}",
             "; ".join(i["examples"]))
            for i in result.data_issues
        ]  # fmt: skip
        header_i = ("input", "column", "kept out", "rows", "first locations")
        out.append(_small_table("Rows kept out of the sums", header_i, rows_i))
    if result.unknown_arms:
        rows_a = [(a["label"], f"{a['units']:,}") for a in result.unknown_arms]
        out.append(_small_table("Arms the config does not declare", ("label", "units"), rows_a))
    out.extend(cell(f"note: {n}", style="dim") for n in result.notes)
    return out


def render_table(result: AnalysisResult, *, width: int = 140, color: bool = False) -> str:
    """The table format as text (``color`` adds ANSI styles).

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> render_table(r).startswith("e (iteration 1)")
        True
    """
    from rich.console import Console, Group

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color)
    console.print(Group(*table_renderables(result)))
    return buf.getvalue()


def render_json(result: AnalysisResult) -> str:
    """The JSON document (indented, NaN → ``null``).

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> json.loads(render_json(r))["results"]
        []
    """
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"


def render_csv(result: AnalysisResult) -> str:
    """One CSV row per result (``scope`` = ``cell`` or ``pooled``), every field.

    Text fields and column names have their control characters written as escapes.

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> render_csv(r).splitlines()[0].split(",")[:3]
        ['scope', 'segment', 'stage']
    """
    frame = result.to_pandas()
    if frame.empty:
        return "scope,segment,stage,metric,variant,control,decision,reason\n"
    frame = frame.rename(columns=lambda c: printable(str(c)))
    for col in frame.select_dtypes(include=["object", "string"]).columns:
        frame[col] = frame[col].map(lambda v: printable(v) if isinstance(v, str) else v)
    return str(frame.to_csv(index=False))


def render(result: AnalysisResult, fmt: str) -> str:
    """Render in ``table``, ``json``, ``csv`` or ``html``.

    Example:
        >>> from segab.analysis.results import AnalysisResult
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> render(r, "html").startswith("<!DOCTYPE html>")
        True
    """
    if fmt == "table":
        return render_table(result)
    if fmt == "json":
        return render_json(result)
    if fmt == "csv":
        return render_csv(result)
    if fmt == "html":
        from segab.report.html import render_html

        return render_html(result)
    raise DataError(f"format: found {fmt!r}, expected one of {', '.join(FORMATS)}")
