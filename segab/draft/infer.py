"""From a profile to a draft experiment: arms and control, the split, the unit, the metrics.

Pure functions on plain values (:mod:`segab.draft.profile` measures; this module decides):

- :func:`arm_keys`: an arm's label as it is in the data becomes a variant key
  (``" Civic Duty"`` -> ``civic_duty``), unique, the label itself when it is a key already;
- :func:`find_control`: ``--control``, else the one label that reads like a control
  (``control``, ``ctrl``, ``baseline``, ``none``, ``holdout``, ``No ...``; any case,
  spaces around ignored), else a :class:`DataError` listing the labels;
- :func:`choose_split`: the observed counts rounded to a plausible design: the equal
  split, then common splits (90/10, 80/20, 2:1:1, ...), the first whose chi-square
  goodness of fit has ``p > 0.001`` (:func:`segab.stats.srm.srm_test`, the check
  ``segab analyze`` runs, so a design chosen here does not raise a sample-ratio
  alarm); else the observed shares in whole percents;
- :func:`classify_columns`: outcome columns (binary: only 0/1, true/false, yes/no;
  continuous: numbers, or numbers but for a few text values such as ``N/A``, which
  ``segab analyze`` counts and leaves out), the unit id column and candidate
  breakdowns (text with few values); a column that is 0/1/yes/no but for a few
  values is named with them, not drafted; a column of times is named as the
  ``analysis.time_column`` that keeps each repeated unit's earliest row; a column of
  numbers written with a decimal comma (``12,5``) is named as such, not drafted.

Example:
    >>> arm_keys([" Control", " Civic Duty", "gate_30"])
    ['control', 'civic_duty', 'gate_30']
    >>> find_control(["Mens E-Mail", "No E-Mail"], None)
    'No E-Mail'
    >>> choose_split([5012, 4988]).ratios
    (1, 1)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from segab.draft.profile import EXAMPLES, MAX_LEVELS, ColumnProfile, TableProfile
from segab.errors import DataError

__all__ = [
    "CONTROL_WORDS",
    "DECIMAL_COMMA",
    "ID_NAME",
    "NEAR_MISS",
    "Columns",
    "Outcome",
    "Split",
    "arm_keys",
    "choose_split",
    "classify_columns",
    "find_control",
    "looks_like_control",
    "slug",
]

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
CONTROL_WORDS = ("control", "ctrl", "baseline", "none", "holdout", "hold out", "control group")
ID_NAME = re.compile(r"^(id|unit|uid|uuid|key)$|[_.\- ](id|uuid|key)$|^[a-z]+id$", re.I)
SRM_P = 0.001  # a design is plausible when its goodness of fit has p above this
# a column is an outcome "but for a few values" when those are at most this share of its
# present values (N/A in a column of amounts, a stray "Y" among true/false)
NEAR_MISS = 0.05
# a number written with a decimal comma (12,5; 1.234,5): text to segab
DECIMAL_COMMA = re.compile(r"^\s*[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+\s*$")
# shares of the one large arm (the others share the rest equally), tried after the equal split
_LEAD_SHARES = (0.5, 0.9, 0.8, 0.95, 0.99, 0.7, 0.6, 0.75, 0.85, 0.98, 0.4, 0.3, 0.2, 0.1, 0.05)


def slug(label: str) -> str:
    """A label as a key: trimmed, lower case, runs of other characters as ``_``.

    Example:
        >>> slug(" Civic Duty"), slug("No E-Mail"), slug("50% off!"), slug("***")
        ('civic_duty', 'no_e-mail', '50_off', '')
    """
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", label.strip().lower())
    return re.sub(r"^[^A-Za-z0-9]+|[_.\-]+$", "", text)[:64].rstrip("_.-")


def arm_keys(labels: Sequence[str], prefix: str = "arm") -> list[str]:
    """One unique variant key per label: the label when it is a key, else its :func:`slug`.

    A label that slugs to nothing becomes ``arm``; a repeated key gets ``_2``, ``_3``.

    Example:
        >>> arm_keys(["A", "a", "!!", "Yes"])
        ['A', 'a', 'arm', 'Yes']
        >>> arm_keys(["x y", "x-y", "x_y"])
        ['x_y_2', 'x-y', 'x_y']
    """
    fixed = [label if KEY_PATTERN.match(label) and len(label) <= 64 else None for label in labels]
    used = {k for k in fixed if k is not None}
    keys = []
    for label, key in zip(labels, fixed, strict=True):
        if key is None:
            base = slug(label) or prefix
            key, i = base, 1
            while key in used:
                i += 1
                key = f"{base[:60]}_{i}"
            used.add(key)
        keys.append(key)
    return keys


def looks_like_control(label: str) -> bool:
    """Whether a label reads like a control arm (any case, spaces and ``_``/``-`` alike).

    Example:
        >>> [looks_like_control(x) for x in (" Control", "No E-Mail", "no_offer", "gate_30")]
        [True, True, True, False]
    """
    words = re.sub(r"[\s_\-]+", " ", label.strip().lower())
    return words in CONTROL_WORDS or words.startswith("no ")


def find_control(labels: Sequence[str], given: str | None) -> str:
    """The control's label: ``given`` (exact, else the one label equal to it trimmed and
    in any case), else the one label that :func:`looks_like_control`.

    Example:
        >>> find_control(["gate_30", "gate_40"], " GATE_30")
        'gate_30'
        >>> find_control(["gate_30", "gate_40"], None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        segab.errors.DataError: arms: none of the labels ['gate_30', 'gate_40'] reads like ...
    """
    found = list(labels)
    if given is not None:
        if given in found:
            return given
        close = [x for x in found if x.strip().lower() == given.strip().lower()]
        if len(close) == 1:
            return close[0]
        raise DataError(
            f"--control: found {given!r}, expected one of the arm labels {found}"
            + (f" ({len(close)} match it in another case)" if close else "")
        )
    like = [x for x in found if looks_like_control(x)]
    if len(like) == 1:
        return like[0]
    example = f"--control {_shell_word(found[0])}" if found else "--control LABEL"
    if like:
        return _raise(f"arms: {like} all read like a control; choose one with --control LABEL")
    return _raise(
        f"arms: none of the labels {found} reads like a control (control, ctrl, baseline, "
        f"none, holdout, No ...); choose it with --control LABEL, e.g. {example}"
    )


def _raise(message: str) -> str:
    raise DataError(message)


def _shell_word(text: str) -> str:
    return (
        text if re.fullmatch(r"[A-Za-z0-9_.\-]+", text) else "'" + text.replace("'", "'\\''") + "'"
    )


@dataclass(frozen=True)
class Split:
    """A design's weights as small whole numbers (``ratios``), how it was found, its fit.

    ``how`` is ``equal``, ``design`` (a common split within sampling noise) or
    ``observed`` (the observed shares in whole percents); ``p_value`` the chi-square
    goodness of fit of the counts against it.

    Example:
        >>> Split((9, 1), "design", 0.4).percents
        (90.0, 10.0)
    """

    ratios: tuple[int, ...]
    how: str
    p_value: float

    @property
    def percents(self) -> tuple[float, ...]:
        """The weights as percents of their sum.

        Example:
            >>> Split((1, 1, 1), "equal", 1.0).percents
            (33.33, 33.33, 33.33)
        """
        total = sum(self.ratios)
        return tuple(round(100.0 * r / total, 2) for r in self.ratios)


def _reduced(weights: Sequence[int]) -> tuple[int, ...]:
    g = reduce(math.gcd, weights, 0) or 1
    return tuple(w // g for w in weights)


def _candidates(k: int) -> list[tuple[int, ...]]:
    """Common designs for ``k`` arms as whole-percent weights (or ratios), best guess first."""
    out: list[tuple[int, ...]] = []
    for m in range(2, 10):  # one arm m times each other (2:1:1, 5:1:1:1:1)
        for lead in range(k):
            out.append(tuple(m if i == lead else 1 for i in range(k)))
    for share in _LEAD_SHARES:
        rest = (1.0 - share) / (k - 1) if k > 1 else 0.0
        for lead in range(k):
            w = [rest] * k
            w[lead] = share
            scaled = [round(x * 10000) for x in w]
            if sum(scaled) == 10000:
                out.append(_reduced(scaled))
    return list(dict.fromkeys(out))


def _fit(counts: Sequence[int], weights: Sequence[int]) -> float:
    from segab.stats.srm import srm_test

    return srm_test([int(c) for c in counts], [float(w) for w in weights], SRM_P).p_value


def _whole_percents(counts: Sequence[int]) -> tuple[int, ...]:
    """Shares in whole percents summing to 100 (largest remainders), an arm with units >= 1."""
    total = sum(counts)
    raw = [100.0 * c / total for c in counts]
    floors = [max(math.floor(x), 1 if c > 0 else 0) for x, c in zip(raw, counts, strict=True)]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=True)
    i = 0
    while sum(floors) < 100:
        floors[order[i % len(order)]] += 1
        i += 1
    while sum(floors) > 100:
        j = max(range(len(floors)), key=lambda m: floors[m] - raw[m])
        floors[j] -= 1
    return tuple(floors)


def choose_split(counts: Sequence[int]) -> Split:
    """The split the observed ``counts`` most plausibly came from (see the module's description).

    Example:
        >>> choose_split([9030, 970]).ratios, choose_split([5000, 2480, 2520]).ratios
        ((9, 1), (2, 1, 1))
        >>> s = choose_split([6000, 4000, 1000])
        >>> s.ratios, s.how
        ((55, 36, 9), 'observed')
    """
    if len(counts) == 0 or sum(counts) <= 0:
        raise DataError(f"arms: found counts {list(counts)}, expected at least one unit")
    if len(counts) == 1:
        return Split((1,), "equal", 1.0)
    equal = (1,) * len(counts)
    p = _fit(counts, equal)
    if p > SRM_P:
        return Split(equal, "equal", p)
    fits = [(p, w) for w in _candidates(len(counts)) if (p := _fit(counts, w)) > SRM_P]
    if fits:
        p, w = max(fits, key=lambda f: f[0])
        return Split(_reduced(w), "design", p)
    w = _reduced(_whole_percents(counts))
    return Split(w, "observed", _fit(counts, w))


@dataclass(frozen=True)
class Outcome:
    """An outcome column as a metric: its key, kind and a note on its values.

    Example:
        >>> Outcome("spend", "spend", "continuous", "numbers from 0 to 499").kind
        'continuous'
    """

    column: str
    key: str
    kind: str
    note: str


@dataclass(frozen=True)
class Columns:
    """How the columns of a unit table were read.

    ``unit``: the id column (None without one) and ``unit_note`` on its values;
    ``outcomes``: metrics, primary first; ``breakdowns``: text columns with few
    values, with their value counts; ``ignored``: other columns, with the reason.

    Example:
        >>> Columns(None, "", (), (), ()).outcomes
        ()
    """

    unit: str | None
    unit_note: str
    outcomes: tuple[Outcome, ...]
    breakdowns: tuple[tuple[str, int], ...]
    ignored: tuple[tuple[str, str], ...]


def _unit_column(profile: TableProfile, given: str | None, variant: str) -> tuple[str | None, str]:
    if given is not None:
        col = profile.column(given)
    else:
        named = [
            c
            for c in profile.columns
            if c.name != variant and ID_NAME.search(c.name) and c.distinct * 2 >= c.present > 0
        ]
        if not named:
            return None, "no id column found (named like id, user_id, ...): rows are units"
        col = max(named, key=lambda c: (c.distinct == c.present, c.distinct))
    repeated = col.present - col.distinct
    note = f"{col.distinct:,} distinct ids in {profile.rows:,} rows"
    if repeated > 0:
        note += (
            f"; {repeated:,} repeated: segab analyze counts a repeated unit once when its "
            "rows agree, not at all when they differ"
        )
    return col.name, note


def _number_note(c: ColumnProfile) -> str:
    note = f"numbers from {c.minimum:g} to {c.maximum:g}"
    note += f"; {c.unusable:,} NaN/infinite (rows kept out)" if c.unusable else ""
    if c.not_number:
        verb = "is not a number" if c.not_number == 1 else "are not numbers"
        note += (
            f"; {_values(c.not_number, c.examples)} {verb}: segab analyze leaves those rows "
            "out of every metric, counted in bad_values and located in data_issues"
        )
    return note


def _values(n: int, examples: Sequence[str]) -> str:
    """``3 values ('N/A', '-')``: a count and the examples, quoted."""
    more = ", ..." if len(examples) >= EXAMPLES and n > len(examples) else ""
    shown = f" ({', '.join(repr(e) for e in examples)}{more})"
    return f"{n:,} value{'s' if n != 1 else ''}" + (shown if examples else "")


def _near(bad: int, c: ColumnProfile) -> bool:
    """Some values, but at most :data:`NEAR_MISS` of the present ones, are off."""
    return 0 < bad <= NEAR_MISS * c.present


def _near_binary_note(c: ColumnProfile) -> str:
    return (
        f"0/1, true/false or yes/no but for {_values(c.not_binary, c.examples)}: fix those "
        "values, then add it as a binary metric (segab analyze stops at a value it cannot "
        "read as binary, and says where)"
    )


def _near_number_reason(c: ColumnProfile) -> str:
    share = c.not_number / c.present
    return (
        f"numbers but for {_values(c.not_number, c.examples)}, {share:.0%} of its values: "
        "too many to leave out; read them as missing or fix them"
    )


def _binary_note(c: ColumnProfile) -> str:
    if c.levels is None:
        return "binary"
    shown = ", ".join(f"{v}: {n:,}" for v, n in c.levels if v is not None)
    missing = sum(n for v, n in c.levels if v is None)
    return shown + (f", missing: {missing:,}" if missing else "")


def _decimal_comma_reason(c: ColumnProfile) -> str:
    shown = ", ".join(repr(e) for e in c.examples)
    return (
        f"numbers with a decimal comma ({shown}, ...): segab reads numbers with a decimal "
        "point only; export the file with '.' as the decimal separator, then draft again"
    )


def _time_reason(c: ColumnProfile) -> str:
    return (
        f"times ({c.sql_type}, {c.distinct:,} distinct): with repeated units, "
        f"`analysis: {{dedupe: first, time_column: {c.name}}}` keeps each unit's earliest row"
    )


def _numbers(c: ColumnProfile) -> bool:
    """Numbers, all of them or but for a few text values (:data:`NEAR_MISS`)."""
    return c.is_number or (c.minimum is not None and _near(c.not_number, c))


def classify_columns(
    profile: TableProfile,
    variant: str,
    *,
    unit: str | None = None,
    primary: str | None = None,
    max_levels: int = MAX_LEVELS,
) -> Columns:
    """Read the columns of a unit table: the unit, the outcomes (primary first), breakdowns.

    Binary: present values all 0/1, true/false or yes/no (any case); continuous:
    numbers with at least two distinct values; breakdowns: other columns with at most
    ``max_levels`` values. The primary metric is ``primary``, else a column named like
    a conversion, else the first binary, else the first outcome.

    Example:
        >>> from segab.draft.profile import ColumnProfile as C
        >>> p = TableProfile("t", 4, (
        ...     C("user_id", "varchar", 4, 4, 4, 4, 0, None, None, None),
        ...     C("arm", "varchar", 4, 2, 4, 4, 0, None, None, (("a", 2), ("b", 2))),
        ...     C("spend", "double", 4, 3, 2, 0, 0, 0.0, 9.5, None),
        ...     C("bought", "varchar", 4, 2, 0, 4, 0, None, None, (("No", 3), ("Yes", 1))),
        ...     C("city", "varchar", 4, 2, 4, 4, 0, None, None, (("x", 3), ("y", 1)))))
        >>> cols = classify_columns(p, "arm")
        >>> cols.unit, [(o.key, o.kind) for o in cols.outcomes], cols.breakdowns
        ('user_id', [('bought', 'binary'), ('spend', 'continuous')], (('city', 2),))
    """
    profile.column(variant)  # a located error when absent
    unit_col, unit_note = _unit_column(profile, unit, variant)
    outcomes: list[Outcome] = []
    breakdowns: list[tuple[str, int]] = []
    ignored: list[tuple[str, str]] = []
    for c in profile.columns:
        if c.name in (variant, unit_col):
            continue
        if c.present == 0:
            ignored.append((c.name, "no values"))
        elif c.is_binary and c.distinct >= 1:
            outcomes.append(Outcome(c.name, "", "binary", _binary_note(c)))
        elif _numbers(c) and c.minimum != c.maximum:
            outcomes.append(Outcome(c.name, "", "continuous", _number_note(c)))
        elif _numbers(c):
            ignored.append((c.name, f"one value only ({c.minimum:g})"))
        elif _near(c.not_binary, c) and c.examples:
            ignored.append((c.name, _near_binary_note(c)))
        elif c.minimum is not None and c.minimum != c.maximum and c.not_number < c.present:
            ignored.append((c.name, _near_number_reason(c)))
        elif c.examples and all(DECIMAL_COMMA.match(e) for e in c.examples):
            ignored.append((c.name, _decimal_comma_reason(c)))
        elif c.sql_type.lower().startswith("time") or (
            c.sql_type.lower().startswith("date") and c.distinct > max_levels
        ):  # times (a date with few values may be a breakdown: the day)
            ignored.append((c.name, _time_reason(c)))
        elif c.levels is not None and c.distinct <= max_levels:
            breakdowns.append((c.name, c.distinct))
        else:
            ignored.append((c.name, f"text with {c.distinct:,} distinct values"))
    if primary is not None:
        profile.column(primary)
        if primary not in [o.column for o in outcomes]:
            names = [o.column for o in outcomes]
            raise DataError(
                f"--primary: column {primary!r} is not an outcome (0/1, true/false, yes/no or "
                f"numbers); the outcome columns are {names}"
            )
    if not outcomes:
        near = "".join(
            f"; {name!r}: {why}" for name, why in ignored if why.startswith(("0/1", "numbers"))
        )
        raise DataError(
            f"{profile.label}: no outcome column (0/1, true/false, yes/no or numbers) besides "
            f"the arm column {variant!r}; it has {list(profile.names)}{near}"
        )
    lead = primary or next(
        (o.column for o in outcomes if re.search(r"conver|purchase|bought|order", o.column, re.I)),
        next((o.column for o in outcomes if o.kind == "binary"), outcomes[0].column),
    )
    ordered = sorted(outcomes, key=lambda o: o.column != lead)
    keys = arm_keys([o.column for o in ordered], prefix="metric")
    final = tuple(Outcome(o.column, k, o.kind, o.note) for o, k in zip(ordered, keys, strict=True))
    return Columns(unit_col, unit_note, final, tuple(breakdowns), tuple(ignored))
