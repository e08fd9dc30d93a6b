"""``segab assign`` as a process: atomic outputs, interrupts, leftovers, what a command imports.

Subprocess tests run the CLI as ``python -m segab`` in a new session (a process
group of its own), signal it like a terminal would, and read ``/proc`` for
processes left in that session.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

import segab.bulk.python
from segab.bulk import assign_file
from segab.cli import cli
from segab.config import load_experiments
from segab.errors import DataError

ROOT = Path(__file__).parents[1]
EXPERIMENTS = str(ROOT / "experiments")
OLD = "an earlier output\n"
HAS_PROC = Path("/proc/self/stat").exists()


def _units(path: Path, n: int) -> Path:
    ages = pa.array([str(15 + i % 70) for i in range(n)])
    table = pa.table(
        {
            "user_id": pa.array([f"u{i}" for i in range(n)]),
            "stage": pa.array(["awareness", "purchase"] * (n // 2) + ["awareness"] * (n % 2)),
            "age": ages,
            "channel": pa.array(["social", "email", "search"] * (n // 3) + ["social"] * (n % 3)),
        }
    )
    pacsv.write_csv(table, path)
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough rows that a run lasts seconds: it is interrupted while it writes."""
    return _units(tmp_path_factory.mktemp("big") / "units.csv", 1_500_000)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "segab", "assign", "journey_content", *args],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _session_members(sid: int) -> list[str]:
    """Processes (pid and command line) still in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
            found.append(f"{entry.name} {cmdline}")
    return found


def _leftovers(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f"{name}.segab-"))


def _wait_until_writing(proc: subprocess.Popen[bytes], out: Path) -> None:
    """Wait until the temporary output beside ``out`` holds data (the run is mid-file)."""
    while proc.poll() is None:
        tmps = list(out.parent.glob(f"{out.name}.segab-tmp-*"))
        if tmps and tmps[0].exists() and tmps[0].stat().st_size > 100_000:
            return
        time.sleep(0.01)
    pytest.fail(f"the run ended before it was interrupted: {proc.stderr.read()!r}")  # type: ignore[union-attr]


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc to find processes left behind")
@pytest.mark.parametrize(
    ("engine", "sig", "code"),
    [
        ("python", signal.SIGINT, 130),
        ("duckdb", signal.SIGINT, 130),
        ("python", signal.SIGTERM, 143),
    ],
)
def test_interrupt_mid_file_leaves_no_output_and_keeps_the_old_one(
    big_csv: Path, tmp_path: Path, engine: str, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "assignments.csv"
    out.write_text(OLD)
    proc = _spawn("--input", str(big_csv), "--output", str(out), "--engine", engine, "--quiet")
    _wait_until_writing(proc, out)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole process group
    else:
        os.kill(proc.pid, sig)  # SIGTERM: the command only (its workers are its business)
    _, err = proc.communicate(timeout=120)
    stderr = err.decode()
    assert proc.returncode == code, stderr
    assert "Aborted!" in stderr and "Traceback" not in stderr
    assert out.read_text() == OLD
    assert _leftovers(tmp_path, out.name) == []
    assert _session_members(proc.pid) == []


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc to find processes left behind")
def test_python_engine_leaves_no_process_running(tmp_path: Path) -> None:
    src = _units(tmp_path / "units.csv", 3_000)
    out = tmp_path / "out.parquet"
    proc = _spawn("--input", str(src), "--output", str(out), "--engine", "python", "--workers", "2")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert "assigned 3000 of 3000 rows" in stdout.decode() and "Traceback" not in stderr.decode()
    assert _session_members(proc.pid) == []


def test_single_unit_loads_no_bulk_machinery() -> None:
    code = (
        "import sys\n"
        "from segab.cli.main import cli\n"
        "try:\n"
        "    cli.main(['assign', 'journey_content', '--unit', 'u42', '--stage', 'awareness',\n"
        "              '--attr', 'age=28', '--attr', 'channel=social'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = {'pyarrow', 'numpy', 'pandas', 'duckdb', 'pyspark', 'scipy', 'rich'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    *_, loaded = run.stdout.strip().splitlines()
    assert '"variant"' in run.stdout and loaded == "[]"


@pytest.mark.parametrize("engine", ["python", "duckdb"])
@pytest.mark.parametrize("how", ["same path", "relative path", "symlink"])
def test_output_that_is_the_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, how: str
) -> None:
    src = _units(tmp_path / "units.csv", 10)
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    output = {"same path": str(src), "relative path": "./units.csv", "symlink": "link.csv"}[how]
    if how == "symlink":
        (tmp_path / "link.csv").symlink_to(src)
    result = CliRunner().invoke(
        cli,
        [
            *("assign", "journey_content", "--input", str(src), "--output", output),
            *("--experiments", EXPERIMENTS, "--engine", engine, "--quiet"),
        ],
    )
    assert result.exit_code == 1 and result.exception is not None
    assert "Error: " in result.stderr and "is the input file" in result.stderr
    assert "Traceback" not in result.output
    assert src.read_bytes() == before


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Python engine's writer fails with ENOSPC after its first table."""
    real: Callable[..., object] = segab.bulk.python._writer

    def failing(path: Path, fmt: str) -> object:
        import contextlib

        @contextlib.contextmanager
        def writer() -> Iterator[Callable[[pa.Table], None]]:
            with real(path, fmt) as write:  # type: ignore[attr-defined]
                calls = []

                def write_once(table: pa.Table) -> None:
                    if calls:
                        raise OSError(errno.ENOSPC, "No space left on device", str(path))
                    calls.append(1)
                    write(table)

                yield write_once

        return writer()

    monkeypatch.setattr(segab.bulk.python, "_writer", failing)
    monkeypatch.setattr(segab.bulk.python, "CHUNK_BYTES", 1 << 14)  # several tables
    yield


def test_full_disk_keeps_the_old_output(tmp_path: Path, full_disk: None) -> None:
    src = _units(tmp_path / "units.csv", 5_000)
    out = tmp_path / "out.csv"
    out.write_text(OLD)
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    with pytest.raises(OSError, match="No space left"):
        assign_file(exp, src, out)
    assert out.read_text() == OLD and _leftovers(tmp_path, out.name) == []
    result = CliRunner().invoke(
        cli,
        [
            *("assign", "journey_content", "--input", str(src), "--output", str(out)),
            *("--experiments", EXPERIMENTS, "--engine", "python", "--quiet"),
        ],
    )
    assert result.exit_code == 1 and "Error: No space left on device" in result.stderr
    assert out.read_text() == OLD and _leftovers(tmp_path, out.name) == []


def test_duckdb_failure_keeps_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segab.bulk.duckdb_engine as sql_bulk

    real = sql_bulk._run

    def run_then_fail(con: object, sql: str, path: Path) -> object:
        result = real(con, sql, path)  # type: ignore[arg-type]
        if sql.startswith("COPY"):
            raise DataError("disk full after writing")
        return result

    monkeypatch.setattr(sql_bulk, "_run", run_then_fail)
    src = _units(tmp_path / "units.csv", 2_000)
    out = tmp_path / "out.parquet"
    out.write_text(OLD)
    exp = load_experiments(EXPERIMENTS)["journey_content"]
    with pytest.raises(DataError, match="disk full"):
        sql_bulk.assign_file_sql(exp, src, out)
    assert out.read_text() == OLD and _leftovers(tmp_path, out.name) == []


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_unreadable_csv_is_a_located_error(tmp_path: Path, engine: str) -> None:
    src = _units(tmp_path / "units.csv", 300_000)
    lines = src.read_text().splitlines()
    lines[250_000] = '"u_short","awareness"'
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    out.write_text(OLD)
    result = CliRunner().invoke(
        cli,
        [
            *("assign", "journey_content", "--input", str(src), "--output", str(out)),
            *("--experiments", EXPERIMENTS, "--engine", engine, "--quiet", "--workers", "1"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert f"Error: {src}: cannot read from line " in result.stderr
    assert 'Expected 4 columns, got 2: "u_short","awareness"' in result.stderr
    assert out.read_text() == OLD and _leftovers(tmp_path, out.name) == []
