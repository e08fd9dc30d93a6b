"""Config validation: every problem named with file, field, found and expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from segab import assign
from segab.config import (
    Cell,
    Variant,
    config_schema,
    fingerprint,
    load_experiment,
    load_experiments,
    parse_experiment,
    resolve_cell_index,
    yaml_reader,
)
from segab.config.checks import cell_resolver
from segab.errors import ConfigError, UnknownExperimentError

BASE = """
key: exp
name: Experiment
unit: user_id
segments:
  - key: young
    when: {age: {$lt: 35}}
fallback: rest
cells:
  - control: a
    variants:
      - {key: a, weight: 0.5}
      - {key: b, weight: 0.5}
metrics:
  primary: {key: conv, kind: binary, event: purchase}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    return [str(p) for p in info.value.problems]


def test_base_is_valid(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, BASE))
    assert exp.seed == "exp" and exp.stages[0] == "awareness"


MALFORMED = [
    # (description, replace-from, replace-to, expected fragments of one problem)
    (
        "weights not summing to 1",
        "{key: b, weight: 0.5}",
        "{key: b, weight: 0.4}",
        ["cells[0].variants", "fractions summing to 0.9", "fractions summing to 1"],
    ),
    (
        "unknown stage",
        "  - control: a",
        "  - stage: checkout\n    control: a",
        ["cells[0].stage", "'checkout'", "awareness"],
    ),
    (
        "missing control",
        "  - control: a",
        "  - control: z",
        ["cells[0].control", "'z'", "one of ['a', 'b']"],
    ),
    (
        "duplicate variant keys",
        "{key: b, weight: 0.5}",
        "{key: a, weight: 0.5}",
        ["cells[0].variants", "duplicate keys ['a']"],
    ),
    (
        "undefined segment in a cell",
        "  - control: a",
        "  - segment: vip\n    control: a",
        ["cells[0].segment", "'vip'", "a declared segment"],
    ),
    (
        "undefined segment reference",
        "  - key: young\n    when: {age: {$lt: 35}}",
        "  - ref: loyal",
        ["segments[0].ref", "'loyal'", "segments.yaml"],
    ),
    (
        "unknown field (typo)",
        "unit: user_id",
        "unit: user_id\ncoverag: 0.5",
        ["coverag", "unknown field", "Extra inputs are not permitted"],
    ),
    (
        "missing required field",
        "unit: user_id\n",
        "",
        ["exp.yaml: unit", "found nothing", "Field required"],
    ),
    (
        "bad status",
        "unit: user_id",
        "unit: user_id\nstatus: live",
        ["status", "'live'", "'draft', 'running', 'stopped' or 'concluded'"],
    ),
    (
        "alpha out of range",
        "unit: user_id",
        "unit: user_id\nanalysis: {alpha: 1.5}",
        ["analysis.alpha", "1.5", "less than 1"],
    ),
    (
        "unknown condition operator",
        "{age: {$lt: 35}}",
        "{age: {$lessthan: 35}}",
        ["segments[0].when.age", "$lessthan"],
    ),
    (
        "duplicate cell",
        "metrics:",
        "  - control: a\n    variants: [{key: a, weight: 1.0}]\nmetrics:",
        ["cells[1]", "a second cell", "one cell per (segment, stage)"],
    ),
    (
        "a weight below one bucket of 1/10,000",
        "{key: a, weight: 0.5}\n      - {key: b, weight: 0.5}",
        "{key: a, weight: 0.00001}\n      - {key: b, weight: 1}",
        ["cells[0].variants[0].weight", "1e-05", "at least 0.0001"],
    ),
    (
        "duplicate YAML key",
        "unit: user_id",
        "unit: user_id\nunit: id",
        ["line", "duplicate key 'unit'", "valid YAML"],
    ),
    ("invalid YAML", "unit: user_id", "unit: [user_id", ["line", "valid YAML"]),
    (
        "ratio metric without denominator",
        "metrics:\n  primary: {key: conv, kind: binary, event: purchase}",
        "metrics:\n  primary: {key: conv, kind: binary, event: purchase}\n"
        "  secondary: [{key: rps, kind: ratio, event: revenue}]",
        ["metrics.rps", "without a denominator"],
    ),
    (
        "unknown group",
        "{age: {$lt: 35}}",
        "{country: {$inGroup: eu}}",
        ["segments[0].when.country.$inGroup", "'eu'"],
    ),
    ("seed with a separator", "unit: user_id", "unit: user_id\nseed: 'a|b'", ["seed", "'a|b'"]),
]


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [m[1:] for m in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed_config_messages(
    tmp_path: Path, old: str, new: str, fragments: list[str]
) -> None:
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    problems = problems_of(path)
    assert any(str(path) in p for p in problems)
    matching = [p for p in problems if all(f in p for f in fragments)]
    assert matching, f"no problem with {fragments} in {problems}"


def test_every_problem_of_a_file_is_collected(tmp_path: Path) -> None:
    text = BASE.replace("{key: b, weight: 0.5}", "{key: b, weight: 0.7}").replace(
        "  - control: a", "  - stage: checkout\n    control: z"
    )
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 3  # weights, stage, control


def test_problems_of_several_files_and_duplicate_keys(tmp_path: Path) -> None:
    write(tmp_path, BASE, "one.yaml")
    write(tmp_path, BASE, "two.yaml")
    write(
        tmp_path,
        BASE.replace("key: exp", "key: other").replace("weight: 0.5}", "weight: 0.2}"),
        "three.yaml",
    )
    problems = problems_of(tmp_path)
    assert any("two.yaml: key" in p and "already used by" in p for p in problems)
    assert any("three.yaml: cells[0].variants" in p for p in problems)


def test_shared_segment_library(tmp_path: Path) -> None:
    write(
        tmp_path,
        "groups: {vip_ids: [u1, u2]}\nsegments:\n  vip: {when: {user_id: {$inGroup: vip_ids}}}\n",
        "segments.yaml",
    )
    text = BASE.replace("  - key: young\n    when: {age: {$lt: 35}}", "  - ref: vip")
    exp = load_experiment(write(tmp_path, text))
    assert exp.segment_keys() == ["vip", "rest"]
    assert exp.groups == {"vip_ids": ["u1", "u2"]}


def test_warnings_shadowed_unreachable_zero_weight(tmp_path: Path) -> None:
    text = BASE.replace(
        "    when: {age: {$lt: 35}}",
        "    when: {age: {$lt: 35}}\n  - key: teen\n    when: {age: {$lt: 18}}",
    ).replace("{key: b, weight: 0.5}", "{key: b, weight: 0.5}\n      - {key: c, weight: 0.0}")
    text = text.replace(
        "metrics:",
        "  - segment: teen\n    control: a\n    variants: [{key: a, weight: 1.0}]\nmetrics:",
    )
    reg = load_experiments(write(tmp_path, text))
    messages = [str(w) for w in reg.warnings]
    assert any("'teen' is shadowed by the earlier 'young'" in m for m in messages)
    assert any("cells[1]" in m and "no unit can reach" in m for m in messages)
    assert any("variant 'c' with weight 0" in m for m in messages)


def test_unknown_experiment_lists_known(tmp_path: Path) -> None:
    reg = load_experiments(write(tmp_path, BASE))
    with pytest.raises(UnknownExperimentError, match="known: exp"):
        reg["nope"]


def test_missing_path(tmp_path: Path) -> None:
    assert any("no such file" in p for p in problems_of(tmp_path / "missing"))


def test_schema_is_json_schema() -> None:
    schema = config_schema()
    assert schema["title"] == "Experiment"
    assert {"key", "cells", "segments", "metrics"} <= set(schema["properties"])
    json.dumps(schema)


def test_fingerprint_changes_with_config(tmp_path: Path) -> None:
    a = load_experiment(write(tmp_path, BASE))
    b = load_experiment(
        write(tmp_path, BASE.replace("weight: 0.5}", "weight: 0.5, description: x}", 1), "b.yaml")
    )
    assert fingerprint(a) == fingerprint(load_experiment(tmp_path / "exp.yaml"))
    assert fingerprint(a) != fingerprint(b)


def test_bundled_examples_are_valid() -> None:
    reg = load_experiments(Path(__file__).parents[1] / "experiments")
    assert len(reg) >= 3
    assert not reg.warnings


# --------------------------------------------------------------------------- input checks


def test_exponent_numbers_are_numbers_in_conditions(tmp_path: Path) -> None:
    """YAML 1.1 would read ``1e5`` as the string '1e5' and compare nobody."""
    exp = load_experiment(write(tmp_path, BASE.replace("{$lt: 35}", "{$gte: 1e5, $lt: 2E5}")))
    assert exp.segments[0].when == {"age": {"$gte": 100000.0, "$lt": 200000.0}}  # type: ignore[union-attr]
    assert assign(exp, "u1", {"age": 150_000}, "awareness").segment == "young"
    assert assign(exp, "u1", {"age": "150000"}, "awareness").segment == "rest"


def test_libyaml_loads_configs_when_installed() -> None:
    assert ("c" in yaml_reader.LOADERS) == bool(getattr(yaml, "__with_libyaml__", False))
    assert "pure" in yaml_reader.LOADERS


def test_aliases_within_bounds_are_expanded(tmp_path: Path) -> None:
    text = BASE + "groups:\n  a: &ids [u1, u2]\n  b: *ids\n"
    exp = load_experiment(write(tmp_path, text.replace("{age: {$lt: 35}}", "{id: {$inGroup: b}}")))
    assert exp.groups == {"a": ["u1", "u2"], "b": ["u1", "u2"]}


def test_a_file_is_read_only_up_to_the_bound(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError, match="more than 10 bytes"):
        yaml_reader.read_config_bytes(path, limit=10)
    assert yaml_reader.read_config_bytes(path, limit=len(BASE)) == BASE.encode()


_SPECS = st.tuples(st.sampled_from(["*", "s1", "s2"]), st.sampled_from(["*", "t1", "t2"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_SPECS, min_size=1, max_size=6), st.sampled_from(["s1", "s2", "s3"]))
def test_cell_resolver_is_resolve_cell_index(specs: list[tuple[str, str]], segment: str) -> None:
    v = [Variant(key="a", weight=1.0)]
    cells = [Cell(segment=seg, stage=st_, control="a", variants=v) for seg, st_ in specs]
    resolve = cell_resolver(cells)
    for stage in ("t1", "t2", "t3"):
        assert resolve(segment, stage) == resolve_cell_index(cells, segment, stage)


def test_deep_conditions_from_python_are_problems_not_crashes() -> None:
    when: dict[str, Any] = {"a": 1}
    for _ in range(5000):
        when = {"$and": [when]}
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_experiment(
            {
                "key": "e",
                "name": "E",
                "unit": "id",
                "segments": [{"key": "s", "when": when}],
                "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
                "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}},
            }
        )
