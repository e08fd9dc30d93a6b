"""One row per unit: the fast statements of a hash partition of the event-log fast path.

:mod:`segab.sums._fast.hashed` keys a partition's exposures by cell, one row
per (unit, segment, stage), then joins the events to those rows. When every unit
has one segment per stage (segments are fixed per unit, or change only between
stages), the same results come from one row per unit, with a column group per
stage, which is about four times fewer rows to group, store and join:

- ``segab_u``: per unit, the unit hash pair and, for each stage code ``c``, the
  first and last packed cell ``gv = segment * n_variants + variant`` (``a{c}``,
  ``b{c}``; equal when the unit saw one variant), the first exposure ``t{c}``,
  the number of rows ``n{c}``, the last exposure ``l{c}`` (stages that follow
  another in the funnel) and ``tf``, the first exposure of any valid cell;
- the cell counts and the funnel: one ``UNION ALL`` branch per stage over
  ``segab_u``;
- the sums: each event joins its unit's row once (``segab_uj``: per stage, the
  first exposure and the (unit, cell) key of a one-variant cell, and ``ov``,
  whether two of the unit's windows overlap) and takes the key of the cell
  whose window holds it, unnested to one row per (unit, cell), per-unit values,
  then per-cell sums. Only a unit with overlapping windows can have an event in
  two cells: its events list every cell whose window holds them
  (``list_distinct`` drops the stages that do not); the others take the first
  match, a scalar, which is about a third cheaper. An event matching no cell
  gets the negative of its class (1 unknown unit, 2 before the first exposure,
  3 outside every window, 4 hash collision, 5 all cells excluded).

A unit seen in two segments at one stage makes :func:`run_pivot` return
:data:`COMPLEX`; the caller then runs the cell-keyed statements for the partition.
The results are those of the cell-keyed statements, column for column.

Example:
    >>> shape = PivotShape(n_segments=2, n_stages=2, n_variants=2, nexts=(1,))
    >>> "GROUP BY h" in pivot_table_sql([("xs", "SELECT 1")], shape)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from segab.sums._fast.fallback import COLLISION_CLASS, FastPathUnavailableError
from segab.sums._fast.pre_exposure import (
    cell_radix,
    covariate_codes,
    packed_cells,
    unit_covariate_join,
    unit_covariate_sums_sql,
    unit_covariates_sql,
)
from segab.sums._fast.values import MetricValues, PartSums, unit_outcomes
from segab.sums.event_metrics import join_window
from segab.sums.expressions import with_ctes
from segab.sums.sources import SqlRunner
from segab.sums.specs import EventLogSpec, Params
from segab.sums.statements import window_condition

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_PIVOT_STAGES",
    "PivotShape",
    "check_sql",
    "counts_sql",
    "empty_funnel",
    "funnel_sql",
    "join_table_sql",
    "overlap_sql",
    "pivot_table_sql",
    "run_pivot",
    "sums_sql",
]

MAX_PIVOT_STAGES = 8  # beyond this many stage codes the per-unit row gets too wide


@dataclass(frozen=True)
class PivotShape:
    """How many codes each key has, and the stages that follow another in the funnel.

    Example:
        >>> PivotShape(4, 4, 2, (1, 2, 3)).n_cells
        32
    """

    n_segments: int
    n_stages: int
    n_variants: int
    nexts: tuple[int, ...]

    @property
    def n_cells(self) -> int:
        """Distinct (segment, variant, stage) codes: the per-unit key's radix."""
        return self.n_segments * self.n_variants * self.n_stages

    @property
    def n_groups(self) -> int:
        """Distinct packed (segment, variant) codes ``gv`` at one stage."""
        return self.n_segments * self.n_variants


def pivot_table_sql(x_ctes: Sequence[tuple[str, str]], shape: PivotShape) -> str:
    """``CREATE`` the per-unit table ``segab_u`` from the partition's exposures ``xs``.

    The first and last packed cell of each stage (``a{c}``, ``b{c}``) come from
    bit sets (:func:`_bit_words`) when they fit, else from ``MIN``/``MAX``.

    Example:
        >>> sql = pivot_table_sql([("xs", "SELECT 1")], PivotShape(1, 2, 2, (1,)))
        >>> "MAX(CASE WHEN s = 1 THEN t END) AS l1" in sql
        True
    """
    nv, ns = shape.n_variants, shape.n_stages
    words = _bit_words(shape)
    if words is None:
        sets = [
            f"MIN(gv) FILTER (WHERE s = {c}) AS a{c}, MAX(gv) FILTER (WHERE s = {c}) AS b{c}"
            for c in range(ns)
        ]
    else:
        sets = []
        k, whole = shape.n_groups, len(words) == 1
        for i, stages in enumerate(words):
            first, mirror = (_bit(gv, stages, k, whole) for gv in ("gv", f"{k - 1} - gv"))
            sets.append(
                f"BIT_OR(CAST(1 AS BIGINT) << ({first})) AS w{i}, "
                f"BIT_OR(CAST(1 AS BIGINT) << ({mirror})) AS r{i}"
            )
    cols = [
        f"MIN(CASE WHEN s = {c} THEN t END) AS t{c}, "
        f"CAST(COUNT(*) FILTER (WHERE s = {c}) AS INTEGER) AS n{c}"
        for c in range(ns)
    ]
    cols += [f"MAX(CASE WHEN s = {c} THEN t END) AS l{c}" for c in shape.nexts]
    per_unit = (
        "SELECT h, MIN(h2) AS h2, MIN(h2) <> MAX(h2) AS coll,\n  "
        + ",\n  ".join([*sets, *cols])
        + f"\nFROM (SELECT *, CAST(g AS INTEGER) * {nv} + v AS gv FROM xs) GROUP BY h"
    )
    ctes = [*x_ctes, ("q", per_unit)]
    if words is not None:
        ctes.append(("q2", _cells_from_bits(shape, words)))
    firsts = [f"CASE WHEN a{c} = b{c} THEN t{c} END" for c in range(ns)]
    tf = f"LEAST({', '.join(firsts)})" if len(firsts) > 1 else firsts[0]
    return (
        "CREATE OR REPLACE TEMP TABLE segab_u AS\n"
        + with_ctes(ctes)
        + f"\nSELECT *, {tf} AS tf FROM {ctes[-1][0]}"
    )


def _bit_words(shape: PivotShape) -> list[list[int]] | None:
    """Stages grouped into 63-bit words, a bit per packed cell (``None``: too many cells).

    A unit's cells at a stage are then one ``BIT_OR`` per word, and their first
    and last are the lowest set bits of that set and of its mirror image
    (:func:`_cells_from_bits`): two aggregates per word (one word up to 63
    stage-segment-variant triples) where ``MIN`` and ``MAX`` take two per stage;
    the per-unit table takes about a third less time.
    """
    per_word = 63 // shape.n_groups
    if per_word == 0:
        return None
    stages = list(range(shape.n_stages))
    return [stages[i : i + per_word] for i in range(0, len(stages), per_word)]


def _bit(gv: str, stages: list[int], k: int, whole: bool) -> str:
    """The bit of code ``gv`` at stage ``s`` in the word holding ``stages`` (``k`` bits a
    stage; ``whole``: one word holds every stage, so no stage falls outside it)."""
    if whole:
        return f"s * {k} + {gv}"
    lo, hi = stages[0], stages[-1]
    return f"CASE WHEN s BETWEEN {lo} AND {hi} THEN (s - {lo}) * {k} + {gv} END"


def _cells_from_bits(shape: PivotShape, words: list[list[int]]) -> str:
    """``a{c}``, ``b{c}`` from the bit sets: lowest set bit ``bit_count((y & -y) - 1)``."""
    k = shape.n_groups
    mask = (1 << k) - 1

    def lowest(y: str) -> str:
        return f"CAST(bit_count(({y} & -{y}) - 1) AS INTEGER)"

    cols = []
    for i, stages in enumerate(words):
        for j, c in enumerate(stages):
            y, r = (f"(({w}{i} >> {j * k}) & {mask})" for w in ("w", "r"))
            cols.append(
                f"CASE WHEN {y} <> 0 THEN {lowest(y)} END AS a{c}, "
                f"CASE WHEN {r} <> 0 THEN {k - 1} - {lowest(r)} END AS b{c}"
            )
    drop = ", ".join(f"{w}{i}" for i in range(len(words)) for w in ("w", "r"))
    return f"SELECT * EXCLUDE ({drop}), {', '.join(cols)} FROM q"


def check_sql(shape: PivotShape) -> str:
    """Units whose hashes collide, units seen in two segments at one stage, and units.

    Example:
        >>> "a0 // 2 <> b0 // 2" in check_sql(PivotShape(2, 1, 2, ()))
        True
    """
    nv = shape.n_variants
    two = " OR ".join(f"a{c} // {nv} <> b{c} // {nv}" for c in range(shape.n_stages))
    return (
        "SELECT COUNT(*) FILTER (WHERE coll) AS coll, "
        f"COUNT(*) FILTER (WHERE {two}) AS complex, COUNT(*) AS n FROM segab_u"
    )


def join_table_sql(
    spec: EventLogSpec, shape: PivotShape, p: Params, radix: int | None = None
) -> str:
    """``CREATE`` ``segab_uj``, what an event needs from its unit: per stage, the first
    exposure ``t{c}`` and the (unit, cell) key ``kb{c}`` of a one-variant cell, and
    ``ov``, whether two of those cells' windows overlap (:func:`overlap_sql`); with
    ``radix`` (covariates), the packed key ``kc`` of
    :func:`~segab.sums._fast.pre_exposure.packed_cells` too.

    Example:
        >>> sql = join_table_sql(EventLogSpec("e", 1, "u", "u"), PivotShape(1, 1, 4, ()),
        ...                      Params("duckdb"))
        >>> "rowid * 4 + a0 * 1 + 0 END AS kb0" in sql
        True
    """
    ns, nc = shape.n_stages, shape.n_cells
    cols = ", ".join(
        f"CASE WHEN a{c} = b{c} THEN t{c} END AS t{c}, "
        f"CASE WHEN a{c} = b{c} THEN rowid * {nc} + a{c} * {ns} + {c} END AS kb{c}"
        for c in range(ns)
    )
    # hv: the unit has a one-variant cell (its events are known even when that
    # cell's first exposure has no time, as in the generic route)
    hv = " OR ".join(f"a{c} = b{c}" for c in range(ns))
    if radix is not None:
        cols += f", {packed_cells(radix, ns)} AS kc"
    return (
        f"CREATE OR REPLACE TEMP TABLE segab_uj AS SELECT *, {overlap_sql(spec, ns, p)} AS ov "
        f"FROM (SELECT h, h2, tf, COALESCE({hv}, FALSE) AS hv, {cols} FROM segab_u)"
    )


def overlap_sql(spec: EventLogSpec, n_stages: int, p: Params) -> str:
    """Whether one event can fall in the windows of two stages ``t{i}``, ``t{j}``.

    Written as the window condition itself (``t{j}`` inside the window of
    ``t{i}``, or the reverse), with the same floating-point sum, so that no event
    in two windows escapes it; ``now`` is left out, which only adds units.
    Without an attribution window any two first exposures overlap.

    Example:
        >>> overlap_sql(EventLogSpec("e", 1, "u", "u", window_seconds=60), 2, Params("duckdb"))
        'COALESCE((t1 >= t0 AND t1 < t0 + $p0) OR (t0 >= t1 AND t0 < t1 + $p0), FALSE)'
        >>> overlap_sql(EventLogSpec("e", 1, "u", "u"), 1, Params("duckdb"))
        'FALSE'
    """
    pairs = [(i, j) for i in range(n_stages) for j in range(i + 1, n_stages)]
    if not pairs:
        return "FALSE"
    widest = join_window(spec)  # a retention window may reach past the attribution window
    if widest is None:
        return " OR ".join(f"(t{i} IS NOT NULL AND t{j} IS NOT NULL)" for i, j in pairs)
    w = p(float(widest))
    inside = [
        f"(t{b} >= t{a} AND t{b} < t{a} + {w})" for i, j in pairs for a, b in ((i, j), (j, i))
    ]
    return f"COALESCE({' OR '.join(inside)}, FALSE)"


def counts_sql(shape: PivotShape, mature: str = "") -> str:
    """Cells and exposure rows per (segment, stage, variant, one variant or not).

    ``mature``: more count columns, ``t{c}`` in them the cell's first exposure
    (retention windows: :func:`~segab.sums._fast.values.mature_counts`).

    Example:
        >>> counts_sql(PivotShape(1, 2, 2, (1,))).count("UNION ALL")
        1
    """
    nv = shape.n_variants
    return "\nUNION ALL\n".join(
        f"SELECT a{c} // {nv} AS g, {c} AS s, a{c} % {nv} AS v, a{c} = b{c} AS ok, "
        f"COUNT(*) AS cells, SUM(n{c}) AS rows{mature.replace('{c}', str(c))} "
        f"FROM segab_u WHERE a{c} IS NOT NULL GROUP BY ALL"
        for c in range(shape.n_stages)
    )


def empty_funnel() -> pd.DataFrame:
    """A partition's funnel with no rows (no stage follows another).

    Example:
        >>> list(empty_funnel().columns)
        ['g', 'v', 's', 'n_exposed', 'n_reached']
    """
    import pandas as pd

    return pd.DataFrame({"g": [], "v": [], "s": [], "n_exposed": [], "n_reached": []})


def funnel_sql(shape: PivotShape) -> str | None:
    """Units exposed at each stage (one variant), and those exposed at the next later.

    Example:
        >>> funnel_sql(PivotShape(1, 1, 2, ())) is None
        True
    """
    nv = shape.n_variants
    parts = [
        f"SELECT a{c - 1} // {nv} AS g, a{c - 1} % {nv} AS v, {c - 1} AS s, "
        f"COUNT(*) AS n_exposed, COUNT(*) FILTER (WHERE l{c} >= t{c - 1}) AS n_reached "
        f"FROM segab_u WHERE a{c - 1} = b{c - 1} GROUP BY ALL"
        for c in shape.nexts
    ]
    return "\nUNION ALL\n".join(parts) if parts else None


def sums_sql(
    e_ctes: Sequence[tuple[str, str]],
    spec: EventLogSpec,
    shape: PivotShape,
    p: Params,
    sums: PartSums,
) -> tuple[list[tuple[str, str]], Callable[[str], str], MetricValues]:
    """Per-cell sums of the partition's events ``es`` (and counts of the unmatched ones).

    Returns the CTEs up to ``uv`` (one row per (unit, cell) key: the per-unit values
    of :meth:`~segab.sums._fast.values.PartSums.values`), the final ``GROUP BY`` over
    a source holding ``uv``'s rows, and the values. With event filters each event
    carries its flags ``w_i``; with retention windows (or a join window wider than
    the attribution window) its time and the first exposure ``t0`` of the cell its
    key names (``key % n_stages`` is the stage).

    Example:
        >>> from segab.sums._fast.capping import CapStage
        >>> spec = EventLogSpec("e", 1, "u", "u")
        >>> ctes, final, _ = sums_sql([("es", "SELECT 1")], spec, PivotShape(1, 1, 2, ()),
        ...     Params("duckdb"), PartSums(spec, {}, CapStage(spec, {}, [])))
        >>> "UNNEST" in dict(ctes)["f"], "GROUP BY ALL" in final("uv")
        (True, True)
    """
    ns, nv, nc = shape.n_stages, shape.n_variants, shape.n_cells
    keys = ", ".join(
        f"CASE WHEN {window_condition(spec, p, 'e', 'k', t0=f't{c}')} THEN k.kb{c} END"
        for c in range(ns)
    )
    # the class of an event of a known unit that matches no cell (COALESCE and
    # CASE evaluate it only for those events)
    cls = "CASE WHEN e.t < k.tf THEN 2 WHEN k.hv THEN 3 ELSE 5 END"
    names = list(sums.flags)  # carried from j to f: flags, time, the stages' first exposures
    carried = "".join(f", e.{w}" for w in sums.flags)
    if sums.times:
        carried += ", e.t" + "".join(f", k.t{c} AS st{c}" for c in range(ns))
        names += ["t", *(f"st{c}" for c in range(ns))]
    # ov: a list, empty when no window holds the event (then its class, -cls);
    # else the first match or the class, in a list of one
    codes = covariate_codes(spec, sums.ev_code)
    j = (
        f"SELECT e.k, e.value{carried}, CASE WHEN e.h2 <> k.h2 THEN [-{COLLISION_CLASS}] "
        f"WHEN k.ov THEN list_distinct([{keys}]) "
        f"ELSE [CASE WHEN k.h IS NULL THEN -1 ELSE COALESCE({keys}, -({cls})) END] END AS ks, "
        f"CASE WHEN k.ov THEN {cls} END AS cls\n"
        "FROM es e LEFT JOIN segab_uj k ON k.h = e.h"
    )
    kept = "".join(f", {n}" for n in names)
    f = (
        f"SELECT k, value{kept}, UNNEST(CASE WHEN len(ks) = 0 THEN [-cls] ELSE ks END) AS key "
        "FROM j"
    )
    ctes = [*e_ctes, ("j", j), ("f", f)]
    source = "f"
    if sums.times:  # the first exposure of the key's cell (its stage: key % ns)
        whens = " ".join(f"WHEN {c} THEN st{c}" for c in range(ns))
        ctes.append(("ft", f"SELECT *, CASE key % {ns} {whens} END AS t0 FROM f"))
        source = "ft"
    values = sums.values(p, "e.t0")
    aggregates, per_cell = values.aggregates, values.sums
    if codes:  # covariates: per unit (segab_uz), with Σx·y of the uncapped metrics
        zcols = set(values.pre.values())
        aggregates = [a for a in aggregates if a.rsplit(" AS ", 1)[1] not in zcols]
        per_cell = [c for c in per_cell if not any(f" AS {z}_" in c for z in ("zs", "zy", "zz"))]
    uv = f"SELECT key, {', '.join(aggregates)}, COUNT(*) AS ne FROM {source} AS e GROUP BY key"
    if values.covariates:  # a capped metric's covariates, kept with its values for the cap
        ctes += [("uv0", uv)]
        uv = unit_covariate_join(values.pre, "uv0", ns, nc)
    cell = f"(key % {nc})"
    cols = "".join(f",\n  {col}" for col in per_cell)

    def final(src: str) -> str:
        return (
            f"SELECT CASE WHEN key >= 0 THEN {cell} // {ns} // {nv} END AS g, "
            f"CASE WHEN key >= 0 THEN {cell} % {ns} END AS s, "
            f"CASE WHEN key >= 0 THEN ({cell} // {ns}) % {nv} END AS v, "
            "CASE WHEN key < 0 THEN -key ELSE 0 END AS cls, "
            f"SUM(ne) AS ne{cols}\nFROM {src} GROUP BY ALL"
        )

    return [*ctes, ("uv", uv)], final, values


def run_pivot(
    eng: SqlRunner,
    x_ctes: Sequence[tuple[str, str]],
    x_params: Params,
    e_ctes: Sequence[tuple[str, str]],
    e_params: Params,
    spec: EventLogSpec,
    shape: PivotShape,
    sums: PartSums,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """Run one partition per unit: ``(counts, sums, funnel)``, or ``None``.

    ``None``: a unit has two segments at one stage, so one row per unit cannot hold
    it (the caller runs the cell-keyed statements). Two unit ids that share a hash
    raise :class:`~segab.sums._fast.fallback.FastPathUnavailableError` (the caller of the
    fast path runs the generic route). ``segab_u`` and ``segab_uj`` are dropped before
    returning.

    Example:
        >>> run_pivot.__name__   # exercised in tests/analyze_data/test_fast_path.py
        'run_pivot'
    """
    eng.execute(pivot_table_sql(x_ctes, shape), x_params.values)
    try:
        flags = eng.query(check_sql(shape), {}).iloc[0]
        if int(flags["coll"]):
            raise FastPathUnavailableError("hash_collision")
        if int(flags["complex"]):
            return None
        cp = Params("duckdb")
        counts = eng.query(counts_sql(shape, sums.mature("t{c}", cp)), cp.values)
        fsql = funnel_sql(shape)
        funnel = empty_funnel() if fsql is None else eng.query(fsql, {})
        nc, ns, nv = shape.n_cells, shape.n_stages, shape.n_variants
        codes = covariate_codes(spec, sums.ev_code)
        radix = cell_radix(shape.n_groups, ns, int(flags["n"])) if codes else None
        jp = Params("duckdb")
        eng.execute(join_table_sql(spec, shape, jp, radix), jp.values)
        ctes, final, values = sums_sql(e_ctes, spec, shape, e_params, sums)
        if codes:  # the units' covariates (and adjusted outcomes), before the sums
            ocols, outcomes = unit_outcomes(
                spec,
                sums.ev_code,
                e_params,
                ns,
                lambda c: window_condition(spec, e_params, "e", "k", t0=f"t{c}"),
            )
            read = [sums.ev_code[spec.metrics[i].source] for i in outcomes]
            uz = partial(unit_covariates_sql, e_ctes, codes, ns, nc, ocols, read, radix)
            zsql = unit_covariate_sums_sql(spec, sums.ev_code, ns, nv, nc, outcomes, radix)
            if values.covariates:  # the sums join segab_uz (a capped adjusted metric)
                eng.execute(uz(), e_params.values)
        cell = (f"key % {nc} // {ns} // {nv}", f"key % {nc} % {ns}", f"key % {nc} // {ns} % {nv}")
        out = sums.run(
            eng, ctes, e_params.values, final, cell, "key >= 0", values.capped, values.covariates
        )
        if codes:  # Σx, Σx·x (and uncapped Σx·y) per cell: rows the caller adds up
            import pandas as pd

            if values.covariates:
                zsum = eng.query(zsql, {})
            else:  # segab_uz, read by nothing else: computed in the same statement
                zsum = eng.query(uz(then=zsql), e_params.values)
            out = pd.concat([out, zsum], ignore_index=True)
    finally:
        for table in ("segab_u", "segab_uj", "segab_uz"):
            eng.execute(f"DROP TABLE IF EXISTS {table}", {})
    if (out["cls"] == COLLISION_CLASS).any():
        raise FastPathUnavailableError("hash_collision")
    return counts, out, funnel
