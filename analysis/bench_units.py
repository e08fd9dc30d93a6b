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
  wall) and compute only (timed inside it). The pandas release is shown; with
  ``--pandas-python PYTHON`` (repeatable) pandas is also timed under other
  interpreters (say a venv with pandas 2.x beside this one's 3.x), in the same
  rounds, and the ratios use the fastest pandas.

Targets: the one call at most 1.5x one breakdown's time; at least 5x faster than
pandas (read + compute). segab also checks the unit ids for repeats (the config's
``unit``; on these integer ids one bit per id, :mod:`segab.sums.unit_checks`), which
pandas does not; the same calls on an experiment whose unit column the table lacks
(no such check) are timed too.

The floor, timed with the others: ``segab analyze`` on the table's first 100,000
rows (its fixed cost: start-up, imports, config, statistics, output); ``python -c``
importing the modules that call loads, and ``duckdb, pandas, scipy.special`` alone;
and a bare python + DuckDB script computing the same sums in one GROUPING SETS
statement (checked equal to pandas's too), alone and with the exact check of the
ids for repeats. pandas's time over that script's is the most any Python tool
built on DuckDB could reach here.

segab's modules are compiled to bytecode first, as an installed package's are.
Every command runs ``--repeat`` times (default 3), in interleaved rounds; the table
shows the best and median wall, the best CPU time (user + system: less disturbed by
other processes on a shared machine) and the peak RSS; the ratios use the best
walls (and the target ratio the medians too). The load average is printed before
and after.

Example:
    .venv/bin/python analysis/bench_analyze.py --units                  # 10M rows
    .venv/bin/python analysis/bench_units.py --repeat 5                 # 10M rows, 5 rounds
    .venv/bin/python analysis/bench_units.py --rows 200000 --repeat 1   # smoke test
    .venv/bin/python analysis/bench_units.py --repeat 5 --pandas-python /tmp/pd2/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import PY, ROOT, warm  # the same warming of the inputs

OUT = ROOT / "analysis" / "out" / "bench_units"
BREAKDOWNS = ("channel", "zip_code", "newbie", "history_segment")
ARMS = ("no_email", "mens_email", "womens_email")


class Timing(NamedTuple):
    """One timed subprocess: wall and CPU seconds, peak RSS (MB), exit code, last line."""

    wall: float
    cpu: float
    rss: float
    code: int
    tail: str


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
print(f"read {read:.2f} s, compute {compute:.2f} s, {len(rows)} rows, pandas {pd.__version__}")
"""


# the floor of any Python tool on DuckDB: the same sums by one GROUPING SETS statement (the
# finest crossing first, as segab does), nothing else; "ids" adds the exact check of the
# unit ids for repeats (a bitmap of the id range, as segab's screen)
BARE = """
import json, sys, time
import duckdb
path, dims = sys.argv[1], sys.argv[3].split(",")
t = time.perf_counter()
con = duckdb.connect()
src = f"read_parquet('{path}')"
cols = ", ".join(dims)
sets = ", ".join(["(arm)"] + [f"(arm, {d})" for d in dims])
gid = " + ".join(f"GROUPING({d}) * {1 << i}" for i, d in enumerate(dims))
rows = con.execute(f\"\"\"
WITH fine AS (SELECT arm, {cols}, COUNT(*) AS n, SUM(conversion) AS c,
  SUM(conversion * conversion) AS c2, SUM(spend) AS s, SUM(spend * spend) AS s2
  FROM {src} GROUP BY ALL)
SELECT {gid} AS gid, arm, {cols}, SUM(n), SUM(c), SUM(c2), SUM(s), SUM(s2)
FROM fine GROUP BY GROUPING SETS ({sets})\"\"\").fetchall()
query = time.perf_counter() - t
out = []
full = (1 << len(dims)) - 1
for r in rows:
    for k, d in enumerate(dims):
        if r[0] == full - (1 << k):
            n, c, c2, s, s2 = r[2 + len(dims):]
            v = r[2 + k]
            out.append([d, str(v), r[1], "conversion", int(n), float(c), float(c2)])
            out.append([d, str(v), r[1], "spend", int(n), float(s), float(s2)])
json.dump(out, open(sys.argv[2], "w"))
ids = ""
if sys.argv[4] == "ids":
    t = time.perf_counter()
    lo, hi = con.execute(f"SELECT MIN(user_id), MAX(user_id) FROM {src}").fetchone()
    empty, repeats = con.execute(
        f"SELECT COUNT(*) - COUNT(user_id), COUNT(user_id) - "
        f"bit_count(bitstring_agg(user_id, {lo}, {hi})) FROM {src}").fetchone()
    ids = f", id check {time.perf_counter() - t:.2f} s ({repeats} repeats, {empty} empty)"
print(f"query {query:.2f} s{ids}, {len(out)} rows")
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


def timed(args: list[str], inputs: tuple[str, ...] = ()) -> Timing:
    """:func:`bench_analyze.run`, with the child's CPU seconds (user + system) too."""
    warm(*inputs)
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace").strip()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    tail = output.splitlines()[-1][:90] if output else ""
    cpu = usage.ru_utime + usage.ru_stime
    return Timing(wall, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), tail)


def load() -> str:
    """The load average, as ``uptime`` prints it."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def small_table(units: str, out: Path, rows: int = 100_000) -> str:
    """The first ``rows`` rows of the table (once): a call on it is about segab's fixed
    cost (with fewer rows, small counts would send the tests to Fisher's, and SciPy's
    ``scipy.stats`` would load). Written by a subprocess: pyarrow in this process would
    count in every child's peak RSS (a forked child starts with its parent's pages)."""
    path = out / f"units_{rows}.parquet"
    if not path.exists():
        code = (
            "import sys, pyarrow.parquet as pq; "
            "pq.write_table(pq.read_table(sys.argv[1]).slice(0, int(sys.argv[3])), sys.argv[2])"
        )
        subprocess.run([PY, "-c", code, units, str(path), str(rows)], check=True)
    return str(path)


def pandas_versions(pythons: list[str]) -> dict[str, str]:
    """The pandas version each interpreter imports (interpreter -> version)."""
    code = "import pandas; print(pandas.__version__)"
    out = {}
    for py in pythons:
        got = subprocess.run([py, "-c", code], capture_output=True, text=True, check=True)
        out[py] = got.stdout.strip()
    return out


def commands(
    out: Path, units: str, cfg: str, pandas_pythons: dict[str, str]
) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """Every timed command (name -> arguments, files warmed before it); one pandas row
    per interpreter in ``pandas_pythons`` (interpreter -> its pandas version)."""
    segab_bin = str(Path(PY).with_name("segab"))
    common = ["--experiments", cfg, "--units", units, "--variant-column", "arm", "--format", "json"]
    base = [segab_bin, "analyze", "mail", *common, "--output"]
    no_ids = [segab_bin, "analyze", "mail_no_ids", *common, "--output"]
    every = [a for d in BREAKDOWNS for a in ("--breakdown", d)]
    small = small_table(units, out)
    tiny = [segab_bin, "analyze", "mail", *common, "--output", str(out / "tiny.json"), *every]
    tiny[tiny.index(units)] = small
    dims = ",".join(BREAKDOWNS)
    cmds: dict[str, tuple[list[str], tuple[str, ...]]] = {
        "python start-up": ([PY, "-c", "pass"], ()),
        "segab analyze, 4 breakdowns": ([*base, str(out / "four.json"), *every], (units,)),
    }
    for d in BREAKDOWNS:
        cmds[f"segab analyze --by {d}"] = ([*base, str(out / f"{d}.json"), "--by", d], (units,))
    # without the check for repeated unit ids, which pandas skips
    cmds["  no id check: 4 breakdowns"] = ([*no_ids, str(out / "n4.json"), *every], (units,))
    cmds["  no id check: --by channel"] = (
        [*no_ids, str(out / "n1.json"), "--by", "channel"],
        (units,),
    )
    cmds["aggregate_units, 4 breakdowns (python -c)"] = (
        [PY, "-c", SEGAB, units, cfg, str(out / "sums_segab.json"), dims],
        (units,),
    )
    for k, (py, version) in enumerate(pandas_pythons.items()):
        cmds[f"{PANDAS_ROW} (pandas {version})"] = (
            [py, "-c", PANDAS, units, str(out / f"sums_pandas_{k}.json"), dims],
            (units,),
        )
    # the floor: what a segab call costs on 100,000 rows, what its imports cost, and the same
    # sums in a bare python + DuckDB script (without and with the id check)
    cmds[SMALL] = (tiny, (small,))
    cmds["floor: import segab analyze's modules"] = ([PY, "-c", IMPORTS], ())
    cmds["floor: import duckdb, pandas, scipy.special"] = (
        [PY, "-c", "import duckdb, pandas, scipy.special"],
        (),
    )
    cmds["floor: import duckdb"] = ([PY, "-c", "import duckdb"], ())
    cmds["floor: python + DuckDB grouping sets"] = (
        [PY, "-c", BARE, units, str(out / "sums_bare.json"), dims, "-"],
        (units,),
    )
    cmds["floor: python + DuckDB, + id check"] = (
        [PY, "-c", BARE, units, str(out / "sums_bare_ids.json"), dims, "ids"],
        (units,),
    )
    return cmds


SMALL = "floor: segab analyze, 100,000 rows, 4 bd"
PANDAS_ROW = "pandas read + 4 groupbys"
# what `segab analyze` on a unit table imports (its output as JSON)
IMPORTS = (
    "import segab.cli.main, segab.cli.analyze_cmd, segab.analysis.compute, "
    "segab.report.render, segab.sums.unit_checks, duckdb, pandas, scipy.special"
)


def main(argv: list[str] | None = None) -> None:
    """Generate, time, check and print the figures (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of every command (interleaved); the best and median walls are shown",
    )
    parser.add_argument(
        "--pandas-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also time pandas under this interpreter (say a venv with another pandas "
        "release; repeatable); the ratios use the fastest pandas",
    )
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
    # segab's bytecode, as an installed package has it (pip compiles it; here the
    # environment may set PYTHONDONTWRITEBYTECODE, and each call would compile segab's
    # modules from source: about 0.1 s of CPU)
    where = "import os, segab; print(os.path.dirname(segab.__file__))"
    package = subprocess.run([PY, "-c", where], capture_output=True, text=True, cwd=ROOT)
    subprocess.run([PY, "-m", "compileall", "-q", package.stdout.strip()], check=True)
    print(f"segab imported from {package.stdout.strip()} (bytecode compiled)")
    versions = pandas_versions([PY, *opts.pandas_python])
    print("pandas: " + ", ".join(f"{v} ({py})" for py, v in versions.items()))
    cmds = commands(out, units, cfg, versions)
    print(f"load average before: {load()}")
    runs: dict[str, list[Timing]] = {name: [] for name in cmds}
    for _ in range(opts.repeat):
        for name, (args, inputs) in cmds.items():
            runs[name].append(timed(args, inputs))
            if runs[name][-1].code != 0:
                sys.exit(f"{name} failed (exit code {runs[name][-1].code}): {runs[name][-1].tail}")
    print(f"load average after:  {load()}")
    for k, version in enumerate(versions.values()):
        pandas_sums = json.loads((out / f"sums_pandas_{k}.json").read_text())
        for label, name in (("segab", "sums_segab.json"), ("bare DuckDB", "sums_bare.json")):
            found = differences(json.loads((out / name).read_text()), pandas_sums)
            if found:
                sys.exit(
                    f"{label}'s sums differ from pandas {version}'s:\n" + "\n".join(found[:10])
                )
    print("segab's and the bare DuckDB script's per-breakdown sums equal pandas's")
    report(runs)


def report(runs: dict[str, list[Timing]]) -> None:
    """The table (best and median wall, best CPU, peak RSS) and the ratios, from best walls."""
    print(f"\n{'run':44} {'best s':>7} {'median':>7} {'CPU s':>6} {'RSS MB':>7}  output")
    for name, rs in runs.items():
        walls = [r.wall for r in rs]
        cpu, rss = min(r.cpu for r in rs), max(r.rss for r in rs)
        row = f"{min(walls):7.2f} {statistics.median(walls):7.2f} {cpu:6.2f} {rss:7.0f}"
        print(f"{name:44} {row}  {rs[-1].tail}")
    for n, rs in runs.items():
        print(f"  every wall, {n.strip()}: {', '.join(f'{r.wall:.2f}' for r in rs)}")

    def best(name: str) -> float:
        return min(r.wall for r in runs[name])

    one, single = best("segab analyze, 4 breakdowns"), best("segab analyze --by channel")
    four = sum(best(f"segab analyze --by {d}") for d in BREAKDOWNS)
    peers = [n for n in runs if n.startswith(PANDAS_ROW)]
    fastest = min(peers, key=best)  # the peer's best showing
    pandas_wall = best(fastest)
    compute = min(float(r.tail.split("compute ")[1].split(" s")[0]) for r in runs[fastest])
    print(f"\nthe ratios use the fastest pandas: {fastest}")
    print(f"four separate calls (sum): {four:.2f} s; one call saves {1 - one / four:.0%}")
    print(f"one call / one breakdown: {one / single:.2f}x (target <= 1.5)")
    print(
        f"pandas read + compute / one call: {pandas_wall:.3f} / {one:.3f} s = "
        f"{pandas_wall / one:.2f}x (target >= 5)"
    )
    for peer in peers:
        print(f"  {peer}: {best(peer) / one:.2f}x")
    med = {n: statistics.median(r.wall for r in rs) for n, rs in runs.items()}
    ratio = min(med[n] for n in peers) / med["segab analyze, 4 breakdowns"]
    print(f"  the same from the median walls: {ratio:.2f}x")
    print(f"pandas compute only: {compute:.2f} s ({compute / one:.2f}x the one call's wall)")
    bare, bare_one = best("  no id check: 4 breakdowns"), best("  no id check: --by channel")
    print(f"without the id check: one call {bare:.2f} s, {bare / bare_one:.2f}x one breakdown;")
    print(f"  pandas read + compute / that call: {pandas_wall / bare:.1f}x")
    floor, floor_ids = (
        best("floor: python + DuckDB grouping sets"),
        best("floor: python + DuckDB, + id check"),
    )
    print(
        f"floor: bare python + DuckDB {floor:.2f} s (pandas / it: {pandas_wall / floor:.1f}x), "
        f"with the id check {floor_ids:.2f} s ({pandas_wall / floor_ids:.1f}x); "
        f"segab's fixed cost (100,000 rows) {best(SMALL):.2f} s"
    )
    print(f"5x pandas needs a call of at most {pandas_wall / 5:.2f} s")


if __name__ == "__main__":
    main()
