"""Summaries of an analysis beside its rows: heterogeneity across segments and the funnel.

Example:
    >>> funnel_rows.__name__
    'funnel_rows'
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from segab.analysis.results import ResultRow
from segab.config.models import Experiment
from segab.stats import heterogeneity
from segab.sums.aggregate import Aggregates

__all__ = ["funnel_rows", "heterogeneity_rows"]


def heterogeneity_rows(
    rows: Sequence[ResultRow], experiment: Experiment
) -> tuple[dict[str, Any], ...]:
    """Cochran's Q of the relative lift across segments, per stage, metric and pair.

    Example:
        >>> heterogeneity_rows((), None)
        ()
    """
    groups: dict[tuple[str | None, str, str, str], list[ResultRow]] = defaultdict(list)
    for r in rows:
        if not r.dimensions:
            groups[(r.stage, r.metric, r.control, r.variant)].append(r)
    out = []
    for (stage, metric, control, variant), members in groups.items():
        if len(members) < 2:
            continue
        ses = [r.comparison.rel_se for r in members]
        h = heterogeneity(
            [r.comparison.rel_lift for r in members],
            [s * s if s is not None else math.nan for s in ses],
            alpha=experiment.analysis.alpha,
        )
        entry: dict[str, Any] = {
            "stage": stage,
            "metric": metric,
            "variant": variant,
            "control": control,
            "segments": [r.segment for r in members],
            "scale": "relative",
        }
        entry.update(h.to_dict())
        out.append(entry)
    return tuple(out)


def funnel_rows(agg: Aggregates) -> tuple[dict[str, Any], ...]:
    """The funnel of an aggregation as JSON-ready rows (reach rate per next stage).

    Example:
        >>> funnel_rows.__doc__.split()[1]
        'funnel'
    """
    f = agg.funnel
    if f is None or f.empty:
        return ()
    out = []
    for rec in f.to_dict("records"):
        n, reached = int(rec["n_exposed"]), int(rec["n_reached"])
        out.append(
            {
                "segment": rec["segment"],
                "variant": rec["variant"],
                "stage": rec["stage"],
                "next_stage": rec["next_stage"],
                "n_exposed": n,
                "n_reached": reached,
                "rate": reached / n if n else math.nan,
            }
        )
    return tuple(out)
