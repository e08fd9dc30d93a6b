"""How a text cell becomes an attribute value: one value at a time, or as declared (pure).

A CSV file carries no types. segab reads each cell on its own, so a row's
segment never depends on the other rows of the file (a column is never "read as
text" because one of its cells is not a number):

- an empty cell is a missing attribute (``None``);
- ``true``, ``True``, ``TRUE`` and ``false``, ``False``, ``FALSE`` are booleans;
- a decimal number (``42``, ``-1.5``, ``.5``, ``5.``, ``1e3``, ``+7``, ``007``)
  is a number, read as a 64-bit float;
- anything else is a string, as written (``NaN``, ``inf``, ``null``, ``1_000``,
  `` 5`` with a space, ``0x10``, and ``1e400``: a number beyond the float range
  is never a number).

An experiment's ``attributes`` (``{age: number}``) declares a column's type
instead: ``number`` reads numbers only (``1e400`` included: it is out of range),
``boolean`` booleans only, ``string`` keeps the text as written; an empty cell is
still missing, and any other value is a bad value (its row is reported and
skipped, never assigned).

The same rules are written here in SQL for DuckDB and Spark (the ``*_sql``
functions), so every engine reads the same values from the same text.

Example:
    >>> [read_text(t) for t in ("42", "1e3", "true", "unknown", "NaN", None)]
    [42.0, 1000.0, True, 'unknown', 'NaN', None]
    >>> read_text("unknown", "number")
    Traceback (most recent call last):
    ...
    segab.text_values.BadValueError: 'unknown' is not a number (declared in attributes)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from segab.errors import DataError

if TYPE_CHECKING:
    from segab.sql.dialects import Dialect

__all__ = [
    "ATTRIBUTE_TYPES",
    "NUMBER_PATTERN",
    "AttributeType",
    "BadValueError",
    "bad_text_sql",
    "mixed_case_sql",
    "nest_attributes",
    "read_text",
    "text_reader",
    "typed_text_sql",
]

AttributeType: TypeAlias = Literal["number", "string", "boolean"]
ATTRIBUTE_TYPES: tuple[AttributeType, ...] = ("number", "string", "boolean")

#: A decimal number, matched against the whole cell (ASCII digits only).
NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)
_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")
_BOOLEANS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_MAX = 1.7976931348623157e308  # the largest finite double


class BadValueError(DataError):
    """A cell that does not fit its column's declared type.

    Example:
        >>> str(BadValueError("'x' is not a number"))
        "'x' is not a number"
    """


def _number(text: str) -> float | None:
    """The float of a decimal number, or None beyond the float range."""
    value = float(text)
    return value if math.isfinite(value) else None


def read_text(text: str | None, declared: AttributeType | None = None) -> Any:
    """The attribute value of one text cell, per value or as ``declared``.

    ``None`` or ``""`` is a missing attribute. Raises :class:`BadValueError` for a cell
    that does not fit ``declared``.

    Example:
        >>> read_text("007"), read_text("007", "string"), read_text("", "number")
        (7.0, '007', None)
        >>> read_text("TRUE", "boolean"), read_text("yes")
        (True, 'yes')
    """
    if text is None or text == "":
        return None
    if declared is None:
        flag = _BOOLEANS.get(text)
        if flag is not None:
            return flag
        number = _number(text) if _NUMBER.fullmatch(text) else None
        return text if number is None else number
    if declared == "string":
        return text
    if declared == "number":
        number = _number(text) if _NUMBER.fullmatch(text) else None
        if number is None:
            raise BadValueError(f"{text!r} is not a number (declared in attributes)")
        return number
    flag = _BOOLEANS.get(text)
    if flag is None:
        raise BadValueError(f"{text!r} is not true or false (declared in attributes)")
    return flag


def text_reader(declared: AttributeType | None) -> Callable[[str | None], Any]:
    """:func:`read_text` with ``declared`` fixed (a reader per column).

    Example:
        >>> text_reader("number")("35")
        35.0
    """
    return lambda text: read_text(text, declared)


def nest_attributes(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested attributes from dotted names (``device.os`` → ``{"device": {"os": ...}}``).

    Example:
        >>> nest_attributes([("device.os", "ios"), ("age", 3)])
        {'device': {'os': 'ios'}, 'age': 3}
    """
    out: dict[str, Any] = {}
    for name, value in pairs:
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


# --------------------------------------------------------------------------- SQL


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
    return f"abs({number}) <= {d.number(_MAX)}"


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
        return f"CASE WHEN {_in(d, col, _TRUE)} THEN TRUE WHEN {_in(d, col, _FALSE)} THEN FALSE END"
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
        return f"({present} AND NOT {_in(d, col, (*_TRUE, *_FALSE))})"
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
    is_bool, is_number = _in(d, col, (*_TRUE, *_FALSE)), _is_number_sql(d, col)
    results = {
        "null": branch("NULL", "null"),
        "boolean": branch(f"({_in(d, col, _TRUE)})", "boolean"),
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
