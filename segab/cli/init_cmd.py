"""``segab init``: a data file (or tables) in, a commented experiment YAML out.

Thin: open an engine, profile the data inside it (:mod:`segab.draft.profile`),
draft the config (:mod:`segab.draft.build`), render it (:mod:`segab.draft.render`),
check it parses as a valid config, and write it atomically
(:func:`segab.atomic.atomic_output`). An existing file is never overwritten
without ``--force``.

Example:
    >>> init_command.name
    'init'
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from segab.atomic import atomic_output
from segab.cli.options import experiments_option
from segab.errors import ConfigError, DataError

__all__ = ["init_command"]


def _masked(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _check(text: str, output: Path, experiments_dir: str) -> None:
    """The drafted text parses and validates (a bug here is ours: say so plainly)."""
    from segab.config.loader import parse_experiment
    from segab.config.yaml_reader import parse_yaml

    try:
        parse_experiment(parse_yaml(text, str(output)), str(output))
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems) or str(exc)
        raise DataError(
            f"{output}: the drafted config does not validate ({problems}); nothing written"
        ) from None


@click.command("init")
@click.argument("key")
@click.option("--units", help="One row per unit: a CSV/Parquet file, or a table name with --db.")
@click.option("--exposures", help="Exposures of an event log: a file, or a table with --db.")
@click.option("--events", help="Events of an event log: a file, or a table with --db.")
@click.option(
    "--variant-column",
    default="variant",
    show_default=True,
    help="The column holding each unit's arm label.",
)
@click.option("--unit-column", help="The unit id column (default: a column named like an id).")
@click.option(
    "--control",
    multiple=True,
    help="The control arm's label as in the data (event logs: repeat, one per cell).",
)
@click.option("--primary", help="The primary metric's column (or event name).")
@click.option("--db", "db_url", help="SQLAlchemy URL: read tables in that database.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the config (default: <experiments dir>/KEY.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file at --output.")
@experiments_option
def init_command(
    key: str,
    units: str | None,
    exposures: str | None,
    events: str | None,
    variant_column: str,
    unit_column: str | None,
    control: tuple[str, ...],
    primary: str | None,
    db_url: str | None,
    output: str | None,
    force: bool,
    experiments_dir: str,
) -> None:
    """Draft experiment KEY's config from its data: arms, control, split, unit, metrics.

    Reads a unit table (--units: one row per unit, an arm column, outcome
    columns) or an event log (--exposures and --events), in a file or a
    database (--db), inside the engine. Writes a commented YAML that
    `segab analyze` runs on at once, and prints the next commands.

    \b
    Example:
      segab init email_test --units users.csv --variant-column segment
      segab init gates --units cats.csv --variant-column version --control gate_30
      segab init journey --exposures assignments.csv --events events.csv
      segab init email_test --db postgresql+psycopg://localhost/ab --units email_users
    """
    from segab.draft.build import draft_event_log, draft_units
    from segab.draft.events import profile_event_log
    from segab.draft.profile import profile_table
    from segab.draft.render import Invocation, render_draft
    from segab.sums.sources import open_engine

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", key) or len(key) > 64:
        raise DataError(
            f"KEY: found {key!r}, expected a key (letters, digits, _ . -; at most 64 characters)"
        )
    if (units is None) == (exposures is None and events is None):
        raise DataError(
            "options: expected either a unit table (--units F --variant-column COL) or an "
            "event log (--exposures F --events F)"
        )
    if units is None and (exposures is None or events is None):
        missing = "--exposures" if exposures is None else "--events"
        raise DataError(f"options: missing {missing}; an event log needs --exposures and --events")
    exposures, events = exposures or "", events or ""
    path = Path(output) if output is not None else Path(experiments_dir) / f"{key}.yaml"
    if path.exists() and not force:
        raise DataError(f"{path}: exists already; expected a new file (or --force to replace it)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; expected a file path for --output")
    inputs = ["--db", _masked(db_url)] if db_url else []
    with open_engine(db_url) as eng:
        if units is not None:
            texts = [c for c in (unit_column,) if c]
            profile = profile_table(eng, units, levels_of=[variant_column], text_columns=texts)
            if len(control) > 1:
                raise DataError(f"--control: found {list(control)}, expected one label")
            draft = draft_units(
                key,
                profile,
                variant_column,
                control=control[0] if control else None,
                unit=unit_column,
                primary=primary,
            )
            inputs += ["--units", units, "--variant-column", variant_column]
        else:
            log = profile_event_log(
                eng, exposures, events, variant_column=variant_column, experiment=key
            )
            draft = draft_event_log(
                key, log, variant_column, control=control, primary=primary, unit=unit_column
            )
            inputs += ["--exposures", exposures, "--events", events]
    experiments = None if experiments_dir == "experiments" else experiments_dir
    text = render_draft(draft, Invocation(tuple(inputs), experiments), str(path))
    _check(text, path, experiments_dir)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if len(draft.cells) == 1:
        arms = ", ".join(f"{a.label!r} ({a.count:,})" for a in draft.cells[0].arms)
        control_label = next(
            a.label for a in draft.cells[0].arms if a.key == draft.cells[0].control
        )
        what = f"arms {arms}; control {control_label!r}"
    else:
        what = f"{len(draft.cells)} cells (their arms differ by segment or stage)"
    click.echo(f"wrote {path}: {what}", err=True)
    click.echo("next: " + Invocation(tuple(inputs), experiments).line(key), err=True)
