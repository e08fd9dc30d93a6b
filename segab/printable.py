"""Text from data, made safe to show on a terminal: control characters written as escapes.

Names of segments, stages and variants, ``--by`` values, notes and the examples of
bad rows come from config files and data. Printed as they are, an ESC character
starts a terminal escape sequence (colours, cursor moves, hyperlinks, a changed
window title), a CR overwrites the line, and a bidi override reverses what follows.
:func:`printable` writes each such character as a visible escape (``\\x1b``,
``\\r``, ``\\u202e``), the way Python's ``repr`` does, and leaves every other
character, including non-ASCII letters, as it is.

Escaped: the C0 controls (U+0000 to U+001F, including tab and newline), DEL, the C1
controls (U+0080 to U+009F), the bidi controls (U+061C, U+200E, U+200F, U+202A to
U+202E, U+2066 to U+2069), the line and paragraph separators (U+2028, U+2029) and
lone surrogates (which no terminal encoding can write). A backslash is left alone,
so an escape in the output is ambiguous with the same text in the data; the JSON
output is the exact form.

This is part of the pure core: the error messages of :mod:`segab.sums` and the
renderers of :mod:`segab.report` both use it.

Example:
    >>> printable("US\\x1b[31m red")
    'US\\\\x1b[31m red'
"""

from __future__ import annotations

import re

__all__ = ["printable", "shorten"]

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control, bidi and separator characters written as escapes.

    Example:
        >>> printable("a\\tb\\r\\u202eé")
        'a\\\\tb\\\\r\\\\u202eé'
        >>> printable("[link=http://evil.example]US[/link]")  # markup is not a control
        '[link=http://evil.example]US[/link]'
    """
    return _UNSAFE.sub(_escape, text)


def shorten(text: str, limit: int = 80) -> str:
    """:func:`printable` text cut to about ``limit`` characters (for error messages).

    Example:
        >>> shorten("x" * 100, 10)
        'xxxxxxxxxx...'
    """
    shown = printable(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."
