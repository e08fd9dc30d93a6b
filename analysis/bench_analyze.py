"""Benchmark: per-cell sums of 10M exposures and 10M events (Parquet), three ways.

Generates (once) ``analysis/out/bench_analyze/`` with 10,000,000 exposures
(2,500,000 units x 4 stages, 4 segments, 2 variants per cell) and 10,000,000
events (conversion, revenue, survey, unsubscribe; most after the exposure, some
before it, some of unknown units), then times in subprocesses, each with its own
peak RSS (``os.wait4``):

- interpreter start-up (``python -c pass``);
- segab: ``segab analyze BENCH --exposures .. --events .. --format json`` when the
  command exists, and always ``aggregate_event_log`` through ``python -c`` (the
  whole data half: sums, funnel and data-quality counters);
- a bare DuckDB query computing the same per-cell sums (first exposure per unit
  and cell, window join, per-unit values, GROUP BY);
- pandas: ``read_parquet`` plus merge/groupby computing the same sums.

Every timed command starts warm: the libraries all of them load (DuckDB, pandas,
pyarrow, SciPy) are imported once, untimed, before the first, and both input
files are read, untimed, right before each. Without that, whichever command
runs first pays the disk: on this machine file pages unused for 60 s are paged
out (DAMON), a cold read of the 300 MB of inputs takes about 6 s, and the
libraries' files cost seconds more.

Targets: segab <= 2x bare query + start-up; >= 5x faster than pandas; peak RSS
<= 600 MB.

Example:
    .venv/bin/python analysis/bench_analyze.py            # 10M + 10M
    .venv/bin/python analysis/bench_analyze.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "analysis" / "out" / "bench_analyze"
PY = sys.executable
SEGMENTS = ("seg_a", "seg_b", "seg_c", "seg_d")
STAGES = ("awareness", "consideration", "purchase", "post_purchase")
WINDOW = 7 * 86400

CONFIG = """
key: bench
name: Analyze benchmark
unit: user_id
status: running
segments:
  - {key: seg_a, when: {k: a}}
  - {key: seg_b, when: {k: b}}
  - {key: seg_c, when: {k: c}}
  - {key: seg_d, when: {k: d}}
cells:
  - control: control
    variants: [{key: control, weight: 0.5}, {key: treatment, weight: 0.5}]
metrics:
  primary: {key: conversion, kind: binary, event: conversion}
  secondary:
    - {key: revenue, kind: continuous, event: revenue}
    - {key: roi, kind: ratio, event: revenue, cost_per_unit: {control: 0.1, treatment: 0.3}}
    - {key: satisfaction, kind: continuous, event: survey}
  guardrail:
    - {key: unsubscribe, kind: binary, event: unsubscribe, direction: decrease}
analysis: {attribution_window: 7d}
"""

BARE = """
import duckdb, sys
x, e = sys.argv[1], sys.argv[2]
con = duckdb.connect(config={"memory_limit": "350MB", "preserve_insertion_order": False})
con.execute("SET enable_progress_bar = false")
sql = f'''
WITH cells AS (
  SELECT user_id AS u, segment, stage, MIN(variant) AS variant, MIN(epoch(timestamp)) AS t0
  FROM read_parquet('{x}') GROUP BY ALL HAVING MIN(variant) = MAX(variant)),
ev AS (SELECT user_id AS u, event, value, epoch(timestamp) AS t FROM read_parquet('{e}')),
uv AS (
  SELECT c.segment, c.stage, c.variant, c.u,
    MAX(CASE WHEN e.event = 'conversion' THEN 1.0 ELSE 0.0 END) AS y0,
    COALESCE(SUM(CASE WHEN e.event = 'revenue' THEN e.value END), 0.0) AS y1,
    COALESCE(SUM(CASE WHEN e.event = 'survey' THEN e.value END), 0.0) AS y2,
    MAX(CASE WHEN e.event = 'unsubscribe' THEN 1.0 ELSE 0.0 END) AS y3
  FROM cells c LEFT JOIN ev e ON e.u = c.u AND e.t >= c.t0 AND e.t < c.t0 + 604800
  GROUP BY ALL)
SELECT segment, stage, variant, COUNT(*) AS n,
  SUM(y0), SUM(y0*y0), SUM(y1), SUM(y1*y1), SUM(y2), SUM(y2*y2), SUM(y3), SUM(y3*y3)
FROM uv GROUP BY ALL'''
print(len(con.execute(sql).fetchall()), "rows")
"""

SEGAB = """
import sys
from segab.config import load_experiments
from segab.sums.aggregate import aggregate_event_log
exp = load_experiments(sys.argv[3])["bench"]
agg = aggregate_event_log(exp, sys.argv[1], sys.argv[2])
print(len(agg.sums), "rows", agg.data_quality)
"""

PANDAS = """
import sys
import numpy as np, pandas as pd
x = pd.read_parquet(sys.argv[1], columns=["user_id", "segment", "stage", "variant", "timestamp"])
e = pd.read_parquet(sys.argv[2])
for df in (x, e):
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
g = x.groupby(["user_id", "segment", "stage"], observed=True).agg(
    variant=("variant", "min"), nv=("variant", "nunique"), t0=("timestamp", "min"))
cells = g[g["nv"] == 1].reset_index()
del x, g
m = cells.merge(e, on="user_id", how="left")
ok = (m["timestamp"] >= m["t0"]) & (m["timestamp"] < m["t0"] + pd.Timedelta(days=7))
m = m[ok]
keys = ["segment", "stage", "variant", "user_id"]
for i, name in enumerate(["conversion", "revenue", "survey", "unsubscribe"]):
    sel = m["event"] == name
    m[f"y{i}"] = np.where(sel, 1.0 if i in (0, 3) else m["value"], 0.0)
per = m.groupby(keys, observed=True).agg(y0=("y0", "max"), y1=("y1", "sum"),
                                          y2=("y2", "sum"), y3=("y3", "max"))
per = cells[keys].merge(per.reset_index(), on=keys, how="left").fillna(0.0)
for i in range(4):
    per[f"q{i}"] = per[f"y{i}"] ** 2
out = per.groupby(["segment", "stage", "variant"], observed=True).agg(
    n=("user_id", "size"), **{c: (c, "sum") for c in per.columns if c[0] in "yq"})
print(len(out), "rows")
"""


CHUNK_UNITS = 2_500_000  # units generated and written at a time (10M exposure rows)


def generate(rows: int, out: Path) -> None:
    """Write exposures.parquet, events.parquet and the experiment config (once).

    Units are generated in chunks of :data:`CHUNK_UNITS` and appended, so memory
    stays flat at any size (100M rows included); events of ~1% unknown units get
    ids past the last unit.
    """
    import numpy as np
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    (out / "experiments").mkdir(exist_ok=True)
    (out / "experiments" / "bench.yaml").write_text(CONFIG)
    x_path, e_path = out / "exposures.parquet", out / "events.parquet"
    if x_path.exists() and e_path.exists() and pq.ParquetFile(x_path).metadata.num_rows == rows:
        return
    rng = np.random.default_rng(0)
    n_units = rows // len(STAGES)
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for lo in range(0, n_units, CHUNK_UNITS):
            hi = min(n_units, lo + CHUNK_UNITS)
            x, e = _chunk(rng, lo, hi, n_units)
            for path, table in ((x_path, x), (e_path, e)):
                if str(path) not in writers:
                    writers[str(path)] = pq.ParquetWriter(path, table.schema)
                writers[str(path)].write_table(table, row_group_size=1 << 20)
    finally:
        for writer in writers.values():
            writer.close()


def _chunk(rng: Any, lo: int, hi: int, n_total: int) -> tuple[Any, Any]:
    """Exposures and events of units lo..hi-1 (as many events as exposure rows)."""
    import numpy as np
    import pyarrow as pa

    n_units = hi - lo
    ids = np.char.add("u", np.char.zfill(np.arange(lo, hi).astype(str), 8))
    seg = rng.integers(0, 4, n_units)
    start = 1_714_521_600 + rng.uniform(0, 14 * 86400, n_units)
    unit = np.repeat(np.arange(n_units), len(STAGES))
    stage = np.tile(np.arange(len(STAGES)), n_units)
    t0 = start[unit] + stage * (WINDOW + 86400)
    variant = rng.integers(0, 2, len(unit))
    dup = rng.random(len(unit)) < 0.001  # a few multi-variant units
    variant_names = np.array(["control", "treatment"], dtype=object)
    x = pa.table(
        {
            "user_id": pa.array(ids[unit]),
            "experiment": pa.array(np.full(len(unit), "bench", dtype=object)).dictionary_encode(),
            "iteration": pa.array(np.ones(len(unit), dtype=np.int64)),
            "segment": pa.array(np.array(SEGMENTS, dtype=object)[seg[unit]]).dictionary_encode(),
            "stage": pa.array(np.array(STAGES, dtype=object)[stage]).dictionary_encode(),
            "variant": pa.array(variant_names[np.where(dup, 1 - variant, variant)]),
            "timestamp": pa.array((t0 * 1e6).astype("int64"), pa.timestamp("us", tz="UTC")),
        }
    )
    x = x.set_column(5, "variant", x.column("variant").dictionary_encode())
    n_ev = len(unit)
    ev_unit = rng.integers(0, int(n_units * 1.01), n_ev)  # ~1% unknown units
    ev_stage = rng.integers(0, len(STAGES), n_ev)
    known = np.minimum(ev_unit, n_units - 1)
    offset = rng.uniform(-0.05, 1.1, n_ev) * WINDOW  # some before, some outside the window
    t = start[known] + ev_stage * (WINDOW + 86400) + offset
    events = np.array(["conversion", "revenue", "survey", "unsubscribe"], dtype=object)
    kind = rng.choice(4, n_ev, p=(0.3, 0.3, 0.3, 0.1))
    value = np.where(
        kind == 1, rng.gamma(0.7, 40, n_ev), np.where(kind == 2, rng.normal(4, 1, n_ev), 1.0)
    )
    global_id = np.where(ev_unit < n_units, lo + ev_unit, n_total + lo + ev_unit - n_units)
    ev_ids = np.char.add("u", np.char.zfill(global_id.astype(str), 8))
    e = pa.table(
        {
            "user_id": pa.array(ev_ids),
            "event": pa.array(events[kind]).dictionary_encode(),
            "value": pa.array(value),
            "timestamp": pa.array((t * 1e6).astype("int64"), pa.timestamp("us", tz="UTC")),
        }
    )
    return x, e


def warm(*paths: str) -> None:
    """Read files once so that the next command finds them in the page cache."""
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(1 << 23):
                pass


def run(args: list[str], inputs: tuple[str, ...] = ()) -> tuple[float, float, int, str]:
    """Run a subprocess, ``inputs`` warmed first (untimed); return wall seconds, peak RSS
    in MB, exit code and output tail."""
    warm(*inputs)
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    return (
        wall,
        usage.ru_maxrss / 1024,
        code,
        output.strip().splitlines()[-1:][0][:90] if output.strip() else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    out = OUT if opts.rows == 10_000_000 else OUT.with_name(f"bench_analyze_{opts.rows}")
    if opts.generate_only:
        generate(opts.rows, out)
        return
    t = time.perf_counter()
    # in a child process, so that this parent stays small (children inherit its peak RSS)
    subprocess.run([PY, __file__, "--rows", str(opts.rows), "--generate-only"], check=True)
    print(f"data ready in {time.perf_counter() - t:.1f}s under {out}")
    x, e, cfg = (
        str(out / "exposures.parquet"),
        str(out / "events.parquet"),
        str(out / "experiments"),
    )
    segab_bin = str(Path(PY).with_name("segab"))
    results: dict[str, tuple[float, float, int, str]] = {}
    results["python start-up"] = run([PY, "-c", "pass"])
    warm_libraries = "import duckdb, pandas, pyarrow.parquet, scipy.special, segab.analysis.api"
    subprocess.run([PY, "-c", warm_libraries], check=True, cwd=ROOT)
    help_rc = subprocess.run(
        [segab_bin, "analyze", "--help"], capture_output=True, cwd=ROOT
    ).returncode
    if help_rc == 0:
        results["segab analyze --format json"] = run(
            [
                segab_bin,
                "analyze",
                "bench",
                "--experiments",
                cfg,
                "--exposures",
                x,
                "--events",
                e,
                "--format",
                "json",
                "--output",
                str(out / "result.json"),
            ],
            (x, e),
        )
    results["segab aggregate_event_log (python -c)"] = run([PY, "-c", SEGAB, x, e, cfg], (x, e))
    results["bare DuckDB query"] = run([PY, "-c", BARE, x, e], (x, e))
    if not opts.skip_pandas:
        results["pandas read + groupby"] = run([PY, "-c", PANDAS, x, e], (x, e))
    print(f"\n{'run':40} {'wall s':>8} {'peak RSS MB':>12} {'rc':>3}  output")
    for name, (wall, rss, code, tail) in results.items():
        print(f"{name:40} {wall:8.2f} {rss:12.0f} {code:3d}  {tail}")
    bare = results["bare DuckDB query"][0]
    start = results["python start-up"][0]
    for name in ("segab analyze --format json", "segab aggregate_event_log (python -c)"):
        if name in results:
            wall, rss = results[name][:2]
            line = f"\n{name}: {wall / (bare + start):.2f}x (bare + start-up), target <= 2"
            if "pandas read + groupby" in results:
                line += (
                    f"; {results['pandas read + groupby'][0] / wall:.1f}x faster than pandas (>= 5)"
                )
            print(line + f"; peak RSS {rss:.0f} MB (<= 600)")


if __name__ == "__main__":
    main()
