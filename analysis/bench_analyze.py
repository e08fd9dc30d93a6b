"""Benchmark: per-cell sums of 10M exposures and 10M events (Parquet), four ways.

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
- a Polars lazy query computing the same sums on Polars's streaming engine (when
  ``polars`` is installed: the ``bench`` extra); before any time is reported, its
  sums are checked equal to the bare query's (counts exactly, the revenue and
  survey sums to 1e-9 relative), and the run stops if they differ;
- pandas: ``read_parquet`` plus merge/groupby computing the same sums.

Every timed command starts warm: the libraries all of them load (DuckDB, pandas,
pyarrow, SciPy) are imported once, untimed, before the first, and both input
files are read, untimed, right before each. Without that, whichever command
runs first pays the disk: on this machine file pages unused for 60 s are paged
out (DAMON), a cold read of the 300 MB of inputs takes about 6 s, and the
libraries' files cost seconds more.

Targets: segab <= 2x bare query + start-up; >= 5x faster than pandas; peak RSS
<= 600 MB; and (issue 14) segab's whole command (``segab analyze``) at most
Polars's wall time, at no more than a quarter of its peak RSS.

Example:
    .venv/bin/python analysis/bench_analyze.py            # 10M + 10M
    .venv/bin/python analysis/bench_analyze.py --rows 1000000
    .venv/bin/python analysis/bench_analyze.py --rows 200000   # smoke test, seconds
    .venv/bin/python analysis/bench_analyze.py --units   # the unit-table case (bench_units.py)
    .venv/bin/python analysis/bench_analyze.py --metrics  # issue 17's metric set (bench_caps.py)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
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
rows = con.execute(sql).fetchall()
if len(sys.argv) > 3:  # the sums, for the check of the Polars peer (32 rows: negligible)
    import json
    with open(sys.argv[3], "w") as fh:
        json.dump(rows, fh, default=float)  # SUM of the 1.0/0.0 flags is a DECIMAL
print(len(rows), "rows")
"""

# The same per-cell sums as BARE, as a Polars lazy query on the streaming engine. Timestamps
# are compared as integer microseconds (BARE's epoch() doubles order them the same way).
# The left join keeps cells without events; an event outside the window counts zero.
POLARS = """
import json, sys
import polars as pl
x, e = sys.argv[1], sys.argv[2]
us = pl.col("timestamp").dt.epoch("us")
cells = (
    pl.scan_parquet(x)
    .group_by("user_id", "segment", "stage")
    .agg(pl.col("variant").first(), nv=pl.col("variant").n_unique(), t0=us.min())
    .filter(pl.col("nv") == 1)
    .drop("nv")
)
ev = pl.scan_parquet(e).select("user_id", "event", "value", t=us)
t, t0, event = pl.col("t"), pl.col("t0"), pl.col("event")
inw = ((t >= t0) & (t < t0 + 604800 * 1_000_000)).fill_null(False)
def flag(name):
    return (inw & (event == name)).max().cast(pl.Float64)
def total(name):
    return pl.when(inw & (event == name)).then(pl.col("value")).otherwise(0.0).sum()
per_unit = (
    cells.join(ev, on="user_id", how="left")
    .group_by("user_id", "segment", "stage", "variant")
    .agg(y0=flag("conversion"), y1=total("revenue"), y2=total("survey"), y3=flag("unsubscribe"))
)
sums = [f(pl.col(y)) for y in ("y0", "y1", "y2", "y3") for f in (lambda c: c.sum(),
                                                                 lambda c: (c * c).sum())]
out = (
    per_unit.group_by("segment", "stage", "variant")
    .agg(pl.len().alias("n"), *[s.alias(f"s{i}") for i, s in enumerate(sums)])
    .with_columns(pl.col("segment", "stage", "variant").cast(pl.String))
    .collect(engine="streaming")
)
rows = out.rows()
if len(sys.argv) > 3:
    with open(sys.argv[3], "w") as fh:
        json.dump(rows, fh)
print(len(rows), "rows")
"""

SEGAB = """
import sys
from segab.config import load_experiments
from segab.sums.aggregate import aggregate_event_log
exp = load_experiments(sys.argv[3])["bench"]
route = sys.argv[4] if len(sys.argv) > 4 else "auto"
agg = aggregate_event_log(exp, sys.argv[1], sys.argv[2], route=route)
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


EXACT = (3, 4, 5, 10, 11)  # n and the sums of the 0/1 conversion and unsubscribe flags


def sums_differences(bare: list[list[Any]], peer: list[list[Any]]) -> list[str]:
    """Where ``peer``'s per-cell sums differ from ``bare``'s (empty when they agree).

    Rows are ``[segment, stage, variant, n, sum y0, sum y0^2, .., sum y3^2]`` in any
    order; counts (n and the 0/1 flag sums) must be equal, the revenue and survey sums
    within 1e-9 relative.

    Example:
        >>> a = [["s", "t", "control", 3, 1.0, 1.0, 2.5, 6.25, 0.0, 0.0, 0.0, 0.0]]
        >>> sums_differences(a, [a[0][:6] + [2.5 * (1 + 1e-12)] + a[0][7:]])
        []
        >>> sums_differences(a, [a[0][:3] + [4] + a[0][4:]])
        ["('s', 't', 'control') column 3: bare 3, peer 4"]
    """
    want = {tuple(r[:3]): r for r in bare}
    got = {tuple(r[:3]): r for r in peer}
    if want.keys() != got.keys():
        return [f"cells: bare {sorted(want)}, peer {sorted(got)}"]
    out = []
    for key, row in sorted(want.items()):
        for i in range(3, len(row)):
            a, b = float(row[i]), float(got[key][i])
            same = a == b if i in EXACT else math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
            if not same:
                out.append(f"{key} column {i}: bare {row[i]}, peer {got[key][i]}")
    return out


def target_line(segab: tuple[float, float], polars: tuple[float, float]) -> str:
    """segab's whole command against Polars: wall and memory ratios against the target
    (wall at most Polars's, peak RSS at most a quarter of Polars's), PASS/MISS and margin.

    Example:
        >>> print(target_line((9.0, 440.0), (8.0, 2400.0)))
        segab analyze vs Polars (issue 14 target):
          wall 9.00 s / 8.00 s = 1.12x (<= 1.00x): MISS, 12% over the 8.00 s limit
          peak RSS 440 MB / 2400 MB = 0.18x (<= 0.25x): PASS, 27% under the 600 MB limit
    """
    lines = ["segab analyze vs Polars (issue 14 target):"]
    for what, unit, fmt, mine, theirs, limit in (
        ("wall", "s", ".2f", segab[0], polars[0], 1.0),
        ("peak RSS", "MB", ".0f", segab[1], polars[1], 0.25),
    ):
        ratio, allowed = mine / theirs, theirs * limit
        verdict = "PASS" if mine <= allowed else "MISS"
        margin = abs(mine / allowed - 1)
        side = "under" if mine <= allowed else "over"
        text = f"  {what} {mine:{fmt}} {unit} / {theirs:{fmt}} {unit} = {ratio:.2f}x"
        text += f" (<= {limit:.2f}x): {verdict}, {margin:.0%} {side}"
        lines.append(text + f" the {allowed:{fmt}} {unit} limit")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--units", action="store_true", help="the unit-table case instead (bench_units.py)"
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="issue 17: today's metrics against today's + a p99-capped revenue metric + a "
        "7-day retention metric (bench_caps.py --set issue17; pass its options after it)",
    )
    opts, rest = parser.parse_known_args()
    if opts.metrics:  # segab analyze with issue 17's metric set against today's
        out = OUT if opts.rows == 10_000_000 else OUT.with_name(f"bench_analyze_{opts.rows}")
        subprocess.run([PY, __file__, "--rows", str(opts.rows), "--generate-only"], check=True)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_caps import main as caps_main

        caps_main(["--set", "issue17", "--data", str(out), *rest])
        return
    if opts.units:  # 10M units, 4 breakdowns in one call, against 4 calls and pandas
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_units import main as units_main

        units_main(["--rows", str(opts.rows), *rest])
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
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
    has_polars = importlib.util.find_spec("polars") is not None
    warm_libraries = "import duckdb, pandas, pyarrow.parquet, scipy.special, segab.analysis.api"
    warm_libraries += ", polars" if has_polars else ""
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
    # what each layer of the fast path buys: one row per (unit, cell) only, and the generic
    # text-keyed statements (the route SQLite, PostgreSQL and Spark run)
    for route in ("cells", "generic"):
        results[f"  route={route} (python -c)"] = run([PY, "-c", SEGAB, x, e, cfg, route], (x, e))
    bare_sums, polars_sums = out / "sums_bare.json", out / "sums_polars.json"
    results["bare DuckDB query"] = run([PY, "-c", BARE, x, e, str(bare_sums)], (x, e))
    if has_polars:
        results["Polars lazy query (streaming)"] = run(
            [PY, "-c", POLARS, x, e, str(polars_sums)], (x, e)
        )
        check_polars(results, bare_sums, polars_sums)
    else:
        print("polars is not installed (pip install -e '.[bench]'): no Polars peer")
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
    whole, peer = "segab analyze --format json", "Polars lazy query (streaming)"
    if whole in results and peer in results:
        print("\n" + target_line(results[whole][:2], results[peer][:2]))


def check_polars(
    results: dict[str, tuple[float, float, int, str]], bare_sums: Path, polars_sums: Path
) -> None:
    """Stop, before any time is reported, unless the Polars query ran and its per-cell sums
    equal the bare DuckDB query's (:func:`sums_differences`)."""
    for name in ("bare DuckDB query", "Polars lazy query (streaming)"):
        if results[name][2] != 0:
            sys.exit(f"{name} failed (exit code {results[name][2]}): {results[name][3]}")
    bare, peer = (json.loads(path.read_text()) for path in (bare_sums, polars_sums))
    differences = sums_differences(bare, peer)
    if differences:
        sys.exit("Polars sums differ from the bare DuckDB query's:\n" + "\n".join(differences))
    print(f"Polars sums equal the bare DuckDB query's ({len(bare)} cells)")


if __name__ == "__main__":
    main()
