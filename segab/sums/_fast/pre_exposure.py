"""Covariates on the fast path: the pre-exposure rows of the covariate events.

A metric's covariate (:mod:`segab.sums.covariates`) names an event; a unit's value
in a cell is the sum of that event's values (NULLs as 0) strictly before its first
exposure ``t0`` in the cell. The fast path reads them in the same pass as the
outcomes: besides the row(s) it already makes of each event (the cells whose
window holds it, or its class when none does), a covariate event makes one
**pre-exposure row** per one-variant cell of its unit whose ``t0`` is after it.
Such a row carries ``k = -1`` (no metric reads it as an outcome) and ``pk``, the
event's code; the outcome rows have ``pk`` NULL. The per-(unit, cell) aggregates
then hold both the outcomes ``y`` and the covariates
``z = COALESCE(SUM(CASE WHEN pk = code THEN value END), 0)`` (:func:`pre_value`),
so a unit with pre-exposure events and no outcome event gets its row (``y = 0``),
as the generic statements' ``LEFT JOIN`` gives it. Pre-exposure rows count no
event (``ne``) and classify none.

- one row per unit (:mod:`segab.sums._fast.unit_pivot`): an event's list of keys
  gets the keys of those cells plus :data:`PRE` (:func:`pivot_pre_keys`), told
  apart after the ``UNNEST`` (:func:`split_pre`);
- one row per (unit, cell) (:mod:`segab.sums._fast.partition`): a ``UNION ALL`` of
  the events joined to the cells before their ``t0`` (:func:`cell_pre_rows`).

Example:
    >>> pre_value(3)
    'COALESCE(SUM(CASE WHEN e.pk = 3 THEN e.value END), 0.0)'
    >>> z_sums(0, ("y_1", "y_2"), "y_0")[:3]
    ['SUM(y_1) AS zs_0_0', 'SUM(y_2) AS zs_0_1', 'SUM(y_1 * y_0) AS zy_0_0']
"""

from __future__ import annotations

from collections.abc import Sequence

from segab.sums.covariates import covariate_events
from segab.sums.specs import EventLogSpec

__all__ = [
    "PRE",
    "cell_pre_rows",
    "covariate_codes",
    "pivot_pre_keys",
    "pre_value",
    "split_pre",
    "z_sums",
]

PRE = 2**61  # added to a (unit, cell) key: the event is a pre-exposure row of that cell


def covariate_codes(spec: EventLogSpec, ev_code: dict[str, int]) -> list[int]:
    """The event codes of the covariate events (empty: no metric has covariates).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> m = MetricSpec("r", "continuous", "rev", covariates=("visit", "rev"))
        >>> covariate_codes(EventLogSpec("e", 1, "u", "u", metrics=(m,)), {"rev": 0, "visit": 1})
        [1, 0]
    """
    return [ev_code[n] for n in covariate_events(spec.metrics)]


def pre_value(code: int) -> str:
    """A unit's covariate: the sum of the values of its pre-exposure rows of event ``code``.

    Example:
        >>> pre_value(0).startswith("COALESCE(SUM(CASE WHEN e.pk = 0")
        True
    """
    return f"COALESCE(SUM(CASE WHEN e.pk = {code} THEN e.value END), 0.0)"


def z_sums(i: int, z: Sequence[str], y: str | None) -> list[str]:
    """Metric ``i``'s covariate sums ``zs_i_j``, ``zy_i_j`` (``y`` ``None``: a capped metric,
    whose ``zy`` the cap stage computes) and ``zz_i_j_l`` (``j <= l``), named as the
    generic statements name them (:func:`segab.sums.covariates.covariate_sums`).

    Example:
        >>> z_sums(2, ("a",), None)
        ['SUM(a) AS zs_2_0', 'SUM(a * a) AS zz_2_0_0']
    """
    k = len(z)
    cols = [f"SUM({z[j]}) AS zs_{i}_{j}" for j in range(k)]
    if y is not None:
        cols += [f"SUM({z[j]} * {y}) AS zy_{i}_{j}" for j in range(k)]
    cols += [f"SUM({z[j]} * {z[m]}) AS zz_{i}_{j}_{m}" for j in range(k) for m in range(j, k)]
    return cols


def pivot_pre_keys(codes: Sequence[int], n_stages: int) -> str:
    """The list of an event's pre-exposure keys (each plus :data:`PRE`) in the per-unit
    join (event ``e``, unit row ``k`` of ``segab_uj``: ``t{c}``, ``kb{c}`` of a one-variant
    cell); empty for any other event.

    Example:
        >>> pivot_pre_keys([2], 1)
        'CASE WHEN e.k IN (2) THEN list_distinct([CASE WHEN e.t < k.t0 THEN k.kb0 + 2305843009213693952 END]) ELSE CAST([] AS BIGINT[]) END'
    """  # noqa: E501
    keys = ", ".join(f"CASE WHEN e.t < k.t{c} THEN k.kb{c} + {PRE} END" for c in range(n_stages))
    listed = ", ".join(str(c) for c in codes)
    return f"CASE WHEN e.k IN ({listed}) THEN list_distinct([{keys}]) ELSE CAST([] AS BIGINT[]) END"


def split_pre(source: str) -> str:
    """``source``'s rows (column ``kk``: a key, a negative class, or a pre-exposure key)
    with ``key`` (the cell's key), ``k`` (-1 on a pre-exposure row) and ``pk``.

    Example:
        >>> "kk - 2305843009213693952 ELSE kk END AS key" in split_pre("f")
        True
    """
    pre = f"kk >= {PRE}"
    return (
        f"SELECT * EXCLUDE (k, kk), CASE WHEN {pre} THEN CAST(-1 AS SMALLINT) ELSE k END AS k, "
        f"CASE WHEN {pre} THEN k END AS pk, CASE WHEN {pre} THEN kk - {PRE} ELSE kk END AS key "
        f"FROM {source}"
    )


def cell_pre_rows(
    outcomes: str, codes: Sequence[int], dims: Sequence[str], flags: Sequence[str]
) -> str:
    """The per-(unit, cell) statements' rows: ``outcomes`` (the events joined to their
    cells, columns ``cv, dims, h, cls, k, value, t, flags, t0``) with ``pk`` NULL, and
    the pre-exposure rows: each covariate event of ``es`` joined to the cells ``c``
    of its unit that it precedes (the two matched by column name).

    Example:
        >>> sql = cell_pre_rows("SELECT 1", [0], [], [])
        >>> "JOIN c ON e.h = c.h AND e.t < c.t0 WHERE e.k IN (0)" in sql
        True
    """
    w = "".join(f", e.{f}" for f in flags)
    cdims = "".join(f", c.{d}" for d in dims)
    listed = ", ".join(str(c) for c in codes)
    return (
        f"SELECT *, CAST(NULL AS SMALLINT) AS pk FROM ({outcomes}) o\nUNION ALL BY NAME\n"
        f"SELECT c.cv{cdims}, c.h, 0 AS cls, CAST(-1 AS SMALLINT) AS k, e.value, e.t{w}, "
        "c.t0, e.k AS pk\n"
        f"FROM es e JOIN c ON e.h = c.h AND e.t < c.t0 WHERE e.k IN ({listed})"
    )
