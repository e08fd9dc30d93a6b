"""``segab db init|status`` and ``segab events import``: the store from the shell.

Thin commands: parse options, call :mod:`segab.store`, print. Errors are
raised as :class:`~segab.errors.SegabError` and become ``Error: ...`` in the
main CLI.

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(db_group, ["init", "--db", "sqlite://"]).exit_code
    0
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from segab.store import (
    import_events,
    init_store,
    make_engine,
    mask_url,
    open_store,
    resolve_url,
    store_status,
)

__all__ = ["db_group", "events_group"]

_DB_HELP = "Store URL (sqlite:///PATH or postgresql://USER@HOST/DB). Default: $SEGAB_DB or sqlite:///segab.db."
_SCHEMA_HELP = (
    "PostgreSQL schema holding the store (default: the search_path). Env: SEGAB_DB_SCHEMA."
)

db_option = click.option("--db", "db", metavar="URL", default=None, help=_DB_HELP)
schema_option = click.option(
    "--schema", metavar="NAME", default=None, envvar="SEGAB_DB_SCHEMA", help=_SCHEMA_HELP
)


@click.group("db")
def db_group() -> None:
    """Create and inspect the persistent store.

    \b
    Example:
      segab db init --db sqlite:///segab.db
      segab db status --db postgresql://app@db.internal/ab --schema segab
    """


@db_group.command("init")
@db_option
@schema_option
def init_command(db: str | None, schema: str | None) -> None:
    """Create the store's tables (idempotent; refuses a store of another version).

    \b
    Example:
      segab db init --db sqlite:///segab.db
    """
    url = resolve_url(db)
    version = init_store(make_engine(url, schema=schema))
    where = mask_url(url) + (f" (schema {schema})" if schema else "")
    click.echo(f"store ready at {where}: schema version {version}")


@db_group.command("status")
@db_option
@schema_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(db: str | None, schema: str | None, as_json: bool) -> None:
    """Show the store URL, schema version and the number of rows per table.

    \b
    Example:
      segab db status --db sqlite:///segab.db --json
    """
    status = store_status(make_engine(resolve_url(db), schema=schema))
    if as_json:
        click.echo(json.dumps(status, indent=2, sort_keys=True))
        return
    click.echo(f"store:          {status['url']}")
    if status["schema"]:
        click.echo(f"schema:         {status['schema']}")
    click.echo(f"dialect:        {status['dialect']}")
    click.echo(
        f"schema version: {status['schema_version']} (this segab: "
        f"{status['expected_schema_version']})"
    )
    width = max(len(name) for name in status["tables"])
    for name, count in status["tables"].items():
        click.echo(f"  {name:<{width}}  {count:>12,}")


@click.group("events")
def events_group() -> None:
    """Load outcome events into the store.

    \b
    Example:
      segab events import events.parquet --db postgresql://app@db.internal/ab
    """


@events_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@schema_option
@click.option("--unit-column", default="unit_id", show_default=True, help="Column with unit ids.")
@click.option("--event-column", default="event", show_default=True, help="Column with event names.")
@click.option(
    "--value-column", default="value", show_default=True, help="Column with values (optional)."
)
@click.option(
    "--timestamp-column", default="timestamp", show_default=True, help="Column with ISO-8601 times."
)
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option("--show", default=10, show_default=True, metavar="N", help="Bad rows to list.")
def import_command(
    file: Path,
    db: str | None,
    schema: str | None,
    unit_column: str,
    event_column: str,
    value_column: str,
    timestamp_column: str,
    strict: bool,
    show: int,
) -> None:
    """Import events from a CSV or Parquet FILE (columns unit_id, event, timestamp[, value]).

    Bad rows (empty unit or event; a time that is not ISO-8601; a value that is
    NaN, infinite, too large such as 1e400, or text) are skipped, counted by
    column and kind, and the first --show are listed with their row numbers
    (1 = first data row); --strict refuses the whole file instead. Importing
    a file again stores nothing twice: rows already in the store are counted,
    not added. The store must exist (segab db init).

    \b
    Example:
      segab events import events.csv --db sqlite:///segab.db --unit-column user_id
    """
    engine = open_store(db, schema=schema)
    result = import_events(
        engine,
        file,
        columns={
            "unit_id": unit_column,
            "event": event_column,
            "value": value_column,
            "timestamp": timestamp_column,
        },
        strict=strict,
        max_problems=max(show, 0),
    )
    click.echo(result.summary())
    if result.imported + result.already_present + result.bad_rows == 0:
        click.echo(f"  {file}: no data rows, nothing to import", err=True)
    if result.bad_counts:
        click.echo(f"  bad fields (rows left out): {_counts_text(result.bad_counts)}", err=True)
    for problem in result.problems[:show]:
        click.echo(f"  {problem}", err=True)
    hidden = result.bad_rows - min(len(result.problems), show)
    if hidden > 0:
        click.echo(f"  ... and {hidden} more bad row(s)", err=True)


def _counts_text(counts: dict[str, dict[str, int]]) -> str:
    """``{"value": {"nan": 2}}`` as ``value: 2 nan``.

    Example:
        >>> _counts_text({"value": {"nan": 2, "text": 1}, "timestamp": {"unparseable": 1}})
        'value: 2 nan, 1 text; timestamp: 1 unparseable'
    """
    return "; ".join(
        f"{column}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        for column, kinds in counts.items()
    )
