"""Benchmark of assignment: segab.assign() vs the hash floor vs GrowthBook's run().

Measured side by side in one process, on one experiment with 3 segments of 2
conditions each and 4 stages (50/50 weights):

- median µs per warm ``segab.assign()`` call;
- the floor: building the key string + one ``hashlib.md5`` digest + the integer
  bucket (what any deterministic hash assignment must pay);
- GrowthBook's Python SDK ``run()`` on the same targeting and weights: one
  shared ``GrowthBook`` instance, ``set_attributes`` per call, one GrowthBook
  experiment per segment (condition = the segment rule) run in segment order
  until the unit is in one, which is how first-match segments map onto it;
- bulk rows/s of ``segab assign --input users.csv --output out.csv`` on
  1,000,000 users (a subprocess, whole-process wall time), with the default
  engine (``auto``: DuckDB, as every condition here compiles to SQL) and with
  ``--engine python`` (row by row through the same code as ``assign()``).

Targets (issue 2): assign() >= 6x faster than GrowthBook run(), within 3x of
the floor; bulk >= 300,000 rows/s.

Run: ``make bench-deps && .venv/bin/python analysis/bench_assign.py [--bulk-rows N]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from hashlib import md5
from pathlib import Path

import numpy as np
import yaml

from segab import assign, parse_experiment

OUT = Path(__file__).parent / "out"
SEGMENTS = [
    ("young_social", {"age": {"$lt": 35}, "channel": {"$in": ["social", "instagram", "tiktok"]}}),
    ("older_email", {"age": {"$gte": 50}, "channel": "email"}),
    ("value_seekers", {"orders_last_year": {"$gte": 3}, "discount_affinity": {"$gte": 0.5}}),
]
STAGES = ["awareness", "consideration", "purchase", "post_purchase"]
CONFIG = {
    "key": "bench_exp",
    "name": "Benchmark experiment",
    "unit": "user_id",
    "status": "running",
    "stages": STAGES,
    "segments": [{"key": k, "when": w} for k, w in SEGMENTS],
    "fallback": "everyone_else",
    "cells": [
        {
            "control": "control",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "treatment", "weight": 0.5}],
        }
    ],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}},
}


def population(n: int, seed: int = 7) -> list[tuple[str, dict[str, object], str]]:
    rng = np.random.default_rng(seed)
    channels = np.array(["social", "instagram", "email", "web", "tiktok"])
    ages = rng.integers(18, 80, n)
    chan = channels[rng.integers(0, len(channels), n)]
    orders = rng.poisson(2, n)
    affinity = rng.random(n).round(2)
    stages = rng.integers(0, 4, n)
    return [
        (
            f"user-{i}",
            {
                "age": int(ages[i]),
                "channel": str(chan[i]),
                "orders_last_year": int(orders[i]),
                "discount_affinity": float(affinity[i]),
            },
            STAGES[stages[i]],
        )
        for i in range(n)
    ]


def median_us(fn: Callable[[], None], calls: int, repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def bench_single(calls: int, repeats: int) -> dict[str, float]:
    exp = parse_experiment(CONFIG)
    pop = population(calls)
    assign(exp, "warm", {}, "awareness")

    def run_segab() -> None:
        for unit, attrs, stage in pop:
            assign(exp, unit, attrs, stage)

    prefix = "bench_exp|young_social|awareness|"

    def run_floor() -> None:
        for unit, _attrs, _stage in pop:
            int.from_bytes(md5((prefix + unit).encode()).digest()[:4], "big") % 10_000

    results = {
        "segab_assign_us": median_us(run_segab, calls, repeats),
        "floor_us": median_us(run_floor, calls, repeats),
    }
    try:
        from growthbook import Experiment as GBExperiment
        from growthbook import GrowthBook
    except ImportError:
        print(
            "growthbook is not installed: run `make bench-deps` for the peer figures",
            file=sys.stderr,
        )
        return results
    gb = GrowthBook(attributes={})
    gb_exps = [
        GBExperiment(
            key=f"bench_exp_{k}",
            variations=["control", "treatment"],
            weights=[0.5, 0.5],
            condition=w,
        )
        for k, w in SEGMENTS
    ] + [
        GBExperiment(key="bench_exp_rest", variations=["control", "treatment"], weights=[0.5, 0.5])
    ]

    def run_gb() -> None:
        for unit, attrs, _stage in pop:
            gb.set_attributes({"id": unit, **attrs})
            for e in gb_exps:
                if gb.run(e).inExperiment:
                    break

    results["growthbook_run_us"] = median_us(run_gb, calls, max(3, repeats // 2))
    return results


def bench_bulk(rows: int, engine: str = "auto") -> float:
    OUT.mkdir(parents=True, exist_ok=True)
    exp_dir = OUT / "bench_experiments"
    exp_dir.mkdir(exist_ok=True)
    (exp_dir / "bench_exp.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    src = OUT / f"users_{rows}.csv"
    if not src.exists():
        rng = np.random.default_rng(11)
        import pandas as pd

        channels = np.array(["social", "instagram", "email", "web", "tiktok"])
        pd.DataFrame(
            {
                "user_id": [f"user-{i}" for i in range(rows)],
                "stage": np.array(STAGES)[rng.integers(0, 4, rows)],
                "age": rng.integers(18, 80, rows),
                "channel": channels[rng.integers(0, 5, rows)],
                "orders_last_year": rng.poisson(2, rows),
                "discount_affinity": rng.random(rows).round(2),
            }
        ).to_csv(src, index=False)
    segab = Path(sys.executable).parent / "segab"
    cmd = [
        str(segab),
        "assign",
        "bench_exp",
        "--input",
        str(src),
        "--output",
        str(OUT / "assigned.csv"),
        "--experiments",
        str(exp_dir),
        "--quiet",
        "--engine",
        engine,
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return rows / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--bulk-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    single = bench_single(args.calls, args.repeats)
    bulk = bench_bulk(args.bulk_rows)
    bulk_python = bench_bulk(args.bulk_rows, "python")
    print(f"{'measure':<42}{'value':>14}")
    print(f"{'segab assign() median µs/call':<42}{single['segab_assign_us']:>14.2f}")
    print(f"{'floor (key + md5 + bucket) µs/call':<42}{single['floor_us']:>14.2f}")
    if "growthbook_run_us" in single:
        print(f"{'GrowthBook run() µs/call':<42}{single['growthbook_run_us']:>14.2f}")
        speedup = single["growthbook_run_us"] / single["segab_assign_us"]
        print(f"{'speed-up vs GrowthBook (target >= 6x)':<42}{speedup:>13.1f}x")
    ratio = single["segab_assign_us"] / single["floor_us"]
    print(f"{'assign()/floor (target <= 3x)':<42}{ratio:>13.2f}x")
    print(
        f"{f'bulk rows/s, {args.bulk_rows:,} rows CSV->CSV':<42}{bulk:>14,.0f}  (target >= 300,000)"
    )
    print(f"{'  of which --engine python (rows/s)':<42}{bulk_python:>14,.0f}")


if __name__ == "__main__":
    main()
