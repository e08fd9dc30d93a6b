"""Benchmark: ``segab analyze`` on the bench_analyze data with and without a capped metric.

Reads the 10M + 10M Parquet files of ``analysis/bench_analyze.py`` (run it once
with ``--generate-only`` to create them) and times, in subprocesses with their
peak RSS (``os.wait4``), interleaved ``--repeat`` times:

- ``base``: the benchmark config as it is (the DuckDB fast path);
- ``capped``: the same with ``revenue`` capped at its 99th percentile
  (``cap: {percentile: 0.99}``). A capped metric sends the event log to the
  generic statements (``FastPathUnavailableError("capped_metric")``), so this
  measures what the fallback costs.

Issue 17's target for its whole metric set is at most 1.5x the time of today's
set with peak RSS under 600 MB; this script reports the ratio for the cap alone.

Example:
    .venv/bin/python analysis/bench_caps.py --repeat 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "analysis" / "out" / "bench_analyze"


def _run(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(args)}\n{err}")
    return wall, usage.ru_maxrss / 1024  # MB (Linux reports KiB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    config = (args.data / "experiments" / "bench.yaml").read_text()
    capped = config.replace(
        "{key: revenue, kind: continuous, event: revenue}",
        "{key: revenue, kind: continuous, event: revenue, cap: {percentile: 0.99}}",
    )
    if capped == config:
        raise SystemExit("the benchmark config has no plain revenue metric to cap")
    results: dict[str, list[tuple[float, float]]] = {"base": [], "capped": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("base", config), ("capped", capped)):
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "bench.yaml").write_text(text)
        for _ in range(args.repeat):
            for name in results:
                cmd = [sys.executable, "-m", "segab", "analyze", "bench",
                       "--exposures", str(args.data / "exposures.parquet"),
                       "--events", str(args.data / "events.parquet"),
                       "--experiments", str(Path(tmp) / name), "--format", "json"]  # fmt: skip
                results[name].append(_run(cmd))
    for name, runs in results.items():
        walls = ", ".join(f"{w:.1f}" for w, _ in runs)
        print(f"{name:<7} wall s: {walls}  peak RSS MB: {max(r for _, r in runs):.0f}")
    base = min(w for w, _ in results["base"])
    cap = min(w for w, _ in results["capped"])
    print(f"capped / base (best of each): {cap / base:.2f}x")


if __name__ == "__main__":
    main()
