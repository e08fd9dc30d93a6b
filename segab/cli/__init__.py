"""The ``segab`` command line (a thin shell over the library).

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(cli, ["--help"]).exit_code
    0
"""

from segab.cli.main import cli, main

__all__ = ["cli", "main"]
