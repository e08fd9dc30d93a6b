"""What an aggregation returns (:class:`Aggregates`), and the reshaping both aggregations share.

Example:
    >>> SUM_COLUMNS[:3]
    ('n', 'sum', 'sum_sq')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from segab.config.models import Experiment, Metric
from segab.errors import DataError
from segab.sums.sources import Engine, open_engine
from segab.sums.specs import MetricSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATA_QUALITY_KEYS",
    "SUM_COLUMNS",
    "Aggregates",
    "given_or_duckdb",
    "long_sums",
    "rename_dims",
]

SUM_COLUMNS = ("n", "sum", "sum_sq", "den_sum", "den_sum_sq", "cross_sum")
DATA_QUALITY_KEYS = (
    "multi_variant_units",
    "duplicate_exposures",
    "events_before_exposure",
    "events_unknown_units",
    "events_outside_window",
    "empty_ids",
    "missing_outcomes",
    "exposures_other_experiment",
    "exposures_not_in_experiment",
    "exposures_after_now",
    "missing_variant",
)


@dataclass(frozen=True)
class Aggregates:
    """Per-cell sufficient statistics, exposure counts, funnel and data quality.

    ``sums``: segment, stage, variant, <dimensions>, metric, n, sum, sum_sq,
    den_sum, den_sum_sq, cross_sum. ``exposures``: segment, stage, variant,
    <dimensions>, n. ``funnel``: segment, variant, stage, next_stage, n_exposed,
    n_reached. ``data_quality``: the counters of :data:`DATA_QUALITY_KEYS`.

    Example:
        >>> Aggregates.__dataclass_fields__["dimensions"].type
        'tuple[str, ...]'
    """

    sums: pd.DataFrame
    exposures: pd.DataFrame
    funnel: pd.DataFrame
    data_quality: dict[str, int]
    dimensions: tuple[str, ...]


def _cost(metric: Metric, variant: str) -> float:
    cost = metric.cost_per_unit
    if isinstance(cost, dict):
        if variant not in cost:
            raise DataError(
                f"metric {metric.key!r}: cost_per_unit has no cost for variant {variant!r}; "
                f"it has {sorted(cost)}"
            )
        return float(cost[variant])
    return float(cost or 0.0)


def long_sums(
    wide: pd.DataFrame,
    exp: Experiment,
    specs: Sequence[MetricSpec],
    dims: tuple[str, ...],
    per_metric_n: bool,
) -> pd.DataFrame:
    """The wide GROUP BY result as one row per (cell, metric) with :data:`SUM_COLUMNS`.

    Example:
        >>> long_sums.__name__   # exercised by every aggregation test
        'long_sums'
    """
    metrics = {m.key: m for m in exp.metrics.all()}
    keys = ["segment", "stage", "variant", *dims]
    frames = []
    for i, spec in enumerate(specs):
        part = wide[keys].copy()
        part["metric"] = spec.key
        part["n"] = (wide[f"n_{i}"] if per_metric_n else wide["n"]).fillna(0).astype("int64")
        part["sum"] = wide[f"s_{i}"].astype("float64").fillna(0.0)
        part["sum_sq"] = wide[f"q_{i}"].astype("float64").fillna(0.0)
        metric = metrics[spec.key]
        if spec.den is not None:
            part["den_sum"] = wide[f"ds_{i}"].astype("float64").fillna(0.0)
            part["den_sum_sq"] = wide[f"dq_{i}"].astype("float64").fillna(0.0)
            part["cross_sum"] = wide[f"x_{i}"].astype("float64").fillna(0.0)
        elif spec.kind == "ratio":
            cost = part["variant"].map(lambda v, m=metric: _cost(m, v)).astype("float64")
            part["den_sum"] = part["n"] * cost
            part["den_sum_sq"] = part["n"] * cost * cost
            part["cross_sum"] = part["sum"] * cost
        else:
            part["den_sum"] = part["den_sum_sq"] = part["cross_sum"] = 0.0
        frames.append(part)
    columns = [*keys, "metric", *SUM_COLUMNS]
    import pandas as pd

    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    out = pd.concat(frames, ignore_index=True)
    order = {m.key: i for i, m in enumerate(exp.metrics.all())}
    out["_order"] = out["metric"].map(order)
    out = out.sort_values([*keys, "_order"], kind="stable", na_position="first")
    return out.drop(columns="_order").reset_index(drop=True)[columns]


def rename_dims(df: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    """``dim_i`` columns renamed to the ``--by`` names; name columns as Python objects.

    Example:
        >>> import pandas as pd
        >>> list(rename_dims(pd.DataFrame({"dim_0": ["x"]}), ("channel",)).columns)
        ['channel']
    """
    df = df.rename(columns={f"dim_{i}": d for i, d in enumerate(dims)})
    for col in ("segment", "stage", "variant", "next_stage"):
        if col in df.columns:
            df[col] = df[col].astype(object)
    return df


@contextmanager
def given_or_duckdb(engine: Engine | None) -> Iterator[Engine]:
    """The caller's engine (left open), or a private DuckDB engine for this call.

    Example:
        >>> with given_or_duckdb(None) as eng:
        ...     eng.dialect
        'duckdb'
    """
    if engine is not None:
        yield engine
        return
    with open_engine() as eng:
        yield eng
