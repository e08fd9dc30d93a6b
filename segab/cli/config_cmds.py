"""``segab validate`` and ``segab schema``.

Example:
    >>> validate_command.name, schema_command.name
    ('validate', 'schema')
"""

from __future__ import annotations

import json
import os

import click

from segab.config import Registry, config_schema, load_experiments
from segab.errors import ConfigError

__all__ = ["schema_command", "validate_command"]


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--db",
    default=None,
    help="Also refuse edits that would move units of experiments running in this store "
    "(default: $SEGAB_DB when set).",
)
def validate_command(paths: tuple[str, ...], strict: bool, db: str | None) -> None:
    """Validate experiment configs; print every problem with its file and field.

    PATHS are config files or directories (default: experiments).
    Exits 0 when valid, 1 otherwise. With a store (--db or $SEGAB_DB), an edit
    to a running experiment that would move already-assigned units is refused.

    \b
    Example:
      segab validate experiments
      segab validate experiments/journey_content.yaml --strict
      segab validate experiments --db sqlite:///segab.db
    """
    try:
        registry = load_experiments(*(paths or ("experiments",)))
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(
            f"{len(exc.problems)} problem(s) found" if exc.problems else str(exc)
        ) from None
    for warning in registry.warnings:
        click.echo(f"warning: {warning}", err=True)
    if strict and registry.warnings:
        raise click.ClickException(f"{len(registry.warnings)} warning(s) with --strict")
    db = db or os.environ.get("SEGAB_DB")
    if db:
        _check_running_edits(registry, db, strict)
    click.echo(f"OK: {len(registry)} experiment(s) valid: {', '.join(sorted(registry))}")


def _check_running_edits(registry: Registry, db: str, strict: bool) -> None:
    from segab.lifecycle.commands import check_running_edit
    from segab.store import open_store

    engine = open_store(db)
    try:
        for key in sorted(registry):
            for change in check_running_edit(registry[key], engine, strict=strict):
                click.echo(f"note: {key}: {change}", err=True)
    finally:
        engine.dispose()


@click.command("schema")
@click.option("--indent", default=2, show_default=True, help="JSON indentation.")
def schema_command(indent: int) -> None:
    """Print the JSON Schema of an experiment config, for editors.

    \b
    Example:
      segab schema > experiment.schema.json
    """
    click.echo(json.dumps(config_schema(), indent=indent))
