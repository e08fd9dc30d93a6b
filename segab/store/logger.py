"""The app-side exposure logger: buffered, batched, never raising into the app.

:class:`ExposureLogger` is what an application process creates once and
calls on every assignment::

    logger = ExposureLogger("postgresql://app@db/ab")
    a = segab.assign(exp, unit_id, attrs, "purchase")
    logger.log(a)            # enqueues and returns; never blocks on the database

A background thread writes the buffer with :func:`log_exposures` when it
holds ``batch_size`` rows or every ``flush_interval`` seconds, and on
:meth:`~ExposureLogger.close`, on leaving a ``with`` block and at
interpreter exit. While the database is unreachable, rows stay in a buffer
of at most ``max_buffer`` rows and the writer retries with exponential
backoff (``retry_initial`` doubling up to ``retry_max`` seconds, with
jitter); rows that arrive while the buffer is full are dropped and counted.
Rows the database rejects as invalid (a value it cannot store) are isolated
by splitting the batch, dropped and counted, so one bad row never blocks
the others. :meth:`~ExposureLogger.stats` reports all of it.

Only assignments with ``in_experiment`` true are logged. After ``fork()``
the child gets an empty buffer and its own writer thread.

Example:
    >>> from segab.assignment_types import Assignment, Reason
    >>> with ExposureLogger("sqlite://", flush_interval=0.05) as logger:
    ...     logger.log(Assignment("e", 1, "u1", "s", "buy", "a", 5, True, Reason.ASSIGNED))
    True
    >>> logger.stats().delivered
    1
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.engine import Engine

from segab.assignment_types import Assignment
from segab.hashing import HASH_VERSION
from segab.store.engine import describe_error, init_store, make_engine, mask_url, resolve_url
from segab.store.exposures import ExposureRow, log_isolating, validate_exposure
from segab.store.models import utcnow

__all__ = ["ExposureLogger", "LoggerStats"]

_log = logging.getLogger("segab.store")


@dataclass(frozen=True)
class LoggerStats:
    """Counters of an :class:`ExposureLogger` since it was created.

    ``delivered`` rows reached the store (``inserted`` new, ``duplicates``
    already there, ``conflicts`` with another variant already there);
    ``dropped`` rows will never be delivered: the buffer was full, the
    logger was closed, or the row cannot be stored (those are also counted in
    ``rejected``: a missing or unencodable field, a number beyond its column,
    a value the database refuses); ``pending`` rows are buffered (including
    the batch being written); ``batches`` counts successful writes,
    ``retries`` failed ones; ``last_error`` is the most recent failure, a
    time-out included (cleared by the next clean write); ``last_rejected``
    says why the most recent rejected row was rejected (never cleared).
    Every ``log()`` of an in-experiment assignment ends up in exactly one of
    ``delivered``, ``dropped`` or ``pending``.

    Example:
        >>> LoggerStats(10, 8, 1, 1, 0, 0, 0, 3, 0, None).delivered
        10
    """

    delivered: int
    inserted: int
    duplicates: int
    conflicts: int
    dropped: int
    rejected: int
    pending: int
    batches: int
    retries: int
    last_error: str | None
    last_rejected: str | None = None


class ExposureLogger:
    """Buffer exposures in memory and write them to the store in batches.

    ``url`` as for :func:`~segab.store.resolve_url`; ``schema`` a PostgreSQL
    schema; ``config_fingerprint`` the default fingerprint stored with each
    row; ``create`` creates the store tables on first connect when missing.
    ``engine`` (tests, advanced use) replaces ``url``/``schema``.

    Example:
        >>> logger = ExposureLogger("sqlite://", batch_size=500, max_buffer=10_000)
        >>> logger.close()
        True
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        schema: str | None = None,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        config_fingerprint: str | None = None,
        hash_version: int = HASH_VERSION,
        create: bool = True,
        busy_timeout: float = 30.0,
        engine: Engine | None = None,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError(
                f"batch_size={batch_size}, max_buffer={max_buffer}: "
                "expected 1 <= batch_size <= max_buffer"
            )
        if flush_interval <= 0 or retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("expected flush_interval > 0 and 0 < retry_initial <= retry_max")
        self._own_engine = engine is None
        self._engine = engine or make_engine(
            resolve_url(url), schema=schema, busy_timeout=busy_timeout
        )
        self._where = mask_url(self._engine.url)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._fingerprint = config_fingerprint
        self._hash_version = hash_version
        self._create = create
        self._closed = False
        self._start()
        atexit.register(self._at_exit)
        os.register_at_fork(after_in_child=functools.partial(_reinit_in_child, weakref.ref(self)))

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: deque[ExposureRow] = deque()
        self._closing = False
        self._flush_wanted = False
        self._ready = False  # store checked / created on this connection
        self._counts = dict.fromkeys(
            ("delivered", "inserted", "duplicates", "conflicts", "dropped", "rejected"), 0
        )
        self._batches = self._retries = 0
        self._last_error: str | None = None
        self._last_rejected: str | None = None
        self._writing_since: float | None = None  # monotonic start of the write in progress
        self._thread = threading.Thread(target=self._run, name="segab-exposure-logger", daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        # The writer thread does not survive fork(); the parent's buffer belongs to the parent.
        self._engine.dispose(close=False)
        if not self._closed:
            self._start()

    def log(self, assignment: Assignment, *, config_fingerprint: str | None = None) -> bool:
        """Enqueue an assignment's exposure; return whether it was queued.

        Assignments not ``in_experiment`` are ignored (False). A full buffer
        drops the row (counted in ``stats().dropped``, False). Never raises.

        Example:
            >>> from segab.assignment_types import Reason
            >>> logger = ExposureLogger("sqlite://")
            >>> logger.log(Assignment("e", 1, "u", None, "buy", "a", None, False, Reason.HOLDOUT))
            False
            >>> logger.close()
            True
        """
        try:
            if not assignment.in_experiment:
                return False
            row = ExposureRow(
                assignment.experiment,
                assignment.iteration,
                assignment.unit_id,
                assignment.segment,
                assignment.stage,
                assignment.variant,  # type: ignore[arg-type]  # checked by the writer
                self._hash_version,
                config_fingerprint or self._fingerprint,
                utcnow(),
            )
            return self._enqueue(row)
        except Exception as exc:  # never raise into the app
            self._note_drop(f"cannot log {assignment!r}: {exc}")
            return False

    def log_many(self, assignments: Iterable[Assignment]) -> int:
        """Enqueue several assignments; return how many were queued. Never raises.

        Example:
            >>> logger = ExposureLogger("sqlite://")
            >>> logger.log_many([])
            0
            >>> logger.close()
            True
        """
        queued = 0
        try:
            for a in assignments:
                queued += self.log(a)
        except Exception as exc:  # a failing iterator
            self._note_drop(f"cannot iterate assignments: {exc}")
        return queued

    def _enqueue(self, row: ExposureRow) -> bool:
        with self._lock:
            if self._closed:
                self._counts["dropped"] += 1
                self._last_error = "logger is closed"
                return False
            if len(self._buffer) >= self._max_buffer:
                self._counts["dropped"] += 1
                return False
            self._buffer.append(row)
            if len(self._buffer) >= self._batch_size:
                self._wake.notify()
        return True

    def _note_drop(self, message: str) -> None:
        with self._lock:
            self._counts["dropped"] += 1
            self._last_error = message

    def stats(self) -> LoggerStats:
        """Return the counters (see :class:`LoggerStats`).

        Example:
            >>> logger = ExposureLogger("sqlite://")
            >>> logger.stats().pending
            0
            >>> logger.close()
            True
        """
        with self._lock:
            c = self._counts
            return LoggerStats(
                c["delivered"],
                c["inserted"],
                c["duplicates"],
                c["conflicts"],
                c["dropped"],
                c["rejected"],
                len(self._buffer),
                self._batches,
                self._retries,
                self._last_error,
                self._last_rejected,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Ask the writer to write everything now; wait until the buffer is empty.

        Returns False if rows are still pending after ``timeout`` seconds.

        Example:
            >>> logger = ExposureLogger("sqlite://")
            >>> logger.flush(timeout=5)
            True
            >>> logger.close()
            True
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flush_wanted = True
            self._wake.notify_all()
            while self._buffer and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._last_error = self._timed_out("flush", timeout or 0.0)
                    return False
                self._wake.wait(0.05 if left is None else min(left, 0.05))
            return not self._buffer

    def close(self, timeout: float = 10.0) -> bool:
        """Flush what is buffered (waiting at most ``timeout`` s) and stop the writer.

        Returns True when nothing was left pending. Rows still pending are
        reported in ``stats().pending`` and a warning. Idempotent.

        Example:
            >>> ExposureLogger("sqlite://").close()
            True
        """
        with self._lock:
            if self._closed:
                return not self._buffer
            self._closing = True
            self._wake.notify_all()
        self._thread.join(timeout)
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            pending = len(self._buffer)
            if pending:
                self._last_error = self._timed_out("close", timeout)
        if pending:
            _log.warning(
                "segab exposure logger closed with %d rows undelivered to %s (%s)",
                pending,
                self._where,
                self._last_error,
            )
        atexit.unregister(self._at_exit)
        if self._own_engine and not self._thread.is_alive():
            self._engine.dispose()
        return pending == 0

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):  # never raise at interpreter exit
            self.close()

    def __enter__(self) -> ExposureLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:  # a bug in the loop must not silently end delivery
            try:
                self._loop()
                return
            except Exception as exc:  # pragma: no cover - defensive
                _log.exception("segab exposure logger: writer loop failed; restarting")
                with self._lock:
                    self._last_error = describe_error(exc)
                time.sleep(self._retry_initial)

    def _loop(self) -> None:
        failures = 0
        last_write = time.monotonic()
        retry_at = failed_at = 0.0
        while True:
            with self._lock:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    # Back off after a failure; while closing, retry at least every 0.2 s.
                    until = min(retry_at, failed_at + 0.2) if self._closing else retry_at
                    if now < until:
                        self._wake.wait(until - now)
                        continue
                    if not self._buffer:
                        self._flush_wanted = False
                        self._wake.notify_all()
                        if self._closing:
                            return
                        self._wake.wait(self._flush_interval)
                        continue
                    if (
                        self._closing
                        or self._flush_wanted
                        or len(self._buffer) >= self._batch_size
                        or now - last_write >= self._flush_interval
                    ):
                        break
                    self._wake.wait(last_write + self._flush_interval - now)
                batch = list(islice(self._buffer, self._batch_size))
            with self._lock:
                self._writing_since = time.monotonic()
            try:
                ok = self._write(batch)
            finally:
                with self._lock:
                    self._writing_since = None
            last_write = time.monotonic()
            if ok:
                failures = 0
                retry_at = 0.0
                continue
            failures += 1
            delay = min(self._retry_max, self._retry_initial * 2 ** min(failures - 1, 30))
            failed_at = last_write
            retry_at = failed_at + delay * random.uniform(0.5, 1.0)
            with self._lock:
                self._retries += 1

    def _write(self, batch: list[ExposureRow]) -> bool:
        """Write ``batch`` (the head of the buffer); on success remove it. Never raises."""
        good: list[ExposureRow] = []
        invalid: list[tuple[ExposureRow, str]] = []
        for row in batch:
            problem = validate_exposure(row)
            if problem is None:
                good.append(row)
            else:
                invalid.append((row, problem))
        try:
            if not self._ready:
                if self._create:
                    init_store(self._engine)
                else:
                    from segab.store.engine import check_schema

                    check_schema(self._engine)
                self._ready = True
            result, refused = log_isolating(self._engine, good)
        except Exception as exc:
            self._failed(exc)
            return False
        with self._lock:
            for _ in batch:
                self._buffer.popleft()
            c = self._counts
            c["inserted"] += result.inserted
            c["duplicates"] += result.duplicates
            c["conflicts"] += result.conflicts
            c["delivered"] += result.total
            bad = len(invalid) + len(refused)
            c["rejected"] += bad
            c["dropped"] += bad
            self._batches += 1
            for row, why in invalid + refused:
                self._last_error = self._last_rejected = f"rejected {row!r}: {why}"
                _log.warning("segab exposure logger: %s", self._last_error)
            if self._last_error is not None and not bad:
                _log.info("segab exposure logger: writing to %s again", self._where)
                self._last_error = None
            self._wake.notify_all()
        return True

    def _timed_out(self, what: str, timeout: float) -> str:
        """The ``last_error`` of a flush or close that gave up (call with the lock held)."""
        text = f"{what} timed out after {timeout:g} s with {len(self._buffer)} rows pending"
        if self._writing_since is not None:
            busy = time.monotonic() - self._writing_since
            text += f"; a write to {self._where} has been running for {busy:.1f} s"
        cause = self._last_error
        if cause and " timed out after " in cause:  # an earlier flush/close time-out
            cause = cause.partition("; last failure: ")[2] or None
        return text + (f"; last failure: {cause}" if cause else "")

    def _failed(self, exc: BaseException) -> None:
        message = describe_error(exc)
        if _is_timeout(exc):
            message = f"timed out waiting for the database ({message})"
        with self._lock:
            first = self._last_error is None
            self._last_error = message
            self._ready = False  # re-check (or re-create) the store on the next attempt
        if first:
            _log.warning(
                "segab exposure logger cannot write to %s, buffering and retrying: %s",
                self._where,
                message,
            )

    def __repr__(self) -> str:
        s = self.stats()
        return f"ExposureLogger({self._where!r}, pending={s.pending}, delivered={s.delivered})"


def _is_timeout(exc: BaseException) -> bool:
    """Whether a failed write timed out: a lock wait, a statement or a connection attempt.

    SQLite reports its busy timeout as "database is locked"; PostgreSQL cancels
    a statement after ``lock_timeout`` (see :func:`~segab.store.make_engine`).
    """
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    if isinstance(
        orig, TimeoutError | psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    ):
        return True
    text = str(orig).lower()
    return any(w in text for w in ("database is locked", "timeout", "timed out"))


def _reinit_in_child(ref: weakref.ref[ExposureLogger]) -> None:
    logger = ref()
    if logger is not None:
        logger._after_fork()
