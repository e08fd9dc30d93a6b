"""Graduated bandit cells through ``segab iterate``: shipped like a winner, or confirmed.

The traffic of tests/lifecycle/test_allocate.py: ``young`` graduates to ``b`` after
three confident updates; ``rest`` (equal arms) does not.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from segab.config import bandit_cells, load_experiments
from segab.store import allocation_periods, open_store
from tests.lifecycle.test_allocate import KEY, T0, allocate, env, run, simulate

__all__ = ["env"]  # the fixture, shared with test_allocate


def _graduate(exp_dir: Path, url: str) -> None:
    code, _, err = run("start", KEY, "--db", url, "--experiments", str(exp_dir))
    assert code == 0, err
    shares = {"young": 0.5, "rest": 0.5}
    for day in range(3):
        simulate(url, day, 500, shares, seed=10 + day)
        doc = allocate(
            exp_dir, url, "--now", (T0 + dt.timedelta(days=day + 1)).isoformat(), "--format", "json"
        )
        shares = {c["segment"]: c["weights"][1] for c in doc["cells"]}  # type: ignore[attr-defined]
    young = next(c for c in doc["cells"] if c["segment"] == "young")  # type: ignore[attr-defined]
    assert young["status"] == "graduated" and young["graduation"]["arm"] == "b"


def _iterate(exp_dir: Path, url: str, *extra: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run(
        "iterate", KEY, "--db", url, "--experiments", str(exp_dir), "--format", "json", *extra
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _cell(doc: dict, segment: str) -> dict:  # type: ignore[type-arg]
    return next(c for c in doc["cells"] if c.get("segment") == segment)  # type: ignore[no-any-return]


def test_iterate_ships_the_graduated_arm_and_the_history_keeps_the_bandit_phase(
    env: tuple[Path, str],
) -> None:
    exp_dir, url = env
    _graduate(exp_dir, url)
    res = _iterate(exp_dir, url)
    young = next(o for o in res["outcomes"] if o["segment"] == "young")
    assert (young["status"], young["control"], young["shipped"]) == ("graduated", "b", "b")
    assert young["dropped"] == ["a"] and res["confirmation_plan"] is None
    raw = yaml.safe_load((exp_dir / f"{KEY}.yaml").read_text(encoding="utf-8"))
    cell = _cell(raw, "young")
    assert cell["variants"] == [{"key": "b", "weight": 1.0}]
    assert cell["allocation"] == {"mode": "fixed"}  # one arm left: no longer a bandit
    new = load_experiments(exp_dir)[KEY]
    assert new.iteration == 2 and new.allocation is not None and new.allocation.mode == "bandit"
    assert ("young", "buy") not in {(s, t) for s, t, _ in bandit_cells(new)}
    # the bandit phase ends with a closing period that says what iterate did
    periods = allocation_periods(open_store(url), KEY, 1)
    closing = periods[-1]
    assert closing.number == 4 and closing.summary["source"] == "segab iterate"
    young_close = next(c for c in closing.summary["cells"] if c["segment"] == "young")
    assert young_close["status"] == "graduated" and young_close["from_bandit_phase"] is True
    _, out, _ = run("history", KEY, "--db", url, "--format", "json")
    first = json.loads(out)["iterations"][0]
    [grad] = first["allocation"]["graduated"]
    assert (grad["segment"], grad["arm"], grad["period"], grad["reason"]) == (
        "young",
        "b",
        3,
        "probability",
    )
    assert first["allocation"]["periods"][-1]["cells"][0]["status"] in ("graduated", "undecided")


def test_iterate_confirm_starts_a_fixed_split_test_sized_by_the_power_plan(
    env: tuple[Path, str],
) -> None:
    exp_dir, url = env
    _graduate(exp_dir, url)
    res = _iterate(exp_dir, url, "--confirm")
    young = next(o for o in res["outcomes"] if o["segment"] == "young")
    assert (young["status"], young["control"]) == ("confirming", "a")
    assert [k for k, _ in young["variants"]] == ["a", "b"]
    raw = yaml.safe_load((exp_dir / f"{KEY}.yaml").read_text(encoding="utf-8"))
    cell = _cell(raw, "young")
    assert cell["allocation"] == {"mode": "fixed"}
    assert [v["weight"] for v in cell["variants"]] == [0.5, 0.5]
    [planned] = res["confirmation_plan"]["cells"]
    assert (planned["segment"], planned["stage"]) == ("young", "buy")
    assert planned["baseline_source"] == "bandit phase" and 0.05 < planned["baseline"] < 0.15
    assert planned["n_per_arm"] > 0 and planned["days_needed"] >= 1
    code, out, _ = run(
        "iterate", KEY, "--db", url, "--experiments", str(exp_dir), "--confirm", "--help"
    )
    assert code == 0 and "--confirm" in out
