"""Retention windows in the reports: the window, the analysis time and the units not yet mature.

A retention metric (a binary metric with ``window``) counts a unit only once its window has
passed at the analysis time (``now``, else the latest time in the data); the units still
inside it are counted per arm in ``AnalysisResult.maturity`` and shown here: a line under
the metric's table, a mark beside the metric in the HTML report and a table of arms.

Example:
    >>> block = {"metric": "d7", "window_start": "7d", "window_end": "8d",
    ...          "as_of": "2024-01-25T00:00:00+00:00", "as_of_source": "data",
    ...          "n_mature": 90, "n_immature": 10, "arms": [
    ...          {"segment": "all", "stage": "s", "variant": "a", "n_mature": 40, "n_immature": 6},
    ...          {"segment": "all", "stage": "s", "variant": "b", "n_mature": 50, "n_immature": 4}]}
    >>> window_label(block)
    'window 7d–8d after first exposure'
    >>> print(maturity_line(block))
    d7: n counts units whose window 7d–8d after first exposure had passed by 2024-01-25T00:00:00+00:00 (the latest time in the data); not yet mature, left out: 10 (a 6, b 4)
"""  # noqa: E501

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from segab.analysis.results import AnalysisResult

__all__ = ["maturity_html", "maturity_line", "maturity_of", "window_label", "window_mark"]


def window_label(block: Mapping[str, Any]) -> str:
    """``window 7d–8d after first exposure``.

    Example:
        >>> window_label({"window_start": "0s", "window_end": "1d"})
        'window 0s–1d after first exposure'
    """
    return f"window {block['window_start']}–{block['window_end']} after first exposure"


def maturity_of(result: AnalysisResult, metric: str) -> Mapping[str, Any] | None:
    """The maturity block of ``metric`` (None: not a retention metric).

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> maturity_of(r, "d7") is None
        True
    """
    return next((m for m in result.maturity if m["metric"] == metric), None)


def _per_variant(block: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for arm in block["arms"]:
        out[arm["variant"]] = out.get(arm["variant"], 0) + int(arm["n_immature"])
    return out


def maturity_line(block: Mapping[str, Any]) -> str:
    """One line for the table format: the window, the analysis time, immature units per arm.

    Example:
        >>> b = {"metric": "d1", "window_start": "0s", "window_end": "1d", "as_of": None,
        ...      "as_of_source": "now", "n_immature": 0, "arms": []}
        >>> maturity_line(b).endswith("not yet mature, left out: 0")
        True
    """
    source = "now" if block["as_of_source"] == "now" else "the latest time in the data"
    arms = ", ".join(f"{v} {n:,}" for v, n in _per_variant(block).items())
    return (
        f"{block['metric']}: n counts units whose {window_label(block)} had passed by "
        f"{block['as_of']} ({source}); not yet mature, left out: {block['n_immature']:,}"
        + (f" ({arms})" if arms else "")
    )


def window_mark(result: AnalysisResult, metric: str) -> str:
    """An HTML mark beside a retention metric's name (empty for other metrics).

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> window_mark(r, "conv")
        ''
    """
    block = maturity_of(result, metric)
    if block is None:
        return ""
    tip = html.escape(maturity_line(block), quote=True)
    return (
        f" <span class='muted' title='{tip}'>[{html.escape(block['window_start'])}–"
        f"{html.escape(block['window_end'])}, {block['n_immature']:,} not yet mature]</span>"
    )


def maturity_html(result: AnalysisResult) -> str:
    """The section of retention windows: per metric and arm, mature and not-yet-mature units.

    Example:
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {})
        >>> maturity_html(r)
        ''
    """
    if not result.maturity:
        return ""
    rows = []
    for block in result.maturity:
        for arm in block["arms"]:
            cells = [
                html.escape(str(block["metric"])),
                html.escape(window_label(block)),
                html.escape(str(block["as_of"])),
                html.escape(str(arm["segment"])),
                html.escape(str(arm["stage"])),
                html.escape(str(arm["variant"])),
                f"{arm['n_mature']:,}",
                f"{arm['n_immature']:,}",
            ]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["metric", "window", "as of", "segment", "stage", "variant", "mature", "not yet mature"]
    return (
        "<h2 id='maturity'>Retention windows</h2><p class='muted'>A unit counts once its "
        "window has passed at the analysis time (now, when given; else the latest time "
        "in the data); "
        "the others are left out of n and counted here.</p><table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
