"""The statements of one hash partition of DuckDB's event-log fast path.

:mod:`segab.sums._fast.hashed` decides the codes and the number of partitions
and adds their results; a :class:`Partition` writes the inputs once, hashed and
coded, split by partition (:meth:`Partition.stage`), and runs each partition
(:meth:`Partition.run`): one row per unit (:mod:`segab.sums._fast.unit_pivot`) when
it can, else one row per (unit, cell): ``segab_pc`` (first and last exposure,
variant range, rows, ``--by`` values), ``segab_uk`` (per unit: first valid
exposure, last exposure per stage, collision flag), the cell counts, the funnel
(``segab_pc`` joined to ``segab_uk``) and the sums (events LEFT JOIN ``segab_uk``
LEFT JOIN the valid cells in the window, per unit then per cell).

Units are keyed by :data:`H`, DuckDB's 64-bit ``hash(unit)``; :data:`H2`, 32 bits
of an independent second hash, travels with it to detect collisions.

Example:
    >>> H, H2
    ('hash(u)', 'CAST(hash(u || chr(1)) >> 32 AS UINTEGER)')
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from segab.sums._fast.capping import CapStage
from segab.sums._fast.fallback import COLLISION_CLASS, FastPathUnavailableError
from segab.sums._fast.pre_exposure import cell_pre_rows, covariate_codes
from segab.sums._fast.unit_pivot import MAX_PIVOT_STAGES, PivotShape, empty_funnel, run_pivot
from segab.sums._fast.values import PartSums
from segab.sums.expressions import valid_unit, with_ctes
from segab.sums.fingerprints import repeats
from segab.sums.sources import Relation, SqlRunner
from segab.sums.specs import EventLogSpec, Params
from segab.sums.statements import event_ctes, exposure_ctes, value_event_names, window_condition

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["H2", "H", "Partition", "repeats"]

H = "hash(u)"
H2 = "CAST(hash(u || chr(1)) >> 32 AS UINTEGER)"
# the staged exposures' data-quality classes (negative codes), in the order checked
_CLASSES = {
    -1: "exposures_other_experiment",
    -2: "exposure_empty_ids",
    -3: "exposures_not_in_experiment",
    -6: "undeclared_exposures",  # a segment the config does not declare
    -7: "undeclared_exposures",  # a stage
    -8: "exposure_bad_timestamps",
    -4: "exposures_after_now",
}


def _case(col: str, codes: dict[str, int], p: Params) -> str:
    if not codes:  # no valid exposure: nothing to code
        return "CAST(NULL AS SMALLINT)"
    whens = " ".join(f"WHEN {p(name)} THEN {code}" for name, code in codes.items())
    return f"CAST(CASE {col} {whens} END AS SMALLINT)"


class Partition:
    """The statements of one hash partition of the units.

    Example:
        >>> Partition.run.__name__   # exercised in tests/analyze_data/test_fast_path.py
        'run'
    """

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
        self.parts = 1  # partitions staged
        self.nexts = sorted({stage_code[b] for b in spec.stages[1:]})
        sizes = (len(seg_code), len(stage_code), len(var_code))
        # one row per unit when there are no --by columns and few stages
        usable = pivot and not spec.dims and min(sizes) > 0 and sizes[1] <= MAX_PIVOT_STAGES
        self.shape = PivotShape(*sizes, tuple(self.nexts)) if usable else None
        # the values' SQL, the analysis time (set by the caller) and the caps
        self.sums = PartSums(spec, ev_code, CapStage(spec, var_code, self.dims))

    def stage(self, eng: SqlRunner, parts: int, directory: str, part_rows: int) -> dict[str, int]:
        """Write the exposures and events once, hashed and coded, split by partition.

        Returns the exposure-side data-quality counters of the rows that no
        partition reads, and ``undeclared``: valid exposures with a segment, stage
        or variant name that has no code.

        DuckDB buffers up to ``partitioned_write_flush_threshold`` rows per open
        partition file; it is set so that all partitions' buffers together hold
        about a sixteenth of a partition's rows (flat memory at any partition
        count). Larger buffers are freed and faulted in again at every flush: at
        a quarter, the two staging passes took about 0.1 to 0.2 s more per 10M +
        10M rows, with three to five times the page faults.
        """
        self.staged, self.parts = directory, parts
        flush = max(2048, min(524_288, part_rows // (16 * parts)))
        eng.execute(f"SET partitioned_write_flush_threshold = {flush}", {})
        # Every exposure is written: a valid one to its partition, its three codes
        # packed in one column, c (the writes are mostly the kernel copying bytes,
        # so every byte a row saves counts); the others to partition `parts`, with
        # their data-quality class as a negative c. Events with an empty id also go
        # to partition `parts` (no unit has it): the event-side counters then read
        # the staged files instead of the input.
        x_part = f"CASE WHEN c >= 0 THEN h % {parts} ELSE {parts} END"
        for name, (ctes, body, p), part in (
            ("x", self._x_every_row(), x_part),
            ("e", self._e_rows(every=True), f"COALESCE(h % {parts}, {parts})"),
        ):
            eng.execute(
                f"COPY (\n{with_ctes(ctes)}\nSELECT {part} AS part, * FROM ({body}))\n"
                f"TO '{self.staged}/{name}' "
                # temporary files, written and read once: uncompressed (0.5 s less per
                # 10M rows) and without dictionaries (the hashes are all distinct)
                "(FORMAT parquet, COMPRESSION uncompressed, DICTIONARY_SIZE_LIMIT 1, "
                "PARTITION_BY (part))",
                p.values,
            )
        counts = dict.fromkeys([*_CLASSES.values(), "undeclared"], 0)
        rest = f"{self.staged}/x/part={parts}"
        if os.path.isdir(rest):
            _, rows = eng.rows(
                f"SELECT c, COUNT(*) AS n FROM read_parquet('{rest}/*.parquet') GROUP BY c", {}
            )
            for c, n in rows:
                key = "undeclared" if c is None else _CLASSES.get(int(c))
                if key is not None:
                    counts[key] += int(n)
        return counts

    def _x_every_row(self) -> tuple[list[tuple[str, str]], str, Params]:
        """Every exposure, hashed: ``c`` is a valid one's packed codes (NULL: a name
        without a code), else its negative data-quality class (:data:`_CLASSES`).

        The segment and stage codes are those of the declared names, so a NULL code
        is an undeclared name (read from the codes: no second comparison of names)."""
        p = Params("duckdb")
        spec = self.spec
        classes = [
            "WHEN other = 1 THEN -1",
            f"WHEN NOT {valid_unit('u')} THEN -2",
            "WHEN outside = 1 THEN -3",
            "WHEN g IS NULL THEN -6" if spec.segments else "",
            "WHEN s IS NULL THEN -7" if spec.stages else "",
            "WHEN t IS NULL THEN -8",
        ]
        if spec.now_epoch is not None:
            classes.append(f"WHEN t > {p(spec.now_epoch)} THEN -4")
        ng, nv = max(1, len(self.seg_code)), max(1, len(self.var_code))
        whens = " ".join(c for c in classes if c)
        code = f"CASE {whens} ELSE CAST((s * {ng} + g) * {nv} + v AS INTEGER) END"
        dcols = "".join(f", {d}" for d in self.dims)
        ctes = [*exposure_ctes(self.x_rel, spec, p)[:1], ("xc", self._coded(p, ""))]
        return ctes, f"SELECT {H} AS h, {H2} AS h2, {code} AS c, t{dcols} FROM xc", p

    def _coded(self, p: Params, where: str) -> str:
        """``x_raw``'s rows (``where`` them) with the codes ``g``, ``s``, ``v`` of their names."""
        dcols = "".join(f", {d}" for d in self.dims)
        g, s, v = (
            _case(col, codes, p)
            for col, codes in (
                ("segment", self.seg_code),
                ("stage", self.stage_code),
                ("variant", self.var_code),
            )
        )
        return f"SELECT u, other, outside, t{dcols}, {g} AS g, {s} AS s, {v} AS v FROM x_raw{where}"

    def _unpack(self) -> str:
        """The columns ``g, s, v`` from the packed code ``c`` (see :meth:`_x_every_row`)."""
        ng, nv = max(1, len(self.seg_code)), max(1, len(self.var_code))
        return (
            f"CAST(c // {nv} % {ng} AS SMALLINT) AS g, CAST(c // {ng * nv} AS SMALLINT) AS s, "
            f"CAST(c % {nv} AS SMALLINT) AS v"
        )

    def _x_rows(self) -> tuple[list[tuple[str, str]], str, Params]:
        """The valid exposures (those of the ``x`` CTE), hashed and coded."""
        p = Params("duckdb")
        spec = self.spec
        later = f" AND t <= {p(spec.now_epoch)}" if spec.now_epoch is not None else ""
        where = f" WHERE other = 0 AND {valid_unit('u')} AND outside = 0 AND t IS NOT NULL{later}"
        ctes = [*exposure_ctes(self.x_rel, spec, p)[:1], ("xc", self._coded(p, where))]
        dcols = "".join(f", {d}" for d in self.dims)
        declared = "".join(
            f" AND {code} IS NOT NULL"
            for code, names in (("g", spec.segments), ("s", spec.stages))
            if names
        )
        body = f"SELECT {H} AS h, {H2} AS h2, g, s, v, t{dcols} FROM xc WHERE 1 = 1{declared}"
        return ctes, body, p

    def _e_rows(self, every: bool = False) -> tuple[list[tuple[str, str]], str, Params]:
        """Usable events hashed and coded; ``every``: also those with an empty id (h NULL)
        and the unusable ones (h NULL, ``k`` the negative of their ``bad`` class)."""
        p = Params("duckdb")
        ctes = self._events(p)
        ok = f"{valid_unit('u')} AND bad = 0"
        w = "".join(f", {f}" for f in self.sums.flags)  # event filters' flags
        if every:
            ids = f"CASE WHEN {ok} THEN {H} END AS h, CASE WHEN {ok} THEN {H2} END AS h2"
            k = f"CASE WHEN bad > 0 AND {valid_unit('u')} THEN -bad ELSE k END AS k"
            return ctes, f"SELECT {ids}, {k}, value, t{w} FROM e0", p
        return ctes, f"SELECT {H} AS h, {H2} AS h2, k, value, t{w} FROM e0 WHERE {ok}", p

    def time_inputs(self) -> list[tuple[str, dict[str, Any]]]:
        """Statements (and parameters) of the valid exposures' and usable events' times
        ``t``, read from the inputs (for the analysis time when nothing is staged)."""
        return [
            (with_ctes(ctes) + f"\nSELECT t FROM ({body}) b", p.values)
            for ctes, body, p in (self._x_rows(), self._e_rows())
        ]

    def _rows(self, name: str, part: int, parts: int) -> tuple[list[tuple[str, str]], Params]:
        """CTE ``{name}s`` with this partition's rows (staged, or hashed on the fly)."""
        if self.staged is not None:
            # this partition's own files, so that DuckDB sizes its hash tables from
            # their row counts; none (no rows here): the glob, filtered to nothing
            own = f"{self.staged}/{name}/part={part}"
            every = f"{self.staged}/{name}/*/*.parquet"
            files = f"{own}/*.parquet" if os.path.isdir(own) else every
            cols = f"* EXCLUDE (part, c), {self._unpack()}" if name == "x" else "* EXCLUDE (part)"
            body = (
                f"SELECT {cols} FROM read_parquet('{files}', hive_partitioning = true) "
                f"WHERE part = {part}"
            )
            return [(f"{name}s", body)], Params("duckdb")
        ctes, body, p = self._x_rows() if name == "x" else self._e_rows()
        where = f" WHERE h % {parts} = {part}" if parts > 1 else ""
        return [*ctes, (f"{name}s", f"SELECT * FROM ({body}){where}")], p

    def run(
        self, eng: SqlRunner, part: int, parts: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Run one partition: cell counts, sums and funnel.

        Raises :class:`~segab.sums._fast.fallback.FastPathUnavailableError` on a hash collision.

        One row per unit when :attr:`shape` allows it and no unit has two segments
        at one stage; else one row per (unit, cell).
        """
        ctes, p = self._rows("x", part, parts)
        if self.shape is not None:
            e_ctes, e_p = self._rows("e", part, parts)
            result = run_pivot(eng, ctes, p, e_ctes, e_p, self.spec, self.shape, self.sums)
            if result is not None:  # None: a unit with two segments at one stage
                return result
        return self._run_cells(eng, ctes, p, part, parts)

    def _run_cells(
        self, eng: SqlRunner, ctes: list[tuple[str, str]], p: Params, part: int, parts: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        dims = self.dims
        dmin = "".join(f", MIN({d}) AS {d}" for d in dims)
        eng.execute(
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
        eng.execute(
            "CREATE OR REPLACE TEMP TABLE segab_uk AS\n"
            "SELECT h, MIN(h2) AS h2, MIN(h2) <> MAX(h2) OR BOOL_OR(coll) AS coll, "
            f"MIN(t0) FILTER (WHERE v = v2) AS tf, BOOL_OR(v = v2) AS hv{tls}\n"
            "FROM segab_pc GROUP BY h",
            {},
        )
        if int(eng.query("SELECT COUNT(*) AS c FROM segab_uk WHERE coll", {})["c"].iloc[0]):
            raise FastPathUnavailableError("hash_collision")
        dcols = "".join(f", {d}" for d in dims)
        cp = Params("duckdb")
        counts = eng.query(
            f"SELECT g, s, v{dcols}, v = v2 AS ok, COUNT(*) AS cells, SUM(n) AS rows"
            f"{self.sums.mature('t0', cp)} FROM segab_pc GROUP BY ALL",
            cp.values,
        )
        funnel = self._funnel(eng, nexts)
        sums = self._sums(eng, part, parts)
        for table in ("segab_pc", "segab_uk"):  # free them before the next partition
            eng.execute(f"DROP TABLE {table}", {})
        if (sums["cls"] == COLLISION_CLASS).any():
            raise FastPathUnavailableError("hash_collision")
        return counts, sums, funnel

    def _funnel(self, eng: SqlRunner, nexts: list[int]) -> pd.DataFrame:
        if not nexts:
            return empty_funnel()
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
        """``ev_raw`` and ``e0``: its rows with their event code ``k`` (usable rows once each
        when duplicate events are dropped)."""
        ctes = event_ctes(self.e_rel, self.spec, p)[:1]
        whens = " ".join(f"WHEN {p(n)} THEN {c}" for n, c in self.ev_code.items())
        coded = f"SELECT *, CAST(CASE event {whens} END AS SMALLINT) AS k FROM ev_raw"
        if not self.spec.drop_duplicate_events:
            return [*ctes, ("e0", coded)]
        ok = f"{valid_unit('u')} AND bad = 0"
        once = (
            f"SELECT DISTINCT * FROM e_all WHERE {ok}\n"
            f"UNION ALL SELECT * FROM e_all WHERE NOT ({ok})"
        )
        flags = self.sums.flags
        if flags:  # a repeat counts once, matching a filter when any copy does
            cols = "u, event, value, t, bad, k"
            most = "".join(f", MAX({f}) AS {f}" for f in flags)
            once = (
                f"SELECT {cols}{most} FROM e_all WHERE {ok} GROUP BY {cols}\n"
                f"UNION ALL SELECT {cols}{''.join(f', {f}' for f in flags)} "
                f"FROM e_all WHERE NOT ({ok})"
            )
        return [*ctes, ("e_all", coded), ("e0", once)]

    def _sums(self, eng: SqlRunner, part: int, parts: int) -> pd.DataFrame:
        spec, dims = self.spec, self.dims
        ctes, p = self._rows("e", part, parts)
        dc = "".join(f", {d}" for d in dims)
        ns, nv = len(self.stage_code), len(self.var_code)
        # one integer cell key: fewer group keys in the per-unit aggregation
        cv = f"CAST((g * {ns} + s) * {nv} + v AS INTEGER)"
        c = f"SELECT h, {cv} AS cv, t0{dc} FROM segab_pc WHERE v = v2"
        cdc = "".join(f", c.{d}" for d in dims)
        codes = covariate_codes(spec, self.ev_code)
        # covariates: per-unit values over the rows `r` (the events' and the pre-exposure ones)
        values = self.sums.values(p, "e.t0" if codes else "c.t0")
        vals = "".join(f",\n  {v}" for v in values.aggregates)
        # an event matching no cell is one row with a NULL cell; cls classifies it:
        # 1 unknown unit, 2 before the unit's first exposure, 3 other (outside the
        # window, or a cell without a time), 5 a unit whose cells were all excluded;
        # COLLISION_CLASS flags a hash collision
        cls = (
            f"CASE WHEN e.h2 <> k.h2 THEN {COLLISION_CLASS} WHEN c.h IS NOT NULL THEN 0 "
            "WHEN k.h IS NULL THEN 1 WHEN e.t < k.tf THEN 2 WHEN k.hv THEN 3 ELSE 5 END"
        )
        join = (
            "FROM es e LEFT JOIN segab_uk k ON k.h = e.h\n"
            f"LEFT JOIN c ON e.h = c.h AND {window_condition(spec, p, 'e', 'c')}\n"
        )
        uv = f"SELECT c.cv{cdc}, c.h, {cls} AS cls{vals}, COUNT(*) AS ne\n{join}GROUP BY ALL"
        pre: list[tuple[str, str]] = []
        if codes:
            w = "".join(f", e.{f}" for f in self.sums.flags)
            rows = f"SELECT c.cv{cdc}, c.h, {cls} AS cls, e.k, e.value, e.t{w}, c.t0\n{join}"
            pre = [("r", cell_pre_rows(rows, codes, dims, self.sums.flags))]
            uv = (
                f"SELECT cv{dc}, h, cls{vals}, COUNT(*) FILTER (WHERE e.pk IS NULL) AS ne\n"
                "FROM r e GROUP BY ALL"
            )
        cols = "".join(f",\n  {col}" for col in values.sums)

        def final(src: str) -> str:
            return (
                f"SELECT cv // {ns * nv} AS g, (cv // {nv}) % {ns} AS s, cv % {nv} AS v{dc}, "
                f"cls, SUM(ne) AS ne{cols}\nFROM {src} GROUP BY cv{dc}, cls"
            )

        cell = (f"cv // {ns * nv}", f"(cv // {nv}) % {ns}", f"cv % {nv}")
        return self.sums.run(
            eng, [*ctes, ("c", c), *pre, ("uv", uv)], p.values, final, cell, "cv IS NOT NULL",
            values.capped, values.covariates,
        )  # fmt: skip

    def event_scan(self, eng: SqlRunner) -> pd.DataFrame:
        """Counts over the events a metric reads: empty ids, unusable values and times,
        usable rows, missing values, and ``dup_screen``.

        ``dup_screen`` is the usable rows less their distinct 64-bit fingerprints
        (unit, event, value, time): 0 proves there is no duplicate event (equal rows
        have equal fingerprints); above 0, the caller counts the duplicates exactly.
        Staged, each partition's fingerprints are sorted in memory (:func:`repeats`):
        equal rows share a unit, so a partition, and one sort of a partition's
        fingerprints costs about a quarter of DuckDB's ``COUNT(DISTINCT ..)`` over
        all of them (a 10M-key hash table, which spills under the memory limit).
        """
        spec = self.spec
        value_events = value_event_names(spec)
        codes = ", ".join(str(self.ev_code[n]) for n in value_events)
        missing = f"value IS NULL AND k IN ({codes})" if spec.value_col and value_events else ""
        if self.staged is not None:
            return self._staged_scan(eng, missing)
        p = Params("duckdb")
        valid = valid_unit("u")
        ok = f"{valid} AND bad = 0"
        distinct = f"COUNT(DISTINCT hash(u, k, value, t)) FILTER (WHERE {ok})"
        count_missing = f"COUNT(*) FILTER (WHERE {ok} AND {missing})" if missing else "0"
        return eng.query(
            with_ctes(self._events(p))
            + f"\nSELECT COUNT(*) FILTER (WHERE NOT {valid}) AS event_empty_ids,\n"
            f"  COUNT(*) FILTER (WHERE {ok}) AS events_valid,\n"
            f"  COUNT(*) FILTER (WHERE {valid} AND bad = 1) AS event_bad_values,\n"
            f"  COUNT(*) FILTER (WHERE {valid} AND bad = 2) AS event_bad_timestamps,\n"
            f"  COUNT(*) FILTER (WHERE {ok}) - {distinct} AS dup_screen,\n"
            f"  CAST({count_missing} AS BIGINT) AS missing_outcomes\nFROM e0",
            p.values,
        )

    def _staged_scan(self, eng: SqlRunner, missing: str) -> pd.DataFrame:
        """:meth:`event_scan` on the staged files, each read once: the rows without a
        usable unit (partition ``parts``: empty ids, ``k`` -1 a bad value, -2 a bad
        time) counted in SQL; each partition's usable rows fetched as fingerprints
        (and ``missing`` flags) and screened in memory (:func:`repeats`)."""
        import pandas as pd

        keys = ["event_empty_ids", "event_bad_values", "event_bad_timestamps"]
        scan = dict.fromkeys([*keys, "events_valid", "dup_screen", "missing_outcomes"], 0)
        rest = f"{self.staged}/e/part={self.parts}"
        if os.path.isdir(rest):  # no rows: no directory
            _, rows = eng.rows(
                "SELECT COUNT(*) FILTER (WHERE k >= 0), COUNT(*) FILTER (WHERE k = -1), "
                f"COUNT(*) FILTER (WHERE k = -2) FROM read_parquet('{rest}/*.parquet')",
                {},
            )
            scan.update(zip(keys, (int(n or 0) for n in rows[0]), strict=True))
        flag = f", COALESCE({missing}, FALSE) AS m" if missing else ""
        for part in range(self.parts):
            own = f"{self.staged}/e/part={part}"
            if not os.path.isdir(own):
                continue
            got = eng.query(
                f"SELECT hash(h, k, value, t) AS f{flag} FROM read_parquet('{own}/*.parquet')", {}
            )
            scan["events_valid"] += len(got)
            scan["dup_screen"] += repeats(got["f"].to_numpy())
            scan["missing_outcomes"] += int(got["m"].sum()) if missing else 0
        return pd.DataFrame([scan])
