"""The rules of :mod:`segab.text_values` written in SQL, for the DuckDB and Spark bulk engines.

A CSV cell becomes a value exactly as :func:`segab.text_values.read_text` reads it:
these expressions say where a text column holds a number, a boolean or text, and
whether a cell fits a declared type.

Example:
    >>> from segab.sql.dialects import get_dialect
    >>> typed_text_sql(get_dialect("duckdb"), "tier", "boolean").startswith("CASE WHEN tier IN")
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

from segab.sql.dialects import Dialect
from segab.text_values import (
    FALSE_TEXTS,
    MAX_DOUBLE,
    NUMBER_PATTERN,
    TRUE_TEXTS,
    AttributeType,
)

__all__ = ["bad_text_sql", "mixed_case_sql", "typed_text_sql"]


def _is_number_sql(d: Dialect, col: str) -> str:
    """TRUE where :func:`read_text` reads a number: the pattern, within the float range."""
    if d.name == "duckdb":
        pattern = f"regexp_full_match({col}, {d.literal(NUMBER_PATTERN)})"
    elif d.name == "spark":  # Java's $ also matches before a final newline; \z does not
        anchored = "^(?:" + NUMBER_PATTERN + ")\\z"
        pattern = f"({col} RLIKE {d.literal(anchored)})"
    else:
        pattern = f"({col} ~ {d.literal('^(?:' + NUMBER_PATTERN + ')$')})"
    return f"({pattern} AND {_finite_sql(d, _number_sql(d, col))})"


def _number_sql(d: Dialect, col: str) -> str:
    """The cell as a double; only used where :func:`_is_number_sql` holds."""
    if d.name in ("duckdb", "spark"):
        return f"TRY_CAST({col} AS {d.double_type})"
    return f"CAST({col} AS {d.double_type})"


def _in(d: Dialect, col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(d.literal(v) for v in values)})"


def _finite_sql(d: Dialect, number: str) -> str:
    return f"abs({number}) <= {d.number(MAX_DOUBLE)}"


def typed_text_sql(d: Dialect, col: str, declared: AttributeType) -> str:
    """The value of a text column declared ``declared``: NULL when missing or bad.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> print(typed_text_sql(get_dialect("duckdb"), "x", "boolean"))
        CASE WHEN x IN ('true', 'True', 'TRUE') THEN TRUE WHEN x IN ('false', 'False', 'FALSE') THEN FALSE END
    """  # noqa: E501
    if declared == "string":
        return f"NULLIF({col}, '')"
    if declared == "boolean":
        true, false = _in(d, col, TRUE_TEXTS), _in(d, col, FALSE_TEXTS)
        return f"CASE WHEN {true} THEN TRUE WHEN {false} THEN FALSE END"
    return f"CASE WHEN {_is_number_sql(d, col)} THEN {_number_sql(d, col)} END"


def bad_text_sql(d: Dialect, col: str, declared: AttributeType | None) -> str:
    """TRUE where :func:`read_text` raises :class:`BadValueError` for the cell, else FALSE.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> bad_text_sql(get_dialect("duckdb"), "x", "string")
        'FALSE'
    """
    if declared in (None, "string"):
        return "FALSE"
    present = f"{col} IS NOT NULL AND {col} <> ''"
    if declared == "boolean":
        return f"({present} AND NOT {_in(d, col, (*TRUE_TEXTS, *FALSE_TEXTS))})"
    return f"({present} AND NOT {_is_number_sql(d, col)})"


MixedKind: TypeAlias = Literal["null", "boolean", "number", "string"]


def mixed_case_sql(
    d: Dialect,
    col: str,
    branch: Callable[[str, MixedKind], str],
    guard: Callable[[str], str] = lambda e: f"COALESCE({e}, FALSE)",
) -> str:
    """A condition on a column typed per value: ``branch(expr, kind)`` per kind of cell.

    ``branch`` compiles the condition for a column of one kind read through
    ``expr``; the result picks, row by row, the branch of the cell's kind (the
    same kind :func:`read_text` gives it). ``guard`` makes an expression that may
    be NULL where it is false two-valued (the default); a caller that reads NULL as
    false may pass the identity.

    Example:
        >>> from segab.sql.dialects import get_dialect
        >>> print(mixed_case_sql(get_dialect("duckdb"), "x", lambda e, k: "FALSE"))
        FALSE
    """
    is_null = f"({col} IS NULL OR {col} = '')"
    is_bool, is_number = _in(d, col, (*TRUE_TEXTS, *FALSE_TEXTS)), _is_number_sql(d, col)
    results = {
        "null": branch("NULL", "null"),
        "boolean": branch(f"({_in(d, col, TRUE_TEXTS)})", "boolean"),
        "number": branch(_number_sql(d, col), "number"),
        "string": branch(col, "string"),
    }
    live = [k for k, result in results.items() if result != "FALSE"]
    if not live:
        return "FALSE"
    if len(live) == 1:  # one kind can match: a conjunction, the costly regex last
        k = live[0]
        tests = {
            "null": [is_null],
            "boolean": [is_bool],
            "number": [results[k], is_number],
            "string": [f"{col} <> ''", f"NOT {is_bool}", results[k], f"NOT {is_number}"],
        }[k]
        if k in ("null", "boolean"):
            tests.append(results[k])
        return guard(" AND ".join(t for t in tests if t != "TRUE"))
    whens = [(is_null, "null"), (is_bool, "boolean"), (is_number, "number")]
    cases = " ".join(f"WHEN {test} THEN {results[k]}" for test, k in whens)
    return f"(CASE {cases} ELSE {results['string']} END)"
