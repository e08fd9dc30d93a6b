"""Options shared by several commands.

Example:
    >>> experiments_option.__name__
    'decorator'
"""

from __future__ import annotations

import click

__all__ = ["experiments_option"]

experiments_option = click.option(
    "--experiments",
    "experiments_dir",
    default="experiments",
    show_default=True,
    type=click.Path(),
    help="Config file or directory.",
)
