"""Compile segment conditions to SQL boolean expressions over columns.

Each attribute path is a column named as the path (``device.os`` reads the
column ``"device.os"``). The result is always TRUE or FALSE, never NULL (so
``$not``, ``$nor`` and ``$ne`` negate exactly as in Python), and it follows
:mod:`segab.conditions` on scalar columns:

- a SQL column has one type, so the Python rule "mismatched types do not match"
  is decided when compiling: with ``columns`` (column -> kind: ``number``,
  ``float``, ``string``, ``boolean``, ``null``) a string operand against a number
  column compiles to FALSE, ``$type`` compares the kind, and a column missing
  from ``columns`` is a missing attribute (NULL). Without ``columns`` each
  column is assumed to have the type of the operand it is compared with. A
  ``mixed`` column is text typed cell by cell as :func:`segab.text_values.read_text`
  does (DuckDB and Spark only): each row takes the branch of its cell's kind;
- NULL is a missing attribute: it matches ``null``, ``$exists: false``,
  ``$in: [null]`` and every negated operator; NaN (in ``float`` columns, or any
  number column when ``columns`` is not given) equals and orders with nothing;
- strings compare by code point (``COLLATE "C"`` on PostgreSQL); ``$ini``,
  ``$nini`` and ``$regexi`` use the engine's ``lower()``/case-insensitive
  matching, which agrees with Python's ``str.lower`` on ASCII text;
- ``$regex`` accepts the portable subset of :mod:`segab.sql.regex`;
- ``$inGroup``/``$notInGroup`` expand to ``$in``/``$nin`` over the group.

Not expressible, raising :class:`~segab.errors.SqlCompileError` with the
condition path and operator: array operators (``$size``, ``$all``, ``$alli``,
``$elemMatch``), the version operators (``$veq`` ...), array or object literals,
``$type`` without ``columns``, ``$in`` mixing strings, numbers and booleans
without ``columns``, and regexes outside the portable subset.

Example:
    >>> print(compile_condition_sql({"age": {"$lt": 35}, "channel": "social"}, "duckdb",
    ...                             columns={"age": "number", "channel": "string"}))
    (COALESCE("age" < 35, FALSE) AND COALESCE("channel" = 'social', FALSE))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from segab.condition_values import ARRAY, BOOL, NULL, NUMBER, OBJECT, STRING, kind
from segab.conditions import validate_condition
from segab.errors import ConditionError, ConfigProblem, SqlCompileError
from segab.sql.dialects import Dialect, get_dialect
from segab.sql.regex import translate_regex
from segab.sql.text_values import mixed_case_sql

__all__ = ["ColumnKind", "column_kind", "compile_condition_sql"]

ColumnKind: TypeAlias = Literal["number", "float", "string", "boolean", "null", "mixed"]
TRUE, FALSE = "TRUE", "FALSE"
_CMP = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_UNSUPPORTED = {
    "$size": "array operators need array columns, which segab does not compile to SQL",
    "$all": "array operators need array columns, which segab does not compile to SQL",
    "$alli": "array operators need array columns, which segab does not compile to SQL",
    "$elemMatch": "array operators need array columns, which segab does not compile to SQL",
    "$veq": "version ordering has no SQL equivalent",
    "$vne": "version ordering has no SQL equivalent",
    "$vgt": "version ordering has no SQL equivalent",
    "$vgte": "version ordering has no SQL equivalent",
    "$vlt": "version ordering has no SQL equivalent",
    "$vlte": "version ordering has no SQL equivalent",
}
_KIND_OF_VALUE = {STRING: "string", NUMBER: "number", BOOL: "boolean"}
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "INT", "LONG", "SHORT")


def column_kind(type_name: str) -> ColumnKind | None:
    """Map an engine or Arrow type name to a column kind, or None if conditions cannot read it.

    Example:
        >>> [column_kind(t) for t in ("BIGINT", "double", "VARCHAR", "DATE")]
        ['number', 'float', 'string', None]
    """
    t = type_name.upper().split("(")[0].strip()
    if t.startswith("U") and t[1:] in _INTEGER_TYPES:
        t = t[1:]
    if t in _INTEGER_TYPES or t.startswith(("INT", "UINT", "DECIMAL", "NUMERIC")):
        return "number"
    if t in ("FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "HALF_FLOAT", "DOUBLE PRECISION"):
        return "float"
    if t in ("VARCHAR", "STRING", "TEXT", "LARGE_STRING", "UTF8", "LARGE_UTF8", "STRING_VIEW"):
        return "string"
    if t in ("BOOLEAN", "BOOL"):
        return "boolean"
    if t in ("NULL", '"NULL"', "VOID"):
        return "null"
    return None


def _and(parts: Sequence[str]) -> str:
    if FALSE in parts:
        return FALSE
    kept = [p for p in parts if p != TRUE]
    if not kept:
        return TRUE
    return kept[0] if len(kept) == 1 else "(" + " AND ".join(kept) + ")"


def _or(parts: Sequence[str]) -> str:
    if TRUE in parts:
        return TRUE
    kept = [p for p in parts if p != FALSE]
    if not kept:
        return FALSE
    return kept[0] if len(kept) == 1 else "(" + " OR ".join(kept) + ")"


def _not(part: str) -> str:
    return {TRUE: FALSE, FALSE: TRUE}.get(part, f"(NOT {part})")


class _SqlCompiler:
    def __init__(
        self,
        dialect: Dialect,
        groups: Mapping[str, Sequence[Any]],
        columns: Mapping[str, ColumnKind] | None,
        two_valued: bool,
    ) -> None:
        self.d = dialect
        self.groups = groups
        self.columns = columns
        self.two_valued = two_valued
        self.negations = 0  # how many NOTs enclose the expression being compiled

    def guard(self, expr: str) -> str:
        """``COALESCE(expr, FALSE)``, unless NULL may stand for FALSE (outside any NOT)."""
        if self.two_valued or self.negations:
            return f"COALESCE({expr}, FALSE)"
        return expr

    def negate(self, build: Callable[[], str]) -> str:
        """``NOT (build())``, where ``build`` compiles under one more negation."""
        self.negations += 1
        try:
            return _not(build())
        finally:
            self.negations -= 1

    def fail(self, path: str, op: str, why: str) -> SqlCompileError:
        return SqlCompileError(f"{path}: {op} cannot be compiled to {self.d.name} SQL: {why}")

    # ------------------------------------------------------------------ conditions

    def condition(self, cond: Mapping[str, Any], path: str) -> str:
        return _and([self.entry(k, v, f"{path}.{k}") for k, v in cond.items()])

    def entry(self, key: str, value: Any, path: str) -> str:
        if key == "$nor":
            return self.negate(lambda: self.entry("$or", value, path))
        if key in ("$and", "$or"):
            parts = [self.condition(c, f"{path}[{i}]") for i, c in enumerate(value)]
            if key == "$and":
                return _and(parts)
            return _or(parts)
        if key == "$not":
            return self.negate(lambda: self.condition(value, path))
        if self.columns is not None and key not in self.columns:
            return self.value("NULL", "null", value, path)
        col_kind = None if self.columns is None else self.columns[key]
        if col_kind == "mixed":
            return self.mixed(self.d.quote(key), value, path)
        return self.value(self.d.quote(key), col_kind, value, path)

    def mixed(self, col: str, value: Any, path: str) -> str:
        """A text column typed per cell: the condition compiled once per kind of cell."""
        if self.d.name == "postgres":
            raise self.fail(path, "a mixed column", "cells typed one by one need DuckDB or Spark")
        return mixed_case_sql(
            self.d, col, lambda expr, k: self.value(expr, k, value, path), self.guard
        )

    def value(self, col: str, ck: ColumnKind | None, value: Any, path: str) -> str:
        if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
            return _and([self.operator(col, ck, op, x, f"{path}.{op}") for op, x in value.items()])
        return self.equal(col, ck, value, path, "$eq")

    # ------------------------------------------------------------------ leaves

    def _fits(self, ck: ColumnKind | None, want: str) -> bool:
        """Whether a value of kind ``want`` (number, string, boolean) can be in the column."""
        if ck is None:
            return True
        return ck == want or (want == "number" and ck == "float")

    def _no_nan(self, col: str, ck: ColumnKind | None) -> str:
        return f"NOT {self.d.isnan(col)}" if ck in (None, "float") else TRUE

    def scalar(self, x: Any, path: str, op: str) -> tuple[str, str]:
        """(kind, SQL literal) of a scalar operand; arrays and objects raise."""
        kx = kind(x)
        if kx == STRING:
            return "string", self.d.literal(x)
        if kx == NUMBER:
            if isinstance(x, int):
                return "number", str(x)
            return "number", self.d.number(float(x))
        if kx == BOOL:
            return "boolean", TRUE if x else FALSE
        if kx in (ARRAY, OBJECT):
            raise self.fail(path, op, "array and object values need array or struct columns")
        raise self.fail(path, op, f"unsupported value {x!r}")

    def equal(self, col: str, ck: ColumnKind | None, x: Any, path: str, op: str) -> str:
        if kind(x) == NULL:
            return f"({col} IS NULL)"
        want, lit = self.scalar(x, path, op)
        if not self._fits(ck, want) or (isinstance(x, float) and math.isnan(x)):
            return FALSE
        if want == "boolean":
            return self.guard(col if x else f"NOT {col}")
        return self.guard(f"{col} = {lit}")

    def operator(self, col: str, ck: ColumnKind | None, op: str, x: Any, path: str) -> str:
        if op == "$eq":
            return self.equal(col, ck, x, path, op)
        if op == "$ne":
            return self.negate(lambda: self.equal(col, ck, x, path, op))
        if op in _CMP:
            return self.compare(col, ck, _CMP[op], x, path, op)
        if op in ("$in", "$nin", "$ini", "$nini"):
            insensitive = op in ("$ini", "$nini")
            if op in ("$in", "$ini"):
                return self.member(col, ck, x, path, op, insensitive)
            return self.negate(lambda: self.member(col, ck, x, path, op, insensitive))
        if op in ("$inGroup", "$notInGroup"):
            values = self.groups.get(x)
            if values is None or isinstance(values, str | bytes | Mapping):
                raise self.fail(path, op, f"{x!r} is not a defined group (a list of values)")
            if op == "$inGroup":
                return self.member(col, ck, list(values), path, op, False)
            return self.negate(lambda: self.member(col, ck, list(values), path, op, False))
        if op == "$exists":
            return f"({col} IS NOT NULL)" if x else f"({col} IS NULL)"
        if op == "$type":
            if ck is None:
                raise self.fail(path, op, "$type needs the column types (columns=...)")
            if x == "null":
                return f"({col} IS NULL)"
            same = x == ck or (x == "number" and ck == "float")
            return f"({col} IS NOT NULL)" if same else FALSE
        if op in ("$regex", "$regexi"):
            if not self._fits(ck, "string"):
                return FALSE
            try:
                pattern = translate_regex(x, self.d.name)
            except SqlCompileError as exc:
                raise self.fail(path, op, str(exc)) from None
            return self.guard(self.d.regex(col, pattern, op == "$regexi"))
        if op == "$not":
            return self.negate(lambda: self.value(col, ck, x, path))
        why = _UNSUPPORTED.get(op, "unknown operator")
        raise self.fail(path, op, why)

    def compare(
        self, col: str, ck: ColumnKind | None, sql_op: str, x: Any, path: str, op: str
    ) -> str:
        want, lit = self.scalar(x, path, op)
        if not self._fits(ck, want):
            return FALSE
        if want == "string":
            return self.guard(f"{self.d.code_point(col)} {sql_op} {lit}")
        return _and([self.guard(f"{col} {sql_op} {lit}"), self._no_nan(col, ck)])

    def member(
        self,
        col: str,
        ck: ColumnKind | None,
        entries: Sequence[Any],
        path: str,
        op: str,
        insensitive: bool,
    ) -> str:
        by_kind: dict[str, list[str]] = {}
        has_null = False
        for i, x in enumerate(entries):
            kx = kind(x)
            if kx == NULL:
                has_null = True
                continue
            if kx == NUMBER and x != x:
                continue  # NaN equals nothing
            want, lit = self.scalar(x, f"{path}[{i}]", op)
            if want == "string" and insensitive:
                lit = self.d.literal(x.lower())
            if lit not in by_kind.setdefault(want, []):
                by_kind[want].append(lit)
        if ck is None and len(by_kind) > 1:
            raise self.fail(
                path, op, f"values of several types ({', '.join(sorted(by_kind))}) need columns=..."
            )
        parts = [f"({col} IS NULL)"] if has_null else []
        for want, lits in by_kind.items():
            if not self._fits(ck, want):
                continue
            target = f"lower({col})" if want == "string" and insensitive else col
            parts.append(self.guard(f"{target} IN ({', '.join(lits)})"))
        return _or(parts)


def compile_condition_sql(
    condition: Mapping[str, Any],
    dialect: str | Dialect,
    groups: Mapping[str, Sequence[Any]] | None = None,
    columns: Mapping[str, ColumnKind] | None = None,
    *,
    path: str = "when",
    two_valued: bool = True,
) -> str:
    """Compile a segment condition to a SQL boolean expression (TRUE or FALSE, never NULL).

    ``columns`` maps column names to kinds (see :func:`column_kind`); see the
    module docstring for the semantics and for what raises
    :class:`~segab.errors.SqlCompileError`. ``path`` prefixes error locations.
    With ``two_valued=False`` the expression may be NULL where it is false (a
    leaner form for ``WHERE`` and ``CASE WHEN``, which treat NULL as false);
    it is TRUE on exactly the same rows.

    Example:
        >>> compile_condition_sql({"tier": {"$inGroup": "paid"}}, "spark", {"paid": ["gold"]})
        "COALESCE(`tier` IN ('gold'), FALSE)"
        >>> try:
        ...     compile_condition_sql({"app": {"$vgt": "2.0"}}, "duckdb")
        ... except SqlCompileError as exc:
        ...     print(exc)
        when.app.$vgt: $vgt cannot be compiled to duckdb SQL: version ordering has no SQL equivalent
    """
    problems = validate_condition(condition, path, re2=False)  # translate_regex checks RE2
    if problems:
        raise ConditionError([ConfigProblem("<condition>", *p) for p in problems])
    compiler = _SqlCompiler(get_dialect(dialect), groups or {}, columns, two_valued)
    return compiler.condition(condition, path)
