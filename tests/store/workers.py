"""Process entry points for the concurrency test (importable by spawned processes)."""

from __future__ import annotations

from typing import Any

from tests.store.helpers import assignment

UNITS = 20_000  # distinct units overall
PER_PROCESS = 5_000
STRIDE = 2_500  # process p logs units [p*STRIDE, p*STRIDE + PER_PROCESS) mod UNITS
CONFLICT_EVERY = 50  # these units get a process-dependent variant


def units_of(process: int) -> list[int]:
    start = process * STRIDE
    return [(start + k) % UNITS for k in range(PER_PROCESS)]


def variant_of(unit: int, process: int) -> str:
    if unit % CONFLICT_EVERY == 0:
        return f"p{process}"  # every process that logs this unit disagrees with the others
    return "abc"[unit % 3]


def log_units(url: str, schema: str | None, process: int, start: Any, results: Any) -> None:
    """Log this process's 5,000 exposures through an ExposureLogger, all processes at once."""
    from segab.store import ExposureLogger

    rows = [assignment(u, variant_of(u, process), exp="concurrency") for u in units_of(process)]
    logger = ExposureLogger(
        url, schema=schema, batch_size=500, flush_interval=0.05, retry_initial=0.05, retry_max=0.5
    )
    start.wait()  # a Barrier: every process is ready, then all start together
    for a in rows:
        logger.log(a)
    ok = logger.close(timeout=120)
    results.put((process, ok, logger.stats()))
