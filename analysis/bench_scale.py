"""Benchmark of bulk assignment at scale: Python path vs DuckDB SQL vs Spark local.

For each engine and size, one fresh subprocess assigns every row of a Parquet
file of synthetic units for the ``journey_content`` example (3 segments of 2
conditions, 4 stages, one MD5 per row) and writes Parquet:

- ``python``: the CLI, ``segab assign journey_content --input ... --output ... --quiet
  --engine python`` (its default worker processes, one per core);
- ``duckdb``: :func:`segab.bulk.duckdb_engine.assign_file_sql` with ``engine="duckdb"``;
- ``spark``: the same with ``engine="spark"`` on ``local[*]`` (session start-up
  reported apart, not counted in rows/s).

rows/s is rows over the wall time of the assignment call in the child (reading
the input, assigning, writing the output, counting reasons). Peak memory is the
peak RSS of the largest single process of the child's tree (not the sum over the
Python path's worker processes), read with
``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process that runs exactly
one child (for Spark, the JVM, which the child waits for).

Target (issue 7): DuckDB >= 4,000,000 rows/s on the 2-core machine, and memory
that does not grow with the row count on the DuckDB and Spark paths.

Run: ``.venv/bin/python analysis/bench_scale.py [--sizes 1000000 10000000 100000000]
[--engines python duckdb spark] [--max-python 10000000] [--max-spark 10000000]``.
Data and results go to ``analysis/out/scale/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out" / "scale"
ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = "journey_content"


def make_units(n: int) -> Path:
    """Write ``units_<n>.parquet`` with DuckDB (deterministic, from hashes of the row number)."""
    import duckdb

    path = OUT / f"units_{n}.parquet"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect()

    def h(salt: int, modulo: int) -> str:
        return f"CAST(hash(i, {salt}) % {modulo} AS BIGINT)"

    stages = "['awareness', 'consideration', 'purchase', 'post_purchase']"
    channels = "['social', 'instagram', 'email', 'web', 'tiktok', 'youtube']"
    con.execute(
        f"""COPY (
          SELECT 'user-' || i AS user_id,
            {stages}[1 + {h(1, 4)}] AS stage,
            15 + {h(2, 65)} AS age,
            {channels}[1 + {h(3, 6)}] AS channel,
            {h(4, 9)} AS orders_last_year,
            {h(5, 21)} * 0.05 AS discount_affinity
          FROM range({n}) r(i)
        ) TO '{tmp}' (FORMAT parquet)"""
    )
    tmp.rename(path)
    return path


def run_one(engine: str, units: Path, output: Path) -> dict[str, float]:
    """In the measured child: assign the file once, return timings."""
    started = time.perf_counter()
    if engine == "python":
        from segab.cli.main import cli

        t0 = time.perf_counter()
        args = ["assign", EXPERIMENT, "--input", str(units), "--output", str(output), "--quiet"]
        args += ["--experiments", str(ROOT / "experiments"), "--engine", "python"]
        cli.main(args, standalone_mode=False)
        return {"seconds": time.perf_counter() - t0, "startup": t0 - started}
    from segab.bulk.duckdb_engine import assign_file_sql
    from segab.config import load_experiments

    exp = load_experiments(ROOT / "experiments")[EXPERIMENT]
    if engine == "duckdb":
        t0 = time.perf_counter()
        assign_file_sql(exp, units, output, engine="duckdb")
        return {"seconds": time.perf_counter() - t0, "startup": t0 - started}
    from segab.bulk.spark_engine import spark_session

    spark = spark_session("local[*]", app_name="segab-bench")
    spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    assign_file_sql(exp, units, output, engine="spark", spark=spark)
    seconds = time.perf_counter() - t0
    proc = spark.sparkContext._gateway.proc  # the JVM: wait for it, so its RSS is counted
    spark.stop()
    if proc is not None and proc.stdin is not None:
        proc.stdin.close()
        proc.wait(timeout=60)
    return {"seconds": seconds, "startup": t0 - started}


def measure(engine: str, n: int) -> dict[str, float]:
    """Run one child through a wrapper that reports the child tree's peak RSS."""
    units = make_units(n)
    output = OUT / f"assigned_{engine}_{n}.parquet"
    cmd = [sys.executable, __file__, "--wrap", engine, str(units), str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} at {n}: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if output.is_dir():
        subprocess.run(["rm", "-rf", str(output)], check=True)
    else:
        output.unlink(missing_ok=True)
    return result


def wrap(engine: str, units: str, output: str) -> None:
    """The wrapper: exactly one child, then its peak RSS from RUSAGE_CHILDREN."""
    cmd = [sys.executable, __file__, "--child", engine, units, output]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit(done.returncode)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["python", "duckdb", "spark"])
    parser.add_argument("--max-python", type=int, default=10_000_000)
    parser.add_argument("--max-spark", type=int, default=10_000_000)
    parser.add_argument("--wrap", nargs=3, metavar=("ENGINE", "UNITS", "OUTPUT"))
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "UNITS", "OUTPUT"))
    args = parser.parse_args()
    if args.child:
        engine, units, output = args.child
        print(json.dumps(run_one(engine, Path(units), Path(output))))
        return
    if args.wrap:
        wrap(*args.wrap)
        return
    limits = {"python": args.max_python, "spark": args.max_spark}
    rows = []
    for n in args.sizes:
        for engine in args.engines:
            if n > limits.get(engine, n):
                continue
            r = measure(engine, n)
            rate = n / r["seconds"]
            rows.append({"engine": engine, "rows": n, **r, "rows_per_s": rate})
            print(
                f"{engine:<7} {n:>12,} rows  {r['seconds']:8.2f} s  {rate:>12,.0f} rows/s  "
                f"peak RSS {r['peak_rss_mb']:8.0f} MB  (start-up {r['startup']:.1f} s)",
                flush=True,
            )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_scale.json").write_text(json.dumps(rows, indent=2))
    print()
    print("| engine | rows | seconds | rows/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    print(f"\ncpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
