"""Translate a Python regular expression into the same search for a SQL engine.

DuckDB (RE2), PostgreSQL (ARE) and Spark (Java) disagree with Python's ``re``
on several points, so only a portable subset is accepted and rewritten so that
it finds a match exactly when ``re.search`` does:

- literal characters, ``^``, alternation ``|``, groups ``(...)`` and ``(?:...)``;
- quantifiers ``* + ? {m} {m,} {m,n} {,n}`` and their lazy forms (``*?``);
- bracket classes ``[a-z]``, ``[^...]`` whose members are characters, ranges
  and escaped punctuation (``\\]``, ``\\-``), plus ``\\n`` and ``\\t``;
- escaped ASCII punctuation outside classes (``\\.``, ``\\$``, ``\\(``).

``.`` becomes ``[^\\n]`` (PostgreSQL's ``.`` matches a newline, Java's misses
``\\r``) and ``$`` becomes "an optional newline, then the end" (Python's ``$``
also matches before a final newline). Everything else (``\\d``, ``\\w``, ``\\b``,
back-references, look-arounds, inline flags, named groups, possessive
quantifiers) raises :class:`~segab.errors.SqlCompileError`: the engines read
them differently for non-ASCII text or not at all.

Example:
    >>> translate_regex(r"^ab.c$", "duckdb")
    '^ab[^\\\\n]c(?:\\\\n?$)'
    >>> try:
    ...     translate_regex(r"\\d+", "postgresql")
    ... except SqlCompileError as exc:
    ...     print(exc)
    regex '\\\\d+': \\d is not portable to SQL engines; use an explicit class such as [0-9]
"""

from __future__ import annotations

import re

from segab.condition_regex import regex_problem
from segab.errors import SqlCompileError

__all__ = ["translate_regex"]

_QUANT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")
_CLASS_ESCAPES = {"n": "\\n", "t": "\\t"}


def _fail(pattern: str, what: str) -> SqlCompileError:
    return SqlCompileError(f"regex {pattern!r}: {what}")


def _escape(c: str) -> str:
    """A class member written as a literal: ASCII punctuation escaped (Java reads ``&&``, ``[``)."""
    return "\\" + c if c in _PUNCT else c


def _class(pattern: str, i: int) -> tuple[str, int]:
    """Translate the class opening at ``pattern[i]``; return it and the index after it."""
    out = ["["]
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if i >= len(pattern):
            raise _fail(pattern, "an unterminated [ class")
        c = pattern[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "\\":
            if i + 1 >= len(pattern):
                raise _fail(pattern, "a trailing backslash")
            e = pattern[i + 1]
            if e in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[e])
            elif e in _PUNCT:
                out.append("\\" + e)
            else:
                raise _fail(pattern, f"\\{e} inside [...] is not portable to SQL engines")
            i += 2
            continue
        if (
            c == "-"
            and out[-1] not in ("[", "^")
            and i + 1 < len(pattern)
            and pattern[i + 1] != "]"
        ):
            out.append("-")
            i += 1
            continue
        out.append(_escape(c))
        i += 1


def translate_regex(pattern: str, dialect: str) -> str:
    """Rewrite a Python regex (portable subset) for ``duckdb``, ``postgresql`` or ``spark``.

    Raises :class:`~segab.errors.SqlCompileError` naming the construct that is
    not portable, or RE2's reason when it cannot run the pattern (``a{1001}``),
    as Python conditions refuse it too (:mod:`segab.condition_regex`).

    Example:
        >>> translate_regex("a{,2}b|c", "spark")
        'a{0,2}b|c'
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _fail(pattern, f"not a valid regular expression ({exc})") from None
    end = "(?:\\n?\\z)" if dialect == "spark" else "(?:\\n?$)"
    out: list[str] = []
    i = 0
    quantified = False  # the previous token was a quantifier
    while i < len(pattern):
        c = pattern[i]
        was_quantifier, quantified = quantified, False
        if c == "\\":
            if i + 1 >= len(pattern):
                raise _fail(pattern, "a trailing backslash")
            e = pattern[i + 1]
            if e not in _PUNCT:
                hint = "; use an explicit class such as [0-9]" if e in "dDwWsS" else ""
                raise _fail(pattern, f"\\{e} is not portable to SQL engines{hint}")
            out.append("\\" + e)
            i += 2
        elif c == "[":
            text, i = _class(pattern, i)
            out.append(text)
        elif c == ".":
            out.append("[^\\n]")
            i += 1
        elif c == "$":
            out.append(end)
            i += 1
        elif c == "(":
            if pattern.startswith("(?", i):
                if not pattern.startswith("(?:", i):
                    raise _fail(pattern, f"{pattern[i : i + 3]!r}... groups are not portable")
                out.append("(?:")
                i += 3
            else:
                out.append("(")
                i += 1
        elif c in "*+?":
            if c == "+" and was_quantifier:
                raise _fail(pattern, "possessive quantifiers are not portable")
            out.append(c)
            quantified = c != "?" or not was_quantifier
            i += 1
        elif c == "{":
            m = _QUANT.match(pattern, i)
            if m is None or (m.group(1) == "" and m.group(2) is None):
                out.append("\\{")
                i += 1
            else:
                low, comma, high = m.group(1) or "0", m.group(2) or "", m.group(3) or ""
                out.append("{" + low + comma + high + "}")
                quantified = True
                i = m.end()
        elif c in "}]":
            out.append("\\" + c)
            i += 1
        else:
            out.append(c)  # ^, |, ), letters, digits, other literals
            i += 1
    problem = regex_problem(pattern)  # what Python conditions run: RE2 (e.g. a{1001})
    if problem is not None:
        raise _fail(pattern, f"not {problem}")
    return "".join(out)
