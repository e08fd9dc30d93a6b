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

import importlib
from typing import Any

# names -> modules, imported on first use (PEP 562): importing one part, such as the
# data half, does not load the statistics stack (scipy, statsmodels)
_EXPORTS = {
    "AnalysisResult": "segab.analysis.results",
    "ResultRow": "segab.analysis.results",
    "Verdict": "segab.analysis.decisions",
    "analyze": "segab.analysis.api",
    "compute_results": "segab.analysis.compute",
    "decide": "segab.analysis.decisions",
    "render": "segab.analysis.render",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segab.analysis' has no attribute {name!r}")
