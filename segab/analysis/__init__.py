"""``segab analyze``: from exposures and events (or one row per unit) to per-cell results.

The data half (:mod:`segab.analysis.sources`, :mod:`segab.analysis.sql`,
:mod:`segab.analysis.aggregate`) turns inputs into per-cell sufficient statistics
inside the engine where the data lives; the results half turns them into lifts,
decisions and reports.

Example:
    >>> import segab.analysis
    >>> segab.analysis.__name__
    'segab.analysis'
"""

from __future__ import annotations

__all__: list[str] = []

# results half (issue 4): lifts, decisions, reports
from segab.analysis.api import analyze
from segab.analysis.compute import compute_results
from segab.analysis.decisions import Verdict, decide
from segab.analysis.render import render
from segab.analysis.results import AnalysisResult, ResultRow

__all__ += ["AnalysisResult", "ResultRow", "Verdict", "analyze", "compute_results", "decide"]
__all__ += ["render"]
