"""Load a study of ``analysis/`` (a script, not a package) as a module, for the quick tests.

Example:
    >>> load_analysis("calibration.py", "segab_calibration").__name__
    'segab_calibration'
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def load_analysis(file: str, name: str) -> ModuleType:
    """Execute ``analysis/<file>`` as module ``name`` (its sibling modules importable)."""
    if str(ANALYSIS) not in sys.path:
        sys.path.insert(0, str(ANALYSIS))  # e.g. decision_study's decision_report
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ANALYSIS / file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {ANALYSIS / file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
