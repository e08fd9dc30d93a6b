"""DuckDB's event-log fast path: the same sums on hashed unit keys and integer cell codes.

The generic route of :mod:`segab.sums.statements` groups and joins on the unit id as
text and on segment/stage/variant names. On DuckDB the same results come several
times faster (10M exposures + 10M events) when those keys are integers:

- one scan of the exposures finds the distinct segment, stage and variant names
  (and the exposure-side data-quality counters); each name gets a small code;
- units are keyed by DuckDB's 64-bit ``hash(unit)``. A second, independent hash
  (``hash(unit || chr(1))``) travels with it: if two different ids share the first
  hash (exposures with exposures, or an event's unit with an exposure's), the
  second differs, the fast path raises
  :class:`~segab.sums._fast.fallback.FastPathUnavailableError`, and the caller runs the
  generic route on the ids as text. A wrong
  result would need both 64-bit hashes of two ids to collide at once;
- the units are split into ``partitions`` by hash, so that each partition's
  tables fit DuckDB's memory limit (with several, the inputs are first written
  hashed and coded to uncompressed temporary Parquet, about 30 bytes per row);
  every output is a sum over units, so the partitions' results add up.

Each partition's statements are those of :mod:`segab.sums._fast.partition`. One
scan of the events counts empty ids and missing values. The results and the
data-quality counters are those of the generic route, row for row. With several
breakdowns (``spec.sets``) the partitions group by every breakdown column at once
(the finest crossing, the one scan) and the small summed result is added up per
breakdown (:func:`~segab.sums.result.rollup_sets`), where the generic route uses
``GROUPING SETS``.

Example:
    >>> from segab.sums.sources import Relation
    >>> from segab.sums.specs import EventLogSpec, MetricSpec
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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from segab.sums._fast.capping import TABLE as CAP_TABLE
from segab.sums._fast.fallback import FastPathUnavailableError
from segab.sums._fast.partition import Partition
from segab.sums._fast.values import horizon
from segab.sums.expressions import valid_unit, with_ctes
from segab.sums.result import rollup_sets
from segab.sums.sources import Relation, SqlRunner
from segab.sums.specs import EventLogSpec, Params
from segab.sums.statements import (
    duplicate_events_sql,
    event_ctes,
    event_names,
    exposure_ctes,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BYTES_PER_ROW",
    "MAX_CODES",
    "FastPathUnavailableError",
    "codes_query",
    "rows_per_partition",
    "run_hashed_event_log",
    "usable_for",
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


def codes_query(x_rel: Relation, spec: EventLogSpec) -> tuple[str, dict[str, Any]]:
    """The exposure scan: names, flags and row counts, grouped (a small result).

    Example:
        >>> from segab.sums.sources import Relation
        >>> rel = Relation("x", ("u", "segment", "stage", "variant", "timestamp"), {})
        >>> sql, _ = codes_query(rel, EventLogSpec("e", 1, "u", "u"))
        >>> "GROUP BY" in sql
        True
    """
    p = Params("duckdb")
    ctes = dict(exposure_ctes(x_rel, spec, p))
    late = f"t > {p(spec.now_epoch)}" if spec.now_epoch is not None else "FALSE"
    sql = with_ctes([("x_raw", ctes["x_raw"])]) + (
        f"\nSELECT segment, stage, variant, other, {valid_unit('u')} AS ok, outside, "
        "t IS NULL AS no_time, "
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


def _stage_codes(names: Sequence[str], declared: Sequence[str]) -> dict[str, int]:
    codes = {s: i for i, s in enumerate(declared)}
    for name in sorted(set(names) - set(codes)):
        codes[name] = len(codes)
    return codes


def usable_for(dialect: str, route: str) -> bool:
    """Whether the fast path may answer, known before anything runs.

    Only DuckDB runs it, and only when the caller did not ask for the generic route
    (``route`` is ``"auto"``, or ``"cells"`` for the cell-keyed statements). While
    running it can still meet what it cannot answer; then it raises
    :class:`~segab.sums._fast.fallback.FastPathUnavailableError`.

    Example:
        >>> usable_for("duckdb", "auto"), usable_for("duckdb", "generic")
        (True, False)
        >>> usable_for("sqlite", "auto")
        False
    """
    return dialect == "duckdb" and route != "generic"


def run_hashed_event_log(
    eng: SqlRunner,
    x_rel: Relation,
    e_rel: Relation,
    spec: EventLogSpec,
    *,
    partitions: int | None = None,
    memory_limit: str | None = None,
    pivot: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Run the fast path; return ``(wide sums, funnel, quality)`` as the generic route does.

    Raises :class:`~segab.sums._fast.fallback.FastPathUnavailableError` when the generic
    route must run instead: a unit-hash collision (``hash_collision``), or more than
    :data:`MAX_CODES` distinct segment/stage/variant names (``too_many_names``).
    Event filters, retention windows and caps are computed here too
    (:mod:`segab.sums._fast.values`, :mod:`segab.sums._fast.capping`).
    ``partitions`` defaults to one per :func:`rows_per_partition` exposure rows
    for DuckDB's ``memory_limit`` (e.g. ``"250MB"``; default: the environment's
    ``SEGAB_DUCKDB_MEMORY_LIMIT``, else 250MB). With more than one, the inputs are
    first written hashed and coded to Parquet files split by partition, in a
    temporary directory removed afterwards: the exposures with the codes of the
    names the config declares (``spec.segments``, ``spec.stages``,
    ``spec.variants``) and their data-quality class, so that no scan comes first;
    when a valid exposure shows a name the config does not declare, the names
    found by a first scan (:func:`codes_query`) replace them and the inputs are
    written again. ``pivot`` runs each partition one row per unit
    (:mod:`segab.sums._fast.unit_pivot`) where it can; ``False`` always runs the
    cell-keyed statements (the same results; for tests and comparisons).

    Example:
        >>> run_hashed_event_log.__name__   # exercised in tests/analysis/test_fast_path.py
        'run_hashed_event_log'
    """
    per_part = rows_per_partition(memory_limit)
    if partitions is None:
        _, count = eng.rows(f"SELECT COUNT(*) AS n FROM {x_rel.sql}", {})
        partitions = max(1, math.ceil(int(count[0][0]) / per_part))
    ev_code = {n: i for i, n in enumerate(event_names(spec))}
    if partitions > 1 and spec.segments and spec.variants:
        declared = {
            "segment": list(spec.segments),
            "stage": list(spec.stages),
            "variant": list(spec.variants),
        }
        if sum(len(v) for v in declared.values()) <= MAX_CODES:
            codes = _codes(declared, spec)
            try:
                return _run(
                    eng, x_rel, e_rel, spec, codes, ev_code, None, partitions, per_part, pivot
                )
            except FastPathUnavailableError as exc:
                if exc.reason != "undeclared_name":
                    raise
                # scan for the names, then stage again
    sql, params = codes_query(x_rel, spec)
    # plain rows: pandas is not needed before the partitions' results
    columns, scan = eng.rows(sql, params)
    groups = [dict(zip(columns, row, strict=True)) for row in scan]
    for r in groups:  # undeclared names, as the statements' `undeclared` column says
        r["undeclared"] = _undeclared(r, spec)
    quality = _exposure_quality(groups)
    ok = [r for r in groups if _usable(r) and not r["late"]]
    names = {c: sorted({str(r[c]) for r in ok}) for c in ("segment", "stage", "variant")}
    if sum(len(v) for v in names.values()) > MAX_CODES:
        raise FastPathUnavailableError("too_many_names")
    codes = _codes(names, spec)
    return _run(eng, x_rel, e_rel, spec, codes, ev_code, quality, partitions, per_part, pivot)


def _undeclared(r: dict[str, Any], spec: EventLogSpec) -> int:
    """1: a segment the config does not declare, 2: a stage, else 0 (a NULL is ``outside``)."""
    for code, col, names in ((1, "segment", spec.segments), (2, "stage", spec.stages)):
        if names and r[col] is not None and r[col] not in names:
            return code
    return 0


def _codes(names: dict[str, list[str]], spec: EventLogSpec) -> tuple[dict[str, int], ...]:
    """Segment, stage and variant codes: the declared segments (when the config declares
    them: a name without a code is then undeclared), the declared stages first, in order
    (the funnel)."""
    segments = list(spec.segments) or names["segment"]
    seg_code = {n: i for i, n in enumerate(dict.fromkeys(segments))}
    var_code = {n: i for i, n in enumerate(dict.fromkeys(names["variant"]))}
    return seg_code, _stage_codes(names["stage"], spec.stages), var_code


def _run(
    eng: SqlRunner,
    x_rel: Relation,
    e_rel: Relation,
    spec: EventLogSpec,
    codes: tuple[dict[str, int], ...],
    ev_code: dict[str, int],
    quality: dict[str, int] | None,
    k_parts: int,
    per_part: int,
    pivot: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """The partitions and the adding up. ``quality`` ``None``: the exposure-side
    counters come from the staged files, and ``FastPathUnavailableError("undeclared_name")``
    is raised when a valid exposure has a name without a code."""
    seg_code, stage_code, var_code = codes
    counts, sums, funnels = [], [], []
    fast = Partition(x_rel, e_rel, spec, seg_code, stage_code, var_code, ev_code, pivot)
    # named like the engine's spill directory, so the CLI's watchdog removes it too
    stage = f"segab-duckdb-{os.getpid()}-stage-"
    workdir = tempfile.mkdtemp(prefix=stage) if k_parts > 1 else None
    try:
        if workdir is not None:  # read and hash the inputs once, not once per partition
            staged = fast.stage(eng, k_parts, workdir, per_part)
            if quality is None:
                if staged["undeclared"]:
                    raise FastPathUnavailableError("undeclared_name")
                quality = {k: v for k, v in staged.items() if k != "undeclared"}
        assert quality is not None  # without staging, the caller scanned the codes
        fast.sums.hz = _horizon(eng, fast, workdir, k_parts)
        for part in range(k_parts):
            result = fast.run(eng, part, k_parts)
            counts.append(result[0])
            sums.append(result[1])
            funnels.append(result[2])
        ev = fast.event_scan(eng).iloc[0]
        dims = [f"dim_{i}" for i in range(len(spec.dims))]
        cnt = _add(counts, ["g", "s", "v", "ok", *dims])
        valid = cnt[cnt["ok"].astype(bool)] if len(cnt) else cnt
        capped = fast.sums.caps.finish(eng, valid) if fast.sums.caps.capped else None
    finally:
        for table in ("segab_pc", "segab_uk", "segab_u", "segab_uj", "segab_uv", CAP_TABLE):
            eng.execute(f"DROP TABLE IF EXISTS {table}", {})
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    decode = {
        "segment": {v: k for k, v in seg_code.items()},
        "stage": {v: k for k, v in stage_code.items()},
        "variant": {v: k for k, v in var_code.items()},
    }
    quality["multi_variant_units"] = int(cnt.loc[~cnt["ok"].astype(bool), "cells"].sum())
    quality["duplicate_exposures"] = int((valid["rows"] - valid["cells"]).sum())
    keys = ["g", "s", "v", *dims]
    sm = _add(sums, [*keys, "cls"])
    nomatch = sm.loc[sm["g"].isna()].groupby("cls")["ne"].sum()
    unmatched = int(nomatch.sum())
    unknown, before, known = (int(nomatch.get(c, 0)) for c in (1, 2, 3))
    matched = sm[sm["g"].notna()].drop(columns=["cls", "ne"])
    mature = [c for c in valid.columns if c.startswith("n_")]  # retention windows
    wide = valid[[*keys, "cells", *mature]].rename(columns={"cells": "n"})
    wide = wide.merge(matched, on=keys, how="left")
    if capped is not None:  # the capped metrics' sums, from the cap stage
        wide = fast.sums.caps.fill(wide.merge(_typed(capped, wide, keys), on=keys, how="left"))
    wide = _decode(wide, decode, {"g": "segment", "s": "stage", "v": "variant"})
    sums_cols = ("n", "n_", "s_", "q_", "ds", "dq", "x_", "k_", "zs", "zy", "zz")
    caps = [c for c in wide.columns if c[:2] == "c_"]
    wide = wide[
        ["segment", "stage", "variant", *dims, *(c for c in wide.columns if c[:2] in sums_cols)]
        + ([] if spec.sets else caps)
    ]
    if spec.sets:  # several breakdowns: the finest crossing's sums, added up per breakdown
        wide = rollup_sets(wide, ["segment", "stage", "variant"], len(dims), spec.sets)
        for c in caps:  # one value: a constant, not a sum
            wide[c] = fast.sums.caps.caps.get(int(c[2:]))
    fn = _add(funnels, ["g", "v", "s"])
    stage_of = decode["stage"]
    fn["next_stage"] = fn["s"].map(lambda c: stage_of.get(int(c) + 1))
    fn = _decode(fn, decode, {"g": "segment", "v": "variant", "s": "stage"})
    fn = fn[["segment", "variant", "stage", "next_stage", "n_exposed", "n_reached"]]
    attributed = int(ev["events_valid"]) - unmatched
    quality.update(
        event_empty_ids=int(ev["event_empty_ids"]),
        event_bad_values=int(ev["event_bad_values"]),
        event_bad_timestamps=int(ev["event_bad_timestamps"]),
        duplicate_events=_duplicates(eng, e_rel, spec, int(ev["dup_screen"])),
        missing_outcomes=int(ev["missing_outcomes"]),
        events_unknown_units=unknown,
        events_before_exposure=before,
        # every attributed event's unit has a valid cell; the others were counted once
        events_known=attributed + before + known,
        events_attributed=attributed,
    )
    if any(m.window is not None for m in spec.metrics):  # as the generic route has it
        quality["analysis_time"] = 0 if fast.sums.hz is None else fast.sums.hz  # type: ignore[assignment]
    return wide, fn, quality


def _horizon(eng: SqlRunner, fast: Partition, workdir: str | None, parts: int) -> float | None:
    """The retention windows' analysis time (:func:`~segab.sums._fast.values.horizon`)."""
    inputs = fast.time_inputs() if workdir is None else []
    return horizon(eng, fast.spec, workdir, parts, inputs)


def _typed(capped: pd.DataFrame, wide: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The cap stage's frame with its cell codes of the types ``wide``'s have."""
    return capped.astype({k: wide[k].dtype for k in keys if k in "gsv"})


def _usable(r: dict[str, Any]) -> bool:
    """An exposure group of this experiment, valid id, in it, declared, with a time."""
    return (
        bool(r["other"] == 0 and r["ok"] and r["outside"] == 0 and r["undeclared"] == 0)
        and not r["no_time"]
    )


def _exposure_quality(groups: list[dict[str, Any]]) -> dict[str, int]:
    def rows(keep: Callable[[dict[str, Any]], bool]) -> int:
        return sum(int(r["rows"]) for r in groups if keep(r))

    def mine(r: dict[str, Any]) -> bool:
        return bool(r["other"] != 1 and r["ok"] and r["outside"] == 0)

    return {
        "exposures_other_experiment": rows(lambda r: r["other"] == 1),
        "exposure_empty_ids": rows(lambda r: r["other"] != 1 and not r["ok"]),
        "exposures_not_in_experiment": rows(
            lambda r: r["other"] != 1 and r["ok"] and r["outside"] == 1
        ),
        "undeclared_exposures": rows(lambda r: mine(r) and r["undeclared"] != 0),
        "exposure_bad_timestamps": rows(
            lambda r: mine(r) and r["undeclared"] == 0 and r["no_time"]
        ),
        "exposures_after_now": rows(lambda r: _usable(r) and r["late"]),
    }


def _duplicates(eng: SqlRunner, e_rel: Relation, spec: EventLogSpec, screen: int) -> int:
    """Duplicate events: none when the fingerprint screen proves it (and they are kept);
    else counted exactly on the input, as the generic route does."""
    if screen == 0 and not spec.drop_duplicate_events:
        return 0
    p = Params("duckdb")
    sql = with_ctes(event_ctes(e_rel, spec, p)[:1]) + "\n" + duplicate_events_sql(spec, p)
    _, rows = eng.rows(sql, p.values)
    return int(rows[0][0] or 0)


def _add(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    import pandas as pd

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
