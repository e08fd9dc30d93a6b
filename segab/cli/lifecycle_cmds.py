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
import pandas as pd
from rich.console import Console
from rich.table import Table

from segab.cli.options import experiments_option
from segab.errors import LifecycleError, SegabError, StoreError
from segab.lifecycle.commands import (
    conclude_experiment,
    iterate_experiment,
    load_config,
    start_experiment,
    stop_experiment,
)
from segab.lifecycle.plan import Baseline, PowerPlan, plan_experiment
from segab.lifecycle.traffic import equal_mix, traffic_mix
from segab.report.terminal import cell, cells
from segab.store import list_snapshots, open_store, resolve_url
from segab.sums.read_errors import read_frame

__all__ = ["lifecycle_commands"]

_DB = click.option("--db", "db_url", help="Store URL (default: $SEGAB_DB or sqlite:///segab.db).")
_EXPERIMENTS = experiments_option


def _fail(exc: SegabError) -> click.ClickException:
    return click.ClickException(str(exc))


def _read_traffic(path: str) -> pd.DataFrame:
    return read_frame(path, "traffic")


def _measured(
    db_url: str | None, key: str, iteration: int, control_of: dict[Any, str], metric: str
) -> tuple[dict[tuple[str, str], Baseline], list[str]]:
    """Baselines from the latest snapshot of an earlier iteration, when a store has one."""
    url = resolve_url(db_url)
    try:
        engine = open_store(url)
    except StoreError as exc:
        return {}, [f"baselines from the config (no store: {exc})"] if db_url else []
    earlier = [s for s in list_snapshots(engine, key) if s.iteration < iteration]
    if not earlier:
        return {}, []
    snap = earlier[-1]
    out: dict[tuple[str, str], Baseline] = {}
    for r in snap.result.get("results", []):
        if r.get("metric") != metric or r.get("dimensions") or r.get("segment") is None:
            continue
        pair = (r["segment"], r["stage"])
        control = control_of.get(pair)
        src = f"iteration {snap.iteration}"
        if r.get("variant") == control and r.get("variant_mean") is not None:
            out[pair] = Baseline(float(r["variant_mean"]), None, src)
        elif r.get("control") == control and r.get("control_mean") is not None:
            out.setdefault(pair, Baseline(float(r["control_mean"]), None, src))
    note = f"baselines measured in iteration {snap.iteration} (snapshot {snap.id})"
    return out, [note] if out else []


def _plan_table(plan: PowerPlan) -> Table:
    table = Table(
        title=f"{plan.experiment} (iteration {plan.iteration}): {plan.metric}, "
        f"{plan.daily_units:,.0f} units/day, {plan.days} days, alpha {plan.alpha:g}, "
        f"power {plan.power:g}"
    )
    for col in (
        "segment",
        "stage",
        "share",
        "units/day",
        "baseline",
        "mde",
        "n per arm",
        "days",
        "status",
    ):
        table.add_column(
            col, justify="right" if col not in ("segment", "stage", "status") else "left"
        )
    for c in plan.cells:
        style = {"over_segmented": "red", "ok": "green"}.get(c.status, "yellow")
        table.add_row(
            *cells(
                c.segment,
                c.stage,
                f"{c.share:.3f}",
                f"{c.daily_units:,.0f}",
                "" if c.baseline is None else f"{c.baseline:.4g} ({c.baseline_source})",
                f"{c.mde:.1%}",
                "" if c.n_per_arm is None else f"{c.n_per_arm:,}",
                "" if c.days_needed is None else str(c.days_needed),
            ),
            cell(c.status, style=style),
        )
    return table


@click.command("plan")
@click.argument("key")
@click.option(
    "--traffic",
    type=click.Path(exists=True, dir_okay=False),
    help="Sample of units (CSV/Parquet): unit, stage, attributes[, timestamp].",
)
@click.option("--daily-units", type=float, help="Units entering per day.")
@click.option(
    "--share",
    "shares",
    multiple=True,
    metavar="SEGMENT=FRACTION",
    help="Segment share without --traffic (repeat; default: equal shares).",
)
@click.option("--days", type=int, default=28, show_default=True, help="Planned duration.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_EXPERIMENTS
@_DB
def plan_command(
    key: str,
    traffic: str | None,
    daily_units: float | None,
    shares: tuple[str, ...],
    days: int,
    fmt: str,
    experiments_dir: str,
    db_url: str | None,
) -> None:
    """Plan KEY: sample size per arm and days needed per (segment, stage) cell.

    Flags over-segmented cells (too small to reach the size within --days) with
    recomputed remedies: merge into the nearest sibling, raise the MDE, run longer,
    or drop the cell. Baselines come from the config, or from an earlier iteration's
    analysis snapshot in the store when there is one.

    \b
    Example:
      segab plan journey_content --traffic demo/population.csv --daily-units 5000
      segab plan loyalty_offer --daily-units 2000 --share loyal_members=0.3 --format json
    """
    try:
        exp = load_config(key, experiments_dir)
        notes: list[str] = []
        if traffic is not None:
            mix = traffic_mix(exp, _read_traffic(traffic), source=traffic)
        else:
            parsed = {}
            for s in shares:
                name, _, value = s.partition("=")
                try:
                    parsed[name] = float(value)
                except ValueError:
                    raise LifecycleError(f"--share {s!r}: expected SEGMENT=FRACTION") from None
            mix = equal_mix(exp, parsed)
            notes.append("no --traffic: every unit assumed to reach every stage")
        daily = daily_units if daily_units is not None else mix.daily_units
        if daily is None:
            raise LifecycleError("expected --daily-units N (or a --traffic file with timestamps)")
        plan_cells = {p: c.control for p, c in _cells(exp).items()}
        measured, more = _measured(db_url, key, exp.iteration, plan_cells, exp.metrics.primary.key)
        plan = plan_experiment(
            exp, mix.shares, daily_units=daily, days=days, measured=measured, notes=notes + more
        )
    except SegabError as exc:
        raise _fail(exc) from None
    if fmt == "json":
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    console = Console()
    console.print(_plan_table(plan))
    for c in plan.flagged():
        console.print(
            cell("over-segmented", style="red"),
            cell(f"{c.segment}/{c.stage}: needs {c.days_needed} days; remedies:"),
        )
        for r in c.remedies:
            console.print(cell(f"  - {r.kind}: {r.text}"))
    for g in plan.guardrails:  # non-inferiority guardrails: the power split over the tests
        size = "unknown" if g.n_per_arm is None else f"{g.n_per_arm:,} per arm"
        margin = f"{g.margin:.1%}" if g.scale == "relative" else f"{g.margin:g}"
        console.print(cell(f"guardrail {g.metric} (non-inferiority, margin {margin}): {size}"))
    if plan.guardrails:
        each = 1 - (1 - plan.power) / (len(plan.guardrails) + 1)
        console.print(cell(f"each test powered at {each:.3g} so the ship decision keeps "
                           f"power {plan.power:g} (Schultzberg et al. 2024)"))  # fmt: skip
    for n in plan.notes:
        console.print(cell(f"note: {n}"))


def _cells(exp: Any) -> dict[Any, Any]:
    from segab.assignment import plan_of

    return plan_of(exp).cells


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
