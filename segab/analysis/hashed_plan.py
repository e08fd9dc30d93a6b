"""DuckDB's event-log plan: the same sums on hashed unit keys and integer cell codes.

The generic plan of :mod:`segab.analysis.sql` groups and joins on the unit id as
text and on segment/stage/variant names. On DuckDB the same results come 3.3
times faster (10M exposures + 10M events) when those keys are integers:

- one scan of the exposures finds the distinct segment, stage and variant names
  (and the exposure-side data-quality counters); each name gets a small code;
- units are keyed by DuckDB's 64-bit ``hash(unit)``. A second, independent hash
  (``hash(unit || chr(1))``) travels with it: if two different ids share the first
  hash (exposures with exposures, or an event's unit with an exposure's), the
  second differs, the plan says so and :func:`run_hashed_event_log` returns
  ``None``, and the caller runs the generic plan on the ids as text. A wrong
  result would need both 64-bit hashes of two ids to collide at once;
- the units are split into ``partitions`` by hash, so that each partition's
  tables fit DuckDB's memory limit (with several, the inputs are first written
  hashed and coded to uncompressed temporary Parquet, about 30 bytes per row);
  every output is a sum over units, so the partitions' results add up.

Per partition, the statements are: ``segab_pc`` (one row per unit and cell: first
and last exposure, variant range, rows, ``--by`` values), ``segab_uk`` (one row per
unit: first valid exposure, last exposure per stage, collision flag), the cell
counts, the funnel (``segab_pc`` joined to ``segab_uk``) and the sums: events LEFT
JOIN ``segab_uk`` (one row per unit) LEFT JOIN the valid cells in the window, per
unit then per cell. The events matching no cell fall into one NULL group, which
also classifies them (unknown unit, before the first exposure, of a known unit);
every other event is attributed. One scan of the events counts empty ids and
missing values. The results and the data-quality counters are those of the
generic plan, row for row.

Example:
    >>> from segab.analysis.sources import Relation
    >>> from segab.analysis.sql import EventLogSpec, MetricSpec
    >>> x = Relation("x", ("u", "segment", "stage", "variant", "timestamp"), {})
    >>> spec = EventLogSpec("e", 1, "u", "u", metrics=(MetricSpec("c", "binary", "buy"),))
    >>> "hash(u)" in codes_query(x, spec)[0]
    False
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from segab.analysis.sources import Relation
from segab.analysis.sql import (
    EventLogSpec,
    Params,
    event_ctes,
    event_names,
    exposure_ctes,
    valid_unit,
    value_event_names,
    window_condition,
    with_ctes,
)
from segab.analysis.unit_pivot import COMPLEX, MAX_PIVOT_STAGES, PivotShape, run_pivot

__all__ = [
    "BYTES_PER_ROW",
    "MAX_CODES",
    "codes_query",
    "rows_per_partition",
    "run_hashed_event_log",
]

BYTES_PER_ROW = 128  # what one exposure may cost a partition: cell row, keys, join and group state
_SIZES = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}
MAX_CODES = 10_000
H = "hash(u)"
H2 = "hash(u || chr(1))"


class _Engine(Protocol):
    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame: ...


def codes_query(x_rel: Relation, spec: EventLogSpec) -> tuple[str, dict[str, Any]]:
    """The exposure scan: names, flags and row counts, grouped (a small result).

    Example:
        >>> from segab.analysis.sources import Relation
        >>> rel = Relation("x", ("u", "segment", "stage", "variant", "timestamp"), {})
        >>> sql, _ = codes_query(rel, EventLogSpec("e", 1, "u", "u"))
        >>> "GROUP BY" in sql
        True
    """
    p = Params("duckdb")
    ctes = dict(exposure_ctes("duckdb", x_rel, spec, p))
    late = f"t > {p(spec.now_epoch)}" if spec.now_epoch is not None else "FALSE"
    sql = with_ctes([("x_raw", ctes["x_raw"])]) + (
        f"\nSELECT segment, stage, variant, other, {valid_unit('u')} AS ok, outside, "
        f"COALESCE({late}, FALSE) AS late, COUNT(*) AS rows\nFROM x_raw GROUP BY ALL"
    )
    return sql, p.values


def rows_per_partition(memory_limit: str | None = None) -> int:
    """Exposure rows one partition may hold under DuckDB's memory limit.

    Example:
        >>> rows_per_partition("250MB"), rows_per_partition("1GiB")
        (1953125, 8388608)
    """
    text = memory_limit or os.environ.get("SEGAB_DUCKDB_MEMORY_LIMIT", "250MB")
    m = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _SIZES:
        return 250 * 10**6 // BYTES_PER_ROW
    return max(100_000, int(float(m.group(1)) * _SIZES[unit]) // BYTES_PER_ROW)


def _case(col: str, codes: dict[str, int], p: Params) -> str:
    whens = " ".join(f"WHEN {p(name)} THEN {code}" for name, code in codes.items())
    return f"CAST(CASE {col} {whens} END AS SMALLINT)"


def _stage_codes(names: Sequence[str], declared: Sequence[str]) -> dict[str, int]:
    codes = {s: i for i, s in enumerate(declared)}
    for name in sorted(set(names) - set(codes)):
        codes[name] = len(codes)
    return codes


def _metric_values(spec: EventLogSpec, ev_code: dict[str, int]) -> tuple[list[str], list[str]]:
    """Per-unit value aggregates (each distinct one once) and the per-cell sums over them."""
    exprs: dict[str, str] = {}

    def alias(expr: str) -> str:
        return exprs.setdefault(expr, f"y_{len(exprs)}")

    def total(k: int) -> str:
        return f"COALESCE(SUM(CASE WHEN e.k = {k} THEN e.value END), 0.0)"

    sums = []
    for i, m in enumerate(spec.metrics):
        k = ev_code[m.source]
        y = alias(
            f"MAX(CASE WHEN e.k = {k} THEN 1.0 ELSE 0.0 END)" if m.kind == "binary" else total(k)
        )
        sums.append(f"SUM({y}) AS s_{i}, SUM({y} * {y}) AS q_{i}")
        if m.den is not None:
            d = alias(total(ev_code[m.den]))
            sums.append(f"SUM({d}) AS ds_{i}, SUM({d} * {d}) AS dq_{i}, SUM({y} * {d}) AS x_{i}")
    return [f"{expr} AS {name}" for expr, name in exprs.items()], sums


def run_hashed_event_log(
    eng: _Engine,
    x_rel: Relation,
    e_rel: Relation,
    spec: EventLogSpec,
    *,
    partitions: int | None = None,
    memory_limit: str | None = None,
    pivot: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]] | None:
    """Run the plan; return ``(wide sums, funnel, quality)`` as the generic plan does.

    Returns ``None`` when the generic plan must run instead: a unit-hash collision,
    or more than :data:`MAX_CODES` distinct segment/stage/variant names.
    ``partitions`` defaults to one per :func:`rows_per_partition` valid exposures
    for DuckDB's ``memory_limit`` (e.g. ``"250MB"``; default: the environment's
    ``SEGAB_DUCKDB_MEMORY_LIMIT``, else 250MB). With more than one, the inputs are
    first written hashed and coded to Parquet files split by partition, in a
    temporary directory removed afterwards. ``pivot`` runs each partition one row
    per unit (:mod:`segab.analysis.unit_pivot`) where it can; ``False`` always
    runs the cell-keyed statements (the same results; for tests and comparisons).

    Example:
        >>> run_hashed_event_log.__name__   # exercised in tests/analysis/test_hashed_plan.py
        'run_hashed_event_log'
    """
    sql, params = codes_query(x_rel, spec)
    scan = eng.query(sql, params)
    quality = _exposure_quality(scan)
    ok = scan[(scan["other"] == 0) & scan["ok"] & (scan["outside"] == 0) & ~scan["late"]]
    names = {c: sorted(str(v) for v in ok[c].unique()) for c in ("segment", "stage", "variant")}
    if sum(len(v) for v in names.values()) > MAX_CODES:
        return None
    seg_code = {n: i for i, n in enumerate(names["segment"])}
    stage_code = _stage_codes(names["stage"], spec.stages)
    var_code = {n: i for i, n in enumerate(names["variant"])}
    ev_code = {n: i for i, n in enumerate(event_names(spec))}
    rows = int(ok["rows"].sum())
    k_parts = partitions or max(1, math.ceil(rows / rows_per_partition(memory_limit)))
    counts, sums, funnels = [], [], []
    plan = _Partition(x_rel, e_rel, spec, seg_code, stage_code, var_code, ev_code, pivot)
    workdir = tempfile.mkdtemp(prefix="segab-stage-") if k_parts > 1 else None
    try:
        if workdir is not None:  # read and hash the inputs once, not once per partition
            plan.stage(eng, k_parts, workdir, rows_per_partition(memory_limit))
        for part in range(k_parts):
            result = plan.run(eng, part, k_parts)
            if result is None:
                return None
            counts.append(result[0])
            sums.append(result[1])
            funnels.append(result[2])
        ev = plan.event_scan(eng).iloc[0]
    finally:
        for table in ("segab_pc", "segab_uk", "segab_u", "segab_uj"):
            eng.query(f"DROP TABLE IF EXISTS {table}", {})
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    dims = [f"dim_{i}" for i in range(len(spec.dims))]
    decode = {
        "segment": {v: k for k, v in seg_code.items()},
        "stage": {v: k for k, v in stage_code.items()},
        "variant": {v: k for k, v in var_code.items()},
    }
    cnt = _add(counts, ["g", "s", "v", "ok", *dims])
    quality["multi_variant_units"] = int(cnt.loc[~cnt["ok"].astype(bool), "cells"].sum())
    valid = cnt[cnt["ok"].astype(bool)]
    quality["duplicate_exposures"] = int((valid["rows"] - valid["cells"]).sum())
    keys = ["g", "s", "v", *dims]
    sm = _add(sums, [*keys, "cls"])
    nomatch = sm.loc[sm["g"].isna()].groupby("cls")["ne"].sum()
    unmatched = int(nomatch.sum())
    unknown, before, known = (int(nomatch.get(c, 0)) for c in (1, 2, 3))
    matched = sm[sm["g"].notna()].drop(columns=["cls", "ne"])
    wide = valid[[*keys, "cells"]].rename(columns={"cells": "n"})
    wide = wide.merge(matched, on=keys, how="left")
    wide = _decode(wide, decode, {"g": "segment", "s": "stage", "v": "variant"})
    wide = wide[
        [
            "segment",
            "stage",
            "variant",
            *dims,
            *(c for c in wide.columns if c[:2] in ("n", "s_", "q_", "ds", "dq", "x_")),
        ]
    ]
    fn = _add(funnels, ["g", "v", "s"])
    stage_of = decode["stage"]
    fn["next_stage"] = fn["s"].map(lambda c: stage_of.get(int(c) + 1))
    fn = _decode(fn, decode, {"g": "segment", "v": "variant", "s": "stage"})
    fn = fn[["segment", "variant", "stage", "next_stage", "n_exposed", "n_reached"]]
    attributed = int(ev["events_valid"]) - unmatched
    quality.update(
        event_empty_ids=int(ev["event_empty_ids"]),
        missing_outcomes=int(ev["missing_outcomes"]),
        events_unknown_units=unknown,
        events_before_exposure=before,
        # every attributed event's unit has a valid cell; the others were counted once
        events_known=attributed + before + known,
        events_attributed=attributed,
    )
    return wide, fn, quality


def _exposure_quality(scan: pd.DataFrame) -> dict[str, int]:
    other = scan["other"] == 1
    mine = scan[~other]
    return {
        "exposures_other_experiment": int(scan.loc[other, "rows"].sum()),
        "exposure_empty_ids": int(mine.loc[~mine["ok"].astype(bool), "rows"].sum()),
        "exposures_not_in_experiment": int(
            mine.loc[mine["ok"].astype(bool) & (mine["outside"] == 1), "rows"].sum()
        ),
        "exposures_after_now": int(
            mine.loc[mine["ok"].astype(bool) & (mine["outside"] == 0) & mine["late"], "rows"].sum()
        ),
    }


def _add(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        return df
    return df.groupby(keys, dropna=False, sort=False).sum(min_count=1).reset_index()


def _decode(
    df: pd.DataFrame, decode: dict[str, dict[int, str]], cols: dict[str, str]
) -> pd.DataFrame:
    out = df.copy()
    for code, name in cols.items():
        out[name] = out[code].map(lambda c, d=decode[name]: d[int(c)]).astype(object)
    return out.drop(columns=list(cols))


class _Partition:
    """The statements of one hash partition of the units."""

    def __init__(
        self,
        x_rel: Relation,
        e_rel: Relation,
        spec: EventLogSpec,
        seg_code: dict[str, int],
        stage_code: dict[str, int],
        var_code: dict[str, int],
        ev_code: dict[str, int],
        pivot: bool = True,
    ) -> None:
        self.x_rel, self.e_rel, self.spec = x_rel, e_rel, spec
        self.seg_code, self.stage_code, self.var_code = seg_code, stage_code, var_code
        self.ev_code = ev_code
        self.dims = [f"dim_{i}" for i in range(len(spec.dims))]
        self.staged: str | None = None
        self.nexts = sorted({stage_code[b] for b in spec.stages[1:]})
        sizes = (len(seg_code), len(stage_code), len(var_code))
        # one row per unit when there are no --by columns and few stages
        usable = pivot and not spec.dims and min(sizes) > 0 and sizes[1] <= MAX_PIVOT_STAGES
        self.shape = PivotShape(*sizes, tuple(self.nexts)) if usable else None

    def stage(self, eng: _Engine, parts: int, directory: str, part_rows: int) -> None:
        """Write the exposures and events once, hashed and coded, split by partition.

        DuckDB buffers up to ``partitioned_write_flush_threshold`` rows per open
        partition file; it is set so that all partitions' buffers together hold
        about a quarter of a partition's rows (flat memory at any partition count).
        """
        self.staged = directory
        flush = max(2048, min(524_288, part_rows // (4 * parts)))
        eng.query(f"SET partitioned_write_flush_threshold = {flush}", {})
        # events with an empty id go to partition `parts` (no unit has it): the
        # event-side counters then read the staged files instead of the input
        for name, (ctes, body, p) in (("x", self._x_rows()), ("e", self._e_rows(every=True))):
            eng.query(
                f"COPY (\n{with_ctes(ctes)}\nSELECT COALESCE(h % {parts}, {parts}) AS part, * "
                f"FROM ({body}))\nTO '{self.staged}/{name}' "
                # temporary files, written and read once: uncompressed (0.5 s less per
                # 10M rows) and without dictionaries (the hashes are all distinct)
                "(FORMAT parquet, COMPRESSION uncompressed, DICTIONARY_SIZE_LIMIT 1, "
                "PARTITION_BY (part))",
                p.values,
            )

    def _x_rows(self) -> tuple[list[tuple[str, str]], str, Params]:
        p = Params("duckdb")
        ctes = exposure_ctes("duckdb", self.x_rel, self.spec, p)[:2]
        dcols = "".join(f", {d}" for d in self.dims)
        body = (
            f"SELECT {H} AS h, {H2} AS h2, {_case('segment', self.seg_code, p)} AS g, "
            f"{_case('stage', self.stage_code, p)} AS s, "
            f"{_case('variant', self.var_code, p)} AS v, t{dcols} FROM x"
        )
        return ctes, body, p

    def _e_rows(self, every: bool = False) -> tuple[list[tuple[str, str]], str, Params]:
        """Valid events hashed and coded; ``every``: also those with an empty id (h NULL)."""
        p = Params("duckdb")
        ctes = self._events(p)
        ok = valid_unit("u")
        if every:
            body = (
                f"SELECT CASE WHEN {ok} THEN {H} END AS h, CASE WHEN {ok} THEN {H2} END AS h2, "
                "k, value, t FROM e0"
            )
        else:
            body = f"SELECT {H} AS h, {H2} AS h2, k, value, t FROM e0 WHERE {ok}"
        return ctes, body, p

    def _rows(self, name: str, part: int, parts: int) -> tuple[list[tuple[str, str]], Params]:
        """CTE ``{name}s`` with this partition's rows (staged, or hashed on the fly)."""
        if self.staged is not None:
            # this partition's own files, so that DuckDB sizes its hash tables from
            # their row counts; none (no rows here): the glob, filtered to nothing
            own = f"{self.staged}/{name}/part={part}"
            every = f"{self.staged}/{name}/*/*.parquet"
            files = f"{own}/*.parquet" if os.path.isdir(own) else every
            body = (
                f"SELECT * EXCLUDE (part) FROM read_parquet('{files}', hive_partitioning = true) "
                f"WHERE part = {part}"
            )
            return [(f"{name}s", body)], Params("duckdb")
        ctes, body, p = self._x_rows() if name == "x" else self._e_rows()
        where = f" WHERE h % {parts} = {part}" if parts > 1 else ""
        return [*ctes, (f"{name}s", f"SELECT * FROM ({body}){where}")], p

    def run(
        self, eng: _Engine, part: int, parts: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
        """Run one partition: cell counts, sums and funnel (``None``: a hash collision).

        One row per unit when :attr:`shape` allows it and no unit has two segments
        at one stage; else one row per (unit, cell).
        """
        ctes, p = self._rows("x", part, parts)
        if self.shape is not None:
            e_ctes, e_p = self._rows("e", part, parts)
            result = run_pivot(
                eng,
                ctes,
                p,
                e_ctes,
                e_p,
                self.spec,
                self.shape,
                lambda: _metric_values(self.spec, self.ev_code),
            )
            if result != COMPLEX:  # the sums, or None (a hash collision)
                return None if isinstance(result, str) else result
        return self._run_cells(eng, ctes, p, part, parts)

    def _run_cells(
        self, eng: _Engine, ctes: list[tuple[str, str]], p: Params, part: int, parts: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
        dims = self.dims
        dmin = "".join(f", MIN({d}) AS {d}" for d in dims)
        eng.query(
            "CREATE OR REPLACE TEMP TABLE segab_pc AS\n"
            + with_ctes(ctes)
            + "\nSELECT h, g, s, MIN(v) AS v, MAX(v) AS v2, MIN(h2) AS h2, "
            "MIN(h2) <> MAX(h2) AS coll, "
            f"MIN(t) AS t0, MAX(t) AS tl, CAST(COUNT(*) AS INTEGER) AS n{dmin}\n"
            "FROM xs GROUP BY h, g, s",
            p.values,
        )
        nexts = self.nexts
        tls = "".join(f", MAX(tl) FILTER (WHERE s = {c}) AS tl_{c}" for c in nexts)
        eng.query(
            "CREATE OR REPLACE TEMP TABLE segab_uk AS\n"
            "SELECT h, MIN(h2) AS h2, MIN(h2) <> MAX(h2) OR BOOL_OR(coll) AS coll, "
            f"MIN(t0) FILTER (WHERE v = v2) AS tf{tls}\nFROM segab_pc GROUP BY h",
            {},
        )
        if int(eng.query("SELECT COUNT(*) AS c FROM segab_uk WHERE coll", {})["c"].iloc[0]):
            return None
        dcols = "".join(f", {d}" for d in dims)
        counts = eng.query(
            f"SELECT g, s, v{dcols}, v = v2 AS ok, COUNT(*) AS cells, SUM(n) AS rows "
            "FROM segab_pc GROUP BY ALL",
            {},
        )
        funnel = self._funnel(eng, nexts)
        sums = self._sums(eng, part, parts)
        for table in ("segab_pc", "segab_uk"):  # free them before the next partition
            eng.query(f"DROP TABLE {table}", {})
        if (sums["cls"] == 4).any():
            return None
        return counts, sums, funnel

    def _funnel(self, eng: _Engine, nexts: list[int]) -> pd.DataFrame:
        if not nexts:
            return pd.DataFrame({"g": [], "v": [], "s": [], "n_exposed": [], "n_reached": []})
        whens = " ".join(f"WHEN {c - 1} THEN k.tl_{c}" for c in nexts)
        return eng.query(
            "SELECT p.g, p.v, p.s, COUNT(*) AS n_exposed, "
            f"COUNT(*) FILTER (WHERE (CASE p.s {whens} END) >= p.t0) AS n_reached\n"
            "FROM segab_pc p JOIN segab_uk k ON k.h = p.h\n"
            f"WHERE p.v = p.v2 AND p.s IN ({', '.join(str(c - 1) for c in nexts)}) "
            "GROUP BY ALL",
            {},
        )

    def _events(self, p: Params) -> list[tuple[str, str]]:
        ctes = event_ctes("duckdb", self.e_rel, self.spec, p)[:1]
        whens = " ".join(f"WHEN {p(n)} THEN {c}" for n, c in self.ev_code.items())
        return [
            *ctes,
            ("e0", f"SELECT *, CAST(CASE event {whens} END AS SMALLINT) AS k FROM ev_raw"),
        ]

    def _sums(self, eng: _Engine, part: int, parts: int) -> pd.DataFrame:
        spec, dims = self.spec, self.dims
        ctes, p = self._rows("e", part, parts)
        dc = "".join(f", {d}" for d in dims)
        ns, nv = len(self.stage_code), len(self.var_code)
        # one integer cell key: fewer group keys in the per-unit aggregation
        cv = f"CAST((g * {ns} + s) * {nv} + v AS INTEGER)"
        c = f"SELECT h, {cv} AS cv, t0{dc} FROM segab_pc WHERE v = v2"
        cdc = "".join(f", c.{d}" for d in dims)
        values, sums = _metric_values(spec, self.ev_code)
        vals = "".join(f",\n  {v}" for v in values)
        # an event matching no cell is one row with a NULL cell; cls classifies it:
        # 1 unknown unit, 2 before the unit's first exposure, 3 other (outside the
        # window), 5 a unit whose cells were all excluded; 4 flags a hash collision
        cls = (
            "CASE WHEN e.h2 <> k.h2 THEN 4 WHEN c.h IS NOT NULL THEN 0 WHEN k.h IS NULL THEN 1 "
            "WHEN e.t < k.tf THEN 2 WHEN k.tf IS NOT NULL THEN 3 ELSE 5 END"
        )
        uv = (
            f"SELECT c.cv{cdc}, c.h, {cls} AS cls{vals}, COUNT(*) AS ne\n"
            "FROM es e LEFT JOIN segab_uk k ON k.h = e.h\n"
            f"LEFT JOIN c ON e.h = c.h AND {window_condition(spec, p, 'e', 'c')}\n"
            "GROUP BY ALL"
        )
        cols = "".join(f",\n  {col}" for col in sums)
        return eng.query(
            with_ctes([*ctes, ("c", c), ("uv", uv)])
            + f"\nSELECT cv // {ns * nv} AS g, (cv // {nv}) % {ns} AS s, cv % {nv} AS v{dc}, "
            f"cls, SUM(ne) AS ne{cols}\nFROM uv GROUP BY cv{dc}, cls",
            p.values,
        )

    def event_scan(self, eng: _Engine) -> pd.DataFrame:
        """Counts over the events a metric reads: empty ids, valid rows, missing values."""
        spec = self.spec
        value_events = value_event_names(spec)
        codes = ", ".join(str(self.ev_code[n]) for n in value_events)
        count_missing = bool(spec.value_col and value_events)
        if self.staged is not None:
            files = f"'{self.staged}/e/*/*.parquet'"
            ctes, ok, source = [], "h IS NOT NULL", f"read_parquet({files})"
            p = Params("duckdb")
        else:
            p = Params("duckdb")
            ctes, ok, source = self._events(p), valid_unit("u"), "e0"
        missing = (
            f"COUNT(*) FILTER (WHERE {ok} AND value IS NULL AND k IN ({codes}))"
            if count_missing
            else "CAST(0 AS BIGINT)"
        )
        return eng.query(
            (with_ctes(ctes) + "\n" if ctes else "")
            + f"SELECT COUNT(*) FILTER (WHERE NOT {ok}) AS event_empty_ids,\n"
            f"  COUNT(*) FILTER (WHERE {ok}) AS events_valid,\n"
            f"  {missing} AS missing_outcomes\nFROM {source}",
            p.values,
        )
