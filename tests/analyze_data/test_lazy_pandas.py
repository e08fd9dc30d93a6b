"""`segab analyze` on files starts DuckDB's work before pandas is needed.

pandas takes about 0.5 s to import. The CLI imports it in a background thread
(``segab.cli.analyze_cmd._preload``) while DuckDB scans and stages the inputs,
which works only if nothing on the way to those statements needs pandas.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from segab.sums.sources import is_frame, open_engine

# the start of a subprocess in which any import of pandas raises
_BLOCK_PANDAS = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is blocked in this test")
        return None

sys.meta_path.insert(0, Block())
"""

# pandas blocked: any import of it raises. The partitions (which return DataFrames)
# are replaced by a sentinel, so reaching them proves the statements before them
# (describe, codes scan, staging) ran without pandas.
_NO_PANDAS = (
    _BLOCK_PANDAS
    + """
import segab.sums._fast.hashed as hashed
import segab.sums._fast.partition as partition
from segab.sums.aggregate import aggregate_event_log
from segab.config import load_experiments


class Reached(Exception):
    pass


def run(self, eng, part, parts):
    raise Reached(sorted(p.name for p in __import__("pathlib").Path(self.staged).iterdir()))


partition.Partition.run = run
hashed.rows_per_partition = lambda limit=None: 2  # several partitions: staged
exp = load_experiments(sys.argv[1])["exp"]
try:
    aggregate_event_log(exp, sys.argv[2], sys.argv[3])
except Reached as exc:
    print("reached", exc.args[0], "pandas" in sys.modules)
"""
)

_CONFIG = """
key: exp
name: Lazy pandas
unit: user_id
status: running
stages: [awareness, purchase]
segments:
  - {key: young, when: {age: {$lt: 35}}}
fallback: rest
cells:
  - control: a
    variants: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]
metrics:
  primary: {key: conv, kind: binary, event: purchase}
  secondary:
    - {key: rev, kind: continuous, event: revenue}
analysis: {attribution_window: 7d}
"""


def test_the_codes_scan_and_staging_run_without_pandas(
    tmp_path: Path, exposures: pd.DataFrame, events: pd.DataFrame
) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "exp.yaml").write_text(_CONFIG)
    exposures.to_parquet(tmp_path / "x.parquet")
    events.to_parquet(tmp_path / "e.parquet")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _NO_PANDAS,
            str(tmp_path / "experiments"),
            str(tmp_path / "x.parquet"),
            str(tmp_path / "e.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "reached ['e', 'x'] False", out.stdout + out.stderr


def test_importing_the_analyze_command_does_not_load_pandas() -> None:
    """Nor NumPy, SciPy or rich: the preload thread and the output load them later."""
    code = (
        "import sys, segab.cli.analyze_cmd; "
        "print([m for m in ('pandas', 'numpy', 'scipy', 'rich') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# pandas blocked again: the DuckDB statement runs (then its result cannot become a
# DataFrame), so DuckDB's work never waits for pandas' import
_STATEMENT_FIRST = (
    _BLOCK_PANDAS
    + """from segab.errors import SqlError
from segab.sums.sources import open_engine

with open_engine() as eng:
    try:
        eng.query("CREATE TABLE t AS SELECT 42 AS x", {})
    except (ImportError, SqlError):
        print("blocked", eng.rows("SELECT x FROM t", {})[1])
"""
)


def test_json_and_csv_output_do_not_load_rich() -> None:
    code = (
        "import sys, segab.report.render; "
        "print([m for m in sys.modules if m == 'rich' or m.startswith('rich.')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_duckdb_statement_runs_before_pandas_is_imported() -> None:
    out = subprocess.run([sys.executable, "-c", _STATEMENT_FIRST], capture_output=True, text=True)
    assert out.stdout.strip() == "blocked [(42,)]", out.stdout + out.stderr


def test_is_frame_tells_dataframes_from_paths() -> None:
    class Frame(pd.DataFrame):  # a subclass, as geopandas' GeoDataFrame is
        pass

    assert is_frame(pd.DataFrame({"a": [1]}))
    assert is_frame(Frame({"a": [1]}))
    assert not is_frame("x.parquet")
    assert not is_frame(Path("x.parquet"))
    assert not is_frame({"a": [1]})


def test_rows_returns_plain_tuples_on_every_dialect(tmp_path: Path) -> None:
    for url in (None, f"sqlite:///{tmp_path / 'r.db'}"):
        with open_engine(url) as eng:
            param = "$p0" if eng.dialect == "duckdb" else ":p0"
            assert eng.rows(f"SELECT {param} + 1 AS x, 'a' AS y", {"p0": 1}) == (
                ["x", "y"],
                [(2, "a")],
            )
            assert eng.rows("SELECT 1 AS z WHERE 1 = 0", {}) == (["z"], [])
