"""Where the data lives: the :class:`Engine` protocol and its DuckDB and SQLAlchemy engines.

An engine (DuckDB for files and DataFrames, a SQLAlchemy database, or Spark in
:mod:`segab.sums.spark`) resolves each input into a :class:`Relation` (FROM-clause
SQL, column names, types) and runs statements, returning only their small result
as a pandas DataFrame (``query``) or as plain rows (``rows``). pandas is imported
only when a DataFrame is needed, so a command can start DuckDB's work while pandas
is still loading. The shell opens an engine with :func:`open_engine` and hands it
to the library; the library never opens a database or a Spark session itself.

- A path ending in ``.csv`` (or ``.csv.gz``, ``.tsv``, ``.txt``) is read with DuckDB's
  ``read_csv`` (header required; the id columns are read as text, so ``007`` stays ``007``),
  a path ending in ``.parquet`` with ``read_parquet``; a glob such as ``exposures/*.parquet``
  works too. Files are checked first and CSV is read strictly (:mod:`segab.sums.files`);
  read errors name the file and line (:mod:`segab.sums.read_errors`).
- A pandas DataFrame is registered into the DuckDB connection (no copy).
- With a database URL (``postgresql+psycopg://...``, ``sqlite:///file.db``) the
  inputs are table names, optionally ``schema.table``, aggregated by that database.

DuckDB runs with ``memory_limit`` ``SEGAB_DUCKDB_MEMORY_LIMIT`` (default ``250MB``: a whole
``segab analyze`` of 10M + 10M rows stays under 600 MB RSS, spilling to a temporary directory
beyond it; raise it for speed), ``threads`` ``SEGAB_DUCKDB_THREADS`` (default: all cores) and
time zone UTC (timestamps without an offset are UTC). SQLite gets :mod:`.sqlite_functions`.

Example:
    >>> import pandas as pd
    >>> with open_engine(None) as eng:
    ...     rel = eng.relation(pd.DataFrame({"a": [1, 2]}), "units", text_columns=())
    ...     int(eng.query(f"SELECT SUM(a) AS s FROM {rel.sql}", {})["s"][0])
    3
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union

from segab.errors import DataError, MissingColumnError, SqlError
from segab.sums.files import (
    CsvLayout,
    check_parquet,
    check_sqlite_database,
    csv_layout,
    duckdb_csv_options,
    file_kind,
    input_files,
    parquet_top_level,
    scan_csv,
    unique_columns,
)
from segab.sums.read_errors import file_read_error, first_line, located_csv_error, reraise_interrupt
from segab.sums.sqlite_functions import sqlite_functions

if TYPE_CHECKING:
    import pandas as pd

_T = TypeVar("_T")

__all__ = [
    "Engine",
    "Relation",
    "Source",
    "SqlEngine",
    "SqlRunner",
    "open_engine",
    "quote_ident",
    "quote_literal",
    "require_columns",
]

Layouts = Mapping[str, CsvLayout] | None  # the CSV files of a relation, and their headers
# a Union of strings: the alias exists at run time without importing pandas
Source = Union[str, "os.PathLike[str]", "pd.DataFrame"]


def is_frame(source: object) -> bool:
    """Whether ``source`` is a pandas DataFrame (without importing pandas for other inputs).

    Example:
        >>> is_frame("exposures.csv")
        False
    """
    if isinstance(source, str | os.PathLike) or "pandas" not in sys.modules:
        return False  # nothing made a DataFrame before pandas was imported
    import pandas as pd

    return isinstance(source, pd.DataFrame)


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB, PostgreSQL and SQLite alike.

    Example:
        >>> print(quote_ident('x"y'))
        "x""y"
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal (used only for file paths in DuckDB table functions).

    Example:
        >>> quote_literal("it's.csv")
        "'it''s.csv'"
    """
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Relation:
    """A table-like input: its FROM-clause SQL, column names and lower-case SQL types.

    Example:
        >>> Relation('"events"', ("unit", "event"), {"unit": "varchar"}).has("event")
        True
    """

    sql: str
    columns: tuple[str, ...]
    types: Mapping[str, str]
    label: str = "<table>"

    def has(self, column: str) -> bool:
        """Whether the relation has ``column``.

        Example:
            >>> Relation("t", ("a",), {}).has("b")
            False
        """
        return column in self.columns

    def kind(self, column: str) -> str:
        """``numeric``, ``float``, ``bool`` or ``other`` for a column's SQL type.

        Example:
            >>> Relation("t", ("a",), {"a": "double"}).kind("a")
            'float'
        """
        t = self.types.get(column, "").lower()
        if t.startswith(("double", "float", "real")):
            return "float"
        if t.startswith(("bool",)):
            return "bool"
        if any(w in t for w in ("int", "decimal", "numeric")):
            return "numeric"
        return "other"


_COUNTER = itertools.count()


def require_columns(rel: Relation, expected: Sequence[str], role: str) -> None:
    """Raise :class:`MissingColumnError` naming the input, its columns and the expected ones.

    Example:
        >>> try:
        ...     require_columns(Relation("t", ("a",), {}, "events.csv"), ["a", "b"], "events")
        ... except MissingColumnError as exc:
        ...     print(exc)
        events.csv: missing column(s) ['b'] in the events table; it has ['a']; expected ['a', 'b']
    """
    missing = [c for c in expected if not rel.has(c)]
    if missing:
        raise MissingColumnError(
            f"{rel.label}: missing column(s) {missing} in the {role} table; "
            f"it has {list(rel.columns)}; expected {list(expected)}"
        )


class SqlRunner(Protocol):
    """What the statement builders need of an engine (:class:`Engine` has it).

    Example:
        >>> isinstance(SqlRunner, type)
        True
    """

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """Run one statement; its (small) result as a DataFrame."""
        ...

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        """Run one statement whose result is not needed."""
        ...

    def rows(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement; its column names and rows as tuples."""
        ...


class Engine(SqlRunner, Protocol):
    """What the sums need of an engine: its dialect's name, relations, statements, close.

    :class:`SqlEngine` (DuckDB, SQLAlchemy) and
    :class:`segab.sums.spark.SparkEngine` implement it.

    Example:
        >>> isinstance(Engine, type)
        True
    """

    dialect: str

    def relation(self, source: Source, role: str, text_columns: Iterable[str]) -> Relation:
        """Resolve a path, DataFrame or table name into a :class:`Relation`."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


class SqlEngine:
    """A DuckDB connection or a SQLAlchemy engine, with its dialect's name.

    Example:
        >>> with open_engine("sqlite://") as eng:
        ...     eng.dialect
        'sqlite'
    """

    def __init__(self, dialect: str, con: Any, temp_dir: str | None = None) -> None:
        self.dialect = dialect
        self.con = con
        self._temp_dir = temp_dir
        self._conn: Any = None  # SQLite: one connection, so temporary tables persist
        self._parquet: list[str] = []  # Parquet files read: named when a read fails

    def relation(self, source: Source, role: str, text_columns: Iterable[str]) -> Relation:
        """Resolve a path, DataFrame or table name into a :class:`Relation`.

        ``text_columns`` are read as text from CSV files (ids, names).

        Example:
            >>> import pandas as pd
            >>> with open_engine(None) as eng:
            ...     eng.relation(pd.DataFrame({"u": ["a"]}), "events", ()).columns
            ('u',)
        """
        if self.dialect == "duckdb":  # each name once: DuckDB rejects a repeated one
            return self._duck_relation(source, role, tuple(dict.fromkeys(text_columns)))
        if is_frame(source):
            raise DataError(
                f"{role}: a DataFrame cannot be read from a database URL; pass a table name "
                "or drop --db"
            )
        return self._sa_relation(str(source), role)

    def _duck_relation(self, source: Source, role: str, text_columns: tuple[str, ...]) -> Relation:
        if is_frame(source):
            unique_columns(map(str, source.columns), f"<{role} DataFrame>")  # type: ignore[union-attr]
            name = f"segab_{role}_{next(_COUNTER)}"
            self.con.register(name, source)
            return self._describe(quote_ident(name), f"<{role} DataFrame>", expected="a DataFrame")
        path = str(source)
        files = input_files(path, role)
        kind = file_kind(path)
        if kind == "parquet":
            for name in files:
                check_parquet(name, role)
            self._parquet.extend(files)
            sql = f"read_parquet({quote_literal(path)})"
            rel = self._describe(sql, path, expected="an intact Parquet file")
            meta = f"SELECT name, num_children FROM parquet_schema({quote_literal(files[0])})"
            schema = self._guard(lambda: self.con.execute(meta).fetchall())
            unique_columns(parquet_top_level(schema), files[0])
            return rel
        if kind == "csv":
            layouts = {name: csv_layout(name, role) for name in files}
            head = f"read_csv({quote_literal(path)}, {duckdb_csv_options(layouts[files[0]])}"
            rel = self._describe(head + ")", path, layouts)
            texts = [c for c in text_columns if rel.has(c)]
            if not texts:
                return rel
            types = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in texts)
            return self._describe(f"{head}, types = {{{types}}})", path, layouts)
        raise DataError(f"{path}: unsupported file type ({role} table); expected .csv or .parquet")

    def _describe(
        self, sql: str, label: str, layouts: Layouts = None, expected: str = "a CSV file"
    ) -> Relation:
        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
        except Exception as exc:  # duckdb raises many exception types
            reraise_interrupt(exc)
            located = located_csv_error(str(exc), label)
            if located is None and layouts:  # DuckDB could not detect the dialect: find why
                located = next(filter(None, (scan_csv(f, lay) for f, lay in layouts.items())), None)
            fallback = f"{label}: cannot read: {first_line(exc)}; expected {expected}"
            raise DataError(located or fallback) from None
        return Relation(
            sql, tuple(r[0] for r in rows), {r[0]: str(r[1]).lower() for r in rows}, label
        )

    def _sa_relation(self, name: str, role: str) -> Relation:
        import sqlalchemy as sa

        schema, _, table = name.rpartition(".")
        where = self.con.url.render_as_string(hide_password=True)
        check_sqlite_database(self.con.url)
        try:
            cols = sa.inspect(self.con).get_columns(table, schema=schema or None)
        except sa.exc.NoSuchTableError:
            cols = []
        except sa.exc.SQLAlchemyError as exc:
            raise SqlError(
                f"{where} table {name}: cannot read the {role} table: {first_line(exc)}; "
                f"expected a readable {self.dialect} database"
            ) from None
        if not cols:
            raise DataError(
                f"{name}: no such table in {where} ({role} table); expected an existing table"
            )
        sql = ".".join(quote_ident(p) for p in ([schema] if schema else []) + [table])
        types = {str(c["name"]): str(c["type"]).lower() for c in cols}
        label = f"{where} table {name}"
        return Relation(sql, tuple(types), types, label)

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """Run one statement and return its (small) result as a DataFrame.

        Example:
            >>> with open_engine(None) as eng:
            ...     eng.query("SELECT $p0 + 1 AS x", {"p0": 1})["x"].tolist()
            [2]
        """
        columns, rows = self.rows(sql, params) if self.dialect != "duckdb" else ([], [])
        if self.dialect == "duckdb" and (cursor := self._run(sql, params)).description:
            return self._guard(cursor.df)  # pandas is imported once DuckDB has run it
        import pandas as pd

        return pd.DataFrame(rows, columns=columns) if columns else pd.DataFrame()

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        """Run one statement whose result is not needed (``CREATE``, ``COPY``, ``SET``).

        Example:
            >>> with open_engine(None) as eng:
            ...     eng.execute("CREATE TEMP TABLE t AS SELECT $p0 AS x", {"p0": 1})
            ...     eng.rows("SELECT x FROM t", {})
            (['x'], [(1,)])
        """
        if self.dialect == "duckdb":
            self._run(sql, params)
        else:
            self.rows(sql, params)

    def rows(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement and return its column names and (few) rows as tuples.

        Example:
            >>> with open_engine(None) as eng:
            ...     eng.rows("SELECT $p0 + 1 AS x", {"p0": 1})
            (['x'], [(2,)])
        """
        if self.dialect == "duckdb":
            cursor = self._run(sql, params)
            if not cursor.description:
                return [], []
            return [d[0] for d in cursor.description], self._guard(cursor.fetchall)
        import sqlalchemy as sa

        def fetch(result: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            if not result.returns_rows:
                return [], []
            return list(result.keys()), [tuple(r) for r in result.fetchall()]

        def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            if self.dialect == "sqlite":
                if self._conn is None:
                    self._conn = self.con.connect()
                return fetch(self._conn.execute(sa.text(sql), self._used(sql, params)))
            with self.con.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SET TIME ZONE 'UTC'"))
                return fetch(conn.execute(sa.text(sql), self._used(sql, params)))

        return self._guard(run)

    @staticmethod
    def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
        used = set(re.findall(r"[$:](p\d+)\b", sql))
        return {k: v for k, v in params.items() if k in used}

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        """Execute on DuckDB; the cursor."""
        return self._guard(lambda: self.con.execute(sql, self._used(sql, params) or None))

    def _guard(self, call: Callable[[], _T]) -> _T:
        """``call()``, with errors as :class:`SqlError`, file read errors as located DataErrors."""
        try:
            return call()
        except Exception as exc:
            if isinstance(exc, DataError | SqlError):
                raise
            reraise_interrupt(exc)
            error = file_read_error(exc, self._parquet)
            if error is not None:
                raise error from None
            raise SqlError(f"{self.dialect} query failed: {first_line(exc)}") from None

    def close(self) -> None:
        """Close the connection (DuckDB) or dispose of the engine (SQLAlchemy).

        Example:
            >>> open_engine.__name__
            'open_engine'
        """
        if self.dialect == "duckdb":
            self.con.close()
        else:
            if self._conn is not None:
                self._conn.close()
            self.con.dispose()


@contextmanager
def open_engine(
    db_url: str | None = None, *, kind: str = "auto", spark_master: str | None = None
) -> Iterator[Engine]:
    """Open the engine the shell asked for, and close it afterwards.

    ``kind`` is ``auto`` (an in-process DuckDB, or the database of ``db_url``),
    ``duckdb`` (the same) or ``spark`` (a Spark session; ``spark_master`` is a
    cluster URL, default ``local[*]``).

    Example:
        >>> with open_engine() as eng:
        ...     eng.dialect
        'duckdb'
    """
    if kind == "spark":
        if db_url is not None:
            raise DataError("engine: found spark with a database URL, expected one or the other")
        from segab.sums.spark import open_spark_engine

        with open_spark_engine(master=spark_master) as spark_engine:
            yield spark_engine
        return
    if kind not in ("auto", "duckdb"):
        raise DataError(f"engine: found {kind!r}, expected auto, duckdb or spark")
    with _open_sql_engine(db_url) as engine:
        yield engine


@contextmanager
def _open_sql_engine(db_url: str | None) -> Iterator[SqlEngine]:
    spill = f"segab-duckdb-{os.getpid()}-"  # the CLI's watchdog finds it by pid
    temp_dir = tempfile.mkdtemp(prefix=spill) if db_url is None else None
    engine: SqlEngine | None = None
    try:
        engine = _duckdb_engine(temp_dir) if temp_dir is not None else _sa_engine(str(db_url))
        yield engine
    finally:
        if engine is not None:
            engine.close()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _duckdb_engine(temp_dir: str) -> SqlEngine:
    import duckdb

    con = duckdb.connect(
        config={
            "memory_limit": os.environ.get("SEGAB_DUCKDB_MEMORY_LIMIT", "250MB"),
            "temp_directory": temp_dir,
            "preserve_insertion_order": False,
        }
    )
    threads = os.environ.get("SEGAB_DUCKDB_THREADS")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return SqlEngine("duckdb", con, temp_dir)


def _sa_engine(db_url: str) -> SqlEngine:
    import sqlalchemy as sa

    try:
        sa_engine = sa.create_engine(db_url)
    except Exception as exc:
        raise SqlError(f"{db_url}: cannot open the database: {exc}") from None
    name = sa_engine.dialect.name
    if name not in ("postgresql", "sqlite"):
        raise SqlError(f"{db_url}: unsupported database {name!r}; expected postgresql or sqlite")
    return SqlEngine(name, sqlite_functions(sa_engine) if name == "sqlite" else sa_engine)
