"""Caps on the fast path: per-unit values kept per partition, the cap, then the capped sums.

A percentile cap needs every per-unit value of the experiment before any sum, and
the fast path computes them one partition at a time. So, with a capped metric,
each partition's per-(unit, cell) values are made a temporary table (``segab_uv``,
no second pass over the events): the partition's sums read it, and
:meth:`CapStage.collect` appends its capped metrics' values to ``segab_capv``,
only the rows with a non-zero numerator or denominator (a unit without the
metric's events is a zero, and the partitions' cell counts say how many there
are). After the last partition, :meth:`CapStage.finish` finds each cap as the
generic statements do (:mod:`segab.sums.caps`): the configured value, or the
percentile of the values of the config's arms, the zeros counted in unless
``ignore_zeros``, from two order statistics found in the engine (:func:`_percentile`,
which holds no value in memory); then the capped sums per cell, ``s_i``,
``q_i`` (weighted by maturity for a retention window), ``x_i`` and ``k_i`` (units
lowered), the zeros' share added when a cap is below zero (a zero is then capped).

Example:
    >>> from segab.sums.specs import CapSpec, EventLogSpec, MetricSpec
    >>> m = MetricSpec("rev", "continuous", "revenue", cap=CapSpec(value=5.0))
    >>> CapStage(EventLogSpec("e", 1, "u", "u", metrics=(m,)), {"a": 0}, []).capped
    [0]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from segab.sums.caps import capped
from segab.sums.sources import SqlRunner
from segab.sums.specs import EventLogSpec, Params

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TABLE", "CapStage"]

TABLE = "segab_capv"  # the capped metrics' non-zero per-unit values of every partition


class CapStage:
    """The capped metrics of one fast-path run: their per-unit values, caps and sums.

    Example:
        >>> from segab.sums.specs import EventLogSpec
        >>> CapStage(EventLogSpec("e", 1, "u", "u"), {}, []).capped
        []
    """

    def __init__(self, spec: EventLogSpec, var_code: dict[str, int], dims: list[str]) -> None:
        self.spec, self.var_code, self.dims = spec, var_code, dims
        self.capped = capped(spec.metrics)
        self.created = False
        self.caps: dict[int, float | None] = {}

    def collect(
        self,
        eng: SqlRunner,
        source: str,
        cell: tuple[str, str, str],
        matched: str,
        columns: dict[int, tuple[str, str | None, str | None]],
        covariates: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        """Append the capped metrics' per-unit values of ``source`` (rows ``matched`` to a
        cell, whose codes are the expressions ``cell``) to :data:`TABLE`.

        ``columns`` maps a capped metric to its numerator, denominator and maturity
        columns in ``source`` (:class:`~segab.sums._fast.values.MetricValues`);
        ``covariates`` a capped metric to its covariates' columns (kept as ``z_i_j``).
        """
        sel = [f"CAST({e} AS INTEGER) AS {n}" for e, n in zip(cell, "gsv", strict=True)]
        sel += self.dims
        nonzero = []
        for i, (y, d, m) in sorted(columns.items()):
            sel.append(f"CAST({y} AS DOUBLE) AS y_{i}")
            nonzero.append(f"{y} <> 0")
            if d is not None:
                sel.append(f"CAST({d} AS DOUBLE) AS d_{i}")
                nonzero.append(f"{d} <> 0")
            if m is not None:
                sel.append(f"CAST({m} AS DOUBLE) AS m_{i}")
            for j, z in enumerate((covariates or {}).get(i, ())):
                sel.append(f"CAST({z} AS DOUBLE) AS z_{i}_{j}")
        body = f"SELECT {', '.join(sel)} FROM {source} WHERE {matched} AND ({' OR '.join(nonzero)})"
        if self.created:
            eng.execute(f"INSERT INTO {TABLE} {body}", {})
        else:
            eng.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS {body}", {})
            self.created = True

    def _cap(self, eng: SqlRunner, i: int, cells: pd.DataFrame) -> float | None:
        """Metric ``i``'s cap: its value, or the percentile over the arms' (unit, cell) rows."""
        cap = self.spec.metrics[i].cap
        assert cap is not None
        if cap.value is not None:
            return float(cap.value)
        arms = sorted({self.var_code[a] for a in cap.arms if a in self.var_code})
        if not arms or not self.created:
            return None
        cond = f"v IN ({', '.join(str(a) for a in arms)})"
        _, rows = eng.rows(
            f"SELECT COUNT(*) FILTER (WHERE y_{i} <> 0), COUNT(*), "
            f"COUNT(*) FILTER (WHERE y_{i} < 0) FROM {TABLE} WHERE {cond}",
            {},
        )
        nonzero, kept, negative = (int(n or 0) for n in rows[0])
        zeros = 0  # the (unit, cell) rows not kept are zeros
        if cap.ignore_zeros:
            cond += f" AND y_{i} <> 0"
            kept = nonzero
        else:
            zeros = int(cells.loc[cells["v"].isin(arms), "cells"].sum()) - kept
        return _percentile(eng, f"y_{i}", cond, float(cap.percentile or 0.0),
                           (kept, negative, zeros))  # fmt: skip

    def finish(self, eng: SqlRunner, cells: pd.DataFrame) -> pd.DataFrame:
        """The caps (:attr:`caps`) and the capped sums per cell (``g, s, v``, dims).

        ``cells`` holds the valid cells' counts (``g, s, v``, dims, ``cells``).
        Columns: ``r`` (rows kept), and per capped metric ``s_i, q_i, k_i`` (``x_i``
        with a denominator; ``rm_i``, the kept rows' maturity, with a window;
        ``zy_i_j`` and ``rz_i_j``, the kept rows' covariate sum, with covariates).
        """
        import pandas as pd

        self.caps = {i: self._cap(eng, i, cells) for i in self.capped}
        keys = ["g", "s", "v", *self.dims]
        if not self.created:
            return pd.DataFrame(columns=keys)
        p = Params("duckdb")
        cols = ["COUNT(*) AS r"]
        for i in self.capped:
            m = self.spec.metrics[i]
            c = f"CAST({p(self.caps[i])} AS DOUBLE)"
            y = f"CASE WHEN y_{i} > {c} THEN {c} ELSE y_{i} END"
            if m.window is not None:
                cols.append(
                    f"SUM(m_{i}) AS rm_{i}, SUM({y} * m_{i}) AS s_{i}, "
                    f"SUM({y} * {y} * m_{i}) AS q_{i}"
                )
            else:
                cols.append(f"SUM({y}) AS s_{i}, SUM({y} * {y}) AS q_{i}")
            cols.append(f"SUM(CASE WHEN y_{i} > {c} THEN 1 ELSE 0 END) AS k_{i}")
            if m.den is not None:
                cols.append(f"SUM({y} * d_{i}) AS x_{i}")
            for j in range(len(m.covariates)):  # the zeros' share: fill()
                cols.append(f"SUM({y} * z_{i}_{j}) AS zy_{i}_{j}, SUM(z_{i}_{j}) AS rz_{i}_{j}")
        return eng.query(
            f"SELECT {', '.join(keys)}, {', '.join(cols)} FROM {TABLE} GROUP BY ALL", p.values
        )

    def fill(self, wide: pd.DataFrame) -> pd.DataFrame:
        """``wide`` (cells with ``n``, ``n_i``, merged with :meth:`finish`) with the capped
        columns complete: zeros added (a cap below zero lowers them), ``c_i`` the cap.

        Example:
            >>> import pandas as pd
            >>> from segab.sums.specs import CapSpec, EventLogSpec, MetricSpec
            >>> m = MetricSpec("r", "continuous", "x", cap=CapSpec(value=-1.0))
            >>> st = CapStage(EventLogSpec("e", 1, "u", "u", metrics=(m,)), {}, [])
            >>> st.caps = {0: -1.0}
            >>> w = st.fill(pd.DataFrame({"n": [3], "r": [1], "s_0": [-1.0], "q_0": [1.0],
            ...                           "k_0": [1]}))
            >>> w[["s_0", "q_0", "k_0", "c_0"]].values.tolist()
            [[-3.0, 3.0, 3.0, -1.0]]
        """
        wide = wide.copy()
        kept = wide["r"].fillna(0) if "r" in wide else 0
        zeros = wide["n"] - kept
        for i in self.capped:
            m, c = self.spec.metrics[i], self.caps.get(i)
            zy = [f"zy_{i}_{j}" for j in range(len(m.covariates))]
            for col in [f"s_{i}", f"q_{i}", f"k_{i}", *([f"x_{i}"] if m.den else []), *zy]:
                wide[col] = wide[col].fillna(0) if col in wide else 0.0
            if c is not None and c < 0:
                mature = zeros
                if m.window is not None:
                    mature = wide[f"n_{i}"] - wide[f"rm_{i}"].fillna(0)
                wide[f"s_{i}"] = wide[f"s_{i}"] + mature * c
                wide[f"q_{i}"] = wide[f"q_{i}"] + mature * c * c
                wide[f"k_{i}"] = wide[f"k_{i}"] + zeros
                for j, col in enumerate(zy):  # the zeros, lowered to c: c times their z
                    rest = wide[f"zs_{i}_{j}"].fillna(0) - _zero_filled(wide, f"rz_{i}_{j}")
                    wide[col] = wide[col] + c * rest
            wide[f"c_{i}"] = float("nan") if c is None else c
        drop = ["r", *(f"rm_{i}" for i in self.capped)]
        drop += [c for c in wide.columns if c.startswith("rz_")]
        return wide.drop(columns=[c for c in drop if c in wide.columns])


def _zero_filled(wide: pd.DataFrame, col: str) -> pd.Series | float:
    """``wide[col]`` with missing values as 0 (0 without the column)."""
    return wide[col].fillna(0) if col in wide else 0.0


def _percentile(
    eng: SqlRunner, y: str, cond: str, q: float, sizes: tuple[int, int, int]
) -> float | None:
    """The ``q`` quantile (linear interpolation) of ``y`` over :data:`TABLE`'s rows
    ``cond`` and ``zeros`` more zeros; ``sizes`` is (rows, of them negative, zeros).

    With ``n`` values, ``h = (n - 1)·q``; the order statistics ``x[⌊h⌋]`` and
    ``x[⌈h⌉]`` are found in the engine (a zero when the index falls in the zeros'
    block; else the table's row of that rank: ``ORDER BY .. LIMIT 1 OFFSET``, from
    the nearer end), and ``x[⌊h⌋] + (x[⌈h⌉] − x[⌊h⌋])·(h − ⌊h⌋)`` is computed by the
    engine too. DuckDB's ``quantile_cont`` (the generic route) holds every value
    in memory, the zeros too (80 MB per 10M): this holds none. The two can differ in
    the interpolation's last bit, never in which units a cap lowers (no value lies
    strictly between two neighbouring order statistics).
    """
    rows, negative, zeros = sizes
    n = rows + zeros
    if n == 0:
        return None

    def ranked(j: int, two: bool = False) -> list[float]:
        """``x[j]`` (and ``x[j + 1]``, ``two``: both of the table's rows) in one query."""
        if negative <= j < negative + zeros:
            return [0.0]
        r = j if j < negative else j - zeros  # the rank among the table's rows
        k = 2 if two else 1
        order, offset = ("ASC", r) if r < rows / 2 else ("DESC", rows - k - r)
        _, got = eng.rows(
            f"SELECT {y} FROM {TABLE} WHERE {cond} ORDER BY {y} {order} LIMIT {k} OFFSET {offset}",
            {},
        )
        return sorted(float(v[0]) for v in got)

    h = float(n - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    if hi == lo:
        return ranked(lo)[0]
    in_table = [not negative <= j < negative + zeros for j in (lo, hi)]
    adjacent = all(in_table) and (hi < negative or lo >= negative + zeros)
    low, high = ranked(lo, True) if adjacent else ranked(lo) + ranked(hi)
    p = Params("duckdb")
    a, b, d = (f"CAST({p(v)} AS DOUBLE)" for v in (low, high, h - lo))
    _, got = eng.rows(f"SELECT {a} + ({b} - {a}) * {d}", p.values)
    return float(got[0][0])
