"""What an aggregation returns (:class:`Aggregates`), and the reshaping both aggregations share.

Example:
    >>> SUM_COLUMNS[:3]
    ('n', 'sum', 'sum_sq')
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segab.config.models import Experiment, Metric
from segab.errors import DataError
from segab.sums.caps import AppliedCap
from segab.sums.covariates import long_columns, long_covariates
from segab.sums.sources import Engine, open_engine
from segab.sums.specs import MetricSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATA_QUALITY_KEYS",
    "MAX_EXAMPLES",
    "SUM_COLUMNS",
    "Aggregates",
    "DataIssue",
    "given_or_duckdb",
    "long_sums",
    "merge_split",
    "rename_dims",
    "rollup_sets",
    "split_index",
    "typed_dims",
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
    # rows kept out because a value segab cannot use (see data_issues for where)
    "bad_values",  # NaN, +-inf, overflowing literals, text in a numeric column
    "bad_timestamps",  # unparseable or missing times
    "undeclared_exposures",  # a segment or stage the config does not declare
    "duplicate_events",  # exact repeats of an event row
    "duplicate_units",  # repeated unit ids in a unit table (beyond the first row)
    "unknown_arms",  # units in arms the config does not declare (segab.sums.arms)
    # the rows an analysis reads (analysis.filter, --attributes; docs/data-quality.md)
    "filtered_out",  # rows where analysis.filter does not hold
    "missing_attributes",  # rows whose unit has no (single) row in the attributes table
    "duplicate_attributes",  # attribute rows whose unit id repeats (those units: no attributes)
)
MAX_EXAMPLES = 5  # locations kept per data issue


@dataclass(frozen=True)
class DataIssue:
    """Rows of one input kept out of the sums for one reason, with where the first few are.

    ``table`` is ``exposures``, ``events`` or ``units``; ``kind`` one of ``nan``,
    ``infinite``, ``not_a_number``, ``bad_timestamp``, ``bad_binary``,
    ``undeclared_segment``, ``undeclared_stage``, ``duplicate_row``,
    ``duplicate_unit`` or ``multi_variant_unit``; ``examples`` holds up to
    :data:`MAX_EXAMPLES` locations such as ``"events.csv line 1045 (unit u17)"``.

    Example:
        >>> DataIssue("events", "value", "nan", 3, ("events.csv line 7",)).to_dict()["count"]
        3
    """

    table: str
    column: str
    kind: str
    count: int
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The JSON form (an item of ``data_issues``).

        Example:
            >>> DataIssue("units", "spend", "infinite", 1).to_dict()["examples"]
            []
        """
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class Aggregates:
    """Per-cell sufficient statistics, exposure counts, funnel and data quality.

    ``sums``: segment, stage, variant, <dimensions>, metric, n, sum, sum_sq,
    den_sum, den_sum_sq, cross_sum. ``exposures``: segment, stage, variant,
    <dimensions>, n. ``funnel``: segment, variant, stage, next_stage, n_exposed,
    n_reached. ``data_quality``: the counters of :data:`DATA_QUALITY_KEYS`.
    ``issues``: the rows kept out for a value segab cannot use, by input, column
    and kind, with their first locations. ``notes``: why an aggregation has
    nothing to compare (no usable exposures, no events), in words.
    ``unknown_arms``: labels in the data that are no variant of the config, with
    their unit counts (kept out; :mod:`segab.sums.arms`). ``folds``, when asked for
    (:mod:`segab.sums.folds`): segment, stage, variant, fold (0 or 1), metric and the
    :data:`SUM_COLUMNS`, per fold of units (the two folds add up to ``sums``).
    ``maturity``: per retention metric (:mod:`segab.sums.event_metrics`), its window,
    the analysis time and the mature and immature units per arm.
    ``caps``: the cap each capped metric got and the units it lowered
    (:mod:`segab.sums.caps`). ``periods``, when allocation periods were given
    (:mod:`segab.sums.periods`): segment, stage, variant, period, in_slice, metric and
    the :data:`SUM_COLUMNS` of the bandit cells (they add up to their ``sums``).
    (:mod:`segab.sums.caps`). ``quantiles``: the quantile metrics' groups (cells,
    breakdowns, pooled pairs), each with ``n`` and its order statistics
    (:func:`segab.sums.quantiles.quantile_frame`).

    ``breakdowns`` is set with two or more breakdowns (each a tuple of columns):
    then ``dimensions`` is the union of their columns, and ``sums`` and
    ``exposures`` have an integer ``breakdown`` column, 0 for the plain cell rows
    and k for the rows of ``breakdowns[k - 1]``, whose other dimension columns are
    missing (a NULL value of a breakdown's own column is missing too: the
    ``breakdown`` column tells them apart). With ``breakdowns`` empty, rows are
    those of ``dimensions`` crossed (or the plain cells without dimensions).

    Example:
        >>> Aggregates.__dataclass_fields__["dimensions"].type
        'tuple[str, ...]'
    """

    sums: pd.DataFrame
    exposures: pd.DataFrame
    funnel: pd.DataFrame
    data_quality: dict[str, int]
    dimensions: tuple[str, ...]
    issues: tuple[DataIssue, ...] = ()
    notes: tuple[str, ...] = ()
    breakdowns: tuple[tuple[str, ...], ...] = ()
    unknown_arms: tuple[tuple[str, int], ...] = ()
    folds: pd.DataFrame | None = None
    # per retention metric: window, analysis time, mature/immature units per arm
    maturity: tuple[dict[str, Any], ...] = ()
    caps: tuple[AppliedCap, ...] = ()
    # bandit cells: sums per allocation period and uniform-slice flag (segab.sums.periods)
    periods: pd.DataFrame | None = None
    # quantile metrics: each group's n and order statistics (segab.sums.quantiles)
    quantiles: pd.DataFrame | None = None


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
        # a retention metric (event logs) counts its mature units in n_i
        own_n = per_metric_n or f"n_{i}" in wide.columns
        part["n"] = (wide[f"n_{i}"] if own_n else wide["n"]).fillna(0).astype("int64")
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
        frames.append(long_covariates(part, wide, i, specs))
    columns = [*keys, "metric", *SUM_COLUMNS, *long_columns(specs)]
    import pandas as pd

    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    out = pd.concat(frames, ignore_index=True)
    order = {m.key: i for i, m in enumerate(exp.metrics.all())}
    out["_order"] = out["metric"].map(order)
    out = out.sort_values([*keys, "_order"], kind="stable", na_position="first")
    return out.drop(columns="_order").reset_index(drop=True)[columns]


def rollup_sets(
    wide: pd.DataFrame, keys: Sequence[str], n_dims: int, sets: Sequence[Sequence[int]]
) -> pd.DataFrame:
    """The grouping sets of ``sets`` from sums grouped by ``keys`` and every ``dim_i``.

    Sums add, so each breakdown's rows (and, ``gid`` 0, the plain rows) are the sums
    of the finest crossing's rows: the frame :func:`~segab.sums.expressions.grouped_select`
    returns, for the DuckDB fast path, which groups by every dim at once. A dim
    outside its row's breakdown is None; a NULL value stays a group of its own.

    Example:
        >>> import pandas as pd
        >>> wide = pd.DataFrame({"variant": ["a", "a", "a"], "dim_0": ["x", "x", None],
        ...     "dim_1": [1, 2, 1], "n": [1, 2, 4]})
        >>> out = rollup_sets(wide, ["variant"], 2, [(0,), (1,)])
        >>> out[["gid", "n"]].values.tolist()
        [[0, 7], [1, 3], [1, 4], [2, 5], [2, 2]]
    """
    import pandas as pd

    dims = [f"dim_{i}" for i in range(n_dims)]
    values = [c for c in wide.columns if c not in keys and c not in dims]
    parts = []
    for k, chosen in enumerate([(), *sets]):
        by = [*keys, *(dims[i] for i in chosen)]
        part = wide.groupby(by, dropna=False, sort=False)[values].sum(min_count=1).reset_index()
        for i, c in enumerate(dims):
            if i not in chosen:
                part[c] = None
        part["gid"] = k
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[[*keys, *dims, "gid", *values]]


def typed_dims(wide: pd.DataFrame, dims: Sequence[str], types: Mapping[str, str]) -> pd.DataFrame:
    """``dim_i`` columns of an integer SQL type as integers (nullable), whatever the driver gave.

    With several breakdowns a dim is NULL outside its rows' breakdown, which some
    drivers return as a float column (``0.0`` for ``0``); the value is the column's.

    Example:
        >>> import pandas as pd
        >>> wide = pd.DataFrame({"dim_0": [0.0, None]})
        >>> typed_dims(wide, ["newbie"], {"newbie": "BIGINT"})["dim_0"].tolist()
        [0, <NA>]
    """
    for i, c in enumerate(dims):
        col = f"dim_{i}"
        if "int" in types.get(c, "").lower() and col in wide.columns:
            wide[col] = wide[col].astype("Float64").astype("Int64")
    return wide


# the frames' own column names: a breakdown column of one of these names is renamed
# in the frames (:func:`dim_columns`) and named back in results (:func:`dim_name`)
_OWN = re.compile(
    r"(segment|stage|variant|metric|breakdown|gid|f|n|n_units|sum|sum_sq|den_sum|den_sum_sq"
    r"|cross_sum|next_stage|n_exposed|n_reached|fold|[a-z]{1,2}_[0-9]+|dim_[0-9]+)"
)
_BY = " (by)"


def dim_columns(dims: Sequence[str]) -> tuple[str, ...]:
    """The frame column of each breakdown column: its name, unless the frames use that name.

    Any column can be a breakdown (``segment``, ``variant``, ``n``): such a name gets
    the suffix ``" (by)"`` in the frames of :class:`Aggregates`, and
    :func:`dim_name` gives it back to results.

    Example:
        >>> dim_columns(["channel", "segment", "n_0"])
        ('channel', 'segment (by)', 'n_0 (by)')
    """
    return tuple(f"{d}{_BY}" if _OWN.fullmatch(d) else d for d in dims)


def dim_name(column: str) -> str:
    """The breakdown column a frame column of :func:`dim_columns` stands for.

    Example:
        >>> dim_name("segment (by)"), dim_name("channel"), dim_name("x (by)")
        ('segment', 'channel', 'x (by)')
    """
    base = column[: -len(_BY)]
    return base if column.endswith(_BY) and _OWN.fullmatch(base) else column


def rename_dims(df: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    """``dim_i`` columns renamed to the ``--by`` names (:func:`dim_columns`); name columns
    as Python objects.

    Example:
        >>> import pandas as pd
        >>> list(rename_dims(pd.DataFrame({"dim_0": ["x"]}), ("channel",)).columns)
        ['channel']
    """
    df = df.rename(columns={f"dim_{i}": d for i, d in enumerate(dim_columns(dims))})
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


def split_index(values: pd.Series) -> pd.Series:
    """An engine's split column (a fold, period or slice number, read back as int, float or
    text) as ints, ``-1`` where it is missing.

    Example:
        >>> import pandas as pd
        >>> split_index(pd.Series(["1", 0.0, None, float("nan")])).tolist()
        [1, 0, -1, -1]
    """
    return values.map(lambda v: int(float(v)) if v is not None and str(v) != "nan" else -1)


def merge_split(
    agg: Aggregates, columns: Sequence[str]
) -> tuple[tuple[str, ...], pd.DataFrame, pd.DataFrame]:
    """Sums split by ``columns`` (folds, periods) summed over them: dimensions, sums, exposures.

    What the aggregation without the split would have given: the sums of every
    value column (the :data:`SUM_COLUMNS` and the covariates' ``x_sum*``,
    ``xy_sum*``, ``xx_sum*``; all-missing stays missing), the exposures, with the
    unsplit key types.

    Example:
        >>> import pandas as pd
        >>> sums = pd.DataFrame({"segment": "s", "stage": "t", "variant": "a",
        ...     "f": [0, 1], "metric": "m", "n": [3, 4], "sum": [1.0, 2.0], "sum_sq": 1.0,
        ...     "den_sum": 0.0, "den_sum_sq": 0.0, "cross_sum": 0.0})
        >>> expo = sums[["segment", "stage", "variant", "f", "n"]]
        >>> dims, merged, exposures = merge_split(Aggregates(sums, expo, pd.DataFrame(), {},
        ...                                                   ("f",)), ["f"])
        >>> dims, merged["n"].tolist(), merged["sum"].tolist(), exposures["n"].tolist()
        ((), [7], [3.0], [7])
    """
    dims = tuple(d for d in agg.dimensions if d not in columns)
    keys = ["segment", "stage", "variant", *dims]
    values = [
        c
        for c in agg.sums.columns
        if c in SUM_COLUMNS or c.startswith(("x_sum", "xy_sum", "xx_sum"))
    ]
    sums = agg.sums.groupby([*keys, "metric"], dropna=False, sort=False, as_index=False)[
        values
    ].sum(min_count=1)
    exposures = agg.exposures.groupby(keys, dropna=False, sort=True, as_index=False)[["n"]].sum()
    sums = sums.astype({k: agg.sums[k].dtype for k in keys})  # as an unsplit aggregation
    exposures = exposures.astype({k: agg.exposures[k].dtype for k in keys})
    return dims, sums.reset_index(drop=True), exposures.reset_index(drop=True)
