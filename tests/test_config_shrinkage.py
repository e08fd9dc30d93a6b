"""analysis.shrinkage / shrinkage_groups / tailoring: defaults, located errors, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from segab.config import fingerprint, load_experiment, load_experiments
from segab.errors import ConfigError
from tests.test_config import BASE, write


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    return [str(p) for p in info.value.problems]


def test_default_is_none_and_dumps_as_before(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, BASE))
    assert exp.analysis.shrinkage == "none" and not exp.analysis.wants_tailoring
    dumped = exp.model_dump(mode="json")["analysis"]
    assert not {"shrinkage", "shrinkage_groups", "tailoring"} & set(dumped)
    # spelling the defaults out does not change the fingerprint either
    spelled = BASE + "analysis: {shrinkage: none, shrinkage_groups: grid}\n"
    assert fingerprint(load_experiment(write(tmp_path, spelled, "b.yaml"))) == fingerprint(exp)


def test_eb_changes_the_fingerprint_and_asks_for_tailoring(tmp_path: Path) -> None:
    base = load_experiment(write(tmp_path, BASE))
    eb = load_experiment(write(tmp_path, BASE + "analysis: {shrinkage: eb}\n", "eb.yaml"))
    assert eb.analysis.shrinkage == "eb" and eb.analysis.wants_tailoring
    assert fingerprint(eb) != fingerprint(base)
    off = BASE + "analysis: {shrinkage: eb, shrinkage_groups: stage, tailoring: false}\n"
    exp = load_experiment(write(tmp_path, off, "off.yaml"))
    assert exp.analysis.shrinkage_groups == "stage" and not exp.analysis.wants_tailoring


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("{shrinkage: bayes}", "analysis.shrinkage"),
        ("{shrinkage_groups: segment}", "analysis.shrinkage_groups"),
        ("{tailoring: 'yes'}", "analysis.tailoring"),
    ],
)
def test_bad_values_are_located(tmp_path: Path, setting: str, field: str) -> None:
    problems = _problems(write(tmp_path, BASE + f"analysis: {setting}\n"))
    assert any(field in p and "exp.yaml" in p for p in problems), problems


def test_eb_needs_the_frequentist_method(tmp_path: Path) -> None:
    text = BASE + "analysis: {shrinkage: eb, method: bayesian}\n"
    problems = _problems(write(tmp_path, text))
    assert any("analysis.shrinkage" in p and "frequentist" in p for p in problems), problems
