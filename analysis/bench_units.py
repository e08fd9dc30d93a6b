"""Benchmark: a 10M-row unit table, 3 arms, 4 one-way breakdowns in one call (issue 16).

Run through ``analysis/bench_analyze.py --units`` (or this file directly). Generates
(once) ``analysis/out/bench_units/units.parquet``: 10,000,000 units (an integer
``user_id``), three arms in column ``arm`` (``no_email`` is the control), two
outcomes (``conversion`` 0/1 and ``spend``) and four low-cardinality attributes
(``channel`` 3 values, ``zip_code`` 3, ``newbie`` 2, ``history_segment`` 7).
Then times, in subprocesses that each start warm (libraries imported and the
file read once, untimed, before):

- ``segab analyze`` with the 4 breakdowns in one call (``--breakdown`` x 4), with
  one breakdown (``--by channel``), and the four one-breakdown calls one after the
  other (their sum);
- ``aggregate_units`` with the 4 breakdowns (the data half alone, ``python -c``),
  whose per-(arm, breakdown value) sums are checked equal to pandas's before any
  time is reported (counts exactly, sums to 1e-9 relative);
- pandas: ``read_parquet`` once (the string columns read as categoricals straight from
  the Parquet dictionaries), then 4 groupbys (and one per arm) of ``n``, the sum and
  the sum of squares of both outcomes; reported as read + compute (the subprocess's
  wall) and compute only (timed inside it).

Targets: the one call at most 1.5x one breakdown's time; at least 5x faster than
pandas (read + compute). segab also checks the unit ids for repeats (the config's
``unit``: a GROUP BY of the 10M ids), which pandas does not; the same calls on an
experiment whose unit column the table lacks (no such check) are timed too.

Example:
    .venv/bin/python analysis/bench_analyze.py --units                  # 10M rows
    .venv/bin/python analysis/bench_units.py --rows 200000              # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import PY, ROOT, run  # the same timed runner

OUT = ROOT / "analysis" / "out" / "bench_units"
BREAKDOWNS = ("channel", "zip_code", "newbie", "history_segment")
ARMS = ("no_email", "mens_email", "womens_email")

CONFIG = """
key: mail
name: Unit-table benchmark
unit: user_id
segments: [{key: all, when: {}}]
cells:
  - control: no_email
    variants:
      - {key: no_email, weight: 0.3334}
      - {key: mens_email, weight: 0.3333}
      - {key: womens_email, weight: 0.3333}
metrics:
  primary: {key: conversion, kind: binary, column: conversion}
  secondary:
    - {key: spend, kind: continuous, column: spend}
"""
# the same experiment with a unit column the table does not have: no check for repeated ids
NO_UNIT = CONFIG.replace("key: mail", "key: mail_no_ids").replace("unit: user_id", "unit: nobody")

SEGAB = """
import json, sys
from segab.config import load_experiments
from segab.sums.specs import UnitColumns
from segab.sums.unit_table import aggregate_units
exp = load_experiments(sys.argv[2])["mail"]
dims = sys.argv[4].split(",")
agg = aggregate_units(exp, sys.argv[1], columns=UnitColumns(variant="arm"),
                      breakdowns=[(d,) for d in dims])
s = agg.sums
rows = []
for k, d in enumerate(dims, 1):
    part = s[s["breakdown"] == k]
    for r in part.itertuples(index=False):
        r = r._asdict()
        rows.append([d, str(r[d]), r["variant"], r["metric"], int(r["n"]), r["sum"], r["sum_sq"]])
json.dump(rows, open(sys.argv[3], "w"))
print(len(rows), "rows", agg.data_quality["duplicate_units"], "duplicate units")
"""

PANDAS = """
import json, sys, time
import pandas as pd
dims = sys.argv[3].split(",")
cols = ["arm", "conversion", "spend", *dims]
t = time.perf_counter()
df = pd.read_parquet(sys.argv[1], columns=cols,
                     read_dictionary=[c for c in cols if c not in ("conversion", "spend")])
read = time.perf_counter() - t
t = time.perf_counter()
df["conversion_sq"] = df["conversion"] * df["conversion"]
df["spend_sq"] = df["spend"] * df["spend"]
values = ["conversion", "conversion_sq", "spend", "spend_sq"]
out = {"": df.groupby("arm", observed=True)[values].agg(["count", "sum"])}
for d in dims:
    out[d] = df.groupby(["arm", d], observed=True)[values].agg(["count", "sum"])
compute = time.perf_counter() - t
rows = []
for d in dims:
    for (arm, value), r in out[d].iterrows():
        for m in ("conversion", "spend"):
            rows.append([d, str(value), arm, m, int(r[(m, "count")]), float(r[(m, "sum")]),
                         float(r[(m + "_sq", "sum")])])
json.dump(rows, open(sys.argv[2], "w"))
print(f"read {read:.2f} s, compute {compute:.2f} s, {len(rows)} rows")
"""


def generate(rows: int, out: Path) -> None:
    """Write units.parquet and the experiment config (once)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = out / "units.parquet"
    (out / "experiments").mkdir(parents=True, exist_ok=True)
    (out / "experiments" / "mail.yaml").write_text(CONFIG)
    (out / "experiments" / "mail_no_ids.yaml").write_text(NO_UNIT)
    if path.exists():
        return
    rng = np.random.default_rng(16)
    writer = None
    chunk = 2_000_000
    history = [f"{i}) ${lo}-${lo + 100}" for i, lo in enumerate(range(0, 700, 100), 1)]
    for lo in range(0, rows, chunk):
        n = min(chunk, rows - lo)
        arm = rng.integers(0, 3, n)
        conv = (rng.random(n) < 0.01 + 0.003 * (arm > 0)).astype("int8")
        spend = np.where(conv == 1, np.round(rng.gamma(2.0, 50.0, n) * 16) / 16, 0.0)

        def pick(values: list[Any], size: int = n) -> Any:
            return pa.array(np.asarray(values, dtype=object)[rng.integers(0, len(values), size)])

        table = pa.table(
            {
                "user_id": pa.array(np.arange(lo, lo + n, dtype="int64")),
                "arm": pa.array(np.asarray(ARMS, dtype=object)[arm]),
                "conversion": pa.array(conv),
                "spend": pa.array(spend),
                "channel": pick(["Phone", "Web", "Multichannel"]),
                "zip_code": pick(["Urban", "Surburban", "Rural"]),
                "newbie": pa.array(rng.integers(0, 2, n).astype("int8")),
                "history_segment": pick(history),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def differences(segab: list[list[Any]], pandas: list[list[Any]]) -> list[str]:
    """Where segab's per-(breakdown value, arm, metric) sums differ from pandas's.

    Example:
        >>> a = [["channel", "Web", "x", "spend", 3, 1.5, 2.25]]
        >>> differences(a, a), differences(a, [a[0][:4] + [4, 1.5, 2.25]])
        ([], ["('channel', 'Web', 'x', 'spend'): segab [3, 1.5, 2.25], pandas [4, 1.5, 2.25]"])
    """
    want = {tuple(r[:4]): r[4:] for r in pandas}
    got = {tuple(r[:4]): r[4:] for r in segab}
    if want.keys() != got.keys():
        return [f"groups: segab {len(got)}, pandas {len(want)}"]
    out = []
    for key, (n, s, q) in sorted(want.items()):
        gn, gs, gq = got[key]
        same = gn == n and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in ((gs, s), (gq, q))
        )
        if not same:
            out.append(f"{key}: segab {got[key]}, pandas {[n, s, q]}")
    return out


def main(argv: list[str] | None = None) -> None:
    """Generate, time, check and print the figures (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    opts = parser.parse_args(argv)
    out = OUT if opts.rows == 10_000_000 else OUT.with_name(f"bench_units_{opts.rows}")
    t = time.perf_counter()
    subprocess.run(
        [PY, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
         f"import bench_units; bench_units.generate({opts.rows}, __import__('pathlib').Path("
         f"{str(out)!r}))"],
        check=True,
    )  # fmt: skip
    print(f"data ready in {time.perf_counter() - t:.1f}s under {out}")
    units, cfg = str(out / "units.parquet"), str(out / "experiments")
    subprocess.run(
        [PY, "-c", "import duckdb, pandas, pyarrow.parquet, scipy.special, segab.analysis.api"],
        check=True,
        cwd=ROOT,
    )
    segab_bin = str(Path(PY).with_name("segab"))
    common = ["--experiments", cfg, "--units", units, "--variant-column", "arm", "--format", "json"]
    base = [segab_bin, "analyze", "mail", *common, "--output"]
    no_ids = [segab_bin, "analyze", "mail_no_ids", *common, "--output"]
    results: dict[str, tuple[float, float, int, str]] = {}
    results["python start-up"] = run([PY, "-c", "pass"])
    every = [a for d in BREAKDOWNS for a in ("--breakdown", d)]
    results["segab analyze, 4 breakdowns"] = run([*base, str(out / "four.json"), *every], (units,))
    for d in BREAKDOWNS:
        by = [*base, str(out / f"{d}.json"), "--by", d]
        results[f"segab analyze --by {d}"] = run(by, (units,))
    # without the check for repeated unit ids (a GROUP BY of the 10M ids), which pandas skips
    results["  no id check: 4 breakdowns"] = run([*no_ids, str(out / "n4.json"), *every], (units,))
    results["  no id check: --by channel"] = run(
        [*no_ids, str(out / "n1.json"), "--by", "channel"], (units,)
    )
    segab_sums, pandas_sums = out / "sums_segab.json", out / "sums_pandas.json"
    dims = ",".join(BREAKDOWNS)
    results["aggregate_units, 4 breakdowns (python -c)"] = run(
        [PY, "-c", SEGAB, units, cfg, str(segab_sums), dims], (units,)
    )
    results["pandas read + 4 groupbys"] = run(
        [PY, "-c", PANDAS, units, str(pandas_sums), dims], (units,)
    )
    for name, r in results.items():
        if r[2] != 0:
            sys.exit(f"{name} failed (exit code {r[2]}): {r[3]}")
    found = differences(*(json.loads(p.read_text()) for p in (segab_sums, pandas_sums)))
    if found:
        sys.exit("segab's sums differ from pandas's:\n" + "\n".join(found[:10]))
    print("segab's per-breakdown sums equal pandas's")
    print(f"\n{'run':44} {'wall s':>8} {'peak RSS MB':>12}  output")
    for name, (wall, rss, _, tail) in results.items():
        print(f"{name:44} {wall:8.2f} {rss:12.0f}  {tail}")
    one = results["segab analyze, 4 breakdowns"][0]
    single = results["segab analyze --by channel"][0]
    four = sum(results[f"segab analyze --by {d}"][0] for d in BREAKDOWNS)
    pandas_wall = results["pandas read + 4 groupbys"][0]
    tail = results["pandas read + 4 groupbys"][3]
    compute = float(tail.split("compute ")[1].split(" s")[0])
    print(f"\nfour separate calls (sum): {four:.2f} s; one call saves {1 - one / four:.0%}")
    print(f"one call / one breakdown: {one / single:.2f}x (target <= 1.5)")
    print(f"pandas read + compute / one call: {pandas_wall / one:.1f}x (target >= 5)")
    print(f"pandas compute only: {compute:.2f} s ({compute / one:.2f}x the one call's wall)")
    bare = results["  no id check: 4 breakdowns"][0]
    bare_one = results["  no id check: --by channel"][0]
    print(f"without the id check: one call {bare:.2f} s, {bare / bare_one:.2f}x one breakdown;")
    print(f"  pandas read + compute / that call: {pandas_wall / bare:.1f}x")


if __name__ == "__main__":
    main()
