"""The console script handles Ctrl-C from its first import on (issue 15: never a traceback)."""

from __future__ import annotations

import subprocess
import sys

INTERRUPTED_IMPORT = """
import builtins
real = builtins.__import__

def interrupted(name, *args, **kwargs):
    if name == "segab.cli.main":  # Ctrl-C while the command line is being imported
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)

builtins.__import__ = interrupted
from segab.cli import main
main()
"""


def test_import_segab_loads_nothing_else() -> None:
    code = (
        "import sys, segab, segab.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'segab'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['segab', 'segab.cli']"


def test_ctrl_c_while_the_command_line_imports_is_aborted_not_a_traceback() -> None:
    out = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT], capture_output=True, text=True)
    assert out.returncode == 130
    assert "Aborted!" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_public_api_still_imports_by_name() -> None:
    code = "from segab import assign, Experiment, SegabError, BUCKETS; print(BUCKETS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "10000"


GC_STATE = """
import gc, sys
import segab.cli.analyze_cmd as ac
from segab.cli.main import main

seen = []
real_analyze, real_write = ac.analyze, ac._write

def analyze(*args, **kwargs):
    seen.append(("analyze", gc.isenabled()))
    return real_analyze(*args, **kwargs)

def write(*args, **kwargs):
    seen.append(("write", gc.isenabled(), gc.get_freeze_count() > 0))
    sys.stderr.write(repr(seen) + "\\n")
    return real_write(*args, **kwargs)

ac.analyze, ac._write = analyze, write
sys.argv = ["segab", *sys.argv[1:]]
try:
    main()
finally:  # commands other than analyze end here
    sys.stderr.write(f"after: {gc.isenabled()} {gc.get_freeze_count() > 0}\\n")
"""


def test_the_collector_is_paused_through_analyze_start_up_and_sums_only(tmp_path) -> None:
    # analyze: off while the sums are computed, on (objects so far frozen) before output
    events = tmp_path / "e.csv"
    events.write_text("unit_id,event,value,timestamp\n")
    x = tmp_path / "x.csv"
    x.write_text(
        "unit_id,segment,stage,variant,timestamp\n"
        + "".join(f"u{i},young,awareness,{'ab'[i % 2]},2024-01-01T00:00:00\n" for i in range(40))
    )
    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "t.yaml").write_text(
        "key: t\nunit: unit_id\nsegments: [{key: young, when: {}}]\n"
        "stages: [awareness]\ncells:\n  - control: a\n"
        "    variants: [{key: a, weight: 1}, {key: b, weight: 1}]\n"
        "metrics: {primary: {key: conv, kind: binary, event: buy}}\n"
    )
    args = ["analyze", "t", "--experiments", str(exp), "--exposures", str(x)]
    args += ["--events", str(events), "--format", "json", "--output", str(tmp_path / "o.json")]
    out = subprocess.run([sys.executable, "-c", GC_STATE, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "[('analyze', False), ('write', True, True)]" in out.stderr
    # any other command: on (and frozen) before it runs; the library never touches it
    out = subprocess.run(
        [sys.executable, "-c", GC_STATE, "validate", str(exp)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "after: True True" in out.stderr
    code = "import gc, segab.analysis.api; print(gc.isenabled(), gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "0"]
