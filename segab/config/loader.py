"""Read experiment configs from YAML files (the I/O shell of the config).

``load_experiments(path)`` reads a file or every ``*.yaml``/``*.yml`` of a
directory, resolves references to the shared ``segments.yaml`` next to them,
validates everything and returns a :class:`Registry` keyed by experiment key.
Every problem of every file is collected into one :class:`ConfigError`.

Example:
    >>> reg = load_experiments("experiments")          # doctest: +SKIP
    >>> reg["checkout_cta"].name                       # doctest: +SKIP
    'Checkout call-to-action by segment'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from segab.config.checks import check_experiment, warn_experiment
from segab.config.models import Experiment
from segab.config.yaml_reader import read_yaml
from segab.errors import ConfigError, ConfigProblem, UnknownExperimentError

__all__ = [
    "SEGMENTS_FILE",
    "ConfigWarning",
    "Registry",
    "config_schema",
    "fingerprint",
    "load_experiment",
    "load_experiments",
    "parse_experiment",
]

SEGMENTS_FILE = "segments.yaml"
ConfigWarning = ConfigProblem


def _read_yaml(path: Path) -> Any:
    return read_yaml(path)


# names pydantic puts in an error's location for the member of a union that failed
_UNION_TAGS = frozenset(("SegmentDef", "SegmentRef", "float", "int", "str", "bool"))


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in _UNION_TAGS or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pydantic_problems(file: str, exc: ValidationError) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path = _loc(tuple(err["loc"]))
        if err["type"] == "missing":
            found = "nothing"
        elif err["type"] == "extra_forbidden":
            found = f"unknown field {path.rsplit('.', 1)[-1]!r}"
        else:
            found = _short(err.get("input"))
        expected = str(err["msg"]).removeprefix("Value error, ")
        key = f"{path}|{found}"
        if key in seen:
            continue
        seen.add(key)
        problems.append(ConfigProblem(file, path, found, expected))
    return problems


def _segment_library(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    lib_path = directory / SEGMENTS_FILE
    if not os.path.lexists(lib_path):
        return {}, {}
    file = str(lib_path)
    data = _read_yaml(lib_path)
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        found = _short(data)
        expected = "a mapping with 'segments' (key to {when: ...}) and 'groups'"
        raise ConfigError([ConfigProblem(file, "", found, expected)])
    segments, groups = data.get("segments") or {}, data.get("groups") or {}
    problems = []
    if not isinstance(segments, Mapping):
        found = _short(segments)
        problems.append(
            ConfigProblem(file, "segments", found, "a mapping of segment key to {when: ...}")
        )
    if not isinstance(groups, Mapping):
        problems.append(
            ConfigProblem(file, "groups", _short(groups), "a mapping of group name to a list")
        )
    if problems:
        raise ConfigError(problems)
    return dict(segments), dict(groups)


def _resolve_refs(
    raw: dict[str, Any], library: Mapping[str, Any], groups: Mapping[str, Any]
) -> dict[str, Any]:
    segments = raw.get("segments")
    if isinstance(segments, list):
        resolved = []
        for item in segments:
            ref = item.get("ref") if isinstance(item, Mapping) and len(item) == 1 else None
            if isinstance(ref, str) and ref in library:
                body = library[ref]
                resolved.append(
                    {"key": ref, **(body if isinstance(body, Mapping) else {"when": body})}
                )
            else:
                resolved.append(item)
        raw = {**raw, "segments": resolved}
    own = raw.get("groups") or {}
    if groups and isinstance(own, Mapping):  # anything else is reported by the model
        raw = {**raw, "groups": {**groups, **own}}
    return raw


def parse_experiment(
    raw: Any,
    file: str = "<memory>",
    library: Mapping[str, Any] | None = None,
    groups: Mapping[str, Any] | None = None,
) -> Experiment:
    """Validate a raw config mapping into an :class:`Experiment`, or raise one ``ConfigError``.

    Example:
        >>> exp = parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})
        >>> exp.key
        'e'
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(
            [ConfigProblem(file, "", _short(raw), "a mapping with the experiment's fields")]
        )
    raw = _resolve_refs(dict(raw), library or {}, groups or {})
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(file, exc)) from None
    problems = check_experiment(exp)
    if problems:
        raise ConfigError([ConfigProblem(file, *p) for p in problems])
    exp._source = file
    return exp


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate one experiment file (with its directory's ``segments.yaml``).

    Example:
        >>> load_experiment("experiments/checkout_cta.yaml").key     # doctest: +SKIP
        'checkout_cta'
    """
    path = Path(path)
    return _load(path, *_segment_library(path.parent))


def _load(path: Path, library: Mapping[str, Any], groups: Mapping[str, Any]) -> Experiment:
    raw = _read_yaml(path)
    if raw is None:
        expected = "a mapping with the experiment's fields"
        raise ConfigError([ConfigProblem(str(path), "", "an empty document", expected)])
    return parse_experiment(raw, str(path), library, groups)


def _config_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        return [f for f in files if f.name != SEGMENTS_FILE]
    if not path.exists():
        raise ConfigError(
            [
                ConfigProblem(
                    str(path), "", "no such file or directory", "a config file or directory"
                )
            ]
        )
    return [path]


@dataclass(frozen=True)
class Registry(Mapping[str, Experiment]):
    """Experiments keyed by key, with the warnings found while loading them.

    Example:
        >>> Registry({}).keys() == set()
        True
    """

    experiments: dict[str, Experiment]
    warnings: tuple[ConfigWarning, ...] = field(default=())

    def __getitem__(self, key: str) -> Experiment:
        try:
            return self.experiments[key]
        except KeyError:
            known = ", ".join(sorted(self.experiments)) or "none"
            raise UnknownExperimentError(f"unknown experiment {key!r}; known: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.experiments)

    def __len__(self) -> int:
        return len(self.experiments)


def load_experiments(*paths: str | Path) -> Registry:
    """Load every experiment under ``paths`` (files or directories) into a :class:`Registry`.

    All problems of all files are raised together as one :class:`ConfigError`;
    duplicate experiment keys across files are problems too.

    Example:
        >>> reg = load_experiments("experiments")      # doctest: +SKIP
        >>> sorted(reg)                                # doctest: +SKIP
        ['checkout_cta', 'loyalty_offer', 'onboarding_messaging']
    """
    problems: list[ConfigProblem] = []
    warnings: list[ConfigWarning] = []
    experiments: dict[str, Experiment] = {}
    libraries: dict[Path, tuple[dict[str, Any], dict[str, Any]] | None] = {}
    for root in paths or ("experiments",):
        try:
            files = _config_files(Path(root))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for f in files:
            if f.parent not in libraries:  # each directory's segments.yaml is read once
                try:
                    libraries[f.parent] = _segment_library(f.parent)
                except ConfigError as exc:
                    libraries[f.parent] = None
                    problems.extend(exc.problems)
            library = libraries[f.parent]
            if library is None:
                continue
            try:
                exp = _load(f, *library)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if exp.key in experiments:
                first = experiments[exp.key].source
                problems.append(
                    ConfigProblem(
                        str(f), "key", repr(exp.key), f"a key not already used by {first}"
                    )
                )
                continue
            experiments[exp.key] = exp
            warnings.extend(ConfigProblem(str(f), *w) for w in warn_experiment(exp))
    if problems:
        raise ConfigError(problems)
    return Registry(experiments, tuple(warnings))


def config_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment config file, for editors.

    Example:
        >>> config_schema()["title"]
        'Experiment'
    """
    schema = Experiment.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def fingerprint(exp: Experiment) -> str:
    """SHA-256 of the canonical JSON of a config (sorted keys, no whitespace).

    Example:
        >>> len(fingerprint(parse_experiment({
        ...     "key": "e", "name": "E", "unit": "id",
        ...     "segments": [{"key": "all", "when": {}}],
        ...     "cells": [{"variants": [{"key": "a", "weight": 1.0}], "control": "a"}],
        ...     "metrics": {"primary": {"key": "m", "kind": "binary", "event": "x"}}})))
        64
    """
    canonical = json.dumps(exp.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
