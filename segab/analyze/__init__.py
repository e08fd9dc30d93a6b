"""``segab analyze``: from exposures and events (or one row per unit) to per-cell results.

The data half (:mod:`segab.analyze.sources`, :mod:`segab.analyze.sql`,
:mod:`segab.analyze.aggregate`) turns inputs into per-cell sufficient statistics
inside the engine where the data lives; the results half turns them into lifts,
decisions and reports.

Example:
    >>> import segab.analyze
    >>> segab.analyze.__name__
    'segab.analyze'
"""

from __future__ import annotations

__all__: list[str] = []

# results half (issue 4): lifts, decisions, reports
from segab.analyze.api import analyze
from segab.analyze.compute import compute_results
from segab.analyze.decisions import Verdict, decide
from segab.analyze.render import render
from segab.analyze.results import AnalysisResult, ResultRow

__all__ += ["AnalysisResult", "ResultRow", "Verdict", "analyze", "compute_results", "decide"]
__all__ += ["render"]
