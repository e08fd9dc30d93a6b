"""The one SQL dialect layer: DuckDB, PostgreSQL, SQLite and Spark SQL.

Both the assignment SQL (:mod:`segab.sql.assign`, :mod:`segab.sql.conditions`) and
the analysis SQL (:mod:`segab.sums.statements`) spell engine differences through a
:class:`Dialect`; no module branches on engine names of its own, and no SQL is
rewritten after it is built. A dialect quotes, binds parameters, casts, reads
values that may not be values (:mod:`segab.sql.dialect_values`), matches regular
expressions and computes the hash-v1 bucket with the engine's own ``md5`` (see
:mod:`segab.hashing`). The names are SQLAlchemy's: ``duckdb``, ``postgresql``,
``sqlite``, ``spark``; SQLite serves the analysis only (no ``md5`` or regex).

Example:
    >>> d = get_dialect("postgresql")
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
from segab.sql.dialect_values import (
    NUMBER_TEXT,
    _no_md5,
    _pg_iso_time,
    _pg_try_decimal,
    _pg_try_double,
    _sqlite_epoch,
)

__all__ = ["DIALECTS", "NUMBER_TEXT", "Dialect", "DialectName", "get_dialect"]

DialectName = Literal["duckdb", "postgresql", "sqlite", "spark"]


@dataclass(frozen=True)
class Dialect:
    """The SQL spelling of one engine.

    ``hex8`` turns an ``md5`` hex expression into the integer value of its first
    8 hex digits; ``isnan`` tests a number for NaN (which these engines treat as
    equal to itself and greater than every number); ``code_point`` makes a
    string compare by code point; ``epoch_of`` reads a timestamp (or its text) as
    epoch seconds in the double type; ``param_prefix`` starts a named bound
    parameter (``$p0`` for DuckDB, ``:p0`` through SQLAlchemy and Spark);
    ``grouping_sets``: ``GROUP BY GROUPING SETS`` and ``GROUPING()`` (not SQLite).

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
    epoch_of: Callable[[str], str]
    param_prefix: str = ":"
    compiles_conditions: bool = True
    grouping_sets: bool = True

    def param(self, name: str) -> str:
        """The placeholder of the bound parameter ``name``.

        Example:
            >>> get_dialect("duckdb").param("p0"), get_dialect("sqlite").param("p0")
            ('$p0', ':p0')
        """
        return self.param_prefix + name

    def epoch(self, expr: str) -> str:
        """Epoch seconds (a double) of a timestamp column, or of its ISO text.

        Example:
            >>> get_dialect("spark").epoch("t")
            'CAST(CAST(t AS TIMESTAMP) AS DOUBLE)'
        """
        return self.epoch_of(expr)

    def temp_table(self, table: str, body: str, index: str | None = None) -> list[str]:
        """Statements that (re)create temporary table ``table`` from a query.

        SQLite has no ``CREATE OR REPLACE``; there the ``index`` column is indexed.

        Example:
            >>> get_dialect("sqlite").temp_table("t", "SELECT 1 AS u", "u")[0]
            'DROP TABLE IF EXISTS temp.t'
        """
        if self.name == "sqlite":
            out = [f"DROP TABLE IF EXISTS temp.{table}", f"CREATE TEMP TABLE {table} AS\n{body}"]
            if index is not None:
                out.append(f"CREATE INDEX temp.{table}_{index} ON {table} ({index})")
            return out
        return [f"CREATE OR REPLACE TEMP TABLE {table} AS\n{body}"]

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

    # -- reading numbers that may not be numbers (unit-table outcomes) --

    @property
    def typed_columns(self) -> bool:
        """Whether a column holds only values of its declared type (SQLite's need not).

        Example:
            >>> get_dialect("duckdb").typed_columns, get_dialect("sqlite").typed_columns
            (True, False)
        """
        return self.name != "sqlite"

    def try_decimal(self, expr: str) -> str:
        """The double a decimal text reads as, or NULL: never an error, never a silent 0.

        A value stored as a number is that number (SQLite, whose columns may hold
        any type); text is read when it is a decimal number as
        :data:`NUMBER_TEXT` describes (spaces around it, a sign, digits with an
        optional point, an optional exponent) and is NULL otherwise, so ``abc``,
        ``1,5``, ``0x10``, ``1_000``, ``nan`` and ``inf`` are NULL on every
        engine. A literal beyond the double range is +-infinity (``1e400``) or 0
        (``1e-400``), as IEEE rounding gives. DuckDB and Spark guard their
        ``TRY_CAST``/``try_cast`` with the pattern; PostgreSQL has no ``TRY_CAST``
        and its casts fail out of range, so it reads the text through ``NUMERIC``
        and spells the limits; SQLite's ``CAST('abc' AS REAL)`` is 0.0, so it
        tests that its own numeric affinity takes the whole text.

        Example:
            >>> get_dialect("duckdb").try_decimal("x")[:48]
            '(CASE WHEN regexp_full_match(CAST(x AS VARCHAR),'
            >>> import duckdb
            >>> con, sql = duckdb.connect(), get_dialect("duckdb").try_decimal("$v")
            >>> [con.execute(f"SELECT {sql}", {"v": v}).fetchone()[0]
            ...  for v in (" 1.5", "1e400", "abc", "nan", "1_000")]
            [1.5, inf, None, None, None]
        """
        t = self.text(expr)
        pattern = self.literal(NUMBER_TEXT)
        if self.name == "duckdb":
            return f"(CASE WHEN regexp_full_match({t}, {pattern}) THEN TRY_CAST({t} AS DOUBLE) END)"
        if self.name == "spark":  # Java's $ also matches before a final newline; \z does not
            java = self.literal(NUMBER_TEXT[:-1] + "\\z")
            return f"(CASE WHEN {t} RLIKE {java} THEN try_cast({t} AS DOUBLE) END)"
        if self.name == "postgresql":
            return _pg_try_decimal(t, pattern)
        trimmed = f"trim({expr})"
        spaces_only = f"trim({expr}, ' ' || char(9, 10, 11, 12, 13)) = {trimmed}"
        return (
            f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN CAST({expr} AS REAL) "
            f"WHEN typeof({expr}) = 'text' AND {trimmed} = CAST({trimmed} AS REAL) "
            f"AND {spaces_only} THEN CAST({trimmed} AS REAL) END)"
        )

    def isinf(self, expr: str) -> str:
        """SQL that is true when a double is +-infinity (NULL for NULL).

        Example:
            >>> get_dialect("duckdb").isinf("x"), get_dialect("sqlite").isinf("x")
            ('isinf(x)', '(abs(x) = 9e999)')
        """
        if self.name == "duckdb":
            return f"isinf({expr})"
        return f"(abs({expr}) = {self.infinity()})"

    def not_finite(self, expr: str) -> str:
        """SQL that is true when a double is NaN or +-infinity (NULL for NULL).

        Example:
            >>> get_dialect("duckdb").not_finite("x")
            'NOT isfinite(x)'
            >>> get_dialect("spark").not_finite("x")
            "NOT (x > CAST('-Infinity' AS DOUBLE) AND x < CAST('Infinity' AS DOUBLE))"
        """
        return f"NOT {self.is_finite(expr)}"

    def rows_with_position(self, relation_sql: str, path: str, file_format: str) -> str | None:
        """A FROM-clause over one file with each row's 0-based position as ``segab_pos``.

        ``relation_sql`` reads the file (a DuckDB table function); ``file_format``
        is ``csv`` or ``parquet``. DuckDB numbers the rows of any file (``WITH
        ORDINALITY``, in file order even when it reads in parallel), Spark those of
        a Parquet file (``_metadata.row_index``); None where the engine cannot tell.

        Example:
            >>> get_dialect("duckdb").rows_with_position("read_parquet('u.parquet')", "u.parquet",
            ...     "parquet")
            "(SELECT *, ordinality - 1 AS segab_pos FROM read_parquet('u.parquet') WITH ORDINALITY)"
            >>> get_dialect("sqlite").rows_with_position("t", "t", "csv") is None
            True
        """
        if self.name == "duckdb":
            return f"(SELECT *, ordinality - 1 AS segab_pos FROM {relation_sql} WITH ORDINALITY)"
        if self.name == "spark" and file_format == "parquet":
            return f"(SELECT *, _metadata.row_index AS segab_pos FROM parquet.{self.quote(path)})"
        return None

    @property
    def dynamic_types(self) -> bool:
        """Whether a column's declared type does not bound its values (SQLite: any cell may
        hold text, so every value is read with :meth:`try_double` / :meth:`try_epoch`).

        Example:
            >>> get_dialect("sqlite").dynamic_types, get_dialect("duckdb").dynamic_types
            (True, False)
        """
        return self.name == "sqlite"

    @property
    def ordered_scans(self) -> bool:
        """Whether a single-threaded scan numbers an input's rows in file order (DuckDB).

        Example:
            >>> get_dialect("duckdb").ordered_scans, get_dialect("spark").ordered_scans
            (True, False)
        """
        return self.name == "duckdb"

    def infinity(self, negative: bool = False) -> str:
        """The double ``+inf`` (or ``-inf``).

        Example:
            >>> get_dialect("sqlite").infinity(), get_dialect("postgresql").infinity(True)
            ('9e999', "CAST('-Infinity' AS DOUBLE PRECISION)")
        """
        if self.name == "sqlite":  # a literal beyond the double range reads as inf
            return "-9e999" if negative else "9e999"
        return f"CAST('{'-' if negative else ''}Infinity' AS {self.double_type})"

    def is_finite(self, expr: str) -> str:
        """True when a double is neither NaN nor +-inf (NULL stays NULL).

        Where NaN exists it compares greater than every number (DuckDB, PostgreSQL,
        Spark), so ``-inf < x < inf`` is false for it.

        Example:
            >>> get_dialect("duckdb").is_finite("v")
            'isfinite(v)'
            >>> get_dialect("sqlite").is_finite("v")
            '(v > -9e999 AND v < 9e999)'
        """
        if self.name == "duckdb":
            return f"isfinite({expr})"
        return f"({expr} > {self.infinity(True)} AND {expr} < {self.infinity()})"

    def try_double(self, expr: str) -> str:
        """A value read as a double, or NULL when it is not a number; never an error.

        ``NaN``, ``inf``, ``infinity`` (any case, signed) and literals beyond the
        double range (``1e400``) read as NaN or +-inf where the engine has them
        (the caller tests :meth:`is_finite`). DuckDB and Spark have ``TRY_CAST``;
        SQLite's ``CAST('abc' AS REAL)`` is 0.0, so there a text is a number only
        when SQLite's numeric affinity converts it (``x = CAST(x AS NUMERIC)``);
        PostgreSQL has no ``TRY_CAST``, so a text is cast only after a regular
        expression has matched a decimal number (through ``NUMERIC``, so that an
        overflowing literal is +-inf, not an error).

        Example:
            >>> import duckdb
            >>> d = get_dialect("duckdb")
            >>> sql = f"SELECT {d.try_double('x')} FROM (VALUES ('1e400'), ('abc')) t(x)"
            >>> duckdb.sql(sql).fetchall()
            [(inf,), (None,)]
        """
        if self.name == "duckdb":
            return f"TRY_CAST({expr} AS DOUBLE)"
        if self.name == "spark":
            return f"try_cast({expr} AS DOUBLE)"
        if self.name == "sqlite":
            return (
                f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN CAST({expr} AS REAL) "
                f"WHEN typeof({expr}) = 'text' AND {expr} = CAST({expr} AS NUMERIC) "
                f"THEN CAST({expr} AS REAL) END)"
            )
        return _pg_try_double(expr)

    def try_epoch(self, expr: str) -> str:
        """Epoch seconds of a time written as text (ISO 8601) or as a number of seconds,
        or NULL when it is neither; never an error. May be +-inf (test :meth:`is_finite`).

        PostgreSQL casts a text only after a regular expression has matched an ISO
        date and time and the day exists in its month; SQLite reads it with
        ``julianday`` after the same calendar check (``julianday`` alone reads
        ``2024-02-30`` as March 1st, and ``now`` as now).

        Example:
            >>> import duckdb
            >>> d = get_dialect("duckdb")
            >>> duckdb.sql(f"SELECT {d.try_epoch('x')} FROM (VALUES ('1970-01-02'), "
            ...            "('60'), ('2024-02-30')) t(x)").fetchall()
            [(86400.0,), (60.0,), (None,)]
        """
        if self.name == "duckdb":
            return f"COALESCE(epoch(TRY_CAST({expr} AS TIMESTAMPTZ)), TRY_CAST({expr} AS DOUBLE))"
        if self.name == "spark":
            return (
                f"COALESCE(CAST(try_cast({expr} AS TIMESTAMP) AS DOUBLE), "
                f"try_cast({expr} AS DOUBLE))"
            )
        if self.name == "sqlite":
            iso = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
            day = f"substr({expr}, 1, 10)"
            return (
                f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN CAST({expr} AS REAL) "
                f"WHEN typeof({expr}) <> 'text' THEN NULL "
                f"WHEN {expr} = CAST({expr} AS NUMERIC) THEN CAST({expr} AS REAL) "
                f"WHEN {day} GLOB '{iso}' AND date({day}, '+0 days') = {day} "
                f"THEN {_sqlite_epoch(expr)} END)"
            )
        text = self.text(expr)
        return (
            f"(CASE WHEN {_pg_iso_time(text)} "
            f"THEN CAST(EXTRACT(EPOCH FROM CAST({text} AS TIMESTAMPTZ)) AS DOUBLE PRECISION) "
            f"ELSE {_pg_try_double(text)} END)"
        )

    def regex(self, expr: str, pattern: str, insensitive: bool) -> str:
        """Search (not anchored) for a pattern already translated for this engine.

        See :mod:`segab.sql.regex` for the translation from Python syntax.

        Example:
            >>> get_dialect("postgresql").regex("x", "^a", True)
            "(x ~* '^a')"
        """
        if self.name == "duckdb":
            flags = ", 'i'" if insensitive else ""
            return f"regexp_matches({expr}, {self.literal(pattern)}{flags})"
        if self.name == "postgresql":
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
        epoch_of=lambda e: f"epoch(CAST({e} AS TIMESTAMPTZ))",
        param_prefix="$",
    ),
    "postgresql": Dialect(
        name="postgresql",
        quote_char='"',
        backslash_escapes=False,
        text_type="TEXT",
        double_type="DOUBLE PRECISION",
        hex8=lambda h: f"('x' || {h})::bit(32)::bigint",
        isnan=lambda e: f"({e} = CAST('NaN' AS DOUBLE PRECISION))",
        code_point=lambda e: f'{e} COLLATE "C"',
        epoch_of=lambda e: (
            f"CAST(EXTRACT(EPOCH FROM CAST({e} AS TIMESTAMPTZ)) AS DOUBLE PRECISION)"
        ),
    ),
    "sqlite": Dialect(
        name="sqlite",
        quote_char='"',
        backslash_escapes=False,
        text_type="TEXT",
        double_type="DOUBLE PRECISION",  # REAL affinity
        hex8=_no_md5,
        isnan=lambda e: f"({e} <> {e})",  # SQLite stores no NaN (it becomes NULL)
        code_point=lambda e: e,  # BINARY collation compares UTF-8 bytes: code point order
        epoch_of=_sqlite_epoch,
        compiles_conditions=False,
        grouping_sets=False,
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
        epoch_of=lambda e: f"CAST(CAST({e} AS TIMESTAMP) AS DOUBLE)",  # session time zone UTC
    ),
}


def get_dialect(name: str | Dialect) -> Dialect:
    """Look a dialect up by name (``duckdb``, ``postgresql``, ``sqlite``, ``spark``).

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
