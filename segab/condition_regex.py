"""``$regex`` and ``$regexi`` of segment conditions, run by RE2 in linear time.

Python's ``re`` backtracks: ``(a+)+$`` takes seconds on a 30-character value
and doubles with every character. Conditions run their patterns with RE2
(the ``google-re2`` package; DuckDB's ``regexp_matches`` is RE2 too), whose
time is linear in the value. A pattern is accepted when both Python's ``re``
and RE2 compile it; it then finds a match exactly where ``re.search`` does,
except that RE2's ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only (and ``\\s``
omits ``\\v``). Three Python spellings RE2 reads differently are rewritten
first: ``$`` (Python's also matches before a final newline), ``{,n}`` (a
quantifier in Python, text in RE2) and ``\\Z``; a ``[`` inside a class is a
literal, as in Python (RE2 would read ``[[:alpha:]]`` as a POSIX class), and
``\\uXXXX`` escapes are kept. Back-references and look-arounds cannot run in
linear time: RE2 refuses them, and so does :func:`regex_problem`.

Example:
    >>> search = regex_predicate("(a+)+$")
    >>> search("a" * 10_000 + "!"), search("caa"), search(["aa"])
    (False, True, False)
    >>> regex_problem("(a)\\\\1")
    'a pattern RE2 can run in linear time (RE2: invalid escape sequence: \\\\1)'
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from typing import Any

import re2 as google_re2

from segab.condition_values import ValuePredicate

__all__ = ["regex_predicate", "regex_problem", "to_re2"]

_re2_error = google_re2.error
_QUANT = re.compile(r"\{([0-9]*)(?:(,)([0-9]*))?\}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The escape at ``pattern[i]`` (a backslash) in RE2 spelling, and the index after it."""
    e = pattern[i + 1 : i + 2]
    if e == "Z":
        return "\\z", i + 2
    if e == "u" and _HEX4.fullmatch(pattern, i + 2, i + 6):
        return "\\x{" + pattern[i + 2 : i + 6] + "}", i + 6
    if e == "U" and _HEX8.fullmatch(pattern, i + 2, i + 10):
        return "\\x{" + pattern[i + 2 : i + 10] + "}", i + 10
    return pattern[i : i + 2], i + 2


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The class opening at ``pattern[i]`` with ``[`` members escaped, and the index after it."""
    out = ["["]
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):  # a ] first is a member
        out.append("\\]")
        i += 1
    while i < len(pattern):
        c = pattern[i]
        if c == "]":
            out.append("]")
            return "".join(out), i + 1
        if c == "\\":
            text, i = _escape(pattern, i)
            out.append(text)
            continue
        out.append("\\[" if c == "[" else c)
        i += 1
    return "".join(out), i  # unterminated: RE2 reports it


def to_re2(pattern: str) -> str:
    """Rewrite a Python pattern so that RE2 finds a match where ``re.search`` does.

    Example:
        >>> to_re2("^a{,2}b$"), to_re2(r"x\\Z"), to_re2("[[:a]]")
        ('^a{0,2}b(?:\\\\n?$)', 'x\\\\z', '[\\\\[:a]\\\\]')
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i)
        elif c == "[":
            text, i = _class(pattern, i)
        elif c == "$":
            text, i = "(?:\\n?$)", i + 1
        elif c == "{":
            m = _QUANT.match(pattern, i)
            if m is None or (m.group(1) == "" and m.group(2) is None):
                text, i = "\\{", i + 1
            else:
                low, comma, high = m.group(1) or "0", m.group(2) or "", m.group(3)
                text, i = "{" + low + comma + (high or "") + "}", m.end()
        elif c in "}]":
            text, i = "\\" + c, i + 1
        else:
            text, i = c, i + 1
        out.append(text)
    return "".join(out)


def _options(ignore_case: bool) -> Any:
    options = google_re2.Options()
    options.log_errors = False  # the error is reported to the user, not to stderr
    options.never_capture = True
    options.case_sensitive = not ignore_case
    return options


@lru_cache(maxsize=1024)
def _compile(pattern: str, ignore_case: bool) -> Any:
    return google_re2.compile(to_re2(pattern), _options(ignore_case))


def regex_problem(pattern: Any, *, re2: bool = True) -> str | None:
    """What a ``$regex`` operand should be when it cannot be run, or ``None`` when it can.

    With ``re2=False`` only Python's ``re`` must compile it (the SQL compiler
    then applies its own, narrower rules).

    Example:
        >>> regex_problem("^soc(ial)?$") is None, regex_problem("a(?=b)")
        (True, 'a pattern RE2 can run in linear time (RE2: invalid perl operator: (?=)')
        >>> regex_problem("(")
        'a valid regular expression (missing ), unterminated subpattern at position 0)'
    """
    if not isinstance(pattern, str):
        return "a regular expression string"
    try:
        with warnings.catch_warnings():  # "possible nested set": segab reads [ in a class as text
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    except (RecursionError, OverflowError, ValueError) as exc:
        return f"a valid regular expression ({type(exc).__name__})"
    if not re2:
        return None
    try:
        _compile(pattern, False)
    except _re2_error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return f"a pattern RE2 can run in linear time (RE2: {text})"
    except UnicodeEncodeError:
        return "a pattern of valid Unicode text (no lone surrogates)"
    return None


def _utf8(v: str) -> bytes:
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates read as U+FFFD
        return _SURROGATES.sub("\ufffd", v).encode("utf-8")


def regex_predicate(pattern: str, ignore_case: bool = False) -> ValuePredicate:
    """``v`` is a string in which RE2 finds ``pattern`` (call :func:`regex_problem` first).

    Example:
        >>> found = regex_predicate("^AB", ignore_case=True)
        >>> found("abc"), found("cab"), found(1)
        (True, False, False)
    """
    compiled = _compile(pattern, ignore_case)
    raw = getattr(compiled, "_regexp", None)
    match = getattr(raw, "Match", None)
    unanchored = getattr(getattr(type(raw), "Anchor", None), "UNANCHORED", None)
    if match is None or unanchored is None:  # another google-re2 layout: the public API

        def search_public(v: Any) -> bool:
            return isinstance(v, str) and compiled.search(_utf8(v)) is not None

        return search_public

    def search(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        data = _utf8(v)
        return bool(match(unanchored, data, 0, len(data))[0][0] >= 0)

    return search
