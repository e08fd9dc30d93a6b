"""``segab plan``, ``start``, ``stop``, ``conclude`` and ``iterate``.

``status`` and ``history`` are in :mod:`segab.cli.status_cmds`.

Thin: parse options, call :mod:`segab.lifecycle`, print. Every command but ``plan``
works on the store (``--db URL``, else ``$SEGAB_DB``, else ``sqlite:///segab.db``).

Example:
    >>> sorted(c.name for c in lifecycle_commands)[:3]
    ['conclude', 'iterate', 'plan']
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from segab.cli.options import experiments_option
from segab.cli.plan_cmd import plan_command
from segab.errors import SegabError
from segab.lifecycle.commands import (
    conclude_experiment,
    iterate_experiment,
    load_config,
    start_experiment,
    stop_experiment,
)
from segab.report.terminal import cell, cells
from segab.store import open_store

__all__ = ["lifecycle_commands"]

_DB = click.option("--db", "db_url", help="Store URL (default: $SEGAB_DB or sqlite:///segab.db).")
_EXPERIMENTS = experiments_option


def _fail(exc: SegabError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.command("start")
@click.argument("key")
@_EXPERIMENTS
@_DB
def start_command(key: str, experiments_dir: str, db_url: str | None) -> None:
    """Start (or resume) KEY: record its config and fingerprint in the store.

    While the iteration is running or stopped, an edit that would move assigned
    units (seed, variant order or weights, segment rules...) is refused: use
    `segab iterate`. Safe edits (raised coverage, metrics, descriptions) are accepted.

    \b
    Example:
      segab start journey_content --db sqlite:///segab.db
    """
    try:
        res = start_experiment(key, experiments_dir, open_store(db_url, create=True))
    except SegabError as exc:
        raise _fail(exc) from None
    for c in res.changes:
        click.echo(f"accepted {c}", err=True)
    click.echo(f"started {key} iteration {res.iteration} (fingerprint {res.fingerprint[:12]})")


@click.command("stop")
@click.argument("key")
@_EXPERIMENTS
@_DB
def stop_command(key: str, experiments_dir: str, db_url: str | None) -> None:
    """Stop KEY: everyone sees the control until `segab start` resumes it.

    \b
    Example:
      segab stop journey_content
    """
    try:
        rec = stop_experiment(key, experiments_dir, open_store(db_url))
    except SegabError as exc:
        raise _fail(exc) from None
    click.echo(f"stopped {key} iteration {rec.iteration}")


_INPUTS = [
    click.option(
        "--exposures",
        type=click.Path(exists=True, dir_okay=False),
        help="Exposures file (default: the store's exposures).",
    ),
    click.option(
        "--events",
        type=click.Path(exists=True, dir_okay=False),
        help="Events file (default: the store's events).",
    ),
]


def _inputs(f: Any) -> Any:
    for opt in reversed(_INPUTS):
        f = opt(f)
    return f


@click.command("conclude")
@click.argument("key")
@_inputs
@_EXPERIMENTS
@_DB
def conclude_command(
    key: str, exposures: str | None, events: str | None, experiments_dir: str, db_url: str | None
) -> None:
    """Conclude KEY's current iteration, saving its analysis snapshot in the store.

    \b
    Example:
      segab conclude journey_content --exposures demo/assignments.csv --events demo/events.csv
    """
    try:
        rec, sid = conclude_experiment(
            key, experiments_dir, open_store(db_url), exposures=exposures, events=events
        )
    except SegabError as exc:
        raise _fail(exc) from None
    click.echo(f"concluded {key} iteration {rec.iteration} (snapshot {sid})")


@click.command("iterate")
@click.argument("key")
@_inputs
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--confirm",
    is_flag=True,
    help="Graduated bandit cells: test the leading arm against the control at a fixed split "
    "(sized with the power plan) instead of shipping it.",
)
@_EXPERIMENTS
@_DB
def iterate_command(
    key: str,
    exposures: str | None,
    events: str | None,
    fmt: str,
    confirm: bool,
    experiments_dir: str,
    db_url: str | None,
) -> None:
    """Conclude KEY's iteration and write the next: winners become controls, losers go.

    Undecided cells are kept; the iteration is bumped and re-randomised with a fresh
    seed (KEY-iN). The old file is kept as history/KEY.iN.yaml and in the store.
    Bandit cells that graduated (`segab allocate`) ship their leading arm, or with
    --confirm start a fixed-split test of it against the control.

    \b
    Example:
      segab iterate journey_content --db sqlite:///segab.db
      segab iterate journey_content --exposures demo/assignments.csv --events demo/events.csv
      segab iterate checkout_bandit --db sqlite:///segab.db --confirm
    """
    try:
        engine = open_store(db_url)
        res = iterate_experiment(
            key, experiments_dir, engine, exposures=exposures, events=events, confirm=confirm
        )
        plan = _confirmation(res, engine, experiments_dir)
    except SegabError as exc:
        raise _fail(exc) from None
    if fmt == "json":
        click.echo(json.dumps({**res.to_dict(), "confirmation_plan": plan}, indent=2))
        return
    table = Table(title=cell(f"{key}: iteration {res.old_iteration} -> {res.new_iteration}"))
    for col in ("segment", "stage", "status", "control", "variants", "dropped"):
        table.add_column(col)
    for o in res.outcomes:
        table.add_row(
            *cells(
                o.segment,
                o.stage,
                o.status,
                o.control,
                ", ".join(f"{k} {w / 10000:g}" for k, w in o.variants),
                ", ".join(o.dropped),
            )
        )
    Console().print(table)
    click.echo(f"wrote {res.config_path}; kept {res.history_path}")
    for c in (plan or {}).get("cells", []):
        size = "unknown" if c["n_per_arm"] is None else f"{c['n_per_arm']:,} per arm"
        click.echo(f"confirm ({c['segment']}, {c['stage']}): {size}, {c['days_needed']} days")


def _confirmation(res: Any, engine: Any, experiments_dir: str) -> dict[str, Any] | None:
    """The power plan of the confirmatory cells iterate started (``--confirm``), if any."""
    from segab.lifecycle.commands import recorded_experiment
    from segab.lifecycle.graduation import bandit_phase, confirmation_plan
    from segab.store import get_experiment

    pairs = [(o.segment, o.stage) for o in res.outcomes if o.status == "confirming"]
    old = get_experiment(engine, res.key, res.old_iteration)
    if not pairs or old is None:
        return None
    daily, baselines = bandit_phase(engine, recorded_experiment(old), pairs)
    if daily is None:
        return None
    new = load_config(res.key, experiments_dir)
    return confirmation_plan(new, pairs, daily_units=daily, baselines=baselines).to_dict()


lifecycle_commands: list[click.Command] = [
    plan_command,
    start_command,
    stop_command,
    conclude_command,
    iterate_command,
]
