"""Sticky assignment from the store: a unit's earlier variant is its stored exposure.

:class:`StoreStickyLookup` implements :class:`segab.sticky.StickyLookup` on the
``exposures`` table (one row per experiment, iteration, unit and stage: the
first exposure the logger stored). ``previous`` is one indexed read by primary
key; :meth:`StoreStickyLookup.load` reads a whole iteration at once, for bulk
assignment in Python. :func:`exposures_arrow` streams the same rows as an Arrow
table for an engine to join (DuckDB, Spark), and :func:`exposures_sql` is the
query that selects them where the store and the units share a database.

Example:
    >>> from segab.store.engine import make_engine, init_store
    >>> from segab.store.exposures import ExposureRow, log_exposures
    >>> engine = make_engine("sqlite://"); _ = init_store(engine)
    >>> _ = log_exposures(engine, [ExposureRow("e", 1, "u1", "young", "buy", "a")])
    >>> lookup = StoreStickyLookup(engine)
    >>> lookup.previous("e", 1, "u1", "young", "buy"), lookup.previous("e", 1, "u1", "old", "buy")
    ('a', None)
    >>> len(lookup.load("e", 1)), exposures_arrow(engine, "e", 1).num_rows
    (1, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segab.errors import StoreError
from segab.sql.dialects import Dialect, get_dialect
from segab.sticky import InMemoryStickyLookup
from segab.store.engine import describe_error

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["StoreStickyLookup", "exposures_arrow", "exposures_sql"]

_ONE = sa.text(
    "SELECT segment, variant FROM exposures WHERE experiment = :e AND iteration = :i "
    "AND unit_id = :u AND stage = :s"
)
_ALL = sa.text(
    "SELECT unit_id, segment, stage, variant FROM exposures "
    "WHERE experiment = :e AND iteration = :i"
)
_BATCH = 65_536


class StoreStickyLookup:
    """Earlier variants read from the store's ``exposures`` (a :class:`StickyLookup`).

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> StoreStickyLookup(engine).previous("e", 1, "u1", "young", "buy") is None
        True
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def previous(
        self, experiment: str, iteration: int, unit_id: str, segment: str, stage: str
    ) -> str | None:
        """The stored variant of the unit at this stage, if it was stored for this segment.

        Example:
            >>> from segab.store.engine import make_engine, init_store
            >>> engine = make_engine("sqlite://"); _ = init_store(engine)
            >>> StoreStickyLookup(engine).previous("e", 1, "u9", "s", "buy") is None
            True
        """
        params = {"e": experiment, "i": iteration, "u": unit_id, "s": stage}
        try:
            with self.engine.connect() as conn:
                row = conn.execute(_ONE, params).first()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read exposures: {describe_error(exc)}") from None
        if row is None or row[0] != segment:
            return None
        return str(row[1])

    def load(self, experiment: str, iteration: int) -> InMemoryStickyLookup:
        """Every stored exposure of one experiment iteration, in memory (bulk assignment).

        Example:
            >>> from segab.store.engine import make_engine, init_store
            >>> engine = make_engine("sqlite://"); _ = init_store(engine)
            >>> len(StoreStickyLookup(engine).load("e", 1))
            0
        """
        rows = (
            (experiment, iteration, u, seg, st, v)
            for batch in _batches(self.engine, experiment, iteration)
            for u, seg, st, v in batch
        )
        return InMemoryStickyLookup(rows)


def _batches(engine: Engine, experiment: str, iteration: int) -> list[list[tuple[str, ...]]]:
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                _ALL, {"e": experiment, "i": iteration}
            )
            out = []
            while chunk := result.fetchmany(_BATCH):
                out.append([tuple(r) for r in chunk])
            return out
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot read exposures: {describe_error(exc)}") from None


def exposures_arrow(engine: Engine, experiment: str, iteration: int) -> pa.Table:
    """The stored exposures of one iteration as Arrow (``unit_id, segment, stage, variant``).

    What :func:`segab.sql.assign.assignment_sql` joins as ``previous`` in an engine
    that cannot read the store itself (DuckDB, Spark).

    Example:
        >>> from segab.store.engine import make_engine, init_store
        >>> engine = make_engine("sqlite://"); _ = init_store(engine)
        >>> exposures_arrow(engine, "e", 1).column_names
        ['unit_id', 'segment', 'stage', 'variant']
    """
    import pyarrow as pa

    names = ["unit_id", "segment", "stage", "variant"]
    schema = pa.schema([(n, pa.string()) for n in names])
    batches = [
        pa.RecordBatch.from_arrays(
            [pa.array([r[i] for r in chunk], pa.string()) for i in range(4)], schema=schema
        )
        for chunk in _batches(engine, experiment, iteration)
    ]
    return pa.Table.from_batches(batches, schema=schema)


def exposures_sql(
    dialect: str | Dialect, experiment: str, iteration: int, table: str = "exposures"
) -> str:
    """A subquery of the store's exposures of one iteration, for a database holding both.

    Pass it as ``previous`` to :func:`segab.sql.assign.assignment_sql` when the
    units and the store are in the same PostgreSQL database (or a Spark table
    copied from it): the join then runs there. ``table`` may be schema-qualified.

    Example:
        >>> print(exposures_sql("postgresql", "e", 2, "ab.exposures"))
        (SELECT unit_id, segment, stage, variant FROM "ab"."exposures" WHERE experiment = 'e' \
AND iteration = 2)
    """
    d = get_dialect(dialect)
    name = ".".join(d.quote(part) for part in table.split("."))
    return (
        f"(SELECT unit_id, segment, stage, variant FROM {name} "
        f"WHERE experiment = {d.literal(experiment)} AND iteration = {int(iteration)})"
    )
