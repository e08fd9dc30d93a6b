"""From per-cell sums to results: comparisons, pooled rows, checks, decisions.

The three packages behind ``segab analyze`` form one chain, and no import points back up it:

- :mod:`segab.sums` computes per-cell sufficient statistics inside the engine
  where the data lives;
- :mod:`segab.analysis` (this package) turns them into lifts, pooled rows,
  sample-ratio checks, decisions and the :class:`AnalysisResult`;
- :mod:`segab.report` renders a result as a table, JSON, CSV or HTML.

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
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segab.analysis' has no attribute {name!r}")
