"""Benchmark: ``segab analyze`` on the bench_analyze data, today's metrics against more.

Reads the 10M + 10M Parquet files of ``analysis/bench_analyze.py`` (run it once
with ``--generate-only`` to create them) and times ``segab analyze --format json``
in subprocesses with their peak RSS (``os.wait4``), the configs interleaved,
``--repeat`` times each, every run starting warm (both inputs read, untimed, first):

- ``base``: the benchmark config as it is (today's metric set);
- ``--set capped`` (the default): the same with ``revenue`` capped at its 99th
  percentile (``cap: {percentile: 0.99}``);
- ``--set issue17``: issue 17's metric set, today's metrics plus a percentile-capped
  revenue metric (``revenue_p99``, ``cap: {percentile: 0.99}``), a 7-day retention
  metric (``retained_d7``: a ``survey`` event in ``[7d, 8d)`` after the unit's first
  exposure, ``window: {start: 7d, end: 8d}``) and a two-covariate adjusted metric
  (``revenue_adj``: revenue adjusted for the unit's ``revenue`` and ``survey`` value
  sums before its first exposure in the cell, ``covariates: [revenue, survey]``;
  the bench data has such events: those of a unit's earlier stages, and a few
  before each stage's exposure).

Issue 17's target: the whole set at most 1.5x the time of today's set, peak RSS
under 600 MB. Both are reported (best wall time of each config; the largest RSS).

Example:
    .venv/bin/python analysis/bench_caps.py --repeat 2
    .venv/bin/python analysis/bench_caps.py --set issue17 --repeat 2
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
PLAIN_REVENUE = "{key: revenue, kind: continuous, event: revenue}"
ISSUE17 = (
    "    - {key: revenue_p99, kind: continuous, event: revenue, cap: {percentile: 0.99}}\n"
    "    - {key: retained_d7, kind: binary, event: survey, window: {start: 7d, end: 8d}}\n"
    "    - {key: revenue_adj, kind: continuous, event: revenue, covariates: [revenue, survey]}\n"
)
TARGET_RATIO, TARGET_RSS_MB = 1.5, 600.0


def configs(base: str, which: str) -> dict[str, str]:
    """The configs to time: ``base`` and the larger set.

    Example:
        >>> cfg = "metrics:\\n  secondary:\\n    - " + PLAIN_REVENUE + "\\n  guardrail: []\\n"
        >>> "retained_d7" in configs(cfg, "issue17")["issue17"]
        True
        >>> "cap:" in configs(cfg, "capped")["capped"]
        True
    """
    if PLAIN_REVENUE not in base or "  guardrail:" not in base:
        raise SystemExit("the benchmark config has no plain revenue metric or no guardrail list")
    if which == "capped":
        capped = PLAIN_REVENUE.replace("}", ", cap: {percentile: 0.99}}")
        return {"base": base, "capped": base.replace(PLAIN_REVENUE, capped)}
    return {"base": base, "issue17": base.replace("  guardrail:", ISSUE17 + "  guardrail:", 1)}


def warm(*paths: Path) -> None:
    """Read files once so that the next command finds them in the page cache."""
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(1 << 23):
                pass


def run(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one command; stop on
    failure. The CPU time is the steadier figure on a machine shared with other work."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(args)}\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # MB: Linux has KiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--set", choices=("capped", "issue17"), default="capped")
    args = parser.parse_args(argv)
    x, e = args.data / "exposures.parquet", args.data / "events.parquet"
    texts = configs((args.data / "experiments" / "bench.yaml").read_text(), args.set)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in texts}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in texts.items():
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "bench.yaml").write_text(text)
        for _ in range(args.repeat):
            for name in results:
                cmd = [sys.executable, "-m", "segab", "analyze", "bench",
                       "--exposures", str(x), "--events", str(e),
                       "--experiments", str(Path(tmp) / name), "--format", "json"]  # fmt: skip
                warm(x, e)
                results[name].append(run(cmd))
    if args.set == "issue17":
        what = (
            "today's metrics + revenue_p99 (p99 cap) + retained_d7 (7d-8d retention) "
            "+ revenue_adj (covariates: pre-exposure revenue and survey sums)"
        )
        print(f"issue17 set: {what}")
    for name, runs in results.items():
        walls = ", ".join(f"{w:.1f}" for w, _, _ in runs)
        cpus = ", ".join(f"{c:.1f}" for _, _, c in runs)
        rss = max(r for _, r, _ in runs)
        print(f"{name:<8} wall s: {walls}  CPU s: {cpus}  peak RSS MB: {rss:.0f}")
    other = next(n for n in results if n != "base")
    ratio = min(w for w, _, _ in results[other]) / min(w for w, _, _ in results["base"])
    cpu = min(c for _, _, c in results[other]) / min(c for _, _, c in results["base"])
    rss = max(r for _, r, _ in results[other])
    time_ok = "PASS" if ratio <= TARGET_RATIO else "MISS"
    rss_ok = "PASS" if rss < TARGET_RSS_MB else "MISS"
    print(
        f"{other} / base (best of each): wall {ratio:.2f}x (target <= {TARGET_RATIO}x: "
        f"{time_ok}), CPU {cpu:.2f}x; peak RSS {rss:.0f} MB "
        f"(target < {TARGET_RSS_MB:.0f} MB: {rss_ok})"
    )


if __name__ == "__main__":
    main()
