"""Version strings for the ``$veq``/``$vgt``/... condition operators.

Versions follow GrowthBook's ``paddedVersionString`` ordering, implemented on
integers and strings (no floats): an optional leading ``v``, numeric core parts
separated by dots, an optional prerelease after the first ``-`` and optional
build metadata after ``+``, which is ignored.

- Core parts compare as integers; missing parts count as 0, so ``v1.2 == 1.2.0``.
- A prerelease sorts before the release: ``1.0.0-alpha < 1.0.0-beta < 1.0.0``.
- Prerelease identifiers are split on ``.`` and ``-`` (as GrowthBook does);
  numeric identifiers compare as integers and sort before alphanumeric ones,
  which compare by code point; a shorter list that is a prefix sorts first
  (``1.0.0-rc < 1.0.0-rc.1``).

Example:
    >>> compare_versions("1.0.0-beta", "1.0.0")
    -1
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, TypeAlias

from segab.errors import ConditionError, ConfigProblem

__all__ = ["VersionKey", "compare_versions", "is_version", "version_key"]

# (core parts without trailing zeros, (0, prerelease identifiers) or (1, ()) for a release)
VersionKey: TypeAlias = tuple[tuple[int, ...], tuple[int, tuple[tuple[int, int, str], ...]]]

_VERSION_RE = re.compile(
    r"[vV]?(?P<core>[0-9]+(?:\.[0-9]+)*)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?"
)
_PRE_SPLIT_RE = re.compile(r"[.-]")
_RELEASE: tuple[int, tuple[tuple[int, int, str], ...]] = (1, ())


@lru_cache(maxsize=4096)
def _parse(text: str) -> VersionKey | None:
    match = _VERSION_RE.fullmatch(text.strip())
    if match is None:
        return None
    core = [int(part) for part in match["core"].split(".")]
    while core and core[-1] == 0:
        core.pop()
    pre = match["pre"]
    if pre is None:
        return (tuple(core), _RELEASE)
    idents = tuple(
        (0, int(ident), "") if ident.isascii() and ident.isdigit() else (1, 0, ident)
        for ident in _PRE_SPLIT_RE.split(pre)
        if ident
    )
    return (tuple(core), (0, idents) if idents else _RELEASE)


def version_key(value: Any) -> VersionKey | None:
    """Return a sortable key for a version, or None if ``value`` is not a version.

    Strings are parsed; integers and integral floats are read as a major
    version (``2`` is ``2.0.0``), other floats through ``repr`` (``1.5`` is
    ``1.5.0``). Booleans and everything else are not versions.

    Example:
        >>> version_key("v1.2") == version_key("1.2.0+build.7")
        True
        >>> version_key("one") is None
        True
    """
    if isinstance(value, str):
        return _parse(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _parse(str(value)) if value >= 0 else None
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            return None
        return _parse(str(int(value)) if value.is_integer() else repr(value))
    return None


def is_version(value: Any) -> bool:
    """Whether ``value`` is a version string that the version operators accept.

    Example:
        >>> is_version("1.2.3-rc.1+abc"), is_version("1.x")
        (True, False)
    """
    return isinstance(value, str) and _parse(value) is not None


def compare_versions(a: str, b: str) -> int:
    """Compare two version strings: -1 if ``a < b``, 0 if equal, 1 if ``a > b``.

    Raises :class:`~segab.errors.ConditionError` if either is not a version.

    Example:
        >>> compare_versions("1.0.0-alpha", "1.0.0-beta"), compare_versions("v1.2", "1.2.0")
        (-1, 0)
        >>> compare_versions("1.10.0", "1.9.9")
        1
    """
    ka, kb = version_key(a), version_key(b)
    bad = [(name, v) for name, v, k in (("a", a, ka), ("b", b, kb)) if k is None]
    if ka is None or kb is None:
        raise ConditionError(
            [
                ConfigProblem("<condition>", name, repr(v), "a version such as 1.2.3-beta")
                for name, v in bad
            ]
        )
    return (ka > kb) - (ka < kb)
