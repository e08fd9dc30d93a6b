"""``segab plan``: per-cell sample sizes and days, over-segmentation remedies, and with
``--tau`` the sizes when decisions use shrunken estimates.

Thin: parse options, call :mod:`segab.lifecycle.plan` (and
:mod:`segab.lifecycle.shrinkage_plan`), print.

Example:
    >>> plan_command.name
    'plan'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from segab.cli.options import experiments_option
from segab.config.models import Metric
from segab.errors import LifecycleError, SegabError, StoreError
from segab.lifecycle.commands import load_config
from segab.lifecycle.plan import Baseline, PowerPlan, plan_experiment
from segab.lifecycle.quantile_plan import measured_quantile_sd, sizing_text
from segab.lifecycle.shrinkage_plan import shrinkage_sizes
from segab.lifecycle.traffic import equal_mix, traffic_mix
from segab.report.terminal import cell, cells
from segab.store import list_snapshots, open_store, resolve_url
from segab.sums.read_errors import read_frame

__all__ = ["plan_command"]

_DB = click.option("--db", "db_url", help="Store URL (default: $SEGAB_DB or sqlite:///segab.db).")
_EXPERIMENTS = experiments_option


def _fail(exc: SegabError) -> click.ClickException:
    return click.ClickException(str(exc))


def _read_traffic(path: str) -> pd.DataFrame:
    return read_frame(path, "traffic")


def _measured(
    db_url: str | None, key: str, iteration: int, control_of: dict[Any, str], metric: Metric
) -> tuple[dict[tuple[str, str], Baseline], list[str]]:
    """Baselines from the latest snapshot of an earlier iteration, when a store has one
    (a quantile metric's also with the sample quantile's measured standard deviation)."""
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
    frequentist = snap.result.get("method", "frequentist") == "frequentist"
    for r in snap.result.get("results", []):
        if r.get("metric") != metric.key or r.get("dimensions") or r.get("segment") is None:
            continue
        pair = (r["segment"], r["stage"])
        control = control_of.get(pair)
        sd = None
        if metric.quantile is not None and frequentist:  # the row's interval, both arms
            ci = (r.get("abs_ci_low"), r.get("abs_ci_high"))
            alpha = float(snap.result.get("alpha", 0.05))
            sd = measured_quantile_sd(*ci, r.get("n_control"), r.get("n_variant"), alpha)
        src = f"iteration {snap.iteration}" + (", quantile sd measured" if sd else "")
        if r.get("variant") == control and r.get("variant_mean") is not None:
            out[pair] = Baseline(float(r["variant_mean"]), None, src, sd)
        elif r.get("control") == control and r.get("control_mean") is not None:
            out.setdefault(pair, Baseline(float(r["control_mean"]), None, src, sd))
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
    "--tau",
    type=float,
    help="Expected spread (sd) of the true cell effects, absolute: also size the cells for "
    "decisions on shrunken estimates (analysis.shrinkage: eb).",
)
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
    tau: float | None,
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
      segab plan journey_content --daily-units 5000 --tau 0.01
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
        measured, more = _measured(db_url, key, exp.iteration, plan_cells, exp.metrics.primary)
        plan = plan_experiment(
            exp, mix.shares, daily_units=daily, days=days, measured=measured, notes=notes + more
        )
        if tau is not None:
            plan = replace(plan, shrinkage=shrinkage_sizes(plan, exp, tau=tau))
    except SegabError as exc:
        raise _fail(exc) from None
    if fmt == "json":
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    console = Console()
    console.print(_plan_table(plan))
    if plan.sizing is not None:  # a quantile metric: sized with the sample quantile's variance
        console.print(cell(f"sizing: {sizing_text(plan.metric, plan.sizing)}"))
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
    if plan.shrinkage is not None:
        _print_shrinkage(console, plan.shrinkage)
    for n in plan.notes:
        console.print(cell(f"note: {n}"))


def _print_shrinkage(console: Console, block: Mapping[str, Any]) -> None:
    console.print(
        cell(
            f"with shrinkage (tau {block['tau']:g}, {block['cells_shrunk_together']} cells; "
            "for cells whose effect is like the others'):"
        )
    )
    for c in block["cells"]:
        days = "no traffic" if c["days_needed"] is None else f"{c['days_needed']} days"
        console.print(cell(f"  {c['segment']}/{c['stage']}: {c['n_per_arm']:,} per arm, {days}"))
    if not block["applies"]:
        console.print(cell("  note: the config analyses without shrinkage (analysis.shrinkage)"))


def _cells(exp: Any) -> dict[Any, Any]:
    from segab.assignment import plan_of

    return plan_of(exp).cells
