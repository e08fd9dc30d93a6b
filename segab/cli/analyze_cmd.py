"""``segab analyze``: per-segment, per-stage lift with decisions, as a table, JSON, CSV or HTML.

Thin: parse the options, call :func:`segab.analysis.api.analyze`, render, print or write.
Three things save time on the command line: pandas and SciPy load in a background
thread while DuckDB reads the data (:func:`_preload`), the cyclic garbage collector
stays paused until the results are computed (:func:`segab.cli.main.resume_gc`), and
the process ends without the interpreter's teardown once the output is written
(:func:`segab.cli.main.allow_fast_exit`). ``--output`` is written atomically
(:func:`segab.atomic.atomic_output`): after an error or Ctrl-C nothing appears there
and an earlier file is untouched.

Example:
    >>> analyze_command.name
    'analyze'
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import click

from segab.analysis.api import analyze
from segab.analysis.period_files import read_periods
from segab.atomic import atomic_output
from segab.cli.main import allow_fast_exit, resume_gc
from segab.cli.options import experiments_option, parse_now
from segab.cli.signals import deferred_signals
from segab.errors import DataError, SegabError
from segab.report.formats import FORMATS
from segab.sums.breakdowns import parse_breakdown
from segab.sums.sources import open_engine

__all__ = ["analyze_command"]


def _preload() -> threading.Thread:
    """Import pandas and SciPy in the background while the engine reads the data.

    The analysis needs them only once the engine has returned its sums. DuckDB
    releases the GIL while it runs, so these imports use the second core during
    its first statements instead of delaying them (measured in
    ``analysis/bench_analyze.py``). An import error is left to the main thread,
    which reports it where the module is used. A daemon thread: after Ctrl-C the
    process must not wait for it (an import cut short can leave a module lock
    that this thread would wait on forever).
    """

    def run() -> None:
        try:
            import pandas  # noqa: F401
            import scipy.special  # noqa: F401
        except Exception:  # pragma: no cover - the main thread's import reports it
            return

    thread = threading.Thread(target=run, name="segab-preload", daemon=True)
    thread.start()
    return thread


def _inputs(
    exposures: str | None, events: str | None, units: str | None, db_url: str | None
) -> tuple[str | None, str | None, str | None]:
    if units is not None:
        if exposures is not None or events is not None:
            raise DataError(
                "options: found --units with --exposures/--events, expected either an event "
                "log (--exposures F --events F) or a unit table (--units F)"
            )
        return None, None, units
    if db_url is not None:
        return exposures or "exposures", events or "events", None
    if exposures is None or events is None:
        missing = [o for o, v in (("--exposures", exposures), ("--events", events)) if v is None]
        raise DataError(
            f"options: missing {' and '.join(missing)}; expected --exposures F --events F, "
            "--units F --variant-column COL, or --db URL"
        )
    return exposures, events, None


@click.command("analyze")
@click.argument("key")
@click.option("--exposures", help="Exposures: CSV/Parquet file, or a table name with --db.")
@click.option("--events", help="Events: CSV/Parquet file, or a table name with --db.")
@click.option("--units", help="One row per unit (variant, attributes, outcome columns).")
@click.option(
    "--variant-column",
    default="variant",
    show_default=True,
    help="The arm column of --units (any column name; labels are matched to the "
    "config's variant values).",
)
@click.option(
    "--segment-column",
    default=None,
    help="The segment column of --units (default: a column named 'segment' that no other "
    "option uses; else the config's segment rules).",
)
@click.option(
    "--stage-column",
    default=None,
    help="The stage column of --units (default: a column named 'stage' that no other "
    "option uses; else one stage 'all').",
)
@click.option(
    "--db",
    "db_url",
    help="SQLAlchemy URL: aggregate tables in that database (default tables: exposures, events).",
)
@click.option(
    "--attributes",
    help="A table joined on the unit column (one row per unit): its columns serve --by, "
    "segment rules and analysis.filter.",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Event logs: analyze as of this time (ISO 8601, e.g. 2024-06-01 or "
    "2024-06-01T12:00:00Z; no zone means UTC): later exposures and events are ignored, "
    "and retention windows must have passed by then.",
)
@click.option("--by", "by", multiple=True, help="Break down by this column (repeat to cross).")
@click.option(
    "--breakdown",
    "breakdown",
    multiple=True,
    help="One more breakdown, in the same pass: a column, or columns crossed with * "
    "(zip_code*newbie). Repeat for several.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--output", "output", type=click.Path(dir_okay=False), help="Write to this file.")
@experiments_option
@click.option(
    "--save",
    is_flag=True,
    help="Save the result as an analysis snapshot in the store (--store, else --db, else "
    "$SEGAB_DB, else sqlite:///segab.db).",
)
@click.option("--store", "store_url", default=None, help="Store URL for --save.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "duckdb", "spark"]),
    default="auto",
    show_default=True,
    help="Where the sums are computed: auto (DuckDB for files, the database for --db) or spark.",
)
@click.option(
    "--spark-master",
    default=None,
    help="With --engine spark: master URL (default local[*]; e.g. spark://host:7077).",
)
@click.option(
    "--periods",
    "periods_file",
    type=click.Path(dir_okay=False),
    help="Allocation periods of bandit cells: a JSON list (docs/statistics.md); their cells "
    "get period-stratified and uniform-slice estimates.",
)
def analyze_command(
    key: str,
    exposures: str | None,
    events: str | None,
    units: str | None,
    variant_column: str,
    segment_column: str | None,
    stage_column: str | None,
    db_url: str | None,
    attributes: str | None,
    now_text: str | None,
    by: tuple[str, ...],
    breakdown: tuple[str, ...],
    fmt: str,
    output: str | None,
    experiments_dir: str,
    save: bool,
    store_url: str | None,
    engine: str,
    spark_master: str | None,
    periods_file: str | None,
) -> None:
    """Analyze experiment KEY: lift per segment and stage, pooled, with decisions.

    Inputs: an event log (--exposures and --events, as written by `segab assign`
    and your tracking), one row per unit (--units with --variant-column), or
    tables in a database (--db URL). Decisions: ship, rollback, keep_running,
    no_effect, investigate, each with its reason.

    \b
    Example:
      segab analyze journey_content --exposures demo/assignments.csv \\
          --events demo/events.csv --format html --output demo/report.html
      segab analyze loyalty_offer --units users.parquet --variant-column arm --by channel
      segab analyze landing --units ab.csv --variant-column group \\
          --attributes countries.csv --by country --format json
      segab analyze mail --units users.csv --variant-column segment \\
          --breakdown channel --breakdown newbie --breakdown 'zip_code*newbie'
      segab analyze journey_content --db postgresql+psycopg://localhost/ab --format json
      segab analyze journey_content --db sqlite:///segab.db --save
      segab analyze journey_content --exposures x.parquet --events e.parquet --engine spark
      segab analyze journey_content --exposures x.csv --events e.csv --now 2024-06-01
      segab analyze journey_content --exposures x.csv --events e.csv --periods periods.json
    """
    try:
        x, ev, un = _inputs(exposures, events, units, db_url)
        now = _now(now_text, un)
        periods = _periods(key, experiments_dir, periods_file, db_url)
        with deferred_signals():  # Ctrl-C must not land in DuckDB's or pandas' C start-up
            _preload()
            if engine != "spark" and db_url is None:
                import duckdb  # noqa: F401
        with open_engine(db_url, kind=engine, spark_master=spark_master) as eng:
            result = analyze(
                key,
                exposures=x,
                events=ev,
                units=un,
                attributes=attributes,
                by=by,
                breakdowns=[parse_breakdown(b) for b in breakdown],
                variant_column=variant_column,
                segment_column=segment_column,
                stage_column=stage_column,
                experiments=experiments_dir,
                now=now,
                engine=eng,
                periods=periods,
            )
        resume_gc()  # paused by the console script through start-up and the sums
        if save:
            _save(result, experiments_dir, store_url or db_url)
        _write(result, fmt, output)
    except SegabError as exc:
        raise click.ClickException(str(exc)) from None
    if engine != "spark":  # Spark's JVM gateway stops in an exit handler
        allow_fast_exit()


def _periods(key: str, experiments_dir: str, path: str | None, db_url: str | None) -> Any:
    """``--periods FILE``; else, with ``--db`` and bandit cells in the config, the store's
    periods (the declared period 0 first when it is not recorded); else none."""
    if path is not None:
        return read_periods(path)
    if db_url is None:
        return ()
    from segab.analysis.api import resolve_experiment
    from segab.config import bandit_cells

    exp = resolve_experiment(key, experiments_dir)
    if not bandit_cells(exp):
        return ()
    from segab.lifecycle.allocation_run import current_periods
    from segab.store import open_store

    try:
        return current_periods(exp, open_store(db_url))
    except SegabError as exc:
        raise DataError(f"--db: {exc}; pass the allocation periods with --periods FILE") from None


def _now(text: str | None, units: str | None) -> Any:
    """``--now`` as an aware datetime (no zone: UTC), or None; a located error otherwise."""
    if text is None:
        return None
    if units is not None:
        raise DataError(
            "options: found --now with --units, expected --now with an event log (a unit "
            "table has no times)"
        )
    return parse_now(text)


def _write(result: Any, fmt: str, output: str | None) -> None:
    from segab.report.render import render, table_renderables  # after the sums (SciPy, rich)

    if output is None and fmt == "table":
        from rich.console import Console

        Console().print(*table_renderables(result))
        return
    text = render(result, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    path = Path(output)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"wrote {fmt} report to {path}", err=True)


def _save(result: Any, experiments_dir: str, url: str | None) -> None:
    import datetime as dt

    from segab.config import fingerprint, load_experiments
    from segab.store import open_store, resolve_url, save_snapshot

    data = result.to_dict()
    experiment = load_experiments(experiments_dir)[data["experiment"]]
    engine = open_store(resolve_url(url), create=True)
    try:
        snapshot = save_snapshot(
            engine,
            experiment.key,
            experiment.iteration,
            data,
            config_fingerprint=fingerprint(experiment),
            window_end=dt.datetime.now(dt.UTC),
        )
    finally:
        engine.dispose()
    click.echo(f"saved analysis snapshot {snapshot} to {resolve_url(url)}", err=True)
