"""``segab allocate``: new traffic weights for an experiment's bandit cells (thin).

Example:
    >>> allocate_command.name
    'allocate'
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from segab.cli.options import experiments_option, parse_now
from segab.errors import SegabError
from segab.report.terminal import cell, cells

__all__ = ["allocate_command"]

_COLUMNS = (
    "segment",
    "stage",
    "status",
    "variant",
    "units",
    "previous_weight",
    "weight",
    "slice_buckets",
    "prob_best",
    "expected_loss",
    "graduated",
)


def _table_row(r: dict[str, Any]) -> tuple[str, ...]:
    """A compact row (the CSV and JSON carry every column)."""
    p_best = "" if r["prob_best"] is None else f"{float(r['prob_best']):.3f}"
    loss = "" if r["expected_loss"] is None else f"{float(r['expected_loss']):.3g}"
    weight = f"{float(r['previous_weight']):.3f} -> {float(r['weight']):.3f}"
    return (f"{r['segment']}/{r['stage']}", r["status"], r["variant"], str(r["units"]), weight,
            p_best, loss)  # fmt: skip


@click.command("allocate")
@click.argument("key")
@click.option("--db", "db_url", help="Store URL (default: $SEGAB_DB or sqlite:///segab.db).")
@click.option(
    "--schema", default=None, envvar="SEGAB_DB_SCHEMA", help="The store's PostgreSQL schema."
)
@experiments_option
@click.option(
    "--now",
    "now_text",
    help="The new period's start and the analysis time (ISO 8601; no zone means UTC). "
    "Default: the current time.",
)
@click.option("--dry-run", is_flag=True, help="Compute and print the weights; record nothing.")
@click.option(
    "--force", is_flag=True, help="Update even if the last period started within the cadence."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def allocate_command(
    key: str,
    db_url: str | None,
    schema: str | None,
    experiments_dir: str,
    now_text: str | None,
    dry_run: bool,
    force: bool,
    fmt: str,
) -> None:
    """Compute new weights for KEY's bandit cells and record them as a new allocation period.

    Reads the store's exposures and events, sums each bandit cell's decision metric
    per allocation period inside the database, and moves traffic toward the arms
    likely to be best (Thompson sampling on the period-weighted posterior), with
    each cell's floor and uniform slice. Cells with too few units keep their
    layout (burn-in); graduated cells are reported for `segab iterate`. Refuses an
    update less than the cadence after the last one unless --force.

    \b
    Example:
      segab allocate checkout_bandit --db sqlite:///segab.db --dry-run
      segab allocate checkout_bandit --db sqlite:///segab.db --now 2026-06-02 --format json
    """
    from segab.lifecycle.allocation_run import run_allocation
    from segab.lifecycle.commands import load_config
    from segab.store import open_store, resolve_url

    try:
        url = resolve_url(db_url)
        exp = load_config(key, experiments_dir)
        store = open_store(url, schema=schema)
        now = parse_now(now_text)
        run = run_allocation(exp, store, url, now=now, dry_run=dry_run, force=force, schema=schema)
    except SegabError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(run.to_dict(), indent=2))
        return
    rows = run.rows()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: ("" if r[c] is None else r[c]) for c in _COLUMNS} for r in rows)
        click.echo(out.getvalue(), nl=False)
        return
    title = f"{key}: period {run.period.number} (after period {run.previous})"
    table = Table(title=cell(title))
    for col in ("cell", "status", "variant", "units", "weight", "p_best", "exp_loss"):
        table.add_column(col, no_wrap=col in ("weight", "p_best"))
    for r in rows:
        table.add_row(*cells(*_table_row(r)))
    Console().print(table)
    if run.written:
        click.echo(f"recorded period {run.period.number} of {key} iteration {run.iteration}")
    elif dry_run:
        click.echo("dry run: nothing recorded")
    else:
        click.echo("nothing recorded: every bandit cell is in burn-in or graduated")
    for c in run.cells:
        if c.graduation and c.graduation["graduated"]:
            click.echo(
                f"graduated: ({c.segment}, {c.stage}) -> {c.graduation['arm']} "
                f"({c.graduation['reason']}); `segab iterate {key}` ships it"
            )
