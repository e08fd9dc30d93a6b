"""What the reports show of quantile metrics: the quantile beside the metric's name.

A quantile metric's "control" and "variant" columns are the arms' quantiles and its
lifts the difference of quantiles (docs/statistics.md, "Quantile metrics"); the
label says which quantile, in the table, the JSON (``quantile`` on each row) and
the HTML report.

Example:
    >>> from segab.analysis.results import AnalysisResult, MetricInfo
    >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
    ...     metrics=(MetricInfo("spend", "primary", "continuous", "increase", 0.05, quantile=0.5),))
    >>> quantile_title(r, "spend"), quantile_title(r, "other")
    (' (p50 of per-unit values)', '')
"""

from __future__ import annotations

import html

from segab.analysis.results import AnalysisResult

__all__ = ["quantile_label", "quantile_mark", "quantile_of", "quantile_title"]


def quantile_of(result: AnalysisResult, metric: str) -> float | None:
    """A metric's quantile level, ``None`` for other metrics.

    Example:
        >>> quantile_of(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {}),
        ...     "m") is None
        True
    """
    return next((m.quantile for m in result.metrics if m.key == metric), None)


def quantile_label(q: float) -> str:
    """``p50``, ``p90``, ``p99.9``: a quantile level as a percentile.

    Example:
        >>> quantile_label(0.5), quantile_label(0.999)
        ('p50', 'p99.9')
    """
    return f"p{round(q * 100, 6):g}"


def quantile_title(result: AnalysisResult, metric: str) -> str:
    """`` (p50 of per-unit values)`` after a quantile metric's name, else an empty string.

    Example:
        >>> quantile_title(AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (),
        ...     {}), "m")
        ''
    """
    q = quantile_of(result, metric)
    return "" if q is None else f" ({quantile_label(q)} of per-unit values)"


def quantile_mark(result: AnalysisResult, metric: str) -> str:
    """An HTML mark beside a quantile metric's name (empty for other metrics).

    Example:
        >>> from segab.analysis.results import MetricInfo
        >>> r = AnalysisResult("e", 1, "frequentist", 0.05, "holm", (), (), (), (), {},
        ...     metrics=(MetricInfo("t", "primary", "continuous", "decrease", 0.05, quantile=0.9),))
        >>> quantile_mark(r, "t")
        " <span class='muted' title='p90 of per-unit values per arm'>[p90]</span>"
    """
    q = quantile_of(result, metric)
    if q is None:
        return ""
    label = html.escape(quantile_label(q))
    return f" <span class='muted' title='{label} of per-unit values per arm'>[{label}]</span>"
