"""Atomic output files: write beside the target, rename over it only on success.

A command that writes ``--output`` (``segab analyze``, ``segab history``,
``segab simulate``) writes into a temporary file in the target's directory and
renames it over the target when the write has finished (``os.replace``, atomic
on POSIX within one file system). After an error or a Ctrl-C (the CLI turns
SIGTERM into the same unwinding, :mod:`segab.cli.main`), the temporary file is
removed: nothing appears at the target, and a file already there is untouched.
A full disk is an error like any other.

Example:
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report.json"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> target.read_text()
    '{}'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "cancel_outputs", "remove_partial_outputs"]

_PARTIAL: set[Path] = set()  # temporary files being written now
_CANCELLED = threading.Event()  # a signal stopped the command: commit nothing more


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed to ``target`` if the body succeeds.

    The directory of ``target`` is created when missing. The temporary file is
    named ``.<name>.<random>.tmp`` (hidden, same directory, so the rename never
    copies across file systems) and is removed when the body raises or is
    interrupted (any exception, KeyboardInterrupt included). The finished file
    is flushed to disk before the rename; it gets the mode of the file it
    replaces, or the usual mode of a new file.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
        >>> _ = target.write_text("old")
        >>> try:
        ...     with atomic_output(target) as tmp:
        ...         _ = tmp.write_text("half")
        ...         raise ValueError("disk full")
        ... except ValueError:
        ...     pass
        >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
        ('old', ['out.csv'])
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    _PARTIAL.add(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if _CANCELLED.is_set():
            raise KeyboardInterrupt
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        _PARTIAL.discard(tmp)


def cancel_outputs() -> None:
    """From now on no :func:`atomic_output` replaces its target (it raises KeyboardInterrupt).

    The CLI calls it when a signal arrives (:mod:`segab.cli.signals`): a statement
    that absorbed the KeyboardInterrupt must not let the command write its output.

    Example:
        >>> cancel_outputs.__name__
        'cancel_outputs'
    """
    _CANCELLED.set()


def remove_partial_outputs() -> None:
    """Delete the temporary files of every :func:`atomic_output` still being written.

    For a process about to end without unwinding (the CLI's watchdog after a
    signal, :mod:`segab.cli.signals`); the targets are left as they were.

    Example:
        >>> remove_partial_outputs()   # nothing being written: nothing to do
    """
    for tmp in list(_PARTIAL):
        with contextlib.suppress(OSError):
            tmp.unlink()
        _PARTIAL.discard(tmp)
