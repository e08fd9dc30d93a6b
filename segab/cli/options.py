"""Options shared by several commands.

Example:
    >>> experiments_option.__name__
    'decorator'
"""

from __future__ import annotations

import datetime as dt

import click

from segab.errors import DataError

__all__ = ["experiments_option", "parse_now"]

experiments_option = click.option(
    "--experiments",
    "experiments_dir",
    default="experiments",
    show_default=True,
    type=click.Path(),
    help="Config file or directory.",
)


def parse_now(text: str | None) -> dt.datetime | None:
    """``--now`` as an aware datetime (no zone given: UTC), or None; a located error otherwise.

    Example:
        >>> parse_now("2026-06-01T12:00:00")
        datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
        >>> try:
        ...     parse_now("June 1st")
        ... except DataError as exc:
        ...     print(str(exc)[:42])
        --now: found 'June 1st', expected an ISO 8
    """
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataError(
            f"--now: found {text!r}, expected an ISO 8601 time such as 2026-06-01 or "
            "2026-06-01T12:00:00Z"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
