"""Strings from data and config as rich cells: shown literally, never read as markup.

rich reads ``[bold]``, ``[link=...]`` and ``:smile:`` in every plain string it prints,
so a segment named ``[link=http://evil.example]US[/link]`` would become a live
hyperlink in a terminal table. :func:`cell` wraps a value in a :class:`rich.text.Text`
(which rich never parses) after :func:`segab.printable.printable` has written its
control characters as escapes. Every table of the CLI builds its cells, titles and
notes from data with it.

Example:
    >>> cell("[b]x[/b]\\x1b").plain
    '[b]x[/b]\\\\x1b'
"""

from __future__ import annotations

from rich.text import Text

from segab.printable import printable

__all__ = ["cell", "cells"]


def cell(value: object, style: str = "") -> Text:
    """``value`` as text shown literally (no markup, no emoji codes, controls escaped).

    ``None`` is an empty cell; a :class:`~rich.text.Text` built by the code (a styled
    decision, say) is kept as it is.

    Example:
        >>> cell(None).plain, cell(3).plain, cell(":smile:").plain
        ('', '3', ':smile:')
    """
    if isinstance(value, Text):
        return value
    return Text("" if value is None else printable(str(value)), style=style)


def cells(*values: object) -> list[Text]:
    """Each value as a :func:`cell` (for ``Table.add_row(*cells(...))``).

    Example:
        >>> [c.plain for c in cells("a", None, "\\r")]
        ['a', '', '\\\\r']
    """
    return [cell(v) for v in values]
