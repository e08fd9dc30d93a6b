"""The package layout of docs/DEVELOPING.md holds: imports point one way, no cycles, small modules.

The chain behind ``segab analyze`` is ``segab.sums`` -> ``segab.analysis`` ->
``segab.report``; the pure core (config, conditions, hashing, assignment,
statistics, formatting) imports none of the shell; only the command line imports
``segab.cli``. Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "segab"
MAX_LINES = 500

CORE = (
    "segab.assignment",
    "segab.assignment_types",
    "segab.assignment_period",
    "segab.sticky",
    "segab.allocation_types",
    "segab.condition_values",
    "segab.conditions",
    "segab.config",
    "segab.errors",
    "segab.formatting",
    "segab.hashing",
    "segab.semver",
    "segab.stats",
    "segab.text_values",
    "segab.condition_regex",
    "segab.printable",
)
SHELL = (
    "segab.analysis",
    "segab.bulk",
    "segab.cli",
    "segab.draft",
    "segab.lifecycle",
    "segab.report",
    "segab.simulate",
    "segab.sql",
    "segab.store",
    "segab.sums",
)
# unit -> units it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{core: SHELL for core in CORE},
    "segab.stats": tuple(u for u in (*CORE, *SHELL) if u != "segab.errors"),
    "segab.sums": ("segab.analysis", "segab.report", "segab.cli", "segab.lifecycle"),
    "segab.analysis": ("segab.report", "segab.cli"),
    "segab.report": ("segab.cli", "segab.sums"),
    "segab.sql": ("segab.sums", "segab.analysis", "segab.report", "segab.cli", "segab.bulk"),
    "segab.store": ("segab.sums", "segab.analysis", "segab.report", "segab.cli"),
    "segab.lifecycle": ("segab.report", "segab.cli"),
    "segab.draft": ("segab.analysis", "segab.report", "segab.cli", "segab.lifecycle"),
}
ONLY_IMPORTED_BY = {"segab.cli": ("segab", "segab.__main__"), "segab.report": ("segab.cli",)}


def unit_of(module: str) -> str:
    """``segab.sums.statements`` -> ``segab.sums``: the package or top-level module."""
    return ".".join(module.split(".")[:2])


def imports(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(importing module, imported module, file) for every absolute segab import."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] == root.name:
                    yield module, name, path


def unit_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst, _ in imports(root):
        a, b = unit_of(src), unit_of(dst)
        if a != b and b != root.name:
            graph.setdefault(a, set()).add(b)
    return graph


def violations(root: Path) -> list[str]:
    """Imports against the direction above."""
    found = []
    for src, dst, path in imports(root):
        a, b = unit_of(src), unit_of(dst)
        if a == b:
            continue
        if b in FORBIDDEN.get(a, ()):
            found.append(f"{path.name}: {src} imports {dst}")
        allowed = ONLY_IMPORTED_BY.get(b)
        if allowed is not None and a not in allowed:
            found.append(f"{path.name}: {src} imports {dst} (only {allowed} may)")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search (each reported from its first node)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_imports_point_one_way() -> None:
    assert violations(ROOT) == []


def test_no_package_cycles() -> None:
    assert cycles(unit_graph(ROOT)) == []


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT.parent)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "segab"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_a_back_import_and_a_cycle(tmp_path: Path) -> None:
    """The checks can fail: a planted upward import, a cycle, and a cli import are found."""
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "sums/__init__.py": "",
            "sums/aggregate.py": "def f():\n    from segab.analysis.compute import x\n",
            "analysis/__init__.py": "",
            "analysis/compute.py": "from segab.sums.aggregate import f\n",
            "stats/__init__.py": "import segab.cli\n",
        },
    )
    found = violations(root)
    assert any("segab.sums.aggregate imports segab.analysis.compute" in v for v in found)
    assert any("segab.stats imports segab.cli" in v for v in found)
    assert cycles(unit_graph(root)) == [["segab.analysis", "segab.sums", "segab.analysis"]]


@pytest.mark.parametrize("unit", ["segab.sums", "segab.analysis", "segab.report"])
def test_the_three_packages_exist(unit: str) -> None:
    assert (ROOT / unit.split(".")[1] / "__init__.py").is_file()
