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
