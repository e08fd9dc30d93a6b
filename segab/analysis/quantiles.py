"""Quantile metrics in the analysis: each comparison from its own group's order statistics.

A quantile metric's sums (a continuous metric's) do not give its quantile, and
quantiles do not pool by addition: every row of the analysis (a cell, a cell per
breakdown value, a pooled pair) reads the ``n``, quantile and bounds the engine
computed for exactly that group (``Aggregates.quantiles``,
:mod:`segab.sums.quantiles`) and is compared by
:func:`segab.stats.quantile.compare_quantiles`. A row whose group is missing gets
an undefined comparison (NaN p-value) with a warning, never a guess.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"scope": "cell", "breakdown": 0, "segment": "s", "stage": "t",
    ...     "variant": ["a", "b"], "pair": "", "metric": "p50", "q": 0.5, "n": 5000,
    ...     "quantile": [10.0, 10.8], "lower": [9.6, 10.4], "upper": [10.4, 11.2]})
    >>> index = quantile_index(frame, ())
    >>> c = compare_quantile_rows([("cell", "s", "t", (), "a", "b")], "p50", index, 0.05)[0]
    >>> round(c.abs_lift, 2), round(c.p_value, 5)
    (0.8, 0.00557)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from segab.stats.quantile import QuantileStats, compare_quantiles
from segab.stats.result import Comparison
from segab.sums.result import Aggregates, dim_columns, dim_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "QuantileIndex",
    "aggregates_quantiles",
    "compare_pending",
    "compare_quantile_rows",
    "quantile_index",
    "unit_variance",
]

QuantileIndex = dict[tuple[Any, ...], QuantileStats]
Where = tuple[str, str | None, str | None, tuple[tuple[str, Any], ...], str, str]


def _value(v: Any) -> str | None:
    """A breakdown value as a key: NULL and NaN as None, 2.0 as 2, then text."""
    import pandas as pd

    if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _dims_key(dims: Sequence[tuple[str, Any]]) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((name, _value(v)) for name, v in dims))


def quantile_index(
    frame: pd.DataFrame | None, breakdowns: Sequence[Sequence[str]]
) -> QuantileIndex:
    """``Aggregates.quantiles`` as a lookup by group, arm and metric.

    ``breakdowns`` are the breakdowns' column names (raw, as in ``ResultRow``): row
    ``breakdown`` k reads the columns of ``breakdowns[k - 1]``.

    Example:
        >>> quantile_index(None, ())
        {}
    """
    out: QuantileIndex = {}
    if frame is None or frame.empty:
        return out
    for rec in frame.to_dict("records"):
        k = int(rec["breakdown"])
        names = tuple(breakdowns[k - 1]) if k else ()
        dims = _dims_key([(n, rec[dim_columns([n])[0]]) for n in names])
        scope = str(rec["scope"])
        segment = rec["segment"] if scope == "cell" else None
        stage = rec["stage"] if scope in ("cell", "stage") else None
        key = (scope, segment, stage, dims, str(rec["pair"]), rec["variant"], rec["metric"])
        out[key] = QuantileStats(
            int(rec["n"]),
            float(rec["q"]),
            float(rec["quantile"]),
            float(rec["lower"]),
            float(rec["upper"]),
        )
    return out


def aggregates_quantiles(agg: Aggregates) -> QuantileIndex:
    """:func:`quantile_index` of an aggregation's quantiles, with its breakdowns' columns.

    Example:
        >>> import pandas as pd
        >>> aggregates_quantiles(Aggregates(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {}, ()))
        {}
    """
    if agg.breakdowns:
        names: Sequence[Sequence[str]] = agg.breakdowns
    else:
        names = (tuple(dim_name(d) for d in agg.dimensions),) if agg.dimensions else ()
    return quantile_index(agg.quantiles, names)


def _keys(where: Where, metric: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    scope, segment, stage, dims, control, variant = where
    d = _dims_key(dims)
    if scope in ("cell", "by"):
        base: tuple[Any, ...] = ("cell", segment, stage, d, "")
    else:
        pair = "|".join(sorted((control, variant)))
        level = "stage" if stage is not None and not dims else "all"
        base = (level, None, stage if level == "stage" else None, d, pair)
    return (*base, control, metric), (*base, variant, metric)


def compare_quantile_rows(
    rows: Sequence[Where], metric: str, index: QuantileIndex, alpha: float
) -> list[Comparison]:
    """One :class:`Comparison` per row ``(scope, segment, stage, dims, control, variant)``.

    ``scope`` is ``cell``, ``by`` or ``pooled`` (pooled rows: per stage when
    ``stage`` is set, else over everything, per breakdown value with ``dims``).

    Example:
        >>> c = compare_quantile_rows([("pooled", None, "t", (), "a", "b")], "m", {}, 0.05)[0]
        >>> math.isnan(c.p_value), c.warnings
        (True, ('no order statistics for this quantile row',))
    """
    out = []
    for where in rows:
        kc, kt = _keys(where, metric)
        c, t = index.get(kc), index.get(kt)
        if c is None or t is None:
            nan = math.nan
            out.append(
                Comparison(
                    nan, nan, c.n if c else 0, t.n if t else 0, nan, nan, nan, nan, nan, nan,
                    nan, None, "quantile_z", "frequentist", alpha,
                    warnings=("no order statistics for this quantile row",),
                )
            )  # fmt: skip
            continue
        out.append(compare_quantiles(c, t, alpha))
    return out


def compare_pending(
    items: Sequence[Any], metric: str, index: QuantileIndex, alpha: float, method: str
) -> list[Comparison]:
    """:func:`compare_quantile_rows` of the analysis's pending comparisons (each with
    ``scope``, ``segment``, ``stage``, ``dims`` and a ``pair`` with ``control``, ``variant``).

    The test is the fixed-horizon z-test whatever the analysis ``method``; under
    ``bayesian`` or ``sequential`` each comparison says so in a warning.

    Example:
        >>> compare_pending([], "p50", {}, 0.05, "sequential")
        []
    """
    rows = [(p.scope, p.segment, p.stage, p.dims, p.pair.control, p.pair.variant) for p in items]
    out = compare_quantile_rows(rows, metric, index, alpha)
    if method == "frequentist":
        return out
    note = f"a quantile metric is tested at a fixed horizon (z-test), not by method {method!r}"
    return [replace(c, warnings=(*c.warnings, note)) for c in out]


def unit_variance(c: Comparison, variance: float) -> float:
    """The per-unit variance a sample-size estimate reads: ``variance`` (the control's),
    or for a quantile comparison the one its standard error implies,
    ``se² / (1/n_c + 1/n_t)`` (the quantile's se shrinks as 1/√n).

    Example:
        >>> from segab.stats.quantile import QuantileStats, compare_quantiles
        >>> q = QuantileStats(100, 0.5, 1.0, 0.5, 1.5)
        >>> round(unit_variance(compare_quantiles(q, q), 9.0), 4)
        6.5079
    """
    if c.test != "quantile_z" or c.abs_se is None:
        return variance
    return float(c.abs_se**2 / (1.0 / max(c.n_control, 1) + 1.0 / max(c.n_treatment, 1)))
