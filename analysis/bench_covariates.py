"""Benchmark: the cost of a two-covariate regression-adjusted metric (issue 17, item 4).

A unit table (Parquet, ``--rows`` units, two arms, two segments) with ``spend``
and two pre-exposure columns; ``aggregate_units`` + ``compute_results`` (DuckDB)
are timed, each in a fresh subprocess (best of ``--repeat``), for the metric set
``spend`` and ``conversion`` with and without ``covariates: [spend_before, tenure]``
on ``spend``; the peak resident memory of each subprocess is reported too.

    PYTHONPATH=. .venv/bin/python analysis/bench_covariates.py --rows 2000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "analysis" / "out" / "bench_covariates"

CHILD = """
import json, resource, sys, time
from segab.analysis.compute import compute_results
from segab.config import parse_experiment
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
path, adjusted = sys.argv[1], sys.argv[2] == "1"
spend = {"key": "spend", "kind": "continuous", "column": "spend"}
if adjusted:
    spend["covariates"] = ["spend_before", "tenure"]
exp = parse_experiment({"key": "b", "unit": "user_id", "stages": ["buy"],
    "segments": [{"key": "new", "when": {}}, {"key": "old", "when": {}}],
    "cells": [{"control": "a", "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}],
    "metrics": {"primary": spend,
                "secondary": [{"key": "conversion", "kind": "binary", "column": "conversion"}]}})
start = time.perf_counter()
agg = aggregate_units(exp, path, columns=UnitColumns(variant="arm"))
result = compute_results(exp, agg)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": len(result.results)}))
"""


def make_table(rows: int) -> Path:
    """Write (once) the Parquet unit table of ``rows`` units."""
    import numpy as np
    import pandas as pd

    path = OUT / f"units_{rows}.parquet"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    before = np.round(rng.gamma(2.0, 20.0, rows), 2)
    tenure = rng.integers(0, 400, rows)
    arm = rng.choice(np.array(["a", "b"]), rows)
    pd.DataFrame({
        "user_id": np.arange(rows), "arm": arm,
        "segment": np.where(tenure < 30, "new", "old"), "stage": "buy",
        "spend": np.round(5 + 0.7 * before + 0.02 * tenure + rng.normal(0, 10, rows), 2),
        "conversion": (rng.random(rows) < 0.1).astype(int),
        "spend_before": before, "tenure": tenure.astype(float),
    }).to_parquet(path)  # fmt: skip
    return path


def timed(path: Path, adjusted: bool, repeat: int) -> dict[str, float]:
    """The best time (and its peak memory) over ``repeat`` fresh subprocesses."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), "1" if adjusted else "0"],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = make_table(args.rows)
    plain = timed(path, False, args.repeat)
    adjusted = timed(path, True, args.repeat)
    print(f"{args.rows:,} units, best of {args.repeat}")
    shown = f"{plain['seconds']:.2f} s, peak {plain['peak_mb']:.0f} MB"
    print(f"  spend + conversion:              {shown}")
    print(f"  spend adjusted for 2 covariates: {adjusted['seconds']:.2f} s, "
          f"peak {adjusted['peak_mb']:.0f} MB")  # fmt: skip
    print(f"  ratio: {adjusted['seconds'] / plain['seconds']:.2f}x (target at most 1.5x)")


if __name__ == "__main__":
    main()
