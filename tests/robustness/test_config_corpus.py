"""A generated corpus of malformed configs: each one ends in a located error, never a traceback.

Every case runs ``segab validate FILE`` through click's CliRunner and asserts its
exact outcome: exit code 1, ``Error:`` in the output, an ``error:`` line naming
the file and the field path (or the line and column) with what was found, and
no exception but ``SystemExit``. Valid edge cases assert that they validate.
The YAML-level cases also parse identically with libyaml's loader and the
pure-Python one (:mod:`segab.config.yaml_reader`).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from segab.cli import cli
from segab.config import yaml_reader
from segab.errors import ConfigError, ConfigProblem

BASE: dict[str, Any] = {
    "key": "exp",
    "name": "Experiment",
    "unit": "user_id",
    "segments": [{"key": "young", "when": {"age": {"$lt": 35}}}],
    "fallback": "rest",
    "cells": [
        {"control": "a", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]}
    ],
    "metrics": {"primary": {"key": "conv", "kind": "binary", "event": "purchase"}},
}
BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)
BASE_LINES = BASE_TEXT.count("\n")  # a line appended to BASE_TEXT is line BASE_LINES + 1
NEXT = f"line {BASE_LINES + 1}"
LT_LINE = f"line {BASE_TEXT[: BASE_TEXT.index('$lt: 35')].count(chr(10)) + 1}"


@dataclass(frozen=True)
class Case:
    """``where`` is the text after ``FILE: `` in the error line (None: the config is valid)."""

    id: str
    content: bytes | Callable[[Path], Path]
    where: str | None
    found: str = ""
    file: str = "exp.yaml"  # the file the error names, relative to the case directory


def _set(cfg: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``cfg`` with ``path`` (``cells[0].variants[1].weight``) set, or deleted for DEL."""
    out = copy.deepcopy(cfg)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node: Any = out
    for part in parts[:-1]:
        node = node[part]
    if value is DEL:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return out


DEL = object()


def _yaml(cfg: dict[str, Any]) -> bytes:
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True).encode("utf-8")


def _field(path: str, value: Any, found: str = "", where: str | None = None) -> Case:
    shown = "missing" if value is DEL else repr(value)[:40]
    return Case(f"{path}={shown}", _yaml(_set(BASE, path, value)), where or path, found)


WRONG_TYPES: dict[str, list[Any]] = {
    "key": [5, "has space", "", "x" * 65, ["exp"]],
    "name": [5, ["x"], None],
    "hypothesis": [["x"]],
    "owner": [{"a": 1}],
    "status": ["live", 1],
    "iteration": [0, 1.5, "2", True],
    "seed": ["a|b", 5],
    "unit": ["1bad", ["u"]],
    "stages": ["awareness", []],
    "randomization": ["per_user"],
    "segments": ["young", {"young": 1}, []],
    "segments[0].key": ["bad key", 5],
    "segments[0].when": ["age < 35", [1]],
    "fallback": ["bad fallback", 5],
    "groups": [["a", "b"]],
    "cells": ["x", []],
    "cells[0].segment": [5],
    "cells[0].control": [5],
    "cells[0].coverage": [0, 1.5, "1", True],
    "cells[0].variants": ["a", []],
    "cells[0].variants[0].key": ["bad key", 5],
    "cells[0].variants[0].weight": [-0.5, 2e9, "0.5", True, float("nan"), float("inf"), None],
    "cells[0].variants[0].description": [["d"]],
    "metrics": ["m", [1]],
    "metrics.primary": ["conv"],
    "metrics.primary.key": ["bad key"],
    "metrics.primary.kind": ["count", 1],
    "metrics.primary.event": [5],
    "metrics.primary.direction": ["up"],
    "metrics.primary.mde": [0, -1, "0.1"],
    "metrics.primary.std": [0],
    "metrics.primary.baseline": ["x", float("nan")],
    "metrics.secondary": ["x"],
    "metrics.guardrail": [{"a": 1}],
    "analysis": ["fast"],
    "holdout": [1, -0.1, "0.1"],
    "namespace": ["ns"],
    "forced": [["u1"]],
    "exclude": ["u1"],
    "tags": ["t"],
}
ANALYSIS: dict[str, list[Any]] = {
    "alpha": [0, 1, 1.5, "0.05"],
    "correction": ["bonferroni"],
    "method": ["magic"],
    "power": [1],
    "attribution_window": ["14 days", 14],
    "sequential_tuning": [0],
}
REQUIRED = [
    "key",
    "unit",
    "cells",
    "metrics",
    "metrics.primary",
    "cells[0].control",
    "cells[0].variants",
    "cells[0].variants[0].key",
    "cells[0].variants[0].weight",
    "metrics.primary.kind",
    "metrics.primary.key",
    "segments[0].key",
    "segments[0].when",
]


def _field_cases() -> list[Case]:
    cases = [_field(p, v, f"found {v!r}") for p, values in WRONG_TYPES.items() for v in values]
    cases += [
        Case(
            f"analysis.{k}={v!r}",
            _yaml({**BASE, "analysis": {k: v}}),
            f"analysis.{k}",
            f"found {v!r}",
        )
        for k, values in ANALYSIS.items()
        for v in values
    ]
    cases += [_field(p, DEL, "nothing") for p in REQUIRED]
    cases += [  # a wrong element: the error names the element
        _field("stages", [1], "found 1", "stages[0]"),
        _field("groups", {"g": "x"}, "found 'x'", "groups.g"),
        _field("metrics", {}, "found nothing", "metrics.primary"),
        _field("metrics.secondary", [1], "found 1", "metrics.secondary[0]"),
        _field("forced", {"u1": 5}, "found 5", "forced.u1"),
        _field("exclude", [[1]], "found [1]", "exclude[0]"),
        _field("tags", [{}], "found {}", "tags[0]"),
    ]
    cases += [
        _field("stages", ["a", "a"], "duplicate stages"),
        _field("stages", ["a*"], "'a*'", "stages[0]"),
        _field("stages", [f"s{i}" for i in range(33)], "", "stages"),
        _field("segments", [{"key": f"s{i}", "when": {}} for i in range(257)], "", "segments"),
        _field("segments[0].colour", "red", "unknown field 'colour'"),
        _field("colour", "red", "unknown field 'colour'"),
        _field("cells[0].segment", "nosuch", "'nosuch'"),
        _field("cells[0].stage", "checkout", "'checkout'"),
        _field("cells[0].control", "c", "'c'"),
        _field("cells[0].coverage", 0.33333, "0.33333"),
        _field("cells[0].variants[0].weight", 0.4, "fractions summing to 0.9", "cells[0].variants"),
        _field(
            "cells[0].variants[0].weight",
            0.33333,
            "fractions summing to 0.83333",
            "cells[0].variants",
        ),
        _field("cells[0].variants[1].key", "a", "duplicate keys", "cells[0].variants"),
        _field("cells", BASE["cells"] * 513, "", "cells"),
        _field("cells[0].variants", [{"key": f"v{i}", "weight": 0.0} for i in range(65)]),
        _field("metrics.primary.event", DEL, "", "metrics.primary"),
        _field("metrics.primary.kind", "ratio", "without a denominator", "metrics.conv"),
        _field(
            "metrics.primary.cost_per_unit",
            {"a": "b"},
            "found 'b'",
            "metrics.primary.cost_per_unit.a",
        ),
        _field("holdout", 0.33333, "0.33333"),
        _field("namespace", {"key": "ns"}, "nothing", "namespace.range"),
        _field("namespace", {"key": "ns", "range": [0.5, 0.2]}, "[0.5, 0.2]", "namespace.range"),
        _field("namespace", {"key": "ns", "range": [0, 1, 2]}, "", "namespace.range"),
        _field("namespace", {"key": "ns", "range": ["0", 1]}, "'0'", "namespace.range[0]"),
        _field("forced", {"u1": "nosuch"}, "'nosuch'", "forced.u1"),
        _field("groups", {"g": [[1]]}, "[1]", "groups.g[0]"),
        _field("groups", {"g": [float("nan")]}, "NaN", "groups.g[0]"),
    ]
    return cases


def _when(cond: Any, found: str = "", where: str = "", valid: bool = False) -> Case:
    path = "segments[0].when" + (f".{where}" if where else "")
    return Case(
        f"when={cond!r}"[:80],
        _yaml(_set(BASE, "segments[0].when", cond)),
        None if valid else path,
        found,
    )


CONDITIONS = [
    _when({"age": {"$gtt": 3}}, "unknown operator $gtt", "age.$gtt"),
    _when({"$foo": [{"a": 1}]}, "unknown operator $foo", "$foo"),
    _when({"name": {"$regex": 5}}, "5", "name.$regex"),
    _when({"name": {"$regex": "("}}, "'('", "name.$regex"),
    _when({"name": {"$regex": "(a)\\1"}}, "'(a)\\\\1'", "name.$regex"),
    _when({"name": {"$regex": "a(?=b)"}}, "'a(?=b)'", "name.$regex"),
    _when({"name": {"$regexi": "(?<=a)b"}}, "'(?<=a)b'", "name.$regexi"),
    _when({"name": {"$regex": "a*+"}}, "'a*+'", "name.$regex"),
    _when({"name": {"$regex": "a{1001}"}}, "'a{1001}'", "name.$regex"),
    _when({"name": {"$regex": "(?x) a"}}, "'(?x) a'", "name.$regex"),
    _when({"name": {"$regex": "(a+)+$"}}, valid=True),  # RE2 runs it in linear time
    _when({"name": {"$regex": "^soc(ial)?\\Z", "$regexi": "A{,2}"}}, valid=True),
    _when({"tags": {"$in": "a"}}, "'a'", "tags.$in"),
    _when({"a": {"$exists": "true"}}, "'true'", "a.$exists"),
    _when({"a": {"$type": "integer"}}, "'integer'", "a.$type"),
    _when({"tags": {"$size": -1}}, "-1", "tags.$size"),
    _when({"items": {"$elemMatch": {}}}, "{}", "items.$elemMatch"),
    _when({"$and": {"a": 1}}, "{'a': 1}", "$and"),
    _when({"$or": []}, "[]", "$or"),
    _when({"a": {"$or": [1]}}, "$or inside a field", "a.$or"),
    _when({"a..b": 1}, "'a..b'", "a..b"),
    _when({"age": {}}, "{}", "age"),
    _when({"age": {"$gt": 1, "x": 2}}, "", "age"),
    _when({"app": {"$vgt": "not a version"}}, "'not a version'", "app.$vgt"),
    _when({"country": {"$inGroup": "nosuch"}}, "'nosuch'", "country.$inGroup"),
    _when({"country": {"$inGroup": 5}}, "5", "country.$inGroup"),
    _when({"age": {"$gt": [1]}}, "[1]", "age.$gt"),
    _when({"age": {"$gt": float("nan")}}, "nan", "age.$gt"),
    _when({"age": {"$eq": float("nan")}}, "NaN", "age.$eq"),
    _when({"age": {"$in": [1, float("nan")]}}, "NaN", "age.$in"),
    _when({"age": {"$gte": 18, "$lt": "65"}}, "$gte with a number and $lt with a string", "age"),
    _when({"$or": [{"a": {"$not": {"$gt": 1, "$lte": "z"}}}]}, "with a string", "$or[0].a.$not"),
    _when({"age": {"$gte": 1e5}}, valid=True),
]


def _text(name: str, text: str, where: str | None, found: str = "") -> Case:
    return Case(name, text.encode("utf-8"), where, found)


def _bomb(levels: int = 9) -> str:
    lines = ["groups:", "  g0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"  g{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return BASE_TEXT + "\n".join(lines) + "\n"


def _nested(depth: int) -> str:
    return BASE_TEXT + "tags: " + "[" * depth + "x" + "]" * depth + "\n"


YAML_TEXTS = [
    _text(
        "alias bomb in groups",
        _bomb(),
        f"line {BASE_LINES + 7}, column 12",
        "aliases repeating at least 141,148",
    ),
    _text("recursive alias", BASE_TEXT + "tags: &t [a, *t]\n", f"{NEXT}, column 14", "*t inside"),
    _text("undefined alias", BASE_TEXT + "tags: *nope\n", f"{NEXT}, column 7", "undefined alias"),
    _text(
        "duplicate anchor",
        BASE_TEXT + "tags: [&t a, &t b]\n",
        f"{NEXT}, column 14",
        "a second anchor &t",
    ),
    _text("nested 65 levels", _nested(65), f"{NEXT}, column 70", "nested more than 64"),
    _text("nested 300 levels", _nested(300), f"{NEXT}, column 70", "nested more than 64"),
    _text("nested 5000 levels", _nested(5000), NEXT, "nesting depth"),
    _text(
        "block nesting 100",
        BASE_TEXT + "tags:\n" + "".join("  " * i + "- \n" for i in range(100)),
        "line",
        "nested more than 64",
    ),
    _text(
        "duplicate top key", BASE_TEXT + "unit: id\n", f"{NEXT}, column 1", "duplicate key 'unit'"
    ),
    _text(
        "duplicate nested key",
        BASE_TEXT + "analysis: {alpha: 0.1, alpha: 0.2}\n",
        f"{NEXT}, column 24",
        "duplicate key 'alpha'",
    ),
    _text("two documents", BASE_TEXT + "---\nkey: b\n", NEXT, "a second document"),
    _text("unclosed bracket", BASE_TEXT + "tags: [a, b\n", "line", "flow sequence"),
    _text("unclosed quote", BASE_TEXT + "tags: ['a\n", "line", "quoted scalar"),
    _text("tab indentation", BASE_TEXT + "tags:\n\t- a\n", "line", "cannot start any token"),
    _text(
        "bad indentation",
        BASE_TEXT + "owner: a\n   b: c\n",
        f"line {BASE_LINES + 2}, column 5",
        "mapping values are not allowed",
    ),
    _text("escape character", BASE_TEXT + "owner: \x1b[31mred\n", f"{NEXT}, column 8", "U+001B"),
    _text("NUL character", BASE_TEXT + "owner: a\x00b\n", f"{NEXT}, column 9", "U+0000"),
    _text("lone surrogate escape", BASE_TEXT + 'owner: "\\ud800"\n', NEXT, ""),
    _text("overflowing number", BASE_TEXT + "holdout: 1e400\n", f"{NEXT}, column 10", "1e400"),
    _text("Norway", BASE_TEXT + "tags: [SE, NO]\n", f"{NEXT}, column 12", "ambiguous scalar NO"),
    _text(
        "yes as boolean",
        BASE_TEXT.replace("$lt: 35", "$exists: yes"),
        LT_LINE,
        "ambiguous scalar yes",
    ),
    _text("octal-looking", BASE_TEXT.replace("$lt: 35", "$lt: 035"), LT_LINE, "octal"),
    _text("base 60", BASE_TEXT.replace("$lt: 35", "$lt: 1:30"), LT_LINE, "base 60"),
    _text(
        "date literal", BASE_TEXT.replace("$lt: 35", "$lt: 2024-01-01"), "segments[0].when.age.$lt"
    ),
    _text(
        "binary literal",
        BASE_TEXT.replace("$lt: 35", "$eq: !!binary aGk="),
        "segments[0].when.age.$eq",
    ),
    _text(
        "set literal", BASE_TEXT.replace("$lt: 35", "$eq: !!set {a}"), "segments[0].when.age.$eq"
    ),
    _text("python tag", BASE_TEXT + "owner: !!python/name:os.system\n", NEXT, "python/name"),
    _text(
        "non-string field path", BASE_TEXT.replace("age:", "1:"), "segments[0].when[1]", "found 1"
    ),
    _text("empty file", "", "found an empty document"),
    _text("comments only", "# nothing\n", "found an empty document"),
    _text("document marker only", "---\n", "found an empty document"),
    _text("top-level list", "- a\n- b\n", "found ['a', 'b']"),
    _text("top-level scalar", "just text\n", "found 'just text'"),
    _text("numeric string compared", BASE_TEXT.replace("$lt: 35", "$lt: '35'"), None),
    _text("YAML 1.2 floats", BASE_TEXT.replace("$lt: 35", "{$gt: 1E5, $lt: -2.5e-3}"), None),
    _text("exponent weights", BASE_TEXT.replace("weight: 0.5", "weight: 5e-1"), None),
    _text("merge key", BASE_TEXT + "analysis: {<<: {alpha: 0.1}, power: 0.9}\n", None),
    _text("anchors within bounds", BASE_TEXT + "groups: {a: &g [x, y], b: *g}\n", None),
    _text("CRLF line ends", BASE_TEXT.replace("\n", "\r\n"), None),
    _text("UTF-8 BOM", "\ufeff" + BASE_TEXT, None),
    _text("non-ASCII text", BASE_TEXT.replace("Experiment", "Expérience 🧪"), None),
]


def _bytes(name: str, data: bytes, where: str | None, found: str = "") -> Case:
    return Case(name, data, where, found)


BYTES = [
    _bytes(
        "Latin-1 text",
        BASE_TEXT.replace("Experiment", "Expérience").encode("latin-1"),
        "line 2, column 10 (byte 18)",
        "0xe9",
    ),
    _bytes("invalid UTF-8 at the end", BASE_TEXT.encode() + b"\xff", f"{NEXT}, column 1", "0xff"),
    _bytes(
        "truncated UTF-8",
        BASE_TEXT.encode() + "owner: é".encode()[:-1],
        f"{NEXT}, column 8",
        "0xc3",
    ),
    _bytes("UTF-16 with BOM", BASE_TEXT.encode("utf-16"), "line 1, column 1 (byte 0)", "0xff"),
    _bytes(
        "PNG header", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "line 1, column 1 (byte 0)", "0x89"
    ),
    _bytes("zip bytes", b"PK\x03\x04" + bytes(64), "line 1, column 3", "U+0003"),
]


def _fs(
    name: str, build: Callable[[Path], Path], where: str, found: str, file: str = "exp.yaml"
) -> Case:
    return Case(name, build, where, found, file)


def _symlink(target: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / "exp.yaml").symlink_to(target)
        return d / "exp.yaml"

    return build


def _huge(d: Path) -> Path:
    path = d / "exp.yaml"
    with path.open("wb") as f:
        f.write(BASE_TEXT.encode())
        f.truncate(yaml_reader.MAX_CONFIG_BYTES + 1)  # sparse: no disk used
    return path


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "exp.yaml")
    return d / "exp.yaml"


def _in_dir(
    files: dict[str, str], link: tuple[str, str] | None = None, subdir: str | None = None
) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
        if link is not None:
            (d / link[0]).symlink_to(link[1])
        if subdir is not None:
            (d / subdir).mkdir()
        return d

    return build


REF = BASE_TEXT.replace("- key: young\n  when:\n    age:\n      $lt: 35\n", "- ref: young\n")
assert REF != BASE_TEXT
FILES = [
    _fs(
        "symlink to /dev/zero", _symlink("/dev/zero"), "found a character device", "a regular file"
    ),
    _fs(
        "symlink to a directory",
        _in_dir({}, link=("link.yaml", "/")),
        "found a directory",
        "a regular file",
        "link.yaml",
    ),
    _fs("broken symlink", _symlink("/nonexistent/x"), "found no such file or directory", ""),
    _fs(
        "broken symlink in a directory",
        _in_dir({}, link=("exp.yaml", "/nonexistent/x")),
        "found No such file or directory",
        "a readable file",
    ),
    _fs("huge sparse file", _huge, "found more than 16,777,216 bytes", "at most"),
    _fs("named pipe", _fifo, "found a named pipe", "a regular file"),
    _fs(
        "directory named .yaml",
        _in_dir({}, subdir="exp.yaml"),
        "found a directory",
        "a regular file",
    ),
    _fs(
        "library not a mapping",
        _in_dir({"exp.yaml": REF, "segments.yaml": "- a\n"}),
        "found ['a']",
        "",
        "segments.yaml",
    ),
    _fs(
        "library segments a list",
        _in_dir({"exp.yaml": REF, "segments.yaml": "segments: [a]\n"}),
        "segments: found ['a']",
        "",
        "segments.yaml",
    ),
    _fs(
        "library groups a list",
        _in_dir({"exp.yaml": REF, "segments.yaml": "groups: [a]\n"}),
        "groups: found ['a']",
        "",
        "segments.yaml",
    ),
    _fs(
        "library bad YAML",
        _in_dir({"exp.yaml": REF, "segments.yaml": "segments: {a: [\n"}),
        "line",
        "",
        "segments.yaml",
    ),
    _fs(
        "library alias bomb",
        _in_dir({"exp.yaml": REF, "segments.yaml": _bomb()[len(BASE_TEXT) :]}),
        "line 7, column 12",
        "aliases",
        "segments.yaml",
    ),
    _fs(
        "missing ref",
        _in_dir({"exp.yaml": REF, "segments.yaml": "segments: {old: {when: {}}}\n"}),
        "segments[0].ref: found 'young'",
        "",
    ),
    _fs(
        "unhashable ref",
        _in_dir({"exp.yaml": REF.replace("ref: young", "ref: [young]")}),
        "segments[0].ref",
        "['young']",
    ),
    _fs(
        "own groups a list with a library",
        _in_dir({"exp.yaml": BASE_TEXT + "groups: [a]\n", "segments.yaml": "groups: {g: [1]}\n"}),
        "groups: found ['a']",
        "",
    ),
    _fs(
        "two files, one key",
        _in_dir({"exp.yaml": BASE_TEXT, "other.yaml": BASE_TEXT}),
        "key: found 'exp'",
        "not already used",
        "other.yaml",
    ),
]

CASES: list[Case] = [*_field_cases(), *CONDITIONS, *YAML_TEXTS, *BYTES, *FILES]


def _build(case: Case, d: Path) -> Path:
    if callable(case.content):
        return case.content(d)
    path = d / "exp.yaml"
    path.write_bytes(case.content)
    return path


def _validate(target: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(target)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 120
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_config_gives_a_located_error(case: Case, tmp_path: Path) -> None:
    code, output = _validate(_build(case, tmp_path))
    if case.where is None:
        assert code == 0 and "OK: 1 experiment(s) valid: exp" in output, output
        return
    assert code == 1 and "Error:" in output, output
    head = f"error: {tmp_path / case.file}: {case.where}"
    lines = [line for line in output.splitlines() if line.startswith(head)]
    assert lines, f"no line starting {head!r} in:\n{output}"
    assert any(case.found in line for line in lines), output


def test_too_many_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_reader, "MAX_VALUES", 60)
    path = tmp_path / "exp.yaml"
    path.write_text(BASE_TEXT + "tags: [" + ", ".join(["t"] * 40) + "]\n", encoding="utf-8")
    code, output = _validate(path)
    assert code == 1 and f"{path}: {NEXT}" in output and "more than 60 values" in output


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(BASE_TEXT, encoding="utf-8")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads files whatever their mode: refuse the open as the OS would
        real_open = os.open

        def denied(name: str, flags: int, *args: int) -> int:
            if str(name) == str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(name, flags, *args)

        monkeypatch.setattr(yaml_reader.os, "open", denied)
    code, output = _validate(path)
    assert code == 1 and f"{path}: found Permission denied" in output


def test_numeric_string_comparison_warns(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(BASE_TEXT.replace("$lt: 35", "$lt: '35'"), encoding="utf-8")
    code, output = _validate(path)
    assert (
        code == 0 and f"warning: {path}: segments[0].when.age.$lt: found the string '35'" in output
    )
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 1


TEXT_CASES = [c for c in CASES if isinstance(c.content, bytes)]


@pytest.mark.parametrize("case", TEXT_CASES, ids=[c.id for c in TEXT_CASES])
def test_both_loaders_agree(case: Case) -> None:
    assert isinstance(case.content, bytes)
    if "c" not in yaml_reader.LOADERS:
        pytest.skip("PyYAML is built without libyaml")
    outcomes = []
    for loader in ("c", "pure"):
        try:
            text = yaml_reader.decode_config(case.content, "exp.yaml")
            outcomes.append(yaml_reader.parse_yaml(text, "exp.yaml", loader))
        except ConfigError as exc:
            outcomes.append(exc.problems[0])
    c, pure = outcomes
    if isinstance(c, ConfigProblem) and c.expected == "valid YAML" and "duplicate" not in c.found:
        # libyaml words and places its syntax errors (and its own nesting limit) differently
        assert isinstance(pure, ConfigProblem)
    else:
        assert c == pure


def test_numbers_are_numbers() -> None:
    data = yaml_reader.parse_yaml("a: [1e5, 1E5, -2.5e-3, .5, -.5, +1.5e3, 1_000, 0x1F, 1.0]\n")
    assert data["a"] == [1e5, 1e5, -2.5e-3, 0.5, -0.5, 1.5e3, 1000, 31, 1.0]
    assert all(isinstance(x, int | float) for x in data["a"])
    assert yaml_reader.parse_yaml("a: ['1e5', 1e5x, 1.2.3]\n") == {"a": ["1e5", "1e5x", "1.2.3"]}
