"""Benchmark: exposures per second logged through ``ExposureLogger``.

For each backend (SQLite file in WAL mode; PostgreSQL when a URL is given)
and each process count (1 and 4), a fresh store is created, then N processes
(spawned) each log ``--rows`` distinct in-experiment assignments through one
``ExposureLogger`` as fast as they can and ``close()`` it (which waits until
every row is in the database). All processes start together (a barrier).

Reported per run:

- ``rows/s``: all rows / (last close() returned - first log() call), i.e.
  rows durably in the store per second of wall time;
- ``log() us``: mean time of one ``log()`` call in the app thread (the
  cost on the request path: enqueueing only);
- the row count read back from the store (must equal the rows logged).

Target (issue 5): >= 50,000 rows/s into PostgreSQL from 4 processes.

Example:
    .venv/bin/python analysis/bench_store.py
    .venv/bin/python analysis/bench_store.py --pg-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python analysis/bench_store.py --rows 50000 --procs 1 4 --backends sqlite
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _worker(
    url: str, schema: str | None, proc: int, rows: int, batch: int, barrier: Any, out: Any
) -> None:
    from segab.assignment_types import Assignment, Reason
    from segab.store import ExposureLogger

    items = [
        Assignment("bench", 1, f"p{proc}-u{i}", "seg", "buy", "ab"[i % 2], i % 10_000, True,
                   Reason.ASSIGNED)
        for i in range(rows)
    ]  # fmt: skip
    logger = ExposureLogger(
        url, schema=schema, batch_size=batch, flush_interval=0.2, max_buffer=max(rows, batch)
    )
    barrier.wait()
    start = time.perf_counter()
    for a in items:
        logger.log(a)
    logged = time.perf_counter()
    ok = logger.close(timeout=600)
    end = time.perf_counter()
    stats = logger.stats()
    out.put((proc, start, logged, end, ok, stats.delivered, stats.dropped))


def run(url: str, schema: str | None, procs: int, rows: int, batch: int) -> dict[str, Any]:
    """Log ``procs * rows`` exposures from ``procs`` processes; return the timings."""
    from segab.store import init_store, make_engine

    engine = make_engine(url, schema=schema)
    init_store(engine)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs + 1, timeout=600)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, schema, p, rows, batch, barrier, out))
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    results = [out.get(timeout=900) for _ in workers]
    for w in workers:
        w.join()
    with engine.connect() as conn:
        stored = int(conn.exec_driver_sql("SELECT count(*) FROM exposures").scalar_one())
    engine.dispose()
    start = min(r[1] for r in results)
    end = max(r[3] for r in results)
    log_us = sum((r[2] - r[1]) for r in results) / (procs * rows) * 1e6
    return {
        "rows": procs * rows,
        "seconds": end - start,
        "rows_per_s": procs * rows / (end - start),
        "log_us": log_us,
        "stored": stored,
        "delivered": sum(r[5] for r in results),
        "dropped": sum(r[6] for r in results),
        "all_closed": all(r[4] for r in results),
    }


def _drop_schema(url: str, schema: str) -> None:
    from segab.store import make_engine

    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per process")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch-size", type=int, default=1_000, help="the logger default")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("SEGAB_TEST_DATABASE_URL"),
        help="PostgreSQL URL (default: $SEGAB_TEST_DATABASE_URL); runs in a throwaway schema",
    )
    args = parser.parse_args()

    header = (
        f"{'backend':<11} {'procs':>5} {'rows':>9} {'seconds':>8} {'rows/s':>10} "
        f"{'log() us':>9} {'stored':>9} {'dropped':>7}"
    )
    print(f"batch_size={args.batch_size}, cpus={os.cpu_count()}")
    print(header)
    print("-" * len(header))
    for backend in args.backends:
        for procs in args.procs:
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    r = run(f"sqlite:///{tmp}/bench.db", None, procs, args.rows, args.batch_size)
            elif args.pg_url:
                schema = "segab_bench_" + uuid.uuid4().hex[:8]
                try:
                    r = run(args.pg_url, schema, procs, args.rows, args.batch_size)
                finally:
                    _drop_schema(args.pg_url, schema)
            else:
                print(f"{backend:<11} {procs:>5}  skipped: no --pg-url / SEGAB_TEST_DATABASE_URL")
                continue
            print(
                f"{backend:<11} {procs:>5} {r['rows']:>9,} {r['seconds']:>8.2f} "
                f"{r['rows_per_s']:>10,.0f} {r['log_us']:>9.2f} {r['stored']:>9,} "
                f"{r['dropped']:>7,}",
                flush=True,
            )
            if r["stored"] != r["rows"] or not r["all_closed"]:
                print(f"  !! expected {r['rows']:,} rows stored", flush=True)


if __name__ == "__main__":
    main()
