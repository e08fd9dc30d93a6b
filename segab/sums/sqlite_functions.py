"""SQL functions SQLite lacks, registered on each connection segab opens to it.

SQLite has no ``md5()``; ``segab_bucket(key)`` is hash version 1 of
:mod:`segab.hashing` (MD5 of the UTF-8 key, first 4 bytes big-endian, modulo
10,000), an integer, registered as a deterministic function so that SQLite runs the
statements that need it (the folds of :mod:`segab.sums.folds`) inside the database.

Example:
    >>> import sqlalchemy as sa
    >>> eng = sa.create_engine("sqlite://")
    >>> eng = sqlite_functions(eng)
    >>> with eng.connect() as con:
    ...     con.execute(sa.text("SELECT segab_bucket('a|b')")).scalar()
    7185
"""

from __future__ import annotations

from typing import Any

from segab.hashing import bucket_of_key

__all__ = ["BUCKET_FUNCTION", "sqlite_functions"]

BUCKET_FUNCTION = "segab_bucket"


def _bucket(key: Any) -> int | None:
    return None if key is None else bucket_of_key(str(key))


def _register(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(BUCKET_FUNCTION, 1, _bucket, deterministic=True)


def sqlite_functions(sa_engine: Any) -> Any:
    """Register :data:`BUCKET_FUNCTION` on every connection of a SQLAlchemy SQLite engine.

    Returns the engine.

    Example:
        >>> sqlite_functions.__name__   # see the module docstring
        'sqlite_functions'
    """
    import sqlalchemy as sa

    sa.event.listen(sa_engine, "connect", _register)
    return sa_engine
