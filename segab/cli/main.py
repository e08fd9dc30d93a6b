"""The root ``segab`` command group and its error handling.

Every :class:`~segab.errors.SegabError` becomes ``Error: ...`` on stderr with
exit code 1; usage errors exit with 2 (click's convention); Ctrl-C prints
``Aborted!`` and exits with 130 (128 + SIGINT, as shells do), SIGTERM prints
``Terminated`` and exits with 143: both unwind the command, so it closes its
engines, removes its temporary files and leaves no partial output
(:mod:`segab.cli.signals`). No tracebacks.
A command that has written its output and closed what it opened may call
:func:`allow_fast_exit`: the console script then ends without the interpreter's
teardown (``segab analyze`` does; see that function).

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(cli, ["--version"]).output.startswith("segab")
    True
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
from typing import Any

import click

from segab import __version__
from segab.cli.signals import interruptible, message, remove_leftovers
from segab.errors import SegabError

__all__ = ["FAST_EXIT", "PAUSED_GC", "allow_fast_exit", "cli", "main", "resume_gc"]


# command name -> (module, attribute): a command's module (and its imports: pandas,
# DuckDB, statsmodels, ...) loads only when that command runs, so a run pays for
# what it uses; ``segab --help`` loads them all to show their summaries
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("segab.cli.config_cmds", "validate_command"),
    "schema": ("segab.cli.config_cmds", "schema_command"),
    "assign": ("segab.cli.assign_cmd", "assign_command"),
    "simulate": ("segab.cli.simulate_cmd", "simulate_command"),
    "init": ("segab.cli.init_cmd", "init_command"),
    "analyze": ("segab.cli.analyze_cmd", "analyze_command"),
    "db": ("segab.cli.db", "db_group"),
    "events": ("segab.cli.db", "events_group"),
    "sql": ("segab.cli.sql_cmd", "sql_group"),
    "allocate": ("segab.cli.allocate_cmd", "allocate_command"),
    **{
        name: ("segab.cli.lifecycle_cmds", "lifecycle_commands")
        for name in ("plan", "start", "stop", "conclude", "iterate")
    },
    "status": ("segab.cli.status_cmds", "status_commands"),
    "history": ("segab.cli.status_cmds", "status_commands"),
}


class SegabGroup(click.Group):
    """A click group that loads its commands lazily and turns segab errors into
    ``Error: ...`` messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted (none is imported).

        Example:
            >>> "analyze" in cli.list_commands(click.Context(cli))
            True
        """
        return sorted(set(_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module on first use.

        Example:
            >>> cli.get_command(click.Context(cli), "validate").name
            'validate'
        """
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, attr = _COMMANDS[cmd_name]
            obj = getattr(importlib.import_module(module), attr)
            for command in obj if isinstance(obj, list) else [obj]:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping :class:`SegabError` and I/O errors to click errors.

        Ctrl-C (KeyboardInterrupt) prints ``Aborted!`` and exits with code 130;
        SIGTERM unwinds the same way and exits with 143.
        """
        got: dict[str, int] = {}
        try:
            try:
                with interruptible(got):
                    result = super().invoke(ctx)
            except Exception as exc:  # after a signal, a failure is the signal's doing
                if "signal" in got and not isinstance(exc, click.exceptions.Exit):
                    raise KeyboardInterrupt from None  # (an import cut short, say)
                raise
            if "signal" in got:  # a statement absorbed the interrupt: stop all the same
                raise KeyboardInterrupt
            return result
        except KeyboardInterrupt:
            signum = got.get("signal", signal.SIGINT)
            remove_leftovers()  # a spill directory made just as the signal landed
            click.echo(f"\n{message(signum)}", err=True)
            raise click.exceptions.Exit(128 + signum) from None
        except SegabError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None


@click.group(cls=SegabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="segab")
def cli() -> None:
    """segab: segment-aware A/B testing.

    Declare experiments in experiments/*.yaml, assign units deterministically,
    analyze lift per segment and journey stage.

    \b
    Example:
      segab validate experiments
      segab assign journey_content --unit u42 --stage awareness --attr age=28 --attr channel=social
    """
    ctx = click.get_current_context()
    if ctx.invoked_subcommand != "analyze":  # analyze resumes it once its sums are in
        resume_gc()


FAST_EXIT = "fast_exit"  # key a command sets in ``ctx.obj`` when it may skip teardown
PAUSED_GC = "paused_gc"  # key main() sets in ``ctx.obj`` while the cyclic GC is paused


def resume_gc() -> None:
    """Turn the cyclic garbage collector back on if :func:`main` paused it.

    The console script starts with the collector off: start-up imports (click,
    pydantic, DuckDB, pandas, SciPy) allocate hundreds of thousands of objects
    and no garbage, and the collector's passes over them cost about 0.03 s of a
    ``segab analyze`` run of 0.75 s (``analysis/bench_units.py``). Every command
    but ``analyze`` resumes it before it runs; ``analyze`` once its results are
    computed (the engine's sums and the statistics). The objects alive by then
    are frozen (``gc.freeze``): later passes skip them. Outside :func:`main`
    (``CliRunner``, the library) it does nothing.

    Example:
        >>> import gc
        >>> resume_gc(); gc.isenabled()   # outside a run: nothing paused
        True
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, dict) and ctx.obj.pop(PAUSED_GC, False):
        gc.freeze()
        gc.enable()


def allow_fast_exit() -> None:
    """Let the console script end this run without tearing the interpreter down.

    A command calls it once its output is written and every file, connection
    and thread it opened is closed. Freeing pandas' and SciPy's modules at
    exit costs about 0.3 s; :func:`main` then flushes stdout and stderr and
    ends the process at once. Under click's ``CliRunner`` (tests) it does nothing.

    Example:
        >>> allow_fast_exit()   # outside a run: nothing to do
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, dict):
        ctx.obj[FAST_EXIT] = True


def main() -> None:
    """Entry point of the ``segab`` console script.

    Example:
        >>> callable(main)
        True
    """
    state: dict[str, bool] = {PAUSED_GC: True}
    gc.disable()  # until the command resumes it (resume_gc)
    try:
        cli.main(prog_name="segab", obj=state)
    except SystemExit as exc:
        if exc.code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            _quick_exit(int(exc.code))  # unwound already; no teardown to wait on
        if exc.code not in (0, None) or not state.get(FAST_EXIT):
            raise
        _quick_exit(0)
    sys.exit(0)


def _quick_exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
