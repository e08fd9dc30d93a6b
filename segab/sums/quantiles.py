"""Quantile metrics in the engine: a few order statistics per group, never the rows.

A quantile metric (``quantile: q`` on a continuous metric) has the per-unit values
of a continuous metric (the CTE ``uv`` of an event log, ``g`` of a unit table;
NULL outcomes left out). Quantiles do not add up over cells, so one statement
computes every group's own: the plain cells (segment, stage, arm), each breakdown
within the cells, and the pooled groups of :func:`segab.analysis.pooling.pool_pairs`
(per stage over segments, over everything, over everything per breakdown value),
each over the cells (per breakdown value: the cells with that value) that hold
*both* arms of a pair. The pairs come from the data: ``qa`` lists the arms present
per cell, ``qp`` every unordered pair of arms of a cell, and each value is repeated
once per pair its arm is in (``k − 1`` copies for a cell of ``k`` arms) with the
pair as a group key. All groups are stacked in
one column set (``lvl`` says which grouping: 0 plain cells, ``k`` breakdown ``k``
in the cells, 100 per stage, 200 everything, ``200 + k`` per value of breakdown
``k``), ranked by ``ROW_NUMBER()`` within each group (window functions: the same
statement in DuckDB, PostgreSQL, SQLite and Spark), and reduced by one GROUP BY to
``n`` and the values at three levels (:mod:`segab.stats.quantile`): ``q`` and the
interval's bound levels ``q ± z·√(q(1 − q)/n)``, each interpolated linearly between
the order statistics at positions ``⌊h⌋`` and ``⌊h⌋ + 1`` of ``h = (n − 1)·level``
(numpy's default). The statement picks a position's row by ``rn − 1 <= h < rn``,
so no dialect needs ``FLOOR``.

DuckDB runs another statement with the same numbers (:func:`_piece_statement`):
the groups are stacked over the pieces of values (segment, stage, arm, ``dim_i``,
metric) rather than the values, and the values of each distinct set of pieces are
ranked once (the generic statement ranks each value once per group and pair):
6 to 8 times faster on a million rows, and within DuckDB's memory limit at ten
million (docs/statistics.md).

Example:
    >>> from segab.sql.dialects import get_dialect
    >>> from segab.sums.specs import MetricSpec
    >>> m = MetricSpec("p50", "continuous", "spend", quantile=0.5)
    >>> sql = quantile_statement(get_dialect("sqlite"), [("uv", "SELECT 1")], "uv", [m], 0, ())
    >>> "ROW_NUMBER() OVER (PARTITION BY lvl" in sql, quantile_positions([m])
    (True, [0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segab.sql.dialects import Dialect
from segab.sums.expressions import dim, with_ctes
from segab.sums.folds import FOLD_COLUMN
from segab.sums.specs import MetricSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "QUANTILE_COLUMNS",
    "quantile_dims",
    "quantile_frame",
    "quantile_positions",
    "quantile_sets",
    "quantile_statement",
]

QUANTILE_COLUMNS = ("n", "quantile", "lower", "upper")
_STAGE, _ALL = 100, 200  # lvl of the pooled groups (plus k: per value of breakdown k)


def quantile_positions(metrics: Sequence[MetricSpec]) -> list[int]:
    """The positions of the quantile metrics.

    Example:
        >>> quantile_positions([MetricSpec("m", "continuous", "y"),
        ...     MetricSpec("p90", "continuous", "y", quantile=0.9)])
        [1]
    """
    return [i for i, m in enumerate(metrics) if m.quantile is not None]


def quantile_dims(dims: Sequence[str]) -> int:
    """How many of the statement's ``dim_i`` the quantile groups break down by: all but the
    fold of units (:mod:`segab.sums.folds`, last when present), which they do not read.

    Example:
        >>> quantile_dims(("channel", FOLD_COLUMN)), quantile_dims(("channel",))
        (1, 1)
    """
    return len([c for c in dims if c != FOLD_COLUMN])


def quantile_sets(n_dims: int, sets: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """The breakdowns of the quantile groups: ``sets``, else the crossing of the ``n_dims``.

    Example:
        >>> quantile_sets(2, ()), quantile_sets(0, ()), quantile_sets(2, [(0,), (1,)])
        (((0, 1),), (), ((0,), (1,)))
    """
    if sets:
        return tuple(tuple(s) for s in sets)
    return (tuple(range(n_dims)),) if n_dims else ()


def quantile_statement(
    d: Dialect,
    ctes: Sequence[tuple[str, str]],
    source: str,
    metrics: Sequence[MetricSpec],
    n_dims: int,
    sets: Sequence[Sequence[int]],
    where: str = "",
    *,
    pieces: bool | None = None,
) -> str:
    """The statement of every group's ``n``, ``quantile``, ``lower`` and ``upper`` (module doc).

    ``source`` is the CTE of ``ctes`` with segment, stage, variant, ``dim_i`` and
    the per-unit values ``y_i``; ``where`` a condition on its rows that count
    (``f = 0`` in a unit table). Columns: ``lvl, segment, stage, variant, pa, pb,
    dim_0.., mi`` (the metric's position), then :data:`QUANTILE_COLUMNS`.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> m = MetricSpec("p90", "continuous", "y", quantile=0.9)
        >>> sql = quantile_statement(get_dialect("postgresql"), [("g", "SELECT 1")], "g",
        ...     [m], 1, (), "f = 0")
        >>> "WHERE y_0 IS NOT NULL AND f = 0" in sql, sql.count("UNION ALL")
        (True, 6)

    ``pieces`` picks the DuckDB statement that ranks each distinct group once
    (:func:`_piece_statement`; default: on DuckDB only), which gives the same numbers.
    """
    from segab.stats.quantile import Z_BOUNDS  # numpy, through the stats results: on use

    if d.name == "duckdb" if pieces is None else pieces:
        return _piece_statement(d, ctes, source, metrics, n_dims, sets, where)
    dims = [dim(i) for i in range(n_dims)]
    steps = [("qs", _values(d, source, metrics, dims, where))]
    steps += _stacked(d, quantile_sets(n_dims, sets), dims, "qs", "v")
    part = ", ".join(["lvl", "segment", "stage", "variant", "pa", "pb", *dims, "mi"])
    qr = (
        f"SELECT qx.*, ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY v) AS rn, "
        f"COUNT(*) OVER (PARTITION BY {part}) AS cnt FROM qx"
    )
    half = f"{Z_BOUNDS!r} * SQRT(qq * (1.0 - qq) / cnt)"
    lo = f"CASE WHEN qq - {half} < 0.0 THEN 0.0 ELSE qq - {half} END"
    hi = f"CASE WHEN qq + {half} > 1.0 THEN 1.0 ELSE qq + {half} END"
    qh = (
        f"SELECT {part}, v, rn, cnt, (cnt - 1) * qq AS h0, (cnt - 1) * ({lo}) AS h1, "
        f"(cnt - 1) * ({hi}) AS h2 FROM qr"
    )
    picks = []
    for k in range(3):
        at = f"rn - 1 <= h{k} AND h{k} < rn"
        picks += [
            f"MAX(h{k}) AS h{k}",
            f"MAX(CASE WHEN {at} THEN rn END) AS a{k}",
            f"MAX(CASE WHEN {at} THEN v END) AS xa{k}",
            f"MAX(CASE WHEN rn - 2 <= h{k} AND h{k} < rn - 1 THEN v END) AS xb{k}",
        ]
    qg = f"SELECT {part}, MAX(cnt) AS n, {', '.join(picks)} FROM qh GROUP BY {part}"
    values = _interpolated()
    steps += [("qr", qr), ("qh", qh), ("qg", qg)]
    return with_ctes([*ctes, *steps]) + f"\nSELECT {part}, n, {values} FROM qg"


def _interpolated() -> str:
    """The three levels' values, interpolated between positions ``a`` and ``a + 1``.

    ``xa``/``xb`` are the order statistics at positions ``a`` and ``a + 1`` (``xb``
    NULL past the group's end) and ``h`` the fractional position ``(n − 1)·level``.

    Example:
        >>> _interpolated().split(" AS ")[0]
        'xa0 + (h0 - (a0 - 1)) * (COALESCE(xb0, xa0) - xa0)'
    """
    return ", ".join(
        f"xa{k} + (h{k} - (a{k} - 1)) * (COALESCE(xb{k}, xa{k}) - xa{k}) AS {name}"
        for k, name in enumerate(("quantile", "lower", "upper"))
    )


def _piece_statement(
    d: Dialect,
    ctes: Sequence[tuple[str, str]],
    source: str,
    metrics: Sequence[MetricSpec],
    n_dims: int,
    sets: Sequence[Sequence[int]],
    where: str,
) -> str:
    """:func:`quantile_statement` on DuckDB: the same numbers, each distinct group ranked once.

    The values are split into pieces (``qk``: one per segment, stage, arm, ``dim_i``
    and metric, numbered ``pid``, with its count ``c``). The groups are stacked as in
    the generic statement but over the pieces (a few rows, not one per value and
    pair), so each group is its sorted list of pieces ``sig`` (``qsg``). Groups with
    the same pieces hold the same values (a pooled group over cells that hold every
    arm is its arm's cell; a pair's group often another pair's), so the values are
    ranked once per distinct ``sig`` (``qu``, numbered ``sid``; ``qw`` each value
    once per ``sid`` its piece is in), by a window that spills like the generic one,
    and only the rows at ``⌊h⌋ + 1`` and ``⌊h⌋ + 2`` are kept (``qt``). The values
    find their ``sid`` and positions in a one-row map (``qy``: piece to its sids and
    their positions), not by joins: DuckDB estimates the small steps' sizes far too
    high and would build a join's hash table from the values. The map is read by a
    scan of its keys, so a breakdown of very many values costs more per value.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> m = MetricSpec("p50", "continuous", "y", quantile=0.5)
        >>> sql = quantile_statement(get_dialect("duckdb"), [("g", "SELECT 1")], "g", [m], 0, ())
        >>> "PARTITION BY sid ORDER BY v" in sql, "PARTITION BY lvl" in sql
        (True, False)
    """
    from segab.stats.quantile import Z_BOUNDS  # numpy, through the stats results: on use

    dims = [dim(i) for i in range(n_dims)]
    cols = ["segment", "stage", "variant", *dims, "mi"]
    keys = ", ".join(cols)
    qk = (
        f"SELECT {keys}, qq, c, ROW_NUMBER() OVER (ORDER BY {keys}) AS pid "
        f"FROM (SELECT {keys}, qq, COUNT(*) AS c FROM qs GROUP BY {keys}, qq) t"
    )
    steps = [("qs", _values(d, source, metrics, dims, where)), ("qk", qk)]
    steps += _stacked(d, quantile_sets(n_dims, sets), dims, "qk", "pid", null_safe=True)
    part = ", ".join(["lvl", "segment", "stage", "variant", "pa", "pb", *dims, "mi"])
    qsg = f"SELECT {part}, list(pid ORDER BY pid) AS sig FROM qx GROUP BY {part}"
    qu = "SELECT sig, ROW_NUMBER() OVER (ORDER BY sig) AS sid FROM (SELECT DISTINCT sig FROM qsg) t"
    qm = "SELECT sid, UNNEST(sig) AS pid FROM qu"
    qn = (
        "SELECT m.sid, ANY_VALUE(k.qq) AS qq, CAST(SUM(k.c) AS BIGINT) AS cnt "
        "FROM qm m JOIN qk k ON k.pid = m.pid GROUP BY m.sid"
    )
    half = f"{Z_BOUNDS!r} * SQRT(qq * (1.0 - qq) / cnt)"
    lo = f"CASE WHEN qq - {half} < 0.0 THEN 0.0 ELSE qq - {half} END"
    hi = f"CASE WHEN qq + {half} > 1.0 THEN 1.0 ELSE qq + {half} END"
    qh = (
        f"SELECT sid, cnt, (cnt - 1) * qq AS h0, (cnt - 1) * ({lo}) AS h1, "
        f"(cnt - 1) * ({hi}) AS h2 FROM qn"
    )
    at = ", ".join(f"CAST(FLOOR(h{k}) AS BIGINT) + 1 AS a{k}" for k in range(3))
    qi = f"SELECT qh.*, {at} FROM qh"
    # each piece's sids and their positions: a one-row map read per value (not a hash
    # join, whose build side DuckDB could pick by its estimates: the values)
    sids = "{'sid': i.sid, 'a0': i.a0, 'a1': i.a1, 'a2': i.a2}"
    qy = (
        "SELECT MAP(list(k ORDER BY pid), list(s ORDER BY pid)) AS m FROM (SELECT k.pid, "
        f"ANY_VALUE({_struct('k', cols)}) AS k, list({sids} ORDER BY i.sid) AS s FROM qk k "
        "JOIN qm m ON m.pid = k.pid JOIN qi i ON i.sid = m.sid GROUP BY k.pid) t"
    )
    qw = (
        "SELECT t.s.sid, t.s.a0, t.s.a1, t.s.a2, t.v FROM (SELECT "
        f"UNNEST((SELECT m FROM qy)[{_struct('q', cols)}]) AS s, q.v FROM qs q) t"
    )
    qr = "SELECT sid, v, a0, a1, a2, ROW_NUMBER() OVER (PARTITION BY sid ORDER BY v) AS rn FROM qw"
    wanted = ", ".join(f"a{k}, a{k} + 1" for k in range(3))
    qt = f"SELECT sid, rn, v FROM qr WHERE rn IN ({wanted})"
    picks = []
    for k in range(3):
        picks += [
            f"MAX(CASE WHEN t.rn = a.a{k} THEN t.v END) AS xa{k}",
            f"MAX(CASE WHEN t.rn = a.a{k} + 1 THEN t.v END) AS xb{k}",
        ]
    qg = f"SELECT a.sid, {', '.join(picks)} FROM qt t JOIN qi a ON a.sid = t.sid GROUP BY a.sid"
    values = _interpolated()
    steps += [("qsg", qsg), ("qu", qu), ("qm", qm), ("qn", qn), ("qh", qh), ("qi", qi)]
    steps += [("qy", qy), ("qw", qw), ("qr", qr), ("qt", qt), ("qg", qg)]
    shown = ", ".join(f"g.{c}" for c in part.split(", "))
    tail = (
        f"\nSELECT {shown}, a.cnt AS n, {values} FROM qsg g JOIN qu u ON u.sig = g.sig "
        "JOIN qi a ON a.sid = u.sid JOIN qg x ON x.sid = u.sid"
    )
    return with_ctes([*ctes, *steps]) + tail


def _struct(alias: str, cols: Sequence[str]) -> str:
    """A struct of ``alias``'s columns ``cols`` (a map key; NULL fields match NULL fields)."""
    return "{" + ", ".join(f"'f{i}': {alias}.{c}" for i, c in enumerate(cols)) + "}"


def _values(
    d: Dialect, source: str, metrics: Sequence[MetricSpec], dims: Sequence[str], where: str
) -> str:
    """``qs``: each quantile metric's non-NULL values ``v`` with its position ``mi`` and
    level ``qq``, stacked."""
    cond = f" AND {where}" if where else ""
    return "\nUNION ALL\n".join(
        f"SELECT segment, stage, variant{''.join(', ' + c for c in dims)}, {i} AS mi, "
        f"CAST({float(metrics[i].quantile or 0.0)!r} AS {d.double_type}) AS qq, "
        f"CAST(y_{i} AS {d.double_type}) AS v FROM {source} WHERE y_{i} IS NOT NULL{cond}"
        for i in quantile_positions(metrics)
    )


def _stacked(
    d: Dialect,
    groups: Sequence[Sequence[int]],
    dims: Sequence[str],
    src: str,
    value: str,
    null_safe: bool = False,
) -> list[tuple[str, str]]:
    """The pairs' steps (:func:`_pair_ctes`) and ``qx``: the rows of ``src`` (with
    segment, stage, variant, ``dims``, mi, qq and ``value``) stacked once per group
    they are in, with the group's ``lvl``, segment, stage, variant, pa, pb and ``dims``
    (NULL where the group does not read them)."""
    text_null = f"CAST(NULL AS {d.text_type})"
    steps = []
    for k, own in enumerate([(), *groups]):  # the pairs of arms per cell (and breakdown value)
        steps += _pair_ctes(k, [dims[i] for i in own], dims, src, value, null_safe)

    def branch(lvl: int, src: str, cell: bool, pooled: str, own: Sequence[int]) -> str:
        seg = "segment" if cell else text_null
        stage = "stage" if cell or pooled == "stage" else text_null
        pair = "pa, pb" if not cell else f"{text_null} AS pa, {text_null} AS pb"
        shown = [
            c if i in own else f"CASE WHEN 1 = 0 THEN {c} END AS {c}" for i, c in enumerate(dims)
        ]
        cols = [f"{lvl} AS lvl", f"{seg} AS segment", f"{stage} AS stage", "variant", pair]
        return f"SELECT {', '.join([*cols, *shown])}, mi, qq, {value} FROM {src}"

    branches = [branch(0, src, True, "", ())]
    branches += [branch(k, src, True, "", s) for k, s in enumerate(groups, 1)]
    branches += [branch(_STAGE, "qj0", False, "stage", ()), branch(_ALL, "qj0", False, "all", ())]
    branches += [branch(_ALL + k, f"qj{k}", False, "all", s) for k, s in enumerate(groups, 1)]
    return [*steps, ("qx", "\nUNION ALL\n".join(branches))]


def _same(a: str, b: str, col: str, null_safe: bool = False) -> str:
    """Equal values, a NULL breakdown value equal to another NULL (every dialect; with
    ``null_safe``, DuckDB's ``IS NOT DISTINCT FROM``, which joins by hash, not by a
    loop over all pairs of rows)."""
    if null_safe:
        return f"{a}.{col} IS NOT DISTINCT FROM {b}.{col}"
    return f"({a}.{col} = {b}.{col} OR ({a}.{col} IS NULL AND {b}.{col} IS NULL))"


def _pair_ctes(
    k: int, own: Sequence[str], dims: Sequence[str], src: str, value: str, null_safe: bool
) -> list[tuple[str, str]]:
    """``qa{k}`` (the arms with values per cell and value of the breakdown's columns
    ``own``), ``qp{k}`` (each unordered pair of them, once per arm) and ``qj{k}`` (each
    row of ``src`` once per pair its arm is in, there, with its ``value``)."""
    extra = "".join(f", {c}" for c in own)
    qa = f"SELECT DISTINCT segment, stage, variant, mi{extra} FROM {src}"
    on = ["a.segment = b.segment", "a.stage = b.stage", "a.mi = b.mi"]
    on += [_same("a", "b", c, null_safe) for c in own]
    join = f"FROM qa{k} a JOIN qa{k} b ON {' AND '.join(on)} AND a.variant < b.variant"
    cols = "a.segment, a.stage, a.mi" + "".join(f", a.{c}" for c in own)
    qp = (
        f"SELECT {cols}, a.variant AS arm, a.variant AS pa, b.variant AS pb {join}\n"
        f"UNION ALL\nSELECT {cols}, b.variant AS arm, a.variant AS pa, b.variant AS pb {join}"
    )
    on = ["p.segment = q.segment", "p.stage = q.stage", "p.mi = q.mi", "p.arm = q.variant"]
    on += [_same("p", "q", c, null_safe) for c in own]
    qj = (
        f"SELECT q.segment, q.stage, q.variant{''.join(', q.' + c for c in dims)}, q.mi, q.qq, "
        f"q.{value}, p.pa, p.pb FROM {src} q JOIN qp{k} p ON {' AND '.join(on)}"
    )
    return [(f"qa{k}", qa), (f"qp{k}", qp), (f"qj{k}", qj)]


def _level(lvl: int, n_groups: int) -> tuple[str, int]:
    if lvl <= n_groups:
        return "cell", lvl
    if lvl == _STAGE:
        return "stage", 0
    return "all", lvl - _ALL


def quantile_frame(
    raw: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    dims: Sequence[str],
    sets: Sequence[Sequence[int]],
    keys: Mapping[str, str],
) -> pd.DataFrame:
    """The statement's rows as ``Aggregates.quantiles``: labels turned into arm keys.

    Columns: ``scope`` (``cell``, ``stage`` or ``all``), ``breakdown`` (0: none, k:
    the k-th of :func:`quantile_sets`), segment, stage, variant, ``pair`` (the two
    arm keys of a pooled group, sorted, joined by ``|``; empty for cells), the
    breakdown columns ``dims`` (by name), metric, q and :data:`QUANTILE_COLUMNS`.
    Rows of arms that are not in ``keys`` (label to key) are left out.

    Example:
        >>> import pandas as pd
        >>> raw = pd.DataFrame({"lvl": [0, 100], "segment": ["s", None], "stage": ["t", "t"],
        ...     "variant": ["A", "b"], "pa": [None, "A"], "pb": [None, "b"], "mi": 0,
        ...     "n": 9, "quantile": 2.0, "lower": 1.0, "upper": 3.0})
        >>> m = [MetricSpec("p50", "continuous", "y", quantile=0.5)]
        >>> out = quantile_frame(raw, m, (), (), {"A": "a", "b": "b"})
        >>> out[["scope", "variant", "pair", "q"]].values.tolist()
        [['cell', 'a', '', 0.5], ['stage', 'b', 'a|b', 0.5]]
    """
    import pandas as pd

    n_groups = len(quantile_sets(len(dims), sets))
    rows: list[dict[str, Any]] = []
    for rec in raw.to_dict("records"):
        arm = keys.get(str(rec["variant"]))
        scope, breakdown = _level(int(rec["lvl"]), n_groups)
        pair = ""
        if scope != "cell":
            a, b = keys.get(str(rec["pa"])), keys.get(str(rec["pb"]))
            if a is None or b is None:
                continue
            pair = "|".join(sorted((a, b)))
        if arm is None:
            continue
        m = metrics[int(rec["mi"])]
        row = {"scope": scope, "breakdown": breakdown, "segment": rec["segment"],
               "stage": rec["stage"], "variant": arm, "pair": pair}  # fmt: skip
        row.update({name: rec[dim(i)] for i, name in enumerate(dims)})
        row.update(metric=m.key, q=m.quantile, n=int(rec["n"]))
        row.update({c: float(rec[c]) for c in QUANTILE_COLUMNS[1:]})
        rows.append(row)
    cols = ["scope", "breakdown", "segment", "stage", "variant", "pair", *dims, "metric", "q"]
    rows.sort(key=lambda r: tuple(str(r[c]) for c in cols))  # one order on every engine
    return pd.DataFrame(rows, columns=[*cols, *QUANTILE_COLUMNS])
