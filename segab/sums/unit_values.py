"""How a unit table's outcome columns are read: a usable double, missing, or a bad value.

Every engine reads a cell of an outcome (or denominator) column into two SQL
expressions (:class:`ColumnRead`): the double the analysis sums, and a code saying
whether that value can be used at all:

- ``0``: a number, or missing (NULL, empty or blank text): the analysis uses it;
- :data:`NAN`, :data:`INFINITE`: NaN, or +-infinity (also a literal such as
  ``1e400`` that overflows a double);
- :data:`NOT_A_NUMBER`: text that is not a decimal number (``abc``, ``1,5``);
- :data:`BAD_BINARY`: in a binary metric's column, a value other than 0, 1,
  true/false or yes/no (any case): an error, not a count.

A row with a bad value in any column the analysis reads is kept out whole, so an
analysis gives the numbers of the same table without those rows
(:mod:`segab.sums.units`). Numbers stored as numbers cost one NaN test and one
infinity test; text is read by :meth:`~segab.sql.dialects.Dialect.try_double`.
SQLite columns may hold any type, so there every column is read as text would be.

Example:
    >>> from segab.sql.dialects import get_dialect
    >>> read = column_read(get_dialect("duckdb"), Relation("t", ("y",), {"y": "double"}), "y")
    >>> read.pre, read.bad
    ((('c_0', 'CAST("y" AS DOUBLE)'),), 'NOT isfinite(c_0)')
"""

from __future__ import annotations

from dataclasses import dataclass

from segab.sql.dialects import Dialect
from segab.sums.sources import Relation

__all__ = [
    "BAD_BINARY",
    "INFINITE",
    "KINDS",
    "NAN",
    "NOT_A_NUMBER",
    "ColumnRead",
    "column_read",
]

NAN, INFINITE, NOT_A_NUMBER, BAD_BINARY = 1, 2, 3, 4
KINDS = {NAN: "nan", INFINITE: "infinite", NOT_A_NUMBER: "not_a_number", BAD_BINARY: "bad_binary"}
_NAN_WORDS = ("nan", "+nan", "-nan")
_INF_WORDS = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
_TRUE_WORDS = ("true", "yes")
_FALSE_WORDS = ("false", "no")


@dataclass(frozen=True)
class ColumnRead:
    """The SQL that reads one column, in two steps so each engine computes things once.

    ``pre``: ``(alias, expression)`` pairs on the input row (the number the value
    reads as, its lower-case text), computed first. On those aliases: ``value``,
    the double the analysis sums (NULL when missing; meaningful only when the row is
    usable); ``code``, 0 or the kind of bad value; ``bad`` and ``bad_binary``,
    conditions true when the code is NaN/infinite/not a number, or
    :data:`BAD_BINARY` (None: never), which may also use ``code_alias`` (the name
    the caller gives ``code``); ``needs_code``: whether they do.

    Example:
        >>> ColumnRead((), "x", "0").bad is None
        True
    """

    pre: tuple[tuple[str, str], ...]
    value: str
    code: str
    bad: str | None = None
    bad_binary: str | None = None
    needs_code: bool = False


def _words(d: Dialect, words: tuple[str, ...]) -> str:
    return "(" + ", ".join(d.literal(w) for w in words) + ")"


def column_read(
    d: Dialect, rel: Relation, column: str, binary: bool = False, name: str = "0"
) -> ColumnRead:
    """Read ``column`` of ``rel`` for a metric (``binary``: 0/1, true/false, yes/no only).

    ``name`` makes the aliases unique (``c_<name>``, ``t_<name>``, ``n_<name>``;
    the caller's code alias is ``e_<name>``).

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> import duckdb
        >>> read = column_read(get_dialect("duckdb"), Relation("t", ("b",), {}), "b", True)
        >>> pre = ", ".join(f"{e} AS {a}" for a, e in read.pre)
        >>> sql = f"SELECT {read.value}, {read.code} FROM (SELECT {pre} FROM (SELECT $v AS b))"
        >>> [duckdb.execute(sql, {"v": v}).fetchone() for v in ("Yes", "0", " ", "2", "x", "NaN")]
        [(1.0, 0), (0.0, 0), (None, 0), (2.0, 4), (None, 4), (None, 1)]
    """
    c = d.quote(column)
    kind = rel.kind(column) if d.typed_columns else "other"
    if kind == "bool":
        x = f"c_{name}"
        return ColumnRead(((x, f"CAST(CAST({c} AS INTEGER) AS {d.double_type})"),), x, "0")
    if kind in ("float", "numeric"):
        x = f"c_{name}"
        bad = d.not_finite(x)
        not01 = f"{x} NOT IN (0, 1) AND NOT {bad}" if binary else None
        code = f"CASE WHEN {d.isnan(x)} THEN {NAN} WHEN {d.isinf(x)} THEN {INFINITE}"
        code += f" WHEN {not01} THEN {BAD_BINARY} ELSE 0 END" if not01 else " ELSE 0 END"
        return ColumnRead(((x, f"CAST({c} AS {d.double_type})"),), x, code, bad, not01)
    # text, or anything on SQLite: the number the text reads as (most rows stop at the
    # first WHEN), else its words: missing, NaN, infinity (and for binary: yes, no, ...)
    t, n, e = f"t_{name}", f"n_{name}", f"e_{name}"
    pre = ((t, d.text(c)), (n, d.try_double(c)))
    w = f"LOWER(TRIM({t}))"
    number = f"WHEN {n} IN (0, 1) THEN 0" if binary else f"WHEN NOT {d.isinf(n)} THEN 0"
    odd = f" WHEN NOT {d.isinf(n)} THEN {BAD_BINARY}" if binary else ""
    words = f" WHEN {w} IN {_words(d, _TRUE_WORDS + _FALSE_WORDS)} THEN 0" if binary else ""
    code = f"CASE {number}{odd} WHEN {n} IS NOT NULL THEN {INFINITE}"
    code += (
        f" WHEN {t} IS NULL OR {w} = '' THEN 0"
        f" WHEN {w} IN {_words(d, _NAN_WORDS)} THEN {NAN}"
        f" WHEN {w} IN {_words(d, _INF_WORDS)} THEN {INFINITE}{words}"
        f" ELSE {BAD_BINARY if binary else NOT_A_NUMBER} END"
    )
    value = n
    if binary:
        value = (
            f"CASE WHEN {n} IS NOT NULL THEN {n} WHEN {w} IN {_words(d, _TRUE_WORDS)} "
            f"THEN {d.number(1.0)} WHEN {w} IN {_words(d, _FALSE_WORDS)} THEN {d.number(0.0)} END"
        )
    bad = f"{e} IN ({NAN}, {INFINITE}, {NOT_A_NUMBER})"
    return ColumnRead(pre, value, code, bad, f"{e} = {BAD_BINARY}" if binary else None, True)
