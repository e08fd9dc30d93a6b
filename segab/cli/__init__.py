"""The ``segab`` command line (a thin shell over the library).

The console script calls :func:`main`, which imports the command line (click, the
config models) only then, so a Ctrl-C during those imports ends like any other:
``Aborted!`` and exit code 130, not a traceback.

Example:
    >>> from click.testing import CliRunner
    >>> from segab.cli import cli
    >>> CliRunner().invoke(cli, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segab.cli.main import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Run the ``segab`` command (the console script's entry point).

    Example:
        >>> main.__name__
        'main'
    """
    try:
        from segab.cli.main import main as run
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        raise SystemExit(130) from None
    run()


def __getattr__(name: str) -> Any:
    if name == "cli":
        from segab.cli.main import cli

        return cli
    raise AttributeError(f"module 'segab.cli' has no attribute {name!r}")
