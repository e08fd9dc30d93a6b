"""``segab assign``: one unit from the command line, or a whole file in bulk.

A single unit loads only the config and the pure assignment code: the bulk
engines (pyarrow, numpy, DuckDB, Spark) and the progress display are imported
by the bulk path alone. A bulk run that is interrupted (Ctrl-C, SIGTERM) leaves
no output file and no process behind, prints ``Aborted!`` and exits with 130
(SIGINT) or 143 (SIGTERM).

Example:
    >>> assign_command.name
    'assign'
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, NamedTuple

import click

from segab.assignment import assign
from segab.cli.options import experiments_option
from segab.config import load_experiments
from segab.errors import SegabError
from segab.text_values import AttributeType, BadValueError, nest_attributes, read_text

__all__ = ["AdaptiveInputs", "adaptive_inputs", "assign_command", "parse_attr"]


def parse_attr(text: str, declared: Mapping[str, AttributeType] | None = None) -> tuple[str, Any]:
    """Parse ``name=value`` as a bulk run reads the same text in a CSV cell.

    The value follows :func:`segab.text_values.read_text` (numbers, booleans,
    strings; empty is missing), or the type ``declared`` gives the name (an
    experiment's ``attributes``); a JSON array, object or quoted string (``'["a",
    "b"]'``, ``'"007"'``) is read as JSON. Whole numbers stay integers. Dotted
    names build nested attributes (:func:`segab.text_values.nest_attributes`).

    Example:
        >>> parse_attr("age=25"), parse_attr("channel=social"), parse_attr("vip=true")
        (('age', 25), ('channel', 'social'), ('vip', True))
        >>> parse_attr("zip=007"), parse_attr("zip=007", {"zip": "string"}), parse_attr('zip="007"')
        (('zip', 7), ('zip', '007'), ('zip', '007'))
    """
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r}: expected NAME=VALUE, e.g. age=25", param_hint="--attr")
    if raw[:1] in ("[", "{", '"'):
        with contextlib.suppress(ValueError):
            return name, json.loads(raw)
    try:
        value = read_text(raw, (declared or {}).get(name))
    except BadValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="--attr") from None
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return name, int(value)  # the same number, shown as written
    return name, value


@click.command("assign")
@click.argument("key")
@click.option("--unit", "unit_id", help="Unit id for a single assignment.")
@click.option("--stage", help="Journey stage for a single assignment.")
@click.option(
    "--attr",
    "attrs",
    multiple=True,
    help="Attribute NAME=VALUE (repeatable), read as a bulk run reads a CSV cell "
    "(28: number, true: boolean; JSON for lists).",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Bulk: CSV or Parquet with the unit column, 'stage' and attributes.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False),
    help="Bulk: where to write the assignments (.csv or .parquet).",
)
@experiments_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="Output format for a single assignment.",
)
@click.option("--quiet", is_flag=True, help="Bulk: no progress bar.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "python", "duckdb", "spark"]),
    default="auto",
    show_default=True,
    help="Bulk: where to compute. auto = DuckDB when every segment condition compiles to SQL "
    "(identical results, faster; row order not kept), else Python.",
)
@click.option(
    "--spark-master",
    default=None,
    help="Bulk with --engine spark: master URL (default local[*]; e.g. spark://host:7077).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Bulk: worker processes (default: one per core above 200,000 rows).",
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    default=None,
    help="Store URL: sticky assignment and allocation periods. A unit already exposed "
    "(a stored exposure in its cell) keeps its variant (reason sticky); bandit cells use "
    "the latest recorded allocation period (else their declared weights).",
)
@click.option(
    "--schema",
    metavar="NAME",
    default=None,
    envvar="SEGAB_DB_SCHEMA",
    help="With --db: the PostgreSQL schema holding the store.",
)
def assign_command(
    key: str,
    unit_id: str | None,
    stage: str | None,
    attrs: tuple[str, ...],
    input_path: str | None,
    output_path: str | None,
    experiments_dir: str,
    fmt: str,
    quiet: bool,
    engine: str,
    spark_master: str | None,
    workers: int | None,
    db: str | None,
    schema: str | None,
) -> None:
    """Assign a unit (or every row of a file) to a variant of experiment KEY.

    \b
    Example, a single unit:
      segab assign journey_content --unit u42 --stage awareness \\
          --attr age=28 --attr channel=social
    Example, bulk (streams in chunks, with a progress bar; bad rows are reported and counted):
      segab assign journey_content --input users.csv --output assignments.csv
    Example, sticky (units with a stored exposure keep their variant; bandit cells at
    the store's latest allocation period):
      segab assign journey_content --input users.csv --output assignments.csv \\
          --db sqlite:///segab.db
    """
    if input_path is not None:
        if output_path is None:
            raise click.UsageError("--input needs --output")
        out = output_path

        def run() -> None:
            experiment = load_experiments(experiments_dir)[key]
            adaptive = adaptive_inputs(experiment, db, schema)
            _bulk(experiment, input_path, out, quiet, workers, engine, spark_master, adaptive)

        _interruptible(run)
        return
    experiment = load_experiments(experiments_dir)[key]
    if unit_id is None or stage is None:
        raise click.UsageError("give --unit and --stage (single) or --input and --output (bulk)")
    attributes = nest_attributes(parse_attr(a, experiment.attributes) for a in attrs)
    if db is None:
        result = assign(experiment, unit_id, attributes, stage)
    else:
        from segab.sticky import assign_sticky
        from segab.store.sticky import StoreStickyLookup

        found = adaptive_inputs(experiment, db, schema)
        lookup = StoreStickyLookup(found.engine)
        result = assign_sticky(
            experiment, unit_id, attributes, stage, lookup=lookup, period=found.period
        )
    if fmt == "json":
        click.echo(json.dumps(result.to_dict()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{key}: {unit_id} at {stage}")
    table.add_column("field")
    table.add_column("value")
    for name, value in result.to_dict().items():
        table.add_row(name, "" if value is None else str(value))
    Console().print(table)


class AdaptiveInputs(NamedTuple):
    """What ``--db`` brings to an assignment: the store, its latest period, notes.

    Example:
        >>> AdaptiveInputs().period is None
        True
    """

    engine: Any = None
    period: Any = None
    notes: tuple[str, ...] = ()


def adaptive_inputs(experiment: Any, db: str | None, schema: str | None) -> AdaptiveInputs:
    """Open the store of ``--db`` and find the latest recorded allocation period of the
    experiment's iteration when it has bandit cells (none: their declared weights, which
    is what assignment without a period does).

    Example:
        >>> from segab.config import load_experiments
        >>> exp = load_experiments("experiments")["journey_content"]
        >>> adaptive_inputs(exp, None, None)
        AdaptiveInputs(engine=None, period=None, notes=())
    """
    if db is None:
        return AdaptiveInputs()
    from segab.config import bandit_cells
    from segab.store import open_store
    from segab.store.allocations import allocation_periods

    engine = open_store(db, schema=schema)
    if not bandit_cells(experiment):
        return AdaptiveInputs(engine, None, ("no bandit cells: the declared weights",))
    periods = allocation_periods(engine, experiment.key, experiment.iteration)
    if not periods:
        return AdaptiveInputs(engine, None, ("bandit cells at their declared weights (period 0)",))
    latest = periods[-1]
    note = f"bandit cells at allocation period {latest.number} ({latest.started_at:%Y-%m-%d %H:%M})"
    return AdaptiveInputs(engine, latest, (note,))


def _choose_engine(experiment: Any, engine: str) -> str:
    if engine != "auto":
        return engine
    from segab.errors import SqlCompileError
    from segab.sql.assign import assignment_sql

    try:
        assignment_sql(experiment, "duckdb")
    except SqlCompileError:
        return "python"
    return "duckdb"


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` (temporary output,
    worker processes) runs before the command exits."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _interruptible(run: Callable[[], None]) -> None:
    """Run ``run()`` with SIGTERM raising :class:`_Terminated` (SIGINT already raises
    ``KeyboardInterrupt``); either ends the command with ``Aborted!`` and 130 or 143.

    When ``run`` returns, is interrupted or fails with an error segab reports as a
    message, the helper processes are stopped once its frames (and the worker pool
    they hold) are gone; a plain function, not a context manager, so that no
    traceback keeps them alive.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding app): leave signals alone
        previous = None
    code, error = 0, None
    try:
        run()
    except KeyboardInterrupt:
        code = 130
    except _Terminated:
        code = 143
    except (SegabError, OSError, click.ClickException) as exc:
        # reported as a message: drop the frames (and the exceptions it was raised in)
        error = exc.with_traceback(None)
        error.__cause__ = error.__context__ = None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    _stop_helper_processes()
    if error is not None:
        raise error
    if code:
        click.echo("\nAborted!" if code == 130 else "\nAborted! (terminated)", err=True)
        raise click.exceptions.Exit(code)


def _stop_helper_processes() -> None:
    """End multiprocessing's resource tracker, which outlives the worker pool otherwise.

    The Python engine's workers are joined before ``assign_file`` returns; the
    tracker is a separate helper process multiprocessing starts for the pool's
    semaphores and keeps until the interpreter exits. A command owns its process,
    so it stops it (the library cannot: an application may still use it).
    """
    import gc
    import sys

    tracker_module = sys.modules.get("multiprocessing.resource_tracker")
    tracker = getattr(tracker_module, "_resource_tracker", None)
    stop = getattr(tracker, "_stop", None)  # private, in CPython since 3.8; absent: skip
    if callable(stop) and getattr(tracker, "_pid", None) is not None:
        gc.collect()  # finalize (unlink) the pool's semaphores before their tracker goes
        stop()


def _bulk(
    experiment: Any,
    input_path: str,
    output_path: str,
    quiet: bool,
    workers: int | None,
    engine: str,
    spark_master: str | None,
    adaptive: AdaptiveInputs,
) -> None:
    from rich.console import Console

    err = Console(stderr=True)
    engine = _choose_engine(experiment, engine)
    sticky: Any = None
    previous: Any = None
    if adaptive.engine is not None:
        from segab.store.sticky import StoreStickyLookup, exposures_arrow

        store, key, iteration = adaptive.engine, experiment.key, experiment.iteration
        if engine == "python":
            sticky = StoreStickyLookup(store).load(key, iteration)
            stored = len(sticky)
        else:
            previous = exposures_arrow(store, key, iteration)
            stored = previous.num_rows
        for note in adaptive.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(f"note: {stored} stored exposures of iteration {iteration} (sticky)", err=True)
    if engine == "python":
        report = _bulk_python(
            experiment,
            input_path,
            output_path,
            quiet,
            workers,
            err,
            period=adaptive.period,
            sticky=sticky,
        )
    else:
        from segab.bulk.duckdb_engine import assign_file_sql

        with (
            err.status(f"assigning in {engine}", spinner="dots") if not quiet else _null(),
            _quiet_interrupt_logs(),
        ):
            report = assign_file_sql(
                experiment,
                input_path,
                output_path,
                engine=engine,  # type: ignore[arg-type]
                spark_master=spark_master,
                period=adaptive.period,
                previous=previous,
            )
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for problem in report.problems:
        click.echo(f"bad row: {problem}", err=True)
    if report.bad_rows > len(report.problems):
        click.echo(f"... and {report.bad_rows - len(report.problems)} more bad rows", err=True)
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(report.reasons.items()))
    click.echo(
        f"assigned {report.rows_out} of {report.rows_in} rows to {output_path} with {engine} "
        f"({report.bad_rows} bad rows skipped; {reasons or 'no rows'})"
    )


def _bulk_python(
    experiment: Any,
    input_path: str,
    output_path: str,
    quiet: bool,
    workers: int | None,
    err: Any,
    *,
    period: Any = None,
    sticky: Any = None,
) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from segab.bulk import assign_file, count_rows

    total = None if quiet else count_rows(input_path)
    columns = (TextColumn("assigning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=quiet, transient=True) as bar:
        task = bar.add_task("assign", total=total)
        return assign_file(
            experiment,
            input_path,
            output_path,
            progress=lambda n: bar.advance(task, n),
            workers=workers,
            period=period,
            sticky=sticky,
        )


@contextlib.contextmanager
def _null() -> Iterator[None]:
    yield


def _not_an_interrupt(record: logging.LogRecord) -> bool:
    kind = record.exc_info[0] if record.exc_info else None
    if kind is not None and issubclass(kind, KeyboardInterrupt):
        return False
    return f"{os.sep}py4j{os.sep}" not in record.pathname


@contextlib.contextmanager
def _quiet_interrupt_logs() -> Iterator[None]:
    """Drop the tracebacks py4j logs on the root logger (when Ctrl-C stops a Spark call,
    it logs the broken connection); the command says ``Aborted!`` or ``Error: ...``."""
    root = logging.getLogger()
    root.addFilter(_not_an_interrupt)
    try:
        yield
    finally:
        root.removeFilter(_not_an_interrupt)
