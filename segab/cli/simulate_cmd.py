"""``segab simulate``: a synthetic population, then its events and the planted truth.

Each output file is written atomically (:func:`segab.atomic.atomic_output`): after an
error or Ctrl-C nothing appears at its path and an earlier file there is untouched.

Example:
    >>> simulate_command.name
    'simulate'
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segab.atomic import atomic_output
from segab.cli.options import experiments_option
from segab.config import load_experiments
from segab.errors import DataError
from segab.simulate import (
    default_effects,
    simulate_events,
    simulate_population,
    simulate_units,
    truth,
)
from segab.sums.read_errors import read_frame

__all__ = ["simulate_command"]


def _read_table(path: Path) -> pd.DataFrame:
    return read_frame(
        str(path), "assignments", dtype={"unit_id": str, "segment": str, "variant": str}
    )


@click.command("simulate")
@click.argument("key")
@click.option(
    "--units",
    "n_units",
    type=int,
    default=20_000,
    show_default=True,
    help="Number of units in the population.",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output directory."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--events-for",
    "assignments_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Assignments (from `segab assign`): write DIR/events.csv and DIR/truth.json.",
)
@click.option(
    "--unit-table",
    is_flag=True,
    help="Write DIR/units.csv instead: one row per unit in the experiment (id, arm, "
    "attributes, a binary and a continuous outcome), for `segab init` and `--units`.",
)
@experiments_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate_command(
    key: str,
    n_units: int,
    out_dir: str,
    seed: int,
    assignments_path: str | None,
    unit_table: bool,
    experiments_dir: str,
    quiet: bool,
) -> None:
    """Simulate a population for experiment KEY, or the events of its assignments.

    Step 1 writes DIR/population.csv (the unit column, stage, timestamp and
    attributes); step 2, with --events-for, writes DIR/events.csv and
    DIR/truth.json (the planted effects; everything not listed has no effect).
    With --unit-table, one step writes DIR/units.csv: one row per unit, its arm
    in column `arm`, with outcomes drawn with the same planted effects.

    \b
    Example:
      segab simulate journey_content --units 20000 --out demo
      segab assign journey_content --input demo/population.csv --output demo/assignments.csv
      segab simulate journey_content --events-for demo/assignments.csv --out demo
      segab simulate loyalty_offer --units 20000 --unit-table --out demo
    """
    experiment = load_experiments(experiments_dir)[key]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True)
    if unit_table:
        if assignments_path is not None:
            raise DataError("options: found --unit-table with --events-for; expected one of them")
        units = simulate_units(experiment, n_units, seed)
        with atomic_output(out / "units.csv") as tmp:
            units.to_csv(tmp, index=False)
        err.print(f"wrote {len(units):,} units in the experiment to {out / 'units.csv'}")
        return
    if assignments_path is not None:
        assignments = _read_table(Path(assignments_path))
        effects = default_effects(experiment)
        events = simulate_events(experiment, assignments, effects, seed=seed)
        with atomic_output(out / "events.csv") as tmp:
            events.to_csv(tmp, index=False)
        with atomic_output(out / "truth.json") as tmp:
            tmp.write_text(json.dumps(truth(experiment, effects, seed), indent=2))
        err.print(f"wrote {len(events):,} events to {out / 'events.csv'} and {out / 'truth.json'}")
        return
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=quiet or n_units < 200_000, transient=True) as bar:
        task = bar.add_task("units", total=n_units)
        population = simulate_population(
            experiment, n_units, seed, progress=lambda n: bar.advance(task, n)
        )
    with atomic_output(out / "population.csv") as tmp:
        population.to_csv(tmp, index=False)
    err.print(f"wrote {len(population):,} rows ({n_units:,} units) to {out / 'population.csv'}")
