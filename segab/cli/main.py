"""The root ``segab`` command group and its error handling.

Every :class:`~segab.errors.SegabError` becomes ``Error: ...`` on stderr with
exit code 1; usage errors exit with 2 (click's convention). No tracebacks.

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(cli, ["--version"]).output.startswith("segab")
    True
"""

from __future__ import annotations

import sys
from typing import Any

import click

from segab import __version__
from segab.errors import SegabError

__all__ = ["cli", "main"]


class SegabGroup(click.Group):
    """A click group that turns segab errors into ``Error: ...`` messages."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping :class:`SegabError` and I/O errors to click errors."""
        try:
            return super().invoke(ctx)
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


def _register() -> None:
    from segab.cli.assign_cmd import assign_command
    from segab.cli.config_cmds import schema_command, validate_command

    cli.add_command(validate_command)
    cli.add_command(schema_command)
    cli.add_command(assign_command)
    for module, names in _OPTIONAL:
        try:
            mod = __import__(module, fromlist=names)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue  # command module not built yet
        for name in names:
            obj = getattr(mod, name)
            for command in obj if isinstance(obj, list) else [obj]:
                cli.add_command(command)


_OPTIONAL: list[tuple[str, list[str]]] = [
    ("segab.cli.simulate_cmd", ["simulate_command"]),
    ("segab.cli.analyze_cmd", ["analyze_command"]),
    ("segab.cli.db", ["db_group", "events_group"]),
    ("segab.cli.sql_cmd", ["sql_group"]),
    ("segab.cli.lifecycle_cmds", ["lifecycle_commands"]),
]


def main() -> None:
    """Entry point of the ``segab`` console script.

    Example:
        >>> callable(main)
        True
    """
    cli.main(prog_name="segab")
    sys.exit(0)


_register()
