"""``segab status`` and ``segab history``: the store's experiments, their analyses and
allocation periods (thin: :mod:`segab.lifecycle.history` and
:mod:`segab.lifecycle.allocation_history` read the store).

Example:
    >>> sorted(c.name for c in status_commands)
    ['history', 'status']
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from segab.atomic import atomic_output
from segab.cli.options import experiments_option
from segab.errors import SegabError
from segab.formatting import pct
from segab.lifecycle.allocation_history import allocation_summary, period_rows, with_allocation
from segab.lifecycle.commands import file_matches_store, load_config
from segab.lifecycle.history import history_data, history_rows
from segab.report.history import history_html
from segab.report.terminal import cell, cells
from segab.store import list_experiments, list_snapshots, mask_url, open_store, resolve_url

__all__ = ["status_commands"]

_DB = click.option("--db", "db_url", help="Store URL (default: $SEGAB_DB or sqlite:///segab.db).")
_EXPERIMENTS = experiments_option


def _fail(exc: SegabError) -> click.ClickException:
    return click.ClickException(str(exc))


def _periods_table(title: str, rows: list[dict[str, Any]], first: str) -> Table:
    """Allocation periods, compact: start to the minute, the cell as segment/stage."""
    table = Table(title=cell(title))
    for col in (first, "period", "start", "cell", "status", "weights", "graduated"):
        table.add_column(col, no_wrap=col in ("start", "cell", "status", "weights"))
    for r in rows:
        start = str(r["started_at"])[:16].replace("T", " ")
        where = f"{r['segment']}/{r['stage']}"
        values = (r[first], r["period"], start, where, r["status"], r["weights"], r["graduated"])
        table.add_row(*cells(*("" if v is None else str(v) for v in values)))
    return table


@click.command("status")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_EXPERIMENTS
@_DB
def status_command(fmt: str, experiments_dir: str, db_url: str | None) -> None:
    """List registered experiments: latest iteration, status, and whether the file matches.

    Bandit experiments show their latest allocation period (number, start and each
    bandit cell's weights); in JSON, every recorded period under `allocation`.

    \b
    Example:
      segab status --db sqlite:///segab.db
    """
    try:
        engine = open_store(db_url)
        latest: dict[str, Any] = {}
        for rec in list_experiments(engine):
            latest[rec.key] = rec
        rows = []
        for key, rec in sorted(latest.items()):
            try:
                exp = load_config(key, experiments_dir)
                match = "yes" if file_matches_store(exp, rec) else f"no (file: i{exp.iteration})"
            except SegabError:
                match = "no file"
            rows.append(
                {
                    "key": key,
                    "iteration": rec.iteration,
                    "status": rec.status,
                    "fingerprint": rec.config_fingerprint[:12],
                    "updated_at": rec.updated_at.isoformat(timespec="seconds"),
                    "snapshots": len(list_snapshots(engine, key, rec.iteration)),
                    "file_matches": match,
                    "allocation": allocation_summary(engine, key, rec.iteration),
                }
            )
    except SegabError as exc:
        raise _fail(exc) from None
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"no experiments registered in the store at {mask_url(resolve_url(db_url))}: "
            "start one with `segab start KEY`"
        )
        return
    table = Table(title="experiments")
    columns = ("key", "iteration", "status", "fingerprint", "updated_at", "snapshots")
    for col in (*columns, "file_matches", "period"):
        table.add_column(col)
    periods = []
    for r in rows:
        alloc = r["allocation"]
        last = alloc["periods"][-1]["number"] if alloc["periods"] else ""
        table.add_row(*cells(*(r[c] for c in columns), r["file_matches"], last))
        periods += [
            {"key": r["key"], **p}
            for p in period_rows(
                {"iterations": [{"iteration": r["iteration"], "allocation": alloc}]}
            )
            if p["period"] == last
        ]
    Console().print(table)
    if periods:  # the current allocation of every bandit experiment
        Console().print(_periods_table("allocation periods (latest)", periods, "key"))


@click.command("history")
@click.argument("key")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this file.")
@_DB
def history_command(key: str, fmt: str, output: str | None, db_url: str | None) -> None:
    """Show KEY's estimates and decisions per cell across iterations.

    Bandit cells also list every allocation period (start, weights, status) and
    the cells that graduated (shipped by `segab iterate` from the bandit phase).

    \b
    Example:
      segab history journey_content
      segab history journey_content --format html --output history.html
    """
    try:
        engine = open_store(db_url)
        data = with_allocation(history_data(engine, key), engine)
    except SegabError as exc:
        raise _fail(exc) from None
    if not any(it.get("snapshot_id") for it in data.get("iterations", [])):
        click.echo(
            f"note: no analysis of {key} saved yet (`segab analyze {key} --save`, "
            f"`segab conclude {key}`): the history lists its iterations only",
            err=True,
        )
    if fmt == "table" and output is None:
        table = Table(title=cell(f"{key}: history"))
        cols = (
            "iteration",
            "status",
            "segment",
            "stage",
            "variant",
            "control",
            "rel_lift",
            "p_adjusted",
            "decision",
        )
        for col in cols:
            table.add_column(col)
        for r in history_rows(data):
            table.add_row(*cells(*(_fmt(c, r.get(c)) for c in cols)))
        Console().print(table)
        if period_rows(data):  # bandit cells: every allocation period
            title = f"{key}: allocation periods"
            Console().print(_periods_table(title, period_rows(data), "iteration"))
        return
    text = history_html(data) if fmt == "html" else json.dumps(data, indent=2)
    if fmt == "table":
        text = "\n".join(json.dumps(r) for r in history_rows(data)) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_output(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"wrote {fmt} history to {output}", err=True)


def _fmt(col: str, value: Any) -> str:
    if value is None:
        return ""
    if col == "rel_lift":
        return pct(float(value))
    if col == "p_adjusted":
        return f"{float(value):.3g}"
    return str(value)


status_commands: list[click.Command] = [status_command, history_command]
