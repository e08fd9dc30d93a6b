"""A draft experiment from a profile: arms, cells, split, unit and metrics as one value.

:func:`draft_units` reads a unit table's profile, :func:`draft_event_log` an event
log's; both return a :class:`Draft` that :func:`segab.draft.render.render_draft`
writes as a commented YAML config. Pure: the profiles are measured elsewhere
(:mod:`segab.draft.profile`).

Example:
    >>> from segab.draft.profile import ColumnProfile as C, TableProfile
    >>> p = TableProfile("t.csv", 200, (
    ...     C("arm", "varchar", 200, 2, 200, 200, 0, None, None, (("control", 99), ("new", 101))),
    ...     C("y", "bigint", 200, 2, 0, 0, 0, 0.0, 1.0, (("0", 150), ("1", 50)))))
    >>> d = draft_units("demo", p, "arm")
    >>> d.cells[0].control, [a.key for a in d.cells[0].arms], d.cells[0].split.ratios
    ('control', ['control', 'new'], (1, 1))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from segab.draft.events import EventLogProfile
from segab.draft.infer import (
    ID_NAME,
    Outcome,
    Split,
    arm_keys,
    choose_split,
    classify_columns,
    find_control,
)
from segab.draft.profile import TableProfile
from segab.errors import DataError

__all__ = ["MAX_ARMS", "Arm", "Draft", "DraftCell", "draft_event_log", "draft_units"]

MAX_ARMS = 64  # a config's variants per cell
MAX_EVENT_METRICS = 64


@dataclass(frozen=True)
class Arm:
    """An arm: its label in the data, its variant key and its count (units or exposures).

    Example:
        >>> Arm(" Control", "control", 10).label
        ' Control'
    """

    label: str
    key: str
    count: int


@dataclass(frozen=True)
class DraftCell:
    """One cell: its segment and stage (``*`` for all), arms, control key and split.

    Example:
        >>> DraftCell("*", (Arm("a", "a", 1),), "a", Split((1,), "equal", 1.0)).stage
        '*'
    """

    segment: str
    arms: tuple[Arm, ...]
    control: str
    split: Split
    stage: str = "*"


@dataclass(frozen=True)
class Draft:
    """Everything the YAML of a drafted config says, and the commands that use it.

    ``mode`` is ``units`` (metrics read ``column:``) or ``events`` (``event:``);
    ``segments`` and ``stages`` are empty when not in the data (one segment ``all``,
    the default stages); ``arm_column`` the column holding the labels.

    Example:
        >>> Draft("k", "units", "t.csv", 0, "arm", None, "", (), (), None, (), (), (), ()).mode
        'units'
    """

    key: str
    mode: str
    source: str
    rows: int
    arm_column: str
    unit: str | None
    unit_note: str
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    iteration: int | None
    cells: tuple[DraftCell, ...]
    metrics: tuple[Outcome, ...]
    breakdowns: tuple[tuple[str, int], ...]
    ignored: tuple[tuple[str, str], ...]
    columns: tuple[str, ...] = ()


def _arms(labels_counts: dict[str, int], column: str, where: str) -> list[Arm]:
    if not labels_counts:
        raise DataError(f"{where}: no arm labels in column {column!r}; expected at least two arms")
    if len(labels_counts) > MAX_ARMS:
        shown = sorted(labels_counts)[:10]
        raise DataError(
            f"{where}: column {column!r} has {len(labels_counts):,} distinct values (e.g. "
            f"{shown}); expected the arms of an experiment (at most {MAX_ARMS}); is it the arm "
            "column? (--variant-column)"
        )
    labels = sorted(labels_counts)
    keys = arm_keys(labels)
    return [Arm(lab, k, labels_counts[lab]) for lab, k in zip(labels, keys, strict=True)]


def _cell(segment: str, arms: list[Arm], control_label: str, stage: str = "*") -> DraftCell:
    control = next(a for a in arms if a.label == control_label)
    ordered = [control, *(a for a in arms if a is not control)]
    split = choose_split([a.count for a in ordered])
    return DraftCell(segment, tuple(ordered), control.key, split, stage)


def draft_units(
    key: str,
    profile: TableProfile,
    variant_column: str,
    *,
    control: str | None = None,
    unit: str | None = None,
    primary: str | None = None,
) -> Draft:
    """Draft the config of a one-row-per-unit table (arms, control, split, unit, metrics).

    Rows without an arm label are left out of the counts (``segab analyze`` counts
    them in ``missing_variant``).

    Example:
        >>> from segab.draft.profile import ColumnProfile as C, TableProfile
        >>> p = TableProfile("t.csv", 3, (
        ...     C("arm", "varchar", 3, 2, 3, 3, 0, None, None, (("A", 2), ("B", 1))),
        ...     C("y", "bigint", 3, 2, 0, 0, 0, 0.0, 1.0, None)))
        >>> draft_units("demo", p, "arm")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        segab.errors.DataError: arms: none of the labels ['A', 'B'] reads like a control ...
    """
    column = profile.column(variant_column)
    counts = {v: n for v, n in (column.levels or ()) if v is not None and v.strip() != ""}
    if column.levels is None:
        counts = {}
    arms = _arms(counts, variant_column, profile.label)
    label = find_control([a.label for a in arms], control)
    cols = classify_columns(profile, variant_column, unit=unit, primary=primary)
    return Draft(
        key=key,
        mode="units",
        source=profile.label,
        rows=profile.rows,
        arm_column=variant_column,
        unit=cols.unit,
        unit_note=cols.unit_note,
        segments=(),
        stages=(),
        iteration=None,
        cells=(_cell("*", arms, label),),
        metrics=cols.outcomes,
        breakdowns=cols.breakdowns,
        ignored=cols.ignored,
        columns=profile.names,
    )


def _event_metrics(profile: EventLogProfile, primary: str | None) -> tuple[Outcome, ...]:
    events = list(profile.events[:MAX_EVENT_METRICS])
    if not events:
        raise DataError("events: no event rows; expected events with an 'event' name")
    names = [e.name for e in events]
    if primary is not None and primary not in names:
        raise DataError(f"--primary: found {primary!r}, expected one of the events {names}")
    binary = [e.name for e in events if not e.has_values]
    lead = primary or next(
        (n for n in names if re.search(r"conver|purchase|order|signup", n, re.I)),
        binary[0] if binary else names[0],
    )
    ordered = sorted(events, key=lambda e: e.name != lead)
    keys = arm_keys([e.name for e in ordered], prefix="metric")
    out = []
    for e, k in zip(ordered, keys, strict=True):
        if e.has_values:
            note = f"{e.rows:,} rows, values from {e.minimum:g} to {e.maximum:g}"
            out.append(Outcome(e.name, k, "continuous", note))
        else:
            out.append(Outcome(e.name, k, "binary", f"{e.rows:,} rows, no values"))
    return tuple(out)


def _control_of(labels: list[str], given: Sequence[str], where: str) -> str:
    """The control of one cell: the one given label among its arms, else by name."""
    present = [g for g in given if g in labels]
    if len(present) == 1:
        return present[0]
    if len(present) > 1:
        raise DataError(f"{where}: the arms {labels} hold several --control labels {present}")
    try:
        return find_control(labels, None)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _grouped(
    per_cell: dict[tuple[str, str], dict[str, int]],
) -> dict[tuple[str, str], dict[str, int]]:
    """Collapse (segment, stage) groups whose arm sets agree: all, per stage or per segment."""

    def merge(
        key_of: Callable[[str, str], tuple[str, str]],
    ) -> dict[tuple[str, str], dict[str, int]]:
        out: dict[tuple[str, str], dict[str, int]] = {}
        for (seg, st), arms in sorted(per_cell.items()):
            target = out.setdefault(key_of(seg, st), {})
            for label, n in arms.items():
                target[label] = target.get(label, 0) + n
        return out

    def uniform(key_of: Callable[[str, str], tuple[str, str]]) -> bool:
        sets: dict[tuple[str, str], set[frozenset[str]]] = {}
        for (seg, st), arms in per_cell.items():
            sets.setdefault(key_of(seg, st), set()).add(frozenset(arms))
        return all(len(v) == 1 for v in sets.values())

    for key_of in (
        lambda seg, st: ("*", "*"),
        lambda seg, st: ("*", st),
        lambda seg, st: (seg, "*"),
    ):
        if uniform(key_of):
            return merge(key_of)
    return merge(lambda seg, st: (seg, st))


def draft_event_log(
    key: str,
    profile: EventLogProfile,
    variant_column: str,
    *,
    control: Sequence[str] = (),
    primary: str | None = None,
    unit: str | None = None,
) -> Draft:
    """Draft the config of an event log: arms and cells from the exposures, metrics from events.

    Segments and stages are those the exposures name (a segment's rule is not in
    the data: each is written with an empty ``when``). Cells are as coarse as the
    arms allow: one for all when every (segment, stage) shows the same arms, else
    one per stage, per segment, or per (segment, stage). Each cell's control is the
    one ``control`` label among its arms, else the one that reads like a control.
    An event whose rows carry values (other than 1) is continuous, one without is binary.

    Example:
        >>> from segab.draft.events import EventLogProfile, EventProfile
        >>> p = EventLogProfile("x.csv", {(None, "buy", "control"): 500, (None, "buy", "b"): 510},
        ...     {}, ("unit_id", "stage", "variant"), (EventProfile("purchase", 90, 0, None, None),))
        >>> d = draft_event_log("demo", p, "variant")
        >>> d.stages, d.cells[0].split.ratios, d.metrics[0].kind
        (('buy',), (1, 1), 'binary')
    """
    if profile.experiments and key not in profile.experiments:
        raise DataError(
            f"{profile.label}: the exposures' experiment column holds {sorted(profile.experiments)}"
            f", not {key!r}; name the config after the experiment (segab init KEY)"
        )
    iteration = profile.experiments[key][1] if profile.experiments else None
    counts = profile.variant_counts()
    by_label = {a.label: a for a in _arms(counts, variant_column, profile.label)}
    per_cell: dict[tuple[str, str], dict[str, int]] = {}
    stage_rows: dict[str, int] = {}
    for (segment, stage, variant), n in profile.cells.items():
        if variant is None:
            continue
        arms = per_cell.setdefault((segment or "all", stage or "*"), {})
        arms[variant] = arms.get(variant, 0) + n
        if stage is not None:
            stage_rows[stage] = stage_rows.get(stage, 0) + n
    cells = []
    for (seg, st), found in _grouped(per_cell).items():
        where = "all exposures" if (seg, st) == ("*", "*") else f"cell ({seg}, {st})"
        label = _control_of(sorted(found), control, where)
        chosen = [Arm(lab, by_label[lab].key, n) for lab, n in sorted(found.items())]
        cells.append(_cell(seg, chosen, label, st))
    has_segments = any(s is not None for s, _, _ in profile.cells)
    return Draft(
        key=key,
        mode="events",
        source=profile.label,
        rows=sum(counts.values()),
        arm_column=variant_column,
        unit=unit or _event_unit(profile),
        unit_note="the unit id column of the events (the exposures may name theirs unit_id)",
        segments=tuple(sorted({s for s, _ in per_cell})) if has_segments else (),
        stages=tuple(sorted(stage_rows, key=lambda s: (-stage_rows[s], s))),
        iteration=iteration,
        cells=tuple(cells),
        metrics=_event_metrics(profile, primary),
        breakdowns=(),
        ignored=(),
    )


def _event_unit(profile: EventLogProfile) -> str | None:
    """The events' id column (the config's ``unit``; exposures fall back to ``unit_id``)."""
    named = [c for c in profile.event_columns if c not in ("event", "value", "timestamp")]
    both = [c for c in named if c in profile.exposure_columns]
    ids = [c for c in named if ID_NAME.search(c)]
    return next(iter(both + ids + named), None)
