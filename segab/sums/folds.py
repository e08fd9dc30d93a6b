"""Two folds of units for the cross-fitted tailoring value, computed inside the engine.

A unit's fold is ``bucket(("segab-fold", unit_id)) % 2``: hash version 1 of
:mod:`segab.hashing` (MD5, the first 4 bytes big-endian, modulo 10,000) with a salt
of its own, so the folds are independent of every assignment draw; integers only,
the same in Python (:func:`fold_of`), DuckDB, PostgreSQL, SQLite and Spark SQL
(:func:`fold_sql`, through :meth:`segab.sql.dialects.Dialect.bucket`; SQLite, which
has no ``md5()``, through the function :mod:`segab.sums.sqlite_functions` registers).

The engine computes the fold as one more breakdown column (:func:`with_fold` adds it
to the relation an aggregation reads, :data:`FOLD_COLUMN`), so the per-cell sums
come back split by fold in the same statement; :func:`split_folds` then adds the two
folds back into the ordinary sums (sufficient statistics add; each unit is in one
fold) and keeps the split ones in :attr:`Aggregates.folds`.

Example:
    >>> fold_of("u1"), fold_of("u2"), fold_of("u3")
    (0, 1, 0)
    >>> from segab.sql.dialects import get_dialect
    >>> fold_sql(get_dialect("sqlite"), "u")
    "(segab_bucket('segab-fold|' || u) % 2)"
"""

from __future__ import annotations

from dataclasses import replace

from segab.hashing import SEPARATOR, bucket
from segab.sql.dialects import Dialect, get_dialect
from segab.sums.expressions import unit_col
from segab.sums.result import SUM_COLUMNS, Aggregates, merge_split, split_index
from segab.sums.sources import Relation
from segab.sums.sqlite_functions import BUCKET_FUNCTION

__all__ = ["FOLD_COLUMN", "FOLD_SALT", "fold_of", "fold_sql", "split_folds", "with_fold"]

FOLD_COLUMN = "segab_fold"
FOLD_SALT = "segab-fold"


def fold_of(unit_id: str) -> int:
    """The fold (0 or 1) of a unit id, in Python.

    Example:
        >>> from segab.hashing import bucket_of_key
        >>> fold_of("user_42") == bucket_of_key("segab-fold|user_42") % 2
        True
    """
    return bucket((FOLD_SALT, unit_id)) % 2


def fold_sql(d: Dialect, unit_text: str) -> str:
    """SQL of the fold of a unit id given as a text expression (NULL for a NULL id).

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> fold_sql(get_dialect("duckdb"), "u").endswith("% 2)")
        True
    """
    salt = d.literal(FOLD_SALT + SEPARATOR)
    if d.name == "sqlite":  # no md5() (nor concat() before 3.44): segab.sums.sqlite_functions
        return f"({BUCKET_FUNCTION}({salt} || {unit_text}) % 2)"
    return f"({d.bucket(d.concat(salt, unit_text))} % 2)"


def with_fold(dialect: Dialect | str, rel: Relation, unit_column: str) -> Relation:
    """The relation with one more column, :data:`FOLD_COLUMN`, the fold of its unit id.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> r = with_fold(get_dialect("duckdb"), Relation("t", ("u",), {"u": "varchar"}), "u")
        >>> r.columns, r.sql.startswith("(SELECT *, ")
        (('u', 'segab_fold'), True)
    """
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    fold = fold_sql(d, unit_col(d, rel, unit_column))
    sql = f"(SELECT *, {fold} AS {d.quote(FOLD_COLUMN)} FROM {rel.sql}) AS segab_folded"
    types = {**rel.types, FOLD_COLUMN: "integer"}
    return Relation(sql, (*rel.columns, FOLD_COLUMN), types, rel.label)


def split_folds(agg: Aggregates) -> Aggregates:
    """Sums with :data:`FOLD_COLUMN` as their last breakdown -> ordinary sums plus ``folds``.

    ``folds`` holds, per (segment, stage, variant, fold, metric), the sums over the
    other breakdowns; the ordinary ``sums`` and ``exposures`` add the two folds.

    Example:
        >>> import pandas as pd
        >>> sums = pd.DataFrame({"segment": "s", "stage": "t", "variant": "a",
        ...     "segab_fold": ["0", "1"], "metric": "m", "n": [3, 4], "sum": [1.0, 2.0],
        ...     "sum_sq": [1.0, 2.0], "den_sum": 0.0, "den_sum_sq": 0.0, "cross_sum": 0.0})
        >>> expo = sums[["segment", "stage", "variant", "segab_fold", "n"]]
        >>> agg = split_folds(Aggregates(sums, expo, pd.DataFrame(), {}, ("segab_fold",)))
        >>> agg.sums["n"].tolist(), agg.folds["fold"].tolist(), agg.dimensions
        ([7], [0, 1], ())
    """
    dims, sums, exposures = merge_split(agg, [FOLD_COLUMN])
    folds = agg.sums.groupby(
        ["segment", "stage", "variant", FOLD_COLUMN, "metric"], dropna=False, as_index=False
    )[list(SUM_COLUMNS)].sum()
    folds = folds.rename(columns={FOLD_COLUMN: "fold"})
    folds["fold"] = split_index(folds["fold"])
    folds = folds[folds["fold"] >= 0].reset_index(drop=True)
    return replace(agg, sums=sums, exposures=exposures, dimensions=dims, folds=folds)
