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
from typing import Any, Literal, TypeAlias

from segab.errors import DataError

__all__ = [
    "ATTRIBUTE_TYPES",
    "FALSE_TEXTS",
    "MAX_DOUBLE",
    "NUMBER_PATTERN",
    "TRUE_TEXTS",
    "AttributeType",
    "BadValueError",
    "nest_attributes",
    "read_text",
    "text_reader",
]

AttributeType: TypeAlias = Literal["number", "string", "boolean"]
ATTRIBUTE_TYPES: tuple[AttributeType, ...] = ("number", "string", "boolean")

#: A decimal number, matched against the whole cell (ASCII digits only).
NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)
TRUE_TEXTS = ("true", "True", "TRUE")
FALSE_TEXTS = ("false", "False", "FALSE")
_BOOLEANS = {**dict.fromkeys(TRUE_TEXTS, True), **dict.fromkeys(FALSE_TEXTS, False)}
MAX_DOUBLE = 1.7976931348623157e308  # the largest finite double


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
