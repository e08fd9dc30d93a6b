"""Per-dialect SQL pieces for DuckDB, PostgreSQL and Spark SQL.

Each :class:`Dialect` knows how to quote identifiers and string literals, cast
to text and to a double, concatenate strings, compare strings by code point,
match regular expressions and compute the hash-v1 bucket with the engine's own
``md5``: the first 8 hex digits of the digest read as an unsigned integer,
modulo 10,000 (see :mod:`segab.hashing`).

Example:
    >>> d = get_dialect("postgres")
    >>> d.quote('device.os'), d.literal("it's")
    ('"device.os"', "'it''s'")
    >>> d.bucket("k")
    "(('x' || substr(md5(k), 1, 8))::bit(32)::bigint % 10000)"
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from segab.errors import SqlError
from segab.hashing import BUCKETS

__all__ = ["DIALECTS", "Dialect", "DialectName", "get_dialect"]

DialectName = Literal["duckdb", "postgres", "spark"]


@dataclass(frozen=True)
class Dialect:
    """The SQL spelling of one engine.

    ``hex8`` turns an ``md5`` hex expression into the integer value of its first
    8 hex digits; ``isnan`` tests a number for NaN (which these engines treat as
    equal to itself and greater than every number); ``code_point`` makes a
    string compare by code point.

    Example:
        >>> get_dialect("spark").quote("a`b")
        '`a``b`'
    """

    name: DialectName
    quote_char: str
    backslash_escapes: bool
    text_type: str
    double_type: str
    hex8: Callable[[str], str]
    isnan: Callable[[str], str]
    code_point: Callable[[str], str]

    def quote(self, identifier: str) -> str:
        """Quote an identifier (a column or table name), doubling embedded quote characters.

        Example:
            >>> get_dialect("duckdb").quote('loyalty.tier')
            '"loyalty.tier"'
        """
        q = self.quote_char
        return q + identifier.replace(q, q + q) + q

    def literal(self, text: str) -> str:
        """A string literal; Spark SQL also escapes backslashes.

        Example:
            >>> get_dialect("spark").literal("a'b\\\\c")
            "'a\\\\'b\\\\\\\\c'"
        """
        if self.backslash_escapes:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if "\x00" in text:
            raise SqlError(f"a NUL character cannot appear in a {self.name} string literal")
        return "'" + text.replace("'", "''") + "'"

    def number(self, value: int | float) -> str:
        """A numeric literal: integers as written, floats as an exact cast from text.

        Example:
            >>> get_dialect("duckdb").number(3), get_dialect("duckdb").number(0.5)
            ('3', "CAST('0.5' AS DOUBLE)")
        """
        if isinstance(value, int):
            return str(value)
        text = repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"CAST('{text}' AS {self.double_type})"

    def text(self, expr: str) -> str:
        """Cast an expression to the engine's string type.

        Example:
            >>> get_dialect("spark").text("id")
            'CAST(id AS STRING)'
        """
        return f"CAST({expr} AS {self.text_type})"

    def concat(self, *parts: str) -> str:
        """Concatenate string expressions (none of them NULL here).

        Example:
            >>> get_dialect("duckdb").concat("'a|'", "x")
            "concat('a|', x)"
        """
        return "concat(" + ", ".join(parts) + ")"

    def bucket(self, key: str) -> str:
        """Hash v1 of a key string expression: ``int(md5(key)[:8], 16) % 10000``.

        Example:
            >>> get_dialect("duckdb").bucket("k")
            "(('0x' || substr(md5(k), 1, 8))::UBIGINT % 10000)"
        """
        return f"({self.hex8(f'substr(md5({key}), 1, 8)')} % {BUCKETS})"

    def digest_word(self, key: str) -> str:
        """First step of :meth:`bucket` in two steps: an integer made of the digest's first 4 bytes.

        On DuckDB this is ``md5_number`` (the digest read little-endian) masked to
        its low 32 bits, about 30% faster than formatting and parsing hex digits;
        :meth:`bucket_of_word` then swaps the bytes. Elsewhere it is the bucket.

        Example:
            >>> get_dialect("duckdb").digest_word("k")
            '(md5_number(k) & 4294967295::UHUGEINT)::UBIGINT'
        """
        if self.name == "duckdb":
            return f"(md5_number({key}) & 4294967295::UHUGEINT)::UBIGINT"
        return self.bucket(key)

    def bucket_of_word(self, word: str) -> str:
        """Second step: the bucket from a *column* holding :meth:`digest_word` (used 4 times).

        Example:
            >>> get_dialect("spark").bucket_of_word("w")
            'w'
        """
        if self.name != "duckdb":
            return word
        w = word
        swapped = (
            f"((({w} & 255) << 24) | ((({w} >> 8) & 255) << 16) "
            f"| ((({w} >> 16) & 255) << 8) | ({w} >> 24))"
        )
        return f"({swapped} % {BUCKETS})"

    def regex(self, expr: str, pattern: str, insensitive: bool) -> str:
        """Search (not anchored) for a pattern already translated for this engine.

        See :mod:`segab.sql.regex` for the translation from Python syntax.

        Example:
            >>> get_dialect("postgres").regex("x", "^a", True)
            "(x ~* '^a')"
        """
        if self.name == "duckdb":
            flags = ", 'i'" if insensitive else ""
            return f"regexp_matches({expr}, {self.literal(pattern)}{flags})"
        if self.name == "postgres":
            return f"({expr} {'~*' if insensitive else '~'} {self.literal(pattern)})"
        return f"({expr} RLIKE {self.literal(('(?iu)' if insensitive else '') + pattern)})"


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect(
        name="duckdb",
        quote_char='"',
        backslash_escapes=False,
        text_type="VARCHAR",
        double_type="DOUBLE",
        hex8=lambda h: f"('0x' || {h})::UBIGINT",
        isnan=lambda e: f"isnan({e})",
        code_point=lambda e: e,
    ),
    "postgres": Dialect(
        name="postgres",
        quote_char='"',
        backslash_escapes=False,
        text_type="TEXT",
        double_type="DOUBLE PRECISION",
        hex8=lambda h: f"('x' || {h})::bit(32)::bigint",
        isnan=lambda e: f"({e} = CAST('NaN' AS DOUBLE PRECISION))",
        code_point=lambda e: f'{e} COLLATE "C"',
    ),
    "spark": Dialect(
        name="spark",
        quote_char="`",
        backslash_escapes=True,
        text_type="STRING",
        double_type="DOUBLE",
        hex8=lambda h: f"CAST(conv({h}, 16, 10) AS BIGINT)",
        isnan=lambda e: f"isnan({e})",
        code_point=lambda e: e,
    ),
}


def get_dialect(name: str | Dialect) -> Dialect:
    """Look a dialect up by name (``duckdb``, ``postgres``, ``spark``).

    Example:
        >>> get_dialect("duckdb").name
        'duckdb'
    """
    if isinstance(name, Dialect):
        return name
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise SqlError(f"unknown SQL dialect {name!r}; expected one of {known}") from None
