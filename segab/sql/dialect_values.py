"""Engine spellings that read values which may not be values: numbers, infinities, times.

Helpers of :class:`segab.sql.dialects.Dialect` (its ``try_decimal``,
``try_double``, ``try_epoch`` and ``epoch`` methods): PostgreSQL has no
``TRY_CAST`` and its casts fail out of range, SQLite's ``CAST('abc' AS REAL)`` is
0.0, so both need the spellings below.

Example:
    >>> import re
    >>> bool(re.match(NUMBER_TEXT, " -1.5e3 ")), bool(re.match(NUMBER_TEXT, "1_000"))
    (True, False)
"""

from __future__ import annotations

from segab.errors import SqlError

__all__ = ["NUMBER_TEXT", "quantile_sql"]


# A decimal number as text, the one grammar every engine's try_double accepts: spaces
# around it, a sign, digits with an optional point (or a point and digits), an exponent.
NUMBER_TEXT = "^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)? *$"
_PG_SHORT = "^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,4})? *$"
_DOUBLE_OVERFLOW = "1.797693134862315807937289714053e308"  # DBL_MAX + half an ulp
_DOUBLE_UNDERFLOW = "2.4703282292062328e-324"  # half the smallest subnormal (rounds to 0)


def _pg_try_decimal(t: str, pattern: str) -> str:
    """PostgreSQL: text read through NUMERIC (its float8 casts fail out of range)."""
    n = f"CAST({t} AS NUMERIC)"
    inf, zero = "CAST('Infinity' AS DOUBLE PRECISION)", "CAST(0.0 AS DOUBLE PRECISION)"
    signed_inf = f"CASE WHEN {t} ~ '^ *-' THEN -{inf} ELSE {inf} END"
    return (
        f"(CASE WHEN {t} IS NULL OR {t} !~ {pattern} THEN NULL "
        f"WHEN {t} ~ '{_PG_SHORT}' THEN CASE "
        f"WHEN abs({n}) >= CAST('{_DOUBLE_OVERFLOW}' AS NUMERIC) THEN {signed_inf} "
        f"WHEN abs({n}) < CAST('{_DOUBLE_UNDERFLOW}' AS NUMERIC) THEN {zero} "
        f"ELSE CAST({n} AS DOUBLE PRECISION) END "
        # an exponent of 5 digits or more: 0 or +-infinity (NUMERIC cannot hold it)
        f"WHEN {t} ~ '^ *[+-]?0*[.]?0*[eE]' OR {t} ~ '[eE]-' THEN {zero} "
        f"ELSE {signed_inf} END)"
    )


def _no_md5(expr: str) -> str:
    raise SqlError("sqlite has no md5(): assignment SQL runs on duckdb, postgresql or spark")


def _sqlite_epoch(e: str) -> str:
    # numbers are epoch seconds already; SQLite needs "+HH:MM" where writers such as
    # DuckDB and PostgreSQL print "+00"
    return (
        f"(CASE WHEN typeof({e}) IN ('integer', 'real') THEN CAST({e} AS DOUBLE PRECISION) "
        f"ELSE (julianday(CASE WHEN {e} GLOB '*[ T]*[0-9][+-][0-9][0-9]' "
        f"THEN {e} || char(58) || '00' ELSE {e} END)"
        " - 2440587.5) * 86400.0 END)"
    )


_PG_NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?\s*$"
_PG_TIME = (
    r"^\s*[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"\s*(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?)?\s*$"
)
_DOUBLE_MAX = "1.7976931348623157e308"


def _pg_try_double(text: str) -> str:
    """PostgreSQL: a text as a double, or NULL; cast only what the regular expression
    admits (at most 1,000 characters and a 4-digit exponent, so ``NUMERIC`` holds it)."""
    low = f"lower(btrim({text}))"
    num = f"CAST({text} AS NUMERIC)"
    inf, dp = "CAST('Infinity' AS DOUBLE PRECISION)", "DOUBLE PRECISION"
    return (
        f"(CASE WHEN {low} IN ('nan', '+nan', '-nan') THEN CAST('NaN' AS {dp}) "
        f"WHEN {low} IN ('inf', '+inf', 'infinity', '+infinity') THEN {inf} "
        f"WHEN {low} IN ('-inf', '-infinity') THEN -{inf} "
        f"WHEN length({text}) <= 1000 AND {text} ~ '{_PG_NUMBER}' THEN (CASE "
        f"WHEN {num} > {_DOUBLE_MAX} THEN {inf} WHEN {num} < -{_DOUBLE_MAX} THEN -{inf} "
        f"WHEN abs({num}) < 1e-300 THEN CAST(0.0 AS {dp}) ELSE CAST({num} AS {dp}) END) END)"
    )


def _pg_iso_time(text: str) -> str:
    """PostgreSQL: whether a text is an ISO date and time that ``timestamptz`` accepts
    (the regular expression bounds each field; the day must exist in its month)."""
    t = f"btrim({text})"
    y, m, d = (f"CAST(substr({t}, {a}, {n}) AS INTEGER)" for a, n in ((1, 4), (6, 2), (9, 2)))
    leap = f"({y} % 4 = 0 AND ({y} % 100 <> 0 OR {y} % 400 = 0))"
    days = (
        f"CASE WHEN {m} = 2 THEN (CASE WHEN {leap} THEN 29 ELSE 28 END) "
        f"WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    )
    return (
        f"({text} ~ '{_PG_TIME}' AND substr({t}, 1, 4) <> '0000' "
        f"AND (CASE WHEN {text} ~ '{_PG_TIME}' THEN {d} <= {days} ELSE FALSE END))"
    )


_QUANTILES = {  # exact, linear interpolation between order statistics (numpy's default)
    "duckdb": "quantile_cont({e}, {q})",
    "postgresql": "percentile_cont({q}) WITHIN GROUP (ORDER BY {e})",
    "spark": "percentile({e}, {q})",  # exact (not percentile_approx)
}


def quantile_sql(dialect: str, expr: str, q: str) -> str | None:
    """The engine's exact quantile aggregate of ``expr`` at ``q`` (a literal), or ``None``
    when it has none (SQLite: :mod:`segab.sums.caps` writes it with row numbers).

    Example:
        >>> quantile_sql("postgresql", "y", "0.99"), quantile_sql("sqlite", "y", "0.99")
        ('percentile_cont(0.99) WITHIN GROUP (ORDER BY y)', None)
    """
    template = _QUANTILES.get(dialect)
    return None if template is None else template.format(e=expr, q=q)
