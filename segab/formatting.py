"""Number formatting: the one set of formatters for reasons, tables, CSV and HTML.

It sits in the pure core, below both :mod:`segab.analysis` (decision reasons) and
:mod:`segab.report` (tables, HTML, history page), so neither keeps a copy.

Example:
    >>> pct(0.1234), num(1234.5), num(0.012345, digits=4), p_text(0.0004)
    ('+12.3%', '1,234', '0.01235', '<0.001')
"""

from __future__ import annotations

import math

__all__ = ["num", "p_text", "pct"]

MISSING = "–"


def pct(x: float | None, *, signed: bool = True, decimals: int = 1, missing: str = MISSING) -> str:
    """A percentage (signed by default, one decimal), or ``missing`` when undefined.

    Example:
        >>> pct(None), pct(-0.05), pct(0.1234, signed=False, decimals=2), pct(None, missing="")
        ('–', '-5.0%', '12.34%', '')
    """
    if x is None or not math.isfinite(x):
        return missing
    return f"{x * 100:{'+' if signed else ''}.{decimals}f}%"


def num(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits, thousands separators from ``10**(digits)`` up.

    Example:
        >>> num(float("nan")), num(3.14159), num(12345.6)
        ('–', '3.14', '12,346')
    """
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def p_text(x: float | None) -> str:
    """A p-value with three decimals, ``<0.001`` below that, a dash when undefined.

    Example:
        >>> p_text(0.04567), p_text(None)
        ('0.046', '–')
    """
    if x is None or not math.isfinite(x):
        return MISSING
    return "<0.001" if x < 0.001 else f"{x:.3f}"
