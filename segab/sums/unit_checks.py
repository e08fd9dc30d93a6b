"""Run a unit table's statements: the sums of the rows that count, the counters, the issues.

:func:`check_units` runs :func:`~segab.sums.units.units_query` (one scan), then,
with a unit id column, :func:`~segab.sums.units.duplicates_query` and, only if ids
repeat, the de-duplicating sums. Every count of rows kept out comes from those
statements; the first locations of each kind are found by one small statement per
kind (:func:`~segab.sums.units.locate_query`), run only when its count is not zero.

Example:
    >>> KIND_ORDER
    ('nan', 'infinite', 'not_a_number')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segab.config.models import Experiment
from segab.errors import DataError, SqlError
from segab.sql.dialects import get_dialect
from segab.sums.fingerprints import fingerprint, repeats
from segab.sums.prepare import attribute_duplicates_query, counts, prep_counts_query
from segab.sums.quantiles import quantile_positions
from segab.sums.result import MAX_EXAMPLES, DataIssue
from segab.sums.row_locations import Position, csv_record_lines, positioned_source, where
from segab.sums.sources import Engine, Relation, Source
from segab.sums.specs import UnitSpec
from segab.sums.unit_values import BAD_BINARY, KINDS
from segab.sums.units import (
    codes_query,
    duplicates_query,
    id_bitmap_query,
    id_fingerprints_query,
    id_range_query,
    integer_id,
    locate_query,
    read_columns,
    unit_quantiles_query,
    units_query,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KIND_ORDER", "CheckedUnits", "UnitInput", "check_units"]

KIND_ORDER = ("nan", "infinite", "not_a_number")
_EXPECTED_BINARY = "0, 1, true, false, yes or no (any case)"
# (kind, condition on a repeated id's summary): how repeated ids are reported
_DUPLICATES = (
    ("duplicate_row", "n_var = 1 AND same = 1"),  # identical rows: one is kept
    ("duplicate_unit", "n_var = 1 AND same = 0"),  # rows that differ: the unit is left out
    ("multi_variant_unit", "n_var = 2"),  # two variants: the unit is left out
)


@dataclass(frozen=True)
class UnitInput:
    """A unit table as given (``source``) and as the engine reads it (``rel``).

    ``text_columns`` are those read as text from CSV files.

    Example:
        >>> UnitInput.__dataclass_fields__["rel"].type
        'Relation'
    """

    eng: Engine
    source: Source
    rel: Relation
    text_columns: tuple[str, ...]


@dataclass(frozen=True)
class CheckedUnits:
    """The per-cell sums of the rows that count (``wide``), the counters and the issues.

    Example:
        >>> CheckedUnits.__dataclass_fields__["issues"].type
        'tuple[DataIssue, ...]'
    """

    wide: pd.DataFrame
    counters: dict[str, int]
    issues: tuple[DataIssue, ...]
    quantiles: pd.DataFrame | None = None  # the quantile statement's rows (segab.sums.quantiles)


class _Locator:
    """Finds where rows are, positioning the input the first time it is asked."""

    def __init__(self, data: UnitInput, spec: UnitSpec, unit: str | None) -> None:
        self.data, self.spec, self.unit = data, spec, unit
        self._position: Position | None = None

    @property
    def position(self) -> Position:
        if self._position is None:
            d = self.data
            self._position = positioned_source(d.eng, d.source, d.rel, d.text_columns)
        return self._position

    def rows(self, condition: str, limit: int = MAX_EXAMPLES) -> list[tuple[Any, ...]]:
        """``(place, unit, n_rows, raw values...)`` of the first rows with ``condition``."""
        d, pos = self.data, self.position
        sql, params = locate_query(
            d.eng.dialect, d.rel, self.spec, self.unit, condition, source=pos.source, limit=limit
        )
        _, rows = d.eng.rows(sql, params)
        if pos.csv_path is not None and pos.source is not None:
            pos.lines.update(
                csv_record_lines(d.eng, pos.csv_path, [int(r[0]) for r in rows if r[0] is not None])
            )
        return [(where(pos, r[0]), *r[1:]) for r in rows]


def _example(place: str, unit: Any, n_rows: Any, raw: Any = None, with_rows: bool = False) -> str:
    text = place
    if unit is not None:
        rows = f", {int(n_rows)} rows" if with_rows and n_rows is not None else ""
        text += f" (unit {unit}{rows})"
    if raw is not None:
        text += f": {raw!r}"
    return text


def _flag_rows(wide: pd.DataFrame, flag: int) -> int:
    """Rows with ``flag``, each once (from the plain cells' rows when there are grouping sets)."""
    plain = wide[wide["gid"] == 0] if "gid" in wide.columns else wide
    return int(plain.loc[plain["f"] == flag, "n_units"].sum())


def check_units(data: UnitInput, spec: UnitSpec, unit: str | None, exp: Experiment) -> CheckedUnits:
    """Sums of the rows that count, ``data_quality`` counters and located issues.

    Raises :class:`DataError` at the first binary value that is not 0/1/true/false/
    yes/no, naming where it is, the column, the value and what was expected.

    Example:
        >>> check_units.__name__   # aggregate_units runs it (see its example)
        'check_units'
    """
    eng, rel = data.eng, data.rel
    locator = _Locator(data, spec, unit)
    counters, issues = _prepared_counters(eng, rel, spec, exp)
    sql, params = units_query(eng.dialect, rel, spec)  # ids are read by duplicates_query
    wide = eng.query(sql, params)
    if _flag_rows(wide, BAD_BINARY):
        _raise_bad_binary(_flag_rows(wide, BAD_BINARY), spec, exp, locator)
    counters.update(bad_values=_flag_rows(wide, 1), missing_variant=_flag_rows(wide, 2))
    if counters["bad_values"]:
        issues += _bad_value_issues(data, spec, locator)
    read: tuple[str | None, bool] = (None, False)  # the unit column and dedupe the sums used
    if unit is not None:
        found = _duplicates(eng, rel, spec, unit)
        dups, empty = found[found["n_var"] > 0], int(found.loc[found["n_var"] == 0, "units"].sum())
        if len(dups) or empty:
            read = (unit, len(dups) > 0)
            sql, params = units_query(eng.dialect, rel, spec, unit, dedupe=len(dups) > 0)
            wide = eng.query(sql, params)
            issues += _duplicate_issues(dups, unit, locator)
        one = dups[dups["n_var"] == 1]
        counters["empty_ids"] = empty
        counters["multi_variant_units"] = int(dups.loc[dups["n_var"] == 2, "units"].sum())
        counters["duplicate_units"] += int((one["n_rows"] - one["units"]).sum())
    kept = wide[wide["f"] == 0].drop(columns="f").reset_index(drop=True)
    quantiles = None
    if quantile_positions(spec.metrics):  # over the same rows as the sums
        sql, params = unit_quantiles_query(eng.dialect, rel, spec, read[0], dedupe=read[1])
        quantiles = eng.query(sql, params)
    return CheckedUnits(kept, counters, tuple(issues), quantiles)


def _duplicates(eng: Engine, rel: Relation, spec: UnitSpec, unit: str) -> pd.DataFrame:
    """:func:`duplicates_query`'s rows (NULLs as 0): none when a screen proves that no
    counted id repeats and none is empty.

    On DuckDB, integer ids whose range fits a small bitmap are screened exactly
    (:func:`_bitmap_screen`); other ids by their sorted 64-bit fingerprints
    (:mod:`segab.sums.fingerprints`). Either screen only decides whether the exact
    statement runs, so what is counted and reported is the same.
    """
    screen = _bitmap_screen(eng, rel, spec, unit)
    if screen is None:
        screen = _fingerprint_screen(eng, rel, spec, unit)
    if screen:
        import pandas as pd

        return pd.DataFrame({"n_var": [], "same": [], "units": [], "n_rows": []})
    sql, params = duplicates_query(eng.dialect, rel, spec, unit)
    return eng.query(sql, params).fillna(0)


def _fingerprint_screen(eng: Engine, rel: Relation, spec: UnitSpec, unit: str) -> bool:
    """Whether the ids' fingerprints prove that no counted id repeats and none is empty
    (False where the dialect has no fingerprint)."""
    int_id = integer_id(get_dialect(eng.dialect), rel, unit)
    fp = fingerprint(eng.dialect, "ui" if int_id else "u")
    if fp is None:
        return False
    sql, params = id_fingerprints_query(eng.dialect, rel, spec, unit, fp)
    h = eng.query(sql, params)["h"]
    return not h.isna().any() and repeats(h.to_numpy()) == 0


BITMAP_BYTES = 64 << 20  # at most this much for the bitmaps of all DuckDB's threads


def _bitmap_screen(eng: Engine, rel: Relation, spec: UnitSpec, unit: str) -> bool | None:
    """Whether no counted id repeats and none is empty, by one bit per integer id
    (:func:`id_bitmap_query`); None where the screen does not apply.

    It applies on DuckDB to an integer id column whose range (from
    :func:`id_range_query`) needs at most a byte per row and, over DuckDB's threads,
    :data:`BITMAP_BYTES` in all; a failed statement leaves the decision to the
    fingerprints.
    """
    if not integer_id(get_dialect(eng.dialect), rel, unit):
        return None
    _, rows = eng.rows(id_range_query(eng.dialect, rel, unit), {})
    lo, hi, n = rows[0]
    if lo is None or hi is None:
        return None
    _, threads = eng.rows("SELECT current_setting('threads')", {})
    bits = int(hi) - int(lo) + 1
    if bits > 8 * int(n) + 4096 or bits * max(int(threads[0][0]), 1) > 8 * BITMAP_BYTES:
        return None
    try:
        _, found = eng.rows(*id_bitmap_query(eng.dialect, rel, spec, unit, lo, hi))
    except SqlError:  # out of memory, or an id the range missed: the other screen decides
        return None
    empty, repeated = found[0]
    return repeated is not None and int(repeated) == 0 and int(empty) == 0


def _prepared_counters(
    eng: Engine, rel: Relation, spec: UnitSpec, exp: Experiment
) -> tuple[dict[str, int], list[DataIssue]]:
    """What the join, the filter and first exposures kept out or left without attributes."""
    out = {"duplicate_units": 0}
    prep = spec.prep
    if prep is None:
        return out, []
    columns, rows = eng.rows(prep_counts_query(eng.dialect, rel.sql, prep), {})
    found = counts(dict(zip(columns, rows[0], strict=True)))
    out.update(filtered_out=found["filtered_out"], duplicate_units=found["later_rows"])
    out["bad_timestamps"] = found["bad_timestamps"]
    issues = []
    if found["bad_timestamps"]:
        column = str(exp.analysis.time_column)
        issues.append(DataIssue("units", column, "bad_timestamp", found["bad_timestamps"]))
    if prep.attributes is not None:
        out["missing_attributes"] = found["missing_attributes"]
        columns, rows = eng.rows(attribute_duplicates_query(prep), {})
        out["duplicate_attributes"] = counts(dict(zip(columns, rows[0], strict=True)))["n_rows"]
    return out, issues


def _bad_value_issues(data: UnitInput, spec: UnitSpec, locator: _Locator) -> list[DataIssue]:
    sql, params = codes_query(data.eng.dialect, data.rel, spec)
    codes = data.eng.query(sql, params)
    issues = []
    for j, (column, _) in enumerate(read_columns(spec)):
        for code, kind in KINDS.items():
            count = int(codes.loc[codes[f"e_{j}"] == code, "n_rows"].sum())
            if count and kind in KIND_ORDER:
                found = locator.rows(f"e_{j} = {code}")
                text = kind == "not_a_number"  # the value itself says more than its kind
                raw = _raw_index(spec, j)
                examples = tuple(
                    _example(r[0], r[1], r[2], r[raw] if text else None) for r in found
                )
                issues.append(DataIssue("units", column, kind, count, examples))
    return issues


def _raw_index(spec: UnitSpec, j: int) -> int:
    """Where column j's raw text is in a row of :meth:`_Locator.rows` (after place, u, n, codes)."""
    return 3 + len(read_columns(spec)) + j


def _duplicate_issues(dups: pd.DataFrame, unit: str, locator: _Locator) -> list[DataIssue]:
    issues = []
    for kind, condition in _DUPLICATES:
        n_var, same = (2, None) if kind == "multi_variant_unit" else (1, kind == "duplicate_row")
        part = dups[dups["n_var"] == n_var]
        if same is not None:
            part = part[part["same"] == int(same)]
        # units in two variants: counted by unit; repeats in one variant: rows beyond the first
        count = int(part["units"].sum() if n_var == 2 else (part["n_rows"] - part["units"]).sum())
        if count:
            found = locator.rows(condition)
            with_rows = locator.position.source is None
            examples = tuple(_example(r[0], r[1], r[2], with_rows=with_rows) for r in found)
            issues.append(DataIssue("units", unit, kind, count, examples))
    return issues


def _raise_bad_binary(count: int, spec: UnitSpec, exp: Experiment, loc: _Locator) -> None:
    cols = read_columns(spec)
    [row] = loc.rows(f"f = {BAD_BINARY}", limit=1)
    j = next(j for j in range(len(cols)) if row[3 + j] == BAD_BINARY)
    column = cols[j][0]
    metric = next(m.key for m in spec.metrics if m.kind == "binary" and m.source == column)
    more = f"; {count} rows have such values" if count > 1 else ""
    raise DataError(
        f"{_example(row[0], row[1], None)}: column {column!r} of binary metric {metric!r} "
        f"({exp.key}): found {row[_raw_index(spec, j)]!r}, expected {_EXPECTED_BINARY}{more}"
    )
