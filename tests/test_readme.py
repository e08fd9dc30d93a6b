"""Every `segab ...` command the README shows runs as written (in a scratch directory)."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from segab.cli import cli

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def console_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        pending = ""
        for line in block.splitlines():
            if line.startswith("$ "):
                pending = line[2:]
            elif pending and line.startswith("      "):
                pending += " " + line.strip()
            else:
                continue
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            commands.append(pending)
            pending = ""
    return commands


def test_readme_shows_commands() -> None:
    assert len(console_commands()) >= 8


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "experiments", root / "experiments")
    return root


def test_every_console_command_runs(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch)
    monkeypatch.delenv("SEGAB_DB", raising=False)
    (scratch / "users.csv").write_text(
        "user_id,stage,age,channel\nu1,awareness,28,social\nu2,purchase,61,email\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for command in console_commands():
        line = command.split(" #")[0].strip()
        redirect = None
        if " > " in line:
            line, redirect = (part.strip() for part in line.split(" > ", 1))
        args = shlex.split(line)
        assert args[0] == "segab", command
        result = runner.invoke(cli, args[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}\n{result.stderr}"
        if redirect:
            Path(redirect).write_text(result.stdout, encoding="utf-8")


def test_python_assign_example_prints_what_the_readme_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    block = re.search(r"```python\n(import segab\n.*?)```", README, flags=re.S)
    assert block is not None
    code, _, expected = block.group(1).rpartition("\n# ")
    namespace: dict[str, object] = {}
    exec(code, namespace)
    last = code.strip().splitlines()[-1]
    value = eval(last, namespace)
    assert repr(value) == expected.strip()
    ast.parse(code)
