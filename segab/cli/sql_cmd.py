"""``segab sql``: print the SQL that assigns units inside DuckDB, PostgreSQL or Spark.

Example:
    >>> sql_group.name, sorted(sql_group.commands)
    ('sql', ['assign'])
"""

from __future__ import annotations

from typing import get_args

import click

from segab.cli.options import experiments_option
from segab.config import load_experiments
from segab.sql.assign import assignment_sql
from segab.sql.conditions import ColumnKind

__all__ = ["sql_group"]

_KINDS = get_args(ColumnKind)


def _columns(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, ColumnKind] | None:
    if not values:
        return None
    kinds: dict[str, ColumnKind] = {}
    for text in values:
        name, sep, kind = text.partition("=")
        if not sep or not name or kind not in _KINDS:
            raise click.BadParameter(
                f"{text!r}: expected NAME=KIND with KIND one of {', '.join(_KINDS)}"
            )
        kinds[name] = kind  # type: ignore[assignment]
    return kinds


@click.group("sql")
def sql_group() -> None:
    """Generate SQL that runs segab's logic inside a database or Spark.

    \b
    Example:
      segab sql assign journey_content --dialect duckdb --source users
    """


@sql_group.command("assign")
@click.argument("key")
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "postgresql", "postgres", "spark"]),
    required=True,
    help="SQL engine to generate for (postgres is short for postgresql).",
)
@experiments_option
@click.option(
    "--source",
    default="units",
    show_default=True,
    help="Table with the unit column, 'stage' and the attribute columns (or a (subquery)).",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    callback=_columns,
    help="Column type NAME=KIND (number, float, string, boolean, null), repeatable. "
    "When given, columns not listed are missing attributes.",
)
@click.option(
    "--exposures",
    "exposures_table",
    metavar="TABLE",
    default=None,
    help="Sticky: the store's exposures table in the same database (e.g. exposures or "
    "ab.exposures), joined so that units already exposed in their cell keep their variant.",
)
@click.option(
    "--db",
    metavar="URL",
    default=None,
    help="Store URL: bandit cells at its latest allocation period (else their declared weights).",
)
def assign_sql_command(
    key: str,
    dialect: str,
    experiments_dir: str,
    source: str,
    columns: dict[str, ColumnKind] | None,
    exposures_table: str | None,
    db: str | None,
) -> None:
    """Print a query assigning every row of SOURCE to a variant of experiment KEY.

    The query returns unit_id, experiment, iteration, segment, stage, variant,
    bucket, in_experiment and reason, exactly as `segab assign --input` does;
    rows with an empty id or an unknown stage are left out. Without --column,
    each column is assumed to have the type of the values it is compared with.

    \b
    Example:
      segab sql assign loyalty_offer --dialect postgres --source customers \\
          --column age=number --column channel=string
    Example, sticky, in the database that holds the store:
      segab sql assign journey_content --dialect postgres --source users \\
          --exposures exposures --db postgresql://app@db.internal/ab
    """
    experiment = load_experiments(experiments_dir)[key]
    name = "postgresql" if dialect == "postgres" else dialect
    period = None
    if db is not None:
        from segab.cli.assign_cmd import adaptive_inputs

        period = adaptive_inputs(experiment, db, None).period
    previous = None
    if exposures_table is not None:
        from segab.store.sticky import exposures_sql

        previous = exposures_sql(name, experiment.key, experiment.iteration, exposures_table)
    query = assignment_sql(
        experiment, name, source, columns=columns, period=period, previous=previous
    )
    click.echo(query + ";")
