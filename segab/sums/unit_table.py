"""Per-cell sums from a one-row-per-unit table (variant, attributes, outcome columns).

Example:
    >>> aggregate_units.__name__   # the example below runs one
    'aggregate_units'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from segab.config.models import Experiment
from segab.errors import DataError, SqlError
from segab.sums.arms import match_arms
from segab.sums.breakdowns import plan_breakdowns
from segab.sums.caps import applied_caps, cap_spec
from segab.sums.folds import FOLD_COLUMN, split_folds, with_fold
from segab.sums.prepare import materialize, resolve_rows
from segab.sums.result import (
    DATA_QUALITY_KEYS,
    Aggregates,
    dim_columns,
    given_or_duckdb,
    long_sums,
    rename_dims,
    typed_dims,
)
from segab.sums.sources import Engine, Relation, Source, is_frame, require_columns
from segab.sums.specs import MetricSpec, UnitColumns, UnitSpec
from segab.sums.unit_checks import CheckedUnits, UnitInput, check_units

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["aggregate_units"]

UNIT_COLUMNS = UnitColumns()  # the default column names


def _unit_specs(exp: Experiment, rel: Relation) -> list[MetricSpec]:
    specs = []
    for m in exp.metrics.all():
        column = m.column if m.column is not None else (m.key if rel.has(m.key) else None)
        if column is None:
            continue  # an event-log metric with no outcome column in this table
        for name, value in (("where", m.where), ("window", m.window)):
            if value is not None:  # these read event rows and their times
                raise DataError(
                    f"metric {m.key!r}: found {name} on a unit table's column {column!r}; "
                    f"expected an event log (exposures and events) for metrics with {name}"
                )
        den = m.denominator_column if m.kind == "ratio" else None
        if m.kind == "ratio" and den is None and m.cost_per_unit is None:
            raise DataError(
                f"metric {m.key!r}: a ratio needs denominator_column or cost_per_unit "
                "in a unit table"
            )
        covariates = tuple(m.covariates or ())
        specs.append(
            MetricSpec(
                m.key,
                m.kind,
                column,
                den,
                cap=cap_spec(m, exp),
                quantile=m.quantile,
                covariates=covariates,
            )
        )
    return specs


def _segment_sql(exp: Experiment, rel: Relation, dialect: str) -> str | None:
    """``CASE`` over the segment conditions (first match, else the fallback), or None.

    The one condition compiler, :func:`segab.sql.assign.segment_sql`, writes it.
    None (every row in segment ``all``) when a condition cannot be compiled for the
    dialect (SQLite, array or version operators). A column the table lacks is a
    missing attribute, as in :func:`segab.assign`.
    """
    from segab.errors import SegabError
    from segab.sql.assign import segment_sql
    from segab.sql.conditions import column_kind
    from segab.sql.dialects import get_dialect

    d = get_dialect(dialect)
    if not d.compiles_conditions:
        return None
    kinds = {c: k for c in rel.columns if (k := column_kind(rel.types.get(c, ""))) is not None}
    try:
        return f"({segment_sql(exp, d, kinds, unmatched='not_targeted')})"
    except SegabError:
        return None


def _unit_id_column(rel: Relation, exp: Experiment) -> str | None:
    """The config's ``unit`` column, else ``unit_id``, else ``unit``; None without one."""
    return next((c for c in (exp.unit, "unit_id", "unit") if rel.has(c)), None)


def _named(rel: Relation, name: str, taken: set[str]) -> str | None:
    return name if rel.has(name) and name not in taken else None


def _is_text_file(source: Source) -> bool:
    return not is_frame(source) and str(source).lower().endswith(
        (".csv", ".csv.gz", ".txt", ".tsv")
    )


def _check(
    eng: Engine,
    experiment: Experiment,
    units: Source,
    columns: UnitColumns,
    dims: tuple[str, ...],
    texts: list[str],
    attributes: Source | None = None,
    folds: bool = False,
    sets: tuple[tuple[int, ...], ...] = (),
) -> tuple[list[MetricSpec], CheckedUnits, tuple[str, ...]]:
    """Resolve the table (``texts``: columns read as text from CSV) and run its statements.

    Also returns the breakdowns computed (with ``folds`` and a unit id column, the fold last).
    """
    rel = eng.relation(units, "units", texts)
    unit = _unit_id_column(rel, experiment)
    specs = _unit_specs(experiment, rel)
    read = [c for s in specs for c in (s.source, s.den, *s.covariates) if c is not None]
    # a column named segment or stage is one only when no other role uses it (it may be
    # the arm column, a breakdown or an outcome)
    taken = {columns.variant, *dims, *read}
    segment = columns.segment or _named(rel, "segment", taken)
    stage = columns.stage or _named(rel, "stage", taken)
    named = [columns.variant, *(c for c in (segment, stage) if c)]
    rel, prep = resolve_rows(
        eng, experiment, rel, unit, attributes, texts=dims, first=True, order=(named, read)
    )
    require_columns(rel, list(dict.fromkeys([*named, *dims, *read])), "units")
    if folds and unit is not None:  # the fold of each unit: one more breakdown
        rel, dims = with_fold(eng.dialect, rel, unit), (*dims, FOLD_COLUMN)
    if prep is not None:
        prep = materialize(eng, rel.sql, prep)
    segment_sql = None if segment else _segment_sql(experiment, rel, eng.dialect)
    spec = UnitSpec(columns.variant, segment, stage, dims, tuple(specs), segment_sql, prep, sets)
    data = UnitInput(eng, units, rel, tuple(texts))
    checked = check_units(data, spec, unit, experiment)
    if sets:  # a NULL outside a row's breakdown may have turned an integer column into floats
        typed_dims(checked.wide, dims, rel.types)
    return specs, checked, dims


def aggregate_units(
    experiment: Experiment,
    units: Source,
    *,
    engine: Engine | None = None,
    columns: UnitColumns = UNIT_COLUMNS,
    by: Sequence[str] = (),
    attributes: Source | None = None,
    folds: bool = False,
    breakdowns: Sequence[Sequence[str] | str] = (),
) -> Aggregates:
    """Aggregate a one-row-per-unit table (variant, attributes, outcome columns).

    ``folds`` also returns the sums per fold of units (:mod:`segab.sums.folds`) when
    the table has a unit id column.

    ``attributes`` is a second table joined on the unit column (its columns serve
    ``by``, the segment rules and ``analysis.filter``); ``analysis.filter`` keeps
    the rows it holds for (``filtered_out`` counts the others) and ``analysis:
    {dedupe: first, time_column: ...}`` reduces each unit to its earliest row
    (:mod:`segab.sums.prepare`), before anything below.

    Each metric reads its ``column`` (or a column named like its key); metrics with
    neither are skipped. A NULL outcome leaves the unit out of that metric's ``n``
    and is counted in ``missing_outcomes``; rows without a variant are dropped and
    counted in ``missing_variant``. The segment comes from ``segment_column`` (or a
    column named ``segment``); without one, the experiment's segment conditions are
    compiled to SQL (:mod:`segab.sql.conditions`; first match, else the fallback,
    else ``not_targeted``) on DuckDB and PostgreSQL (a missing column is a missing
    attribute); when they cannot be (SQLite, array/version operators) every row is
    in segment ``all``. The stage comes from ``stage_column`` (or ``stage``), else ``all``.
    There is no funnel (empty) and no exposure-log counter (zeros).

    ``by`` names columns to break down by, crossed (one breakdown); each item of
    ``breakdowns`` is one more breakdown (a column, or a tuple of columns crossed).
    Two or more breakdowns are computed in the same scan, as grouping sets
    (:mod:`segab.sums.breakdowns`; the ``breakdown`` column of the sums).

    Values segab cannot use (NaN, +-infinity, text in a numeric column) keep their
    row out whole, counted in ``bad_values`` and located in ``issues``; a binary
    metric's value other than 0/1/true/false/yes/no is a :class:`DataError` naming
    where it is. With a unit id column (the config's ``unit``, else ``unit_id``,
    else ``unit``), rows without an id are counted in ``empty_ids`` and left out, a
    unit in two variants is left out whole (``multi_variant_units``), and repeated
    rows of a unit (``duplicate_units``) count once when they agree and not at all
    when they differ (see :mod:`segab.sums.units`). When DuckDB typed a CSV outcome
    column as a number from a sample of its rows and text further down makes the read
    fail, the outcome columns are read as text and the table is read again.

    Example:
        >>> import pandas as pd
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "spend", "kind": "continuous", "column": "spend"}}})
        >>> df = pd.DataFrame({"arm": ["a", "a", "b"], "spend": [1.0, 3.0, None]})
        >>> agg = aggregate_units(exp, df, columns=UnitColumns(variant="arm"))
        >>> agg.sums[["variant", "n", "sum"]].values.tolist(), agg.data_quality["missing_outcomes"]
        ([['a', 2, 4.0], ['b', 0, 0.0]], 1)
        >>> df = pd.DataFrame({"id": ["u1", "u2", "u2"], "arm": ["a", "b", "b"],
        ...                    "spend": [1.0, float("inf"), 2.0]})
        >>> agg = aggregate_units(exp, df, columns=UnitColumns(variant="arm"))
        >>> agg.data_quality["bad_values"], agg.issues[0].examples
        (1, ('<units DataFrame> row index 1 (unit u2)',))
    """
    plan = plan_breakdowns(by, breakdowns)
    dims, sets = plan.columns, plan.sets
    if folds and sets:
        raise DataError("folds: found several breakdowns, expected at most one with folds")
    texts = [columns.variant, "segment", "stage", experiment.unit, "unit_id", "unit", *dims]
    if experiment.analysis.time_column is not None:
        texts.append(experiment.analysis.time_column)  # each time read by try_epoch
    with given_or_duckdb(engine) as eng:
        try:
            specs, checked, dims = _check(
                eng, experiment, units, columns, dims, texts, attributes, folds, sets
            )
        except SqlError:
            if not _is_text_file(units):
                raise
            # a CSV column typed as a number from a sample of its rows, holding text
            # further down: read the outcome columns as text, as any other text
            rel = eng.relation(units, "units", texts)
            outcomes = [
                c
                for s in _unit_specs(experiment, rel)
                for c in (s.source, s.den, *s.covariates)
                if c
            ]
            specs, checked, dims = _check(
                eng, experiment, units, columns, dims, texts + outcomes, attributes, folds, sets
            )
        wide = rename_dims(checked.wide, dims).rename(columns={"gid": "breakdown"})
        dims = dim_columns(dims)  # the frames' names of the breakdown columns
    # the arms' unit counts and the missing outcomes from the plain cells' rows (each unit once)
    frames = {"plain": wide[wide["breakdown"] == 0], "wide": wide} if sets else {"wide": wide}
    matched, unknown = match_arms(frames, experiment, "n_units", source="units")
    wide = matched["wide"]
    plain = matched["plain"] if sets else wide
    missing = sum(int((plain["n_units"] - plain[f"n_{i}"]).sum()) for i in range(len(specs)))
    keys = ["segment", "stage", "variant", *dims, *(["breakdown"] if sets else [])]
    exposure_counts = wide[keys].assign(n=wide["n_units"].astype("int64"))
    quality = dict.fromkeys(DATA_QUALITY_KEYS, 0)
    quality.update(checked.counters, missing_outcomes=missing)
    quality["unknown_arms"] = sum(unknown.values())
    import pandas as pd

    agg = Aggregates(
        sums=long_sums(wide, experiment, specs, tuple(keys[3:]), per_metric_n=True),
        exposures=exposure_counts.sort_values(keys, kind="stable").reset_index(drop=True),
        funnel=pd.DataFrame(
            {c: [] for c in ("segment", "variant", "stage", "next_stage", "n_exposed", "n_reached")}
        ),
        data_quality=quality,
        dimensions=dims,
        issues=checked.issues,
        unknown_arms=tuple(unknown.items()),
        caps=applied_caps(wide, specs),
        breakdowns=plan.names if sets else (),
        quantiles=_quantiles(checked.quantiles, specs, dims, sets, experiment),
    )
    return split_folds(agg) if FOLD_COLUMN in dims else agg


def _quantiles(
    raw: pd.DataFrame | None,
    specs: Sequence[MetricSpec],
    dims: Sequence[str],
    sets: tuple[tuple[int, ...], ...],
    exp: Experiment,
) -> pd.DataFrame | None:
    """The quantile statement's rows as ``Aggregates.quantiles`` (``dims``: the frames' names)."""
    if raw is None:
        return None
    from segab.sums.arms import experiment_arm_keys
    from segab.sums.quantiles import quantile_dims, quantile_frame

    own = tuple(d for d in dims[: quantile_dims(dims)])
    return quantile_frame(raw, specs, own, sets, experiment_arm_keys(exp))
