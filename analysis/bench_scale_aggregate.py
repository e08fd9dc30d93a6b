"""Benchmark of analysis aggregation at scale: DuckDB vs Spark local, by row count.

For each size N (exposures; the same number of events), the data of
``analysis/bench_analyze.py`` (4 segments x 4 stages x 2 variants) is generated
once, then one fresh process per engine runs the whole command

    segab analyze bench --exposures X --events E --format json --engine duckdb|spark

and reports wall time, rows/s (exposures + events over wall time, start-up
included) and the peak RSS of the largest process in its tree (a wrapper reads
``RUSAGE_CHILDREN``; Spark's JVM counts when pyspark waits for it at exit).

Question answered (issue 7): does the cost grow linearly with the row count,
and does memory stay flat?

Run: ``.venv/bin/python analysis/bench_scale_aggregate.py [--sizes 1000000 10000000]
[--engines duckdb spark]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BENCH_ANALYZE = ROOT / "analysis" / "bench_analyze.py"
OUT = ROOT / "analysis" / "out"

WRAP = """
import resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.run(sys.argv[1:], capture_output=True).returncode
wall = time.perf_counter() - t
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def data_dir(rows: int) -> Path:
    """Generate (once) and return the directory of the bench_analyze data for ``rows``."""
    subprocess.run(
        [PY, str(BENCH_ANALYZE), "--rows", str(rows), "--generate-only"], check=True, cwd=ROOT
    )
    name = "bench_analyze" if rows == 10_000_000 else f"bench_analyze_{rows}"
    return OUT / name


def measure(engine: str, rows: int) -> tuple[int, float, float]:
    """Exit code, wall seconds and peak RSS (MB) of one `segab analyze` run."""
    d = data_dir(rows)
    segab = str(Path(PY).with_name("segab"))
    cmd = [
        segab, "analyze", "bench", "--experiments", str(d / "experiments"),
        "--exposures", str(d / "exposures.parquet"), "--events", str(d / "events.parquet"),
        "--format", "json", "--output", str(d / f"result_{engine}.json"), "--engine", engine,
    ]  # fmt: skip
    out = subprocess.run([PY, "-c", WRAP, *cmd], capture_output=True, text=True, cwd=ROOT)
    code, wall, rss = out.stdout.split()
    return int(code), float(wall), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    args = parser.parse_args()
    print(f"{'engine':8} {'exposures':>12} {'wall s':>8} {'rows/s':>12} {'peak RSS MB':>12} rc")
    for rows in args.sizes:
        for engine in args.engines:
            code, wall, rss = measure(engine, rows)
            rate = 2 * rows / wall if wall else float("nan")
            print(f"{engine:8} {rows:12,} {wall:8.2f} {rate:12,.0f} {rss:12.0f} {code}", flush=True)


if __name__ == "__main__":
    main()
