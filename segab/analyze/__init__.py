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
