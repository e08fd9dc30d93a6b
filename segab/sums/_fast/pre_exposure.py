"""Covariates on the fast path: each unit's pre-exposure sums of the covariate events.

A metric's covariate (:mod:`segab.sums.covariates`) names an event; a unit's value
in a cell is the sum of that event's values (NULLs as 0) strictly before its first
exposure ``t0`` in the cell. The per-cell sums are ``Σx_j``, ``Σx_j·x_l`` (over every
unit of the cell) and ``Σx_j·y`` (``y`` the unit's outcome in the cell).

- one row per unit (:mod:`segab.sums._fast.unit_pivot`): ``segab_uz``
  (:func:`unit_covariates_sql`) reads each covariate event once and sums it per
  unit, one column per stage (``t < t{c}``): no row per cell. It also aggregates,
  per stage, each uncapped adjusted metric's outcome ``y`` from the same events
  (:func:`~segab.sums._fast.values.unit_outcomes`: the events in that stage's
  window), so ``Σx``, ``Σx·x`` and ``Σx·y`` all come from it per cell
  (:func:`unit_covariate_sums_sql`) and the outcomes' per-(unit, cell) rows join
  nothing; a unit without outcome events adds to ``Σx``, ``Σx·x`` and nothing to
  ``Σx·y`` (its ``y`` is 0). Only a capped adjusted metric, whose ``Σx·y`` needs the
  cap, has the per-(unit, cell) rows join ``segab_uz`` (:func:`unit_covariate_join`).
  The unit's cells are grouped as one packed integer (:func:`packed_cells`) when it
  fits (:func:`cell_radix`); without a capped adjusted metric ``segab_uz`` is a CTE of
  the per-cell sums' statement, not a table;
- one row per (unit, cell) (:mod:`segab.sums._fast.partition`): besides its outcome
  row, a covariate event makes one **pre-exposure row** per one-variant cell of its
  unit whose ``t0`` is after it (``k = -1``: no metric reads it as an outcome;
  ``pk``, its event code; :func:`cell_pre_rows`), and the per-(unit, cell)
  aggregates hold both ``y`` and ``z = COALESCE(SUM(CASE WHEN pk = code THEN value
  END), 0)`` (:func:`pre_value`): a unit with only pre-exposure events gets its row
  (``y = 0``), as the generic statements' ``LEFT JOIN`` gives it.

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
    "cell_pre_rows",
    "cell_radix",
    "covariate_codes",
    "packed_cells",
    "pre_value",
    "unit_covariate_join",
    "unit_covariate_sums_sql",
    "unit_covariates_sql",
    "z_sums",
]


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


def cell_radix(n_groups: int, n_stages: int, n_units: int) -> int | None:
    """The radix ``n_groups + 1`` of a stage's cell in the packed unit key ``kc``
    (:func:`packed_cells`), or ``None`` when the keys of ``n_units`` rows might not fit
    62 bits (then the unit's cells are its (unit, cell) keys ``kb{c}``).

    Example:
        >>> cell_radix(8, 4, 2_000_000), cell_radix(63, 8, 2_000_000)
        (9, None)
    """
    radix = n_groups + 1
    return radix if (n_units + 1) * radix**n_stages < 2**62 else None


def packed_cells(radix: int, n_stages: int) -> str:
    """``kc``, a unit's row of ``segab_u`` and its one-variant cell at each stage in one
    integer: ``rowid * radix ** n_stages + Σ (a{c} + 1) * radix ** c`` (``a{c} + 1`` 0: no
    such cell at stage ``c``; ``radix``: :func:`cell_radix`), ``NULL`` for a unit without
    one. Grouping a unit's covariate events by this one
    key rather than by its row and its stages' keys (``r``, ``kb{c}``) takes about 30% less
    time (:func:`unit_covariates_sql`).

    Example:
        >>> packed_cells(3, 2).startswith("CASE WHEN a0 = b0 OR a1 = b1 THEN rowid * 9 + ")
        True
    """
    r = radix
    one = " OR ".join(f"a{c} = b{c}" for c in range(n_stages))
    cells = " + ".join(
        f"CAST(CASE WHEN a{c} = b{c} THEN a{c} + 1 ELSE 0 END AS BIGINT) * {r**c}"
        for c in range(n_stages)
    )
    return f"CASE WHEN {one} THEN rowid * {r**n_stages} + {cells} END"


def unit_covariates_sql(
    e_ctes: Sequence[tuple[str, str]],
    codes: Sequence[int],
    n_stages: int,
    n_cells: int,
    outcomes: Sequence[str] = (),
    events: Sequence[int] = (),
    radix: int | None = None,
    then: str | None = None,
) -> str:
    """``CREATE`` ``segab_uz``: per unit of the one-row-per-unit statements (``r``, its row
    in ``segab_u``), ``z{c}_{code}``, the sum of the values of event ``code`` before its
    first exposure at stage ``c``, and the ``outcomes`` columns
    (:func:`~segab.sums._fast.values.unit_outcomes`): every covariate event (and the
    ``events``, the outcomes' events) read once, no row per cell. With ``radix`` (not
    ``None``: :func:`cell_radix`), the unit's cells are its packed key ``kc``
    (:func:`packed_cells`), else the (unit, cell) keys ``kb{c}``. With ``then`` (a query
    reading ``segab_uz``: :func:`unit_covariate_sums_sql`), that query instead, over the
    same rows as a ``MATERIALIZED`` CTE, which DuckDB streams to the query's four stage
    branches: no table written and read back (about 15% less time than the table and
    the query, when nothing else reads ``segab_uz``).

    Example:
        >>> sql = unit_covariates_sql([("es", "SELECT 1")], [3], 2, 8)
        >>> "SUM(e.value) FILTER (WHERE e.k = 3 AND e.t < k.t1) AS z1_3" in sql
        True
        >>> "GROUP BY k.kc" in unit_covariates_sql([("es", "SELECT 1")], [3], 2, 8, radix=9)
        True
        >>> unit_covariates_sql([("es", "SELECT 1")], [3], 1, 2, then="SELECT 2").splitlines()[3]
        'segab_uz AS MATERIALIZED ('
    """
    cols = [
        f"SUM(e.value) FILTER (WHERE e.k = {code} AND e.t < k.t{c}) AS z{c}_{code}"
        for c in range(n_stages)
        for code in codes
    ]
    cols += outcomes
    listed = ", ".join(str(c) for c in dict.fromkeys([*codes, *events]))
    ctes = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in e_ctes)
    read = f"FROM es e JOIN segab_uj k ON k.h = e.h\nWHERE e.k IN ({listed}) AND "
    if radix is not None:
        body = (
            f"SELECT kc // {radix**n_stages} AS r, * FROM (\nSELECT k.kc, {', '.join(cols)}\n{read}"
            "k.kc IS NOT NULL GROUP BY k.kc\n)"
        )
    else:
        kbs = ", ".join(f"k.kb{c}" for c in range(n_stages))
        first = f"COALESCE({kbs})" if n_stages > 1 else "k.kb0"
        # the keys kb{c} are the unit's: grouped by, not aggregated
        keys = [f"k.kb{c}" for c in range(n_stages)]
        body = (
            f"SELECT {first} // {n_cells} AS r, {', '.join(keys + cols)}\n{read}"
            f"{first} IS NOT NULL GROUP BY ALL"
        )
    if then is not None:
        return f"WITH {ctes},\nsegab_uz AS MATERIALIZED (\n{body}\n)\n{then}"
    return f"CREATE OR REPLACE TEMP TABLE segab_uz AS\nWITH {ctes}\n{body}"


def unit_covariate_join(pre: dict[int, str], source: str, n_stages: int, n_cells: int) -> str:
    """``source``'s per-(unit, cell) rows with each covariate column ``pre[code]``: the
    ``segab_uz`` value of the key's stage (``key % n_stages``), 0 without one.

    Example:
        >>> sql = unit_covariate_join({3: "y_5"}, "uv0", 1, 2)
        >>> "CASE u.key % 1 WHEN 0 THEN COALESCE(z.z0_3, 0.0) END AS y_5" in sql
        True
    """
    cols = []
    for code, name in pre.items():
        whens = " ".join(f"WHEN {c} THEN COALESCE(z.z{c}_{code}, 0.0)" for c in range(n_stages))
        cols.append(f"CASE u.key % {n_stages} {whens} END AS {name}")
    return (
        f"SELECT u.*, {', '.join(cols)} FROM {source} u "
        f"LEFT JOIN segab_uz z ON u.key >= 0 AND z.r = u.key // {n_cells}"
    )


def unit_covariate_sums_sql(
    spec: EventLogSpec,
    ev_code: dict[str, int],
    n_stages: int,
    n_variants: int,
    n_cells: int,
    outcomes: dict[int, int] | None = None,
    radix: int | None = None,
) -> str:
    """Per cell (``g, s, v``, ``cls`` 0): the covariate sums ``zs_i_j`` and ``zz_i_j_l``
    of every unit of ``segab_uz`` (a unit without covariate events adds zeros), and
    ``zy_i_j`` of the metrics of ``outcomes`` (metric ``i``'s value ``o{c}_{outcomes[i]}``).
    ``radix``: the units' cells are packed in ``kc`` (:func:`cell_radix`).

    Example:
        >>> from segab.sums.specs import MetricSpec
        >>> m = MetricSpec("r", "continuous", "rev", covariates=("rev",))
        >>> sql = unit_covariate_sums_sql(EventLogSpec("e", 1, "u", "u", metrics=(m,)),
        ...     {"rev": 0}, 1, 2, 2, {0: 0})
        >>> "SUM(z0_0 * z0_0) AS zz_0_0_0" in sql, "SUM(z0_0 * o0_0) AS zy_0_0" in sql
        (True, True)
    """
    ns, nv, nc = n_stages, n_variants, n_cells
    outcomes = outcomes or {}
    parts = []
    for c in range(ns):
        cols = []
        for i, m in enumerate(spec.metrics):
            z = tuple(f"z{c}_{ev_code[n]}" for n in m.covariates)
            cols += z_sums(i, z, f"o{c}_{outcomes[i]}" if i in outcomes else None)
        if radix is None:  # a: the packed segment-variant code of the unit's cell at stage c
            a = f"COALESCE((kb{c} % {nc}) // {ns}, -1)"
        else:
            a = f"(kc // {radix**c}) % {radix} - 1"
        parts.append(
            f"SELECT a // {nv} AS g, {c} AS s, a % {nv} AS v, 0 AS cls, 0 AS ne, "
            f"{', '.join(cols)} FROM (SELECT *, {a} AS a FROM segab_uz) WHERE a >= 0 "
            "GROUP BY ALL"
        )
    return "\nUNION ALL\n".join(parts)
