"""Ctrl-C and SIGTERM during a command: unwind cleanly, and end the process if unwinding stalls.

While a command runs, SIGINT and SIGTERM raise KeyboardInterrupt in the main
thread, so every ``finally`` runs: DuckDB is closed and its spill directory
removed, a half-written output file is deleted (:func:`segab.atomic.atomic_output`).
The CLI then prints ``Aborted!`` (or ``Terminated``) and exits with 128 + the
signal number: 130 for Ctrl-C, 143 for SIGTERM.

A KeyboardInterrupt that lands inside Python's import machinery while another
thread imports (``segab analyze`` imports pandas in the background) can leave a
module lock held, and DuckDB can absorb one while it finishes a statement. So the
first signal also starts a watchdog: if the process still runs :data:`GRACE`
seconds later, it removes the partial outputs and DuckDB spill directories of this
process, prints the same message and exits with the same code.

Example:
    >>> got = {}
    >>> with interruptible(got):
    ...     pass
    >>> got
    {}
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import FrameType

from segab.atomic import cancel_outputs, remove_partial_outputs

__all__ = ["GRACE", "deferred_signals", "interruptible", "message", "remove_leftovers"]

GRACE = 10.0  # seconds the command has to unwind after a signal


def message(signum: int) -> str:
    """What the CLI prints when a signal stops a command.

    Example:
        >>> message(signal.SIGINT), message(signal.SIGTERM)
        ('Aborted!', 'Terminated')
    """
    return "Terminated" if signum == signal.SIGTERM else "Aborted!"


def remove_leftovers() -> None:
    """Remove the partial outputs and DuckDB spill directories of this process.

    Run after a signal has stopped a command: by then every engine is closed, so a
    spill directory still there was made while the signal landed (between its
    creation and the ``with`` that removes it) and nothing else will remove it.

    Example:
        >>> remove_leftovers()   # nothing of this process to remove
    """
    with contextlib.suppress(Exception):
        remove_partial_outputs()
    pattern = os.path.join(tempfile.gettempdir(), f"segab-duckdb-{os.getpid()}-*")
    for spill in glob.glob(pattern):
        shutil.rmtree(spill, ignore_errors=True)


def _force_exit(signum: int) -> None:
    """The watchdog: clean what this process leaves in files, then end it at once."""
    remove_leftovers()
    with contextlib.suppress(Exception):
        sys.stderr.write(f"\n{message(signum)}\n")
        sys.stderr.flush()
    os._exit(128 + signum)


@contextlib.contextmanager
def interruptible(got: dict[str, int]) -> Iterator[None]:
    """While the body runs, SIGINT and SIGTERM raise KeyboardInterrupt (``got['signal']``: which).

    Main thread only (the rule of :mod:`signal`); elsewhere the body runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        cancel_outputs()  # even if a statement absorbs the KeyboardInterrupt, nothing is written
        if "signal" not in got:
            got["signal"] = signum
            watchdog = threading.Timer(GRACE, _force_exit, (signum,))
            watchdog.daemon = True
            watchdog.start()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the body runs; they are delivered when it ends.

    For loading a C extension (DuckDB's aborts the process when interrupted while it
    initialises). Threads started in the body keep the signals blocked, so they
    always reach the main thread. Main thread only.

    Example:
        >>> with deferred_signals():
        ...     import json
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):  # (no signal masks on Windows)
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
