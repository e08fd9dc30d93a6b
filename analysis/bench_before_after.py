"""Benchmark: ``segab analyze`` of bench_analyze's data, this tree against an earlier commit.

Issue 15's target is "no slowdown": ``segab analyze`` on the 10M + 10M data of
``analysis/bench_analyze.py`` stays within 10% of its figure before the change,
measured before and after *in one run*. This script checks out ``--before``
(default ``8579262``, where issue 15 started) into a temporary git worktree and
runs the same command from both trees, interleaved (ABBA order) so that a busy
machine slows both alike, each run warm (the inputs read, untimed, right before
it). Each run's wall time, CPU time (user + system, from ``os.wait4``) and peak
RSS are recorded. It reports medians, ranges and the after/before ratios, and
checks that both trees return the same sums.

CPU time is the steadier figure when other processes share the cores (wall time
then depends on what else runs); both are reported.

Example:
    .venv/bin/python analysis/bench_analyze.py --generate-only   # the data, once
    .venv/bin/python analysis/bench_before_after.py --reps 6
    .venv/bin/python analysis/bench_before_after.py --before 75a90c4 --reps 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "analysis" / "out" / "bench_analyze"
TARGET = 1.10


def warm(*paths: Path) -> None:
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(1 << 23):
                pass


def run(tree: Path, label: str) -> tuple[float, float, float]:
    """One ``segab analyze`` from ``tree``: wall s, CPU s, peak RSS MB."""
    x, e = OUT / "exposures.parquet", OUT / "events.parquet"
    warm(x, e)
    out = OUT / f"before_after_{label}.json"
    code = "import sys; from segab.cli import main; sys.argv[0] = 'segab'; main()"
    args = [sys.executable, "-c", code, "analyze", "bench", "--experiments",
            str(OUT / "experiments"), "--exposures", str(x), "--events", str(e),
            "--format", "json", "--output", str(out)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    text = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label}: segab analyze failed:\n{text.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def sums(label: str) -> list[tuple[object, ...]]:
    doc = json.loads((OUT / f"before_after_{label}.json").read_text())
    keys = ("segment", "stage", "metric", "variant", "n_control", "n_variant", "abs_lift")
    return sorted(tuple(r[k] for k in keys) for r in doc["results"])


def same(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) > 1e-9 * max(1.0, abs(x)):
                    return False
            elif x != y:
                return False
    return True


def summary(label: str, runs: list[tuple[float, float, float]]) -> dict[str, float]:
    walls, cpus, rss = (sorted(r[i] for r in runs) for i in range(3))
    return {
        "wall": statistics.median(walls),
        "wall_min": walls[0],
        "wall_max": walls[-1],
        "cpu": statistics.median(cpus),
        "cpu_min": cpus[0],
        "cpu_max": cpus[-1],
        "rss": statistics.median(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--before", default="8579262", help="the commit to compare with")
    parser.add_argument("--reps", type=int, default=6, help="runs per tree (interleaved)")
    opts = parser.parse_args()
    if not (OUT / "events.parquet").exists():
        sys.exit("no data: run analysis/bench_analyze.py --generate-only first")
    with tempfile.TemporaryDirectory(prefix="segab-before-") as tmp:
        before = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before),
                        opts.before], check=True)  # fmt: skip
        try:
            trees = {"before": before, "after": ROOT}
            runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in trees}
            for i in range(opts.reps):
                order = list(trees) if i % 2 == 0 else list(reversed(trees))
                for label in order:
                    runs[label].append(run(trees[label], label))
                    w, c, m = runs[label][-1]
                    print(f"rep {i} {label:6} wall {w:6.2f} s  cpu {c:6.2f} s  rss {m:4.0f} MB  "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)])
    b, a = summary("before", runs["before"]), summary("after", runs["after"])
    print(f"\nbefore = {opts.before}, after = this tree; {opts.reps} runs each, interleaved")
    for label, s in (("before", b), ("after", a)):
        print(f"{label:6} wall median {s['wall']:.2f} s ({s['wall_min']:.2f}-{s['wall_max']:.2f})  "
              f"cpu median {s['cpu']:.2f} s ({s['cpu_min']:.2f}-{s['cpu_max']:.2f})  "
              f"peak RSS {s['rss']:.0f} MB")  # fmt: skip
    wall, cpu = a["wall"] / b["wall"], a["cpu"] / b["cpu"]
    verdict = "PASS" if max(wall, cpu) <= TARGET else "MISS"
    print(f"after/before: wall {wall:.3f}x, cpu {cpu:.3f}x; target <= {TARGET:.2f}x: {verdict}")
    print("same results:", same(sums("before"), sums("after")))


if __name__ == "__main__":
    main()
