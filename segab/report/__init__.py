"""Rendering: an :class:`~segab.analysis.AnalysisResult` as a table, JSON, CSV or HTML.

- :mod:`segab.report.render`: the terminal table, JSON and CSV, and the format switch
  (:func:`segab.report.render.render`);
- :mod:`segab.report.html` and :mod:`segab.report.svg`: the self-contained HTML report
  and its charts (forest plot, funnel);
- :mod:`segab.report.history`: the iteration-history page of ``segab history``.

Numbers are formatted by :mod:`segab.formatting`, shared with the decision reasons.

The package sits at the end of the chain ``segab.sums`` → ``segab.analysis`` →
``segab.report``: it imports results, and nothing imports it but the shell.

Example:
    >>> from segab.report import history_html
    >>> history_html({"experiment": "demo", "iterations": []})[:15]
    '<!DOCTYPE html>'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "history_html": "segab.report.history",
    "render_html": "segab.report.html",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segab.report' has no attribute {name!r}")
