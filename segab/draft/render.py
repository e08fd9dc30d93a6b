"""A :class:`~segab.draft.build.Draft` as a commented experiment YAML.

Every value is written by a YAML emitter (:func:`scalar`), so a label with a
leading space, a ``:``, quotes or a word YAML 1.1 reads as a boolean (``No``)
keeps its text; comments show labels as JSON strings, so a control character
never ends a comment early. The text ends with the commands to run next.

Example:
    >>> scalar(" Control"), scalar("No"), scalar("gate_30"), scalar(0.5)
    ("' Control'", "'No'", 'gate_30', '0.5')
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from segab.config.yaml_reader import FLOAT_12
from segab.draft.build import Draft, DraftCell
from segab.printable import printable

__all__ = ["Invocation", "flow", "render_draft", "scalar", "shown"]


_BREAKS = ("\x85", "\u2028", "\u2029")  # line breaks to YAML 1.1 even inside quotes


def _strings(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [t for k, v in value.items() for t in (str(k), *_strings(v))]
    return [value] if isinstance(value, str) else []


class _Dumper(yaml.SafeDumper):
    """The emitter, quoting every string segab's loader reads otherwise: YAML 1.1's
    implicit types plus YAML 1.2's floats (``0E0``, ``1e5``: numbers to
    :mod:`segab.config.yaml_reader`, plain text to YAML 1.1)."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_12, list("-+.0123456789"))


def _dump(value: Any) -> str:
    text = yaml.dump(
        value,
        Dumper=_Dumper,
        default_flow_style=True,
        allow_unicode=not any(b in text for text in _strings(value) for b in _BREAKS),
        width=10**9,
        sort_keys=False,
    )
    return text.removesuffix("\n").removesuffix("\n...").removesuffix("...").rstrip("\n")


def scalar(value: Any) -> str:
    """One YAML scalar, quoted when plain text would read otherwise.

    Example:
        >>> scalar("a: b"), scalar("007"), scalar(3)
        ("'a: b'", "'007'", '3')
    """
    return _dump(value)


def flow(mapping: Mapping[str, Any]) -> str:
    """A flow mapping ``{k: v, ...}`` written by the emitter (it knows flow context: a
    ``{`` or ``,`` in a value is quoted there).

    Example:
        >>> flow({"key": "civic_duty", "value": " Civic Duty", "weight": 1})
        "{key: civic_duty, value: ' Civic Duty', weight: 1}"
        >>> flow({"value": "a{b"})
        "{value: 'a{b'}"
    """
    return _dump(dict(mapping))


def shown(label: str) -> str:
    """A label for a comment: a JSON string, control characters escaped (:func:`printable`).

    Example:
        >>> shown(" Control"), shown("a\\nb")
        ('" Control"', '"a\\\\nb"')
    """
    return printable(json.dumps(label, ensure_ascii=False))


@dataclass(frozen=True)
class Invocation:
    """How ``segab analyze`` reads the data: its input options, already shell-quoted parts.

    Example:
        >>> Invocation(("--units", "users.csv", "--variant-column", "arm")).line("k")
        'segab analyze k --units users.csv --variant-column arm'
    """

    inputs: tuple[str, ...]
    experiments: str | None = None

    def line(self, key: str, *extra: str) -> str:
        """The ``segab analyze`` command line with ``extra`` options.

        Example:
            >>> Invocation(("--units", "a b.csv")).line("k", "--by", "city")
            "segab analyze k --units 'a b.csv' --by city"
        """
        parts = ["segab", "analyze", key, *self.inputs, *extra]
        if self.experiments is not None:
            parts += ["--experiments", self.experiments]
        return printable(shlex.join(parts))


def _share(n: int, total: int) -> str:
    return f"{n:,} ({100.0 * n / total:.1f}%)" if total else f"{n:,}"


def _split_note(cell: DraftCell) -> str:
    s = cell.split
    ratio = ":".join(str(r) for r in s.ratios)
    shares = "/".join(f"{p:g}" for p in s.percents)
    if s.how == "equal":
        what = f"an equal split ({ratio})"
    elif s.how == "design":
        what = f"the design {shares} ({ratio})"
    else:
        what = f"no common design fits; the observed shares in whole percents ({shares})"
    return f"{what}; chi-square goodness of fit of the counts: p = {s.p_value:.3g}"


def _cell_lines(cell: DraftCell, unit_word: str) -> list[str]:
    total = sum(a.count for a in cell.arms)
    lines = [f"  # {_split_note(cell)}"]
    where = [f"{k}: {scalar(v)}" for k, v in (("segment", cell.segment), ("stage", cell.stage))]
    head = [w for w, v in zip(where, (cell.segment, cell.stage), strict=True) if v != "*"]
    for i, line in enumerate([*head, f"control: {scalar(cell.control)}"]):
        lines.append(("  - " if i == 0 else "    ") + line)
    lines.append("    variants:")
    for arm, ratio in zip(cell.arms, cell.split.ratios, strict=True):
        fields: dict[str, Any] = {"key": arm.key}
        if arm.label != arm.key:
            fields["value"] = arm.label
        fields["weight"] = ratio
        note = f"{shown(arm.label)}: {_share(arm.count, total)} {unit_word}"
        lines.append(f"      - {flow(fields)}  # {note}")
    return lines


def _metric_lines(draft: Draft) -> list[str]:
    source = "column" if draft.mode == "units" else "event"
    lines = []
    for i, m in enumerate(draft.metrics):
        fields = flow({"key": m.key, "kind": m.kind, source: m.column})
        if i == 0:
            lines.append(f"  primary: {fields}  # {printable(m.note)}")
            if len(draft.metrics) > 1:
                lines.append("  secondary:")
        else:
            lines.append(f"    - {fields}  # {printable(m.note)}")
    return lines


def _segment_lines(draft: Draft) -> list[str]:
    if not draft.segments:
        return [
            "# No `segments:`: one segment, everyone (`all`). Add segments (key + when: a",
            "# condition on attributes) to compare arms per segment.",
        ]
    lines = [
        "# The segments the exposures name. Their rules are not in the data: each `when:`",
        "# reads the logged segment; write the real rule before assigning with this config.",
        "segments:",
    ]
    lines += [f"  - {flow({'key': s, 'when': {'segment': s}})}" for s in draft.segments]
    return lines


def render_draft(draft: Draft, run: Invocation, output: str) -> str:
    """The commented YAML of ``draft``; ``run`` and ``output`` name the next commands.

    Example:
        >>> from segab.draft.build import Arm, Draft, DraftCell
        >>> from segab.draft.infer import Outcome, Split
        >>> cell = DraftCell("*", (Arm(" Control", "control", 50), Arm("B", "B", 52)),
        ...                  "control", Split((1, 1), "equal", 0.84))
        >>> d = Draft("demo", "units", "t.csv", 102, "arm", "id", "102 distinct ids", (), (), None,
        ...           (cell,), (Outcome("y", "y", "binary", "0: 80, 1: 22"),), (("city", 3),), ())
        >>> text = render_draft(d, Invocation(("--units", "t.csv", "--variant-column", "arm")),
        ...                     "experiments/demo.yaml")
        >>> import yaml; yaml.safe_load(text)["cells"][0]["variants"][0]
        {'key': 'control', 'value': ' Control', 'weight': 1}
    """
    unit_word = "units" if draft.mode == "units" else "exposures"
    lines = [
        f"# Drafted by `segab init` from {printable(draft.source)} ({draft.rows:,} {unit_word}"
        " with an arm).",
        "# Check every field, then run the commands at the end.",
        f"key: {scalar(draft.key)}",
        f"name: {scalar(draft.key)}  # a title for reports",
        'hypothesis: ""  # what you expected to change, and why',
    ]
    if draft.iteration is not None:
        lines.append(f"iteration: {draft.iteration}  # the latest iteration in the exposures")
    if draft.unit is not None:
        lines.append(f"unit: {scalar(draft.unit)}  # {printable(draft.unit_note)}")
    else:  # a name the table lacks: no id column is read
        name = next(n for n in ("unit_id", "unit", "segab_unit") if n not in draft.columns)
        lines.append(f"unit: {name}  # {printable(draft.unit_note)}")
    if draft.stages:
        lines += [
            "# The journey stages the exposures name, most exposures first.",
            f"stages: [{', '.join(scalar(s) for s in draft.stages)}]",
        ]
    lines += _segment_lines(draft)
    lines += [
        f"# The arms, from column {shown(draft.arm_column)}: each variant's `value` is its label",
        "# in the data when the label is not a key. The weights are the expected split",
        "# (any non-negative numbers; segab normalises them), used by the sample-ratio check.",
        "cells:",
    ]
    for cell in draft.cells:
        lines += _cell_lines(cell, unit_word)
    kinds = "binary: 0/1, true/false, yes/no; continuous: numbers"
    where = "outcome columns" if draft.mode == "units" else "events (with values: continuous)"
    lines += [
        f"# The metrics, from the {where} ({kinds}).",
        "metrics:",
    ]
    if draft.mode == "units":
        lines.insert(
            -1, "# Every such column is listed: delete attributes measured before the experiment."
        )
    lines += _metric_lines(draft)
    lines += _tail(draft, run, output)
    return "\n".join(lines) + "\n"


def _tail(draft: Draft, run: Invocation, output: str) -> list[str]:
    lines: list[str] = []
    if draft.breakdowns:
        lines.append("# Breakdowns: text columns with few values (post-hoc):")
        for name, n in draft.breakdowns:
            lines.append(f"#   {run.line(draft.key, '--by', name)}  # {n} values")
        if len(draft.breakdowns) > 1:  # every one of them in one call and one pass
            every = [a for name, _ in draft.breakdowns for a in ("--breakdown", name)]
            lines.append("# or all of them in one pass:")
            lines.append(f"#   {run.line(draft.key, *every)}")
    if draft.ignored:
        lines.append("# Not used:")
        lines += [f"#   {shown(name)}: {why}" for name, why in _first(draft.ignored, 20)]
    lines += [
        "# Next:",
        f"#   {printable(shlex.join(['segab', 'validate', output]))}",
        f"#   {run.line(draft.key)}",
        f"#   {run.line(draft.key, '--format', 'html', '--output', draft.key + '.html')}",
    ]
    return lines


def _first(items: Sequence[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    more = len(items) - n
    return list(items[:n]) + ([("...", f"{more} more columns")] if more > 0 else [])
