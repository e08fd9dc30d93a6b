"""8 processes log 5,000 exposures each, overlapping, at the same time (SQLite and PostgreSQL).

Layout (see :mod:`tests.store.workers`): 20,000 units; process ``p`` logs the
5,000 units starting at ``p * 2,500`` (mod 20,000), so every unit is logged by
exactly two processes: 40,000 rows, 20,000 unique exposures. Units divisible
by 50 (400 of them) get a variant that depends on the process, so exactly one
of their two rows -- whichever is written second -- is a conflict: 400
conflicts. Every other second row is a duplicate: 19,600.
"""

from __future__ import annotations

import multiprocessing as mp
import queue

import sqlalchemy as sa

from segab.store.models import EXPOSURE_CONFLICTS_TABLE, EXPOSURES_TABLE
from tests.store.conftest import Target
from tests.store.workers import CONFLICT_EVERY, PER_PROCESS, UNITS, log_units, units_of, variant_of

PROCESSES = 8


def test_eight_processes_lose_nothing_and_count_conflicts(store: Target) -> None:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(PROCESSES + 1, timeout=240)  # the workers and this test
    results = ctx.Queue()
    procs = [
        ctx.Process(target=log_units, args=(store.url, store.schema, p, start, results))
        for p in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    start.wait()  # all 8 have imported segab and built their rows: go
    stats = {}
    try:
        for _ in procs:
            process, ok, s = results.get(timeout=240)
            stats[process] = (ok, s)
    except queue.Empty:
        raise AssertionError(f"only {len(stats)} of {PROCESSES} processes reported") from None
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)

    total_rows = PROCESSES * PER_PROCESS
    expected_conflicts = UNITS // CONFLICT_EVERY
    assert all(ok for ok, _ in stats.values())
    assert all(s.pending == 0 and s.dropped == 0 for _, s in stats.values())
    assert sum(s.delivered for _, s in stats.values()) == total_rows
    assert sum(s.inserted for _, s in stats.values()) == UNITS
    assert sum(s.conflicts for _, s in stats.values()) == expected_conflicts
    assert sum(s.duplicates for _, s in stats.values()) == total_rows - UNITS - expected_conflicts

    e, c = EXPOSURES_TABLE.c, EXPOSURE_CONFLICTS_TABLE.c
    with store.engine.connect() as conn:
        got = dict(conn.execute(sa.select(e.unit_id, e.variant)).all())
        recorded = conn.execute(
            sa.select(c.unit_id, c.stored_variant, c.variant, c.occurrences)
        ).all()
    assert len(got) == UNITS == store.count("exposures")
    loggers_of: dict[int, list[int]] = {}
    for p in range(PROCESSES):
        for u in units_of(p):
            loggers_of.setdefault(u, []).append(p)
    for u, procs_of_u in loggers_of.items():
        assert got[f"u{u}"] in {variant_of(u, p) for p in procs_of_u}
    assert sum(n for *_, n in recorded) == expected_conflicts
    assert len(recorded) == expected_conflicts
    for unit_id, stored_variant, variant, _ in recorded:
        u = int(unit_id[1:])
        assert u % CONFLICT_EVERY == 0
        assert stored_variant == got[unit_id] and variant != stored_variant
        assert {stored_variant, variant} == {variant_of(u, p) for p in loggers_of[u]}
