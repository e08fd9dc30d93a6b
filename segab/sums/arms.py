"""Arms in the data and the config's variants: labels to keys, unknown arms counted.

A variant's label in the data is its ``value`` (any string: ``" Civic Duty"``,
``"No E-Mail"``), else its key; a key always matches too (the exposure log of
``segab assign`` holds keys). Matching is exact: a label that differs by a space
or by case is an unknown arm, never guessed. Unknown arms are kept out of the
comparisons and counted (``unknown_arms`` in ``data_quality``, each label with its
count in ``Aggregates.unknown_arms``). When none of the config's arms is in the
data, nothing could be compared: that is a :class:`~segab.errors.DataError` that
lists the labels found, with the near misses spelled out.

Example:
    >>> arm_keys([("control", None), ("no_email", "No E-Mail")])["No E-Mail"]
    'no_email'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from segab.config.models import Experiment
from segab.errors import DataError
from segab.printable import printable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["arm_keys", "experiment_arm_keys", "match_arms", "near_miss"]

_SHOWN = 20  # labels listed in an error


def arm_keys(variants: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Label (and key) to key, for ``(key, value)`` pairs.

    Example:
        >>> sorted(arm_keys([("a", None), ("b", " B arm")]).items())
        [(' B arm', 'b'), ('a', 'a'), ('b', 'b')]
    """
    out: dict[str, str] = {}
    for key, value in variants:
        out.setdefault(key, key)
        if value is not None:
            out[value] = key
    return out


def experiment_arm_keys(experiment: Experiment) -> dict[str, str]:
    """:func:`arm_keys` over every cell's variants.

    Example:
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1, "value": "Arm A"}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> experiment_arm_keys(exp)
        {'a': 'a', 'Arm A': 'a'}
    """
    return arm_keys((v.key, v.value) for c in experiment.cells for v in c.variants)


def near_miss(found: str, wanted: Iterable[str]) -> str | None:
    """Why ``found`` is not one of ``wanted`` when it nearly is, in words; else None.

    Example:
        >>> near_miss(" Control", ["Control", "Treatment"])
        "' Control' differs from 'Control' by a leading space"
        >>> near_miss("No E-Mail", ["No-E-Mail"])
        "'No E-Mail' is close to 'No-E-Mail'"
        >>> near_miss("zzz", ["Control"]) is None
        True
    """
    wanted = list(wanted)
    for w in wanted:
        if found.lstrip() == w and found != w:
            return f"{printable(repr(found))} differs from {printable(repr(w))} by a leading space"
        if found.rstrip() == w and found != w:
            return f"{printable(repr(found))} differs from {printable(repr(w))} by a trailing space"
        if found.strip() == w.strip() and found != w:
            return f"{printable(repr(found))} differs from {printable(repr(w))} in spaces"
        if found.casefold() == w.casefold() and found != w:
            return f"{printable(repr(found))} differs from {printable(repr(w))} in case"
    close = difflib.get_close_matches(found, wanted, n=1, cutoff=0.75)
    if close:
        return f"{printable(repr(found))} is close to {printable(repr(close[0]))}"
    return None


def match_arms(
    frames: Mapping[str, pd.DataFrame], experiment: Experiment, count: str, *, source: str
) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Replace labels by keys in each frame's ``variant`` column; keep unknown arms out.

    ``frames`` holds per-cell frames; the first is the one whose ``count`` column
    counts units per arm. Returns the frames without unknown arms and the unknown
    labels with their unit counts (largest first). Raises
    :class:`~segab.errors.DataError` when the data has arms and none is the config's,
    or when arms are unknown and no control is among the known ones (nothing could be
    compared: a mislabelled control).

    Example:
        >>> import pandas as pd
        >>> from segab.config import parse_experiment
        >>> exp = parse_experiment({"key": "e", "name": "E", "unit": "id",
        ...     "cells": [{"variants": [{"key": "a", "weight": 1},
        ...                             {"key": "b", "weight": 1, "value": "B arm"}],
        ...                "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "column": "y"}}})
        >>> wide = pd.DataFrame({"variant": ["a", "B arm", "c"], "n": [5, 6, 2]})
        >>> out, unknown = match_arms({"wide": wide}, exp, "n", source="units")
        >>> out["wide"]["variant"].tolist(), unknown
        (['a', 'b'], {'c': 2})
        >>> try:
        ...     match_arms({"wide": wide[wide.variant == "c"]}, exp, "n", source="units")
        ... except DataError as exc:
        ...     print(exc)
        units: none of the config's arms ('a', 'B arm') is in the data; found 'c' (2 units)
    """
    keys = experiment_arm_keys(experiment)
    first = next(iter(frames.values()))
    counts = first.groupby("variant", dropna=True, sort=False)[count].sum()
    unknown = {str(v): int(n) for v, n in counts.items() if v not in keys}
    unknown = dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))
    if unknown and len(unknown) == len(counts):
        raise DataError(_none_known(experiment, unknown, source))
    controls = {c.control for c in experiment.cells}
    if unknown and not controls & {keys[v] for v in counts.index if v in keys}:
        raise DataError(_no_control(experiment, counts, unknown, source))
    out = {}
    for name, frame in frames.items():
        kept = frame[frame["variant"].isin(list(keys))].copy()
        kept["variant"] = kept["variant"].map(keys)
        out[name] = kept.reset_index(drop=True)
    return out, unknown


def _no_control(
    experiment: Experiment, counts: pd.Series, unknown: Mapping[str, int], source: str
) -> str:
    labels = [v.label for c in experiment.cells for v in c.variants if v.key == c.control]
    wanted = ", ".join(printable(repr(x)) for x in dict.fromkeys(labels))
    found = ", ".join(
        f"{printable(repr(str(label)))} ({int(n)} units)" for label, n in counts.items()
    )
    message = f"{source}: no control arm ({wanted}) is in the data; found {found}"
    hints = [h for label in unknown if (h := near_miss(label, labels)) is not None]
    if hints:
        message += "; " + "; ".join(hints[:_SHOWN])
    return message


def _none_known(experiment: Experiment, unknown: Mapping[str, int], source: str) -> str:
    labels = list(dict.fromkeys(v.label for c in experiment.cells for v in c.variants))
    wanted = ", ".join(printable(repr(x)) for x in labels)
    found = ", ".join(
        f"{printable(repr(label))} ({n} units)" for label, n in list(unknown.items())[:_SHOWN]
    )
    more = len(unknown) - _SHOWN
    if more > 0:
        found += f" and {more} more"
    hints = [h for label in unknown if (h := near_miss(label, labels)) is not None]
    message = f"{source}: none of the config's arms ({wanted}) is in the data; found {found}"
    if hints:
        message += "; " + "; ".join(hints[:_SHOWN])
        message += " (set the variant's value: to the label in the data, or fix the data)"
    return message
