"""Atomic output files: write beside the target, rename over it only on success.

A command that writes ``--output`` (``segab analyze``, ``segab history``,
``segab simulate``) writes into a temporary file in the target's directory and
renames it over the target when the write has finished (``os.replace``, atomic
on POSIX within one file system). After an error or a Ctrl-C (the CLI turns
SIGTERM into the same unwinding, :mod:`segab.cli.main`), the temporary file is
removed: nothing appears at the target, and a file already there is untouched.
A full disk is an error like any other. The same mechanism serves ``segab
assign`` on every engine, including Spark, whose output is a directory.

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
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "cancel_outputs", "remove_partial_outputs"]

_PARTIAL: set[Path] = set()  # temporary files being written now
_CANCELLED = threading.Event()  # a signal stopped the command: commit nothing more


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed to ``target`` if the body succeeds.

    The directory of ``target`` is created when missing. The temporary path is
    ``<name>.segab-tmp-<pid>-<random>`` in the same directory, so the rename never
    copies across file systems (and not a hidden name: Spark skips paths that
    start with ``.``). The body may write a file or a directory (Spark) there. It
    is removed when the body raises or is interrupted (any exception,
    KeyboardInterrupt included), and nothing is renamed once a signal has
    cancelled the outputs (:func:`cancel_outputs`). A finished file is flushed to
    disk before the rename and gets the mode of the file it replaces, or the
    usual mode of a new file; a directory replaces an old one by moving it aside.

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
    tmp = path.with_name(f"{path.name}.segab-tmp-{os.getpid()}-{secrets.token_hex(4)}")
    _PARTIAL.add(tmp)
    try:
        yield tmp
        if tmp.is_file():
            _finish_file(tmp, path)
        if _CANCELLED.is_set():
            raise KeyboardInterrupt
        _install(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _PARTIAL.discard(tmp)


def _finish_file(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    if path.exists():
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _install(tmp: Path, target: Path) -> None:
    if not tmp.is_dir():
        os.replace(tmp, target)
        return
    # a directory (Spark's output) cannot replace a non-empty one in one rename: move the
    # old one aside, rename the new one in, then delete the old one
    old = target.with_name(f"{target.name}.segab-old-{os.getpid()}-{secrets.token_hex(4)}")
    had_old = target.exists() or target.is_symlink()
    if had_old:
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if had_old:
            os.replace(old, target)
        raise
    if had_old:
        _remove(old)


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
        _remove(tmp)
        _PARTIAL.discard(tmp)
