"""Read the YAML of a config file with bounds: size, nesting, aliases, text and numbers.

A config file is untrusted input. It is read as at most :data:`MAX_CONFIG_BYTES`
bytes of a regular file (never a device, pipe or directory), decoded as strict
UTF-8 and parsed with libyaml's C parser when PyYAML has it (the pure-Python
parser otherwise, with the same results). The node tree is composed here, not
by PyYAML, so that it is bounded while it is read: at most :data:`MAX_DEPTH`
nested collections, :data:`MAX_VALUES` values in all and
:data:`MAX_ALIAS_VALUES` values repeated through aliases. Scalars follow
YAML 1.1 as PyYAML reads them, except where YAML 1.1 and 1.2 disagree:

- ``1e5``, ``1E5``, ``-.5``, ``2.5e3`` are numbers (YAML 1.2 floats); a literal
  that overflows a float is an error, not infinity;
- ``017``, ``1:30`` (octal and base 60 in YAML 1.1, text or 17 elsewhere) and
  ``yes``/``no``/``on``/``off`` (booleans in 1.1, text in 1.2: ``country: NO``)
  are errors that ask for quotes or an unambiguous spelling;
- duplicate keys are errors; ``<<`` merge keys work.

Every problem is a :class:`~segab.errors.ConfigError` with the file and the
line and column, never a traceback.

Example:
    >>> parse_yaml("a: 1e5\\nb: [x, -2.5e-3]\\n", "e.yaml")
    {'a': 100000.0, 'b': ['x', -0.0025]}
    >>> try:
    ...     parse_yaml("country: NO\\n", "e.yaml")
    ... except ConfigError as exc:
    ...     print(exc.problems[0].path)
    line 1, column 10
"""

from __future__ import annotations

import gc
import math
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml import events as ev
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from segab.errors import ConfigError, ConfigProblem

__all__ = [
    "FLOAT_12",
    "LOADERS",
    "MAX_ALIAS_VALUES",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "decode_config",
    "parse_yaml",
    "read_config_bytes",
    "read_yaml",
]

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 2_000_000
MAX_ALIAS_VALUES = 100_000

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_AMBIGUOUS_TAG = "tag:segab,2025:ambiguous"

# YAML 1.2 core floats; numbers YAML 1.1 already reads match earlier resolvers first
FLOAT_12 = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_AMBIGUOUS = re.compile(
    r"""^(?:[-+]?0[0-9_]+                              # 017: octal in 1.1, 17 in 1.2
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?   # 1:30: base 60 in 1.1
        |yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$""",
    re.X,
)
# the characters YAML forbids in a stream (PyYAML's Reader.NON_PRINTABLE)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Located(yaml.MarkedYAMLError):
    """A problem at a mark, with what was expected there."""

    def __init__(self, mark: Any, found: str, expected: str) -> None:
        super().__init__(problem=found, problem_mark=mark)
        self.expected = expected


# --------------------------------------------------------------------------- reading bytes


def read_config_bytes(path: str | Path, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a located ``ConfigError``.

    Devices (``/dev/zero``), pipes and directories are refused before any read,
    and a file is never read past ``limit`` bytes, whatever its size claims.

    Example:
        >>> try:
        ...     read_config_bytes("/dev/zero")
        ... except ConfigError as exc:
        ...     print(exc.problems[0].found)
        a character device
    """
    name = str(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        found = exc.strerror or type(exc).__name__
        raise ConfigError([ConfigProblem(name, "", found, "a readable file")]) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError([ConfigProblem(name, "", _file_kind(mode), "a regular file")])
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        found = exc.strerror or type(exc).__name__
        raise ConfigError([ConfigProblem(name, "", found, "a readable file")]) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(
            [
                ConfigProblem(
                    name, "", f"more than {limit:,} bytes", f"a config of at most {limit:,} bytes"
                )
            ]
        )
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def decode_config(data: bytes, file: str) -> str:
    """Decode a config as UTF-8 printable text, or raise a ``ConfigError`` at the first bad byte.

    Example:
        >>> try:
        ...     decode_config(b"key: a\\nname: caf\\xe9\\n", "e.yaml")
        ... except ConfigError as exc:
        ...     print(exc.problems[0])
        e.yaml: line 2, column 10 (byte 16): found byte 0xe9, expected UTF-8 text
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        where = f"{_where(good, len(good))} (byte {exc.start})"
        bad = " ".join(f"0x{b:02x}" for b in data[exc.start : exc.end])
        raise ConfigError([ConfigProblem(file, where, f"byte {bad}", "UTF-8 text")]) from None
    m = _NON_PRINTABLE.search(text)
    if m is not None:
        code = f"U+{ord(m.group()):04X}"
        expected = "printable text (tabs and newlines allowed; escape others in double quotes)"
        raise ConfigError(
            [ConfigProblem(file, _where(text, m.start()), f"control character {code}", expected)]
        )
    return text


# --------------------------------------------------------------------------- loaders


def _unique_map(loader: Any, node: MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: PyYAML reports it below
            continue
        if first is not None:
            raise _Located(
                key_node.start_mark,
                f"duplicate key {key!r} (first on line {first + 1})",
                "valid YAML with each key once per mapping",
            )
        seen[key] = key_node.start_mark.line
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


def _ambiguous(loader: Any, node: ScalarNode) -> Any:
    value = node.value
    if value[0] in "yYnNoO":
        hint = f"true/false, or '{value}' in quotes for text (YAML 1.1 reads it as a boolean)"
    elif ":" in value:
        hint = f"'{value}' in quotes (YAML 1.1 reads {value} as a number in base 60)"
    else:
        digits = value.lstrip("+-").lstrip("0_") or "0"
        hint = f"'{value}' in quotes for text, or {digits} (YAML 1.1 reads {value} as octal)"
    raise _Located(node.start_mark, f"the ambiguous scalar {value}", hint)


def _float(loader: Any, node: ScalarNode) -> float:
    value: float = yaml.SafeLoader.construct_yaml_float(loader, node)
    if math.isinf(value) and "inf" not in node.value.lower():
        raise _Located(
            node.start_mark, f"{node.value} (overflows to infinity)", "a number within ±1.8e308"
        )
    return value


def _str(loader: Any, node: ScalarNode) -> str:
    value: str = loader.construct_scalar(node)
    if not value.isascii() and _SURROGATE.search(value):
        raise _Located(node.start_mark, "an escaped lone surrogate (\\ud800-\\udfff)", "text")
    return value


def _configure(cls: Any) -> Any:
    resolvers: dict[Any, list[Any]] = {
        k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for first in "-+0123456789yYnNoO":
        resolvers.setdefault(first, []).insert(0, (_AMBIGUOUS_TAG, _AMBIGUOUS))
    for first in "-+0123456789.":
        resolvers.setdefault(first, []).append((_FLOAT_TAG, FLOAT_12))
    cls.yaml_implicit_resolvers = resolvers
    cls.add_constructor(_MAP_TAG, _unique_map)
    cls.add_constructor(_AMBIGUOUS_TAG, _ambiguous)
    cls.add_constructor(_FLOAT_TAG, _float)
    cls.add_constructor(_STR_TAG, _str)
    return cls


class _PureLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader with segab's scalar rules."""


_configure(_PureLoader)
LOADERS: dict[str, Any] = {"pure": _PureLoader}
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser with segab's scalar rules."""

    _configure(_CLoader)
    LOADERS["c"] = _CLoader


# --------------------------------------------------------------------------- composing


class _Frame:
    __slots__ = ("anchor", "items", "key", "node", "size")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.items: list[Any] = []
        self.key: Node | None = None
        self.size = 1  # values in this collection, aliases expanded


def _compose(loader: Any) -> Node | None:
    """Compose the single document of ``loader``'s event stream, within the bounds.

    PyYAML's composer recurses per level and lets aliases repeat values without
    limit; this one keeps an explicit stack and counts as it goes.
    """
    get = loader.get_event
    resolve: Callable[..., str] = loader.resolve
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Node, int]] = {}
    open_anchors: set[str] = set()
    values = 0
    repeated = 0
    root: Node | None = None
    documents = 0

    def attach(node: Node, size: int) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        top = stack[-1]
        top.size += size
        if isinstance(top.node, MappingNode):
            if top.key is None:
                top.key = node
            else:
                top.items.append((top.key, node))
                top.key = None
        else:
            top.items.append(node)

    def check_anchor(name: str, mark: Any) -> None:
        if name in anchors or name in open_anchors:
            raise _Located(mark, f"a second anchor &{name}", "each anchor name once in a file")

    def too_many(mark: Any) -> _Located:
        return _Located(mark, f"more than {MAX_VALUES:,} values", "a smaller config")

    while True:
        event = get()
        kind = type(event)
        if kind is ev.ScalarEvent:
            values += 1
            if values + repeated > MAX_VALUES:
                raise too_many(event.start_mark)
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(ScalarNode, event.value, event.implicit)
            node: Node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if event.anchor is not None:
                check_anchor(event.anchor, event.start_mark)
                anchors[event.anchor] = (node, 1)
            attach(node, 1)
        elif kind is ev.SequenceStartEvent or kind is ev.MappingStartEvent:
            values += 1
            if values + repeated > MAX_VALUES:
                raise too_many(event.start_mark)
            if len(stack) >= MAX_DEPTH:
                raise _Located(
                    event.start_mark,
                    f"collections nested more than {MAX_DEPTH} levels deep",
                    f"at most {MAX_DEPTH} levels",
                )
            is_map = kind is ev.MappingStartEvent
            node_cls = MappingNode if is_map else SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(node_cls, None, event.implicit)
            node = node_cls(tag, [], event.start_mark, None, event.flow_style)
            if event.anchor is not None:
                check_anchor(event.anchor, event.start_mark)
                open_anchors.add(event.anchor)
            stack.append(_Frame(node, event.anchor))
        elif kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
            frame = stack.pop()
            frame.node.value = frame.items
            frame.node.end_mark = event.end_mark
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                anchors[frame.anchor] = (frame.node, frame.size)
            attach(frame.node, frame.size)
        elif kind is ev.AliasEvent:
            name = event.anchor
            if name in open_anchors:
                raise _Located(
                    event.start_mark, f"the alias *{name} inside its own anchor", "no recursion"
                )
            if name not in anchors:
                raise _Located(
                    event.start_mark, f"the undefined alias *{name}", "a defined &anchor"
                )
            node, size = anchors[name]
            repeated += size
            if repeated > MAX_ALIAS_VALUES:
                raise _Located(
                    event.start_mark,
                    f"aliases repeating at least {repeated:,} values",
                    f"aliases that repeat at most {MAX_ALIAS_VALUES:,} values in all",
                )
            if values + repeated > MAX_VALUES:
                raise too_many(event.start_mark)
            attach(node, size)
        elif kind is ev.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Located(event.start_mark, "a second document (---)", "one document per file")
        elif kind is ev.StreamEndEvent:
            return root
        # StreamStart and DocumentEnd need nothing


# --------------------------------------------------------------------------- parsing


def _problem(file: str, text: str, exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        where = f"line {mark.line + 1}, column {mark.column + 1}"
    elif isinstance(position := getattr(exc, "position", None), int):
        where = _where(text, min(position, len(text)))
    else:
        where = ""
    found = str(getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc)
    found = found.removeprefix("found ")  # "found found unexpected end of stream"
    context = getattr(exc, "context", None)
    if context and not isinstance(exc, _Located):
        found = f"{found} ({context})"
    expected = exc.expected if isinstance(exc, _Located) else "valid YAML"
    return ConfigProblem(file, where, str(found), expected)


def parse_yaml(text: str, file: str = "<memory>", loader: str | None = None) -> Any:
    """Parse one YAML document of a config, within the bounds, or raise a located ``ConfigError``.

    ``loader`` is ``"c"`` (libyaml) or ``"pure"``; by default the C one when installed.
    An empty document is ``None``.

    Example:
        >>> parse_yaml("groups: {a: &x [1, 2], b: *x}")
        {'groups': {'a': [1, 2], 'b': [1, 2]}}
    """
    cls = LOADERS[loader or ("c" if "c" in LOADERS else "pure")]
    was_enabled = gc.isenabled()
    gc.disable()  # the collector would walk the growing node tree again and again
    try:
        instance = cls(text)
        try:
            node = _compose(instance)
            return None if node is None else instance.construct_document(node)
        finally:
            instance.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError([_problem(file, text, exc)]) from None
    except RecursionError:
        raise ConfigError(
            [ConfigProblem(file, "", "values nested too deeply", "fewer levels")]
        ) from None
    finally:
        if was_enabled:
            gc.enable()


def read_yaml(path: str | Path) -> Any:
    """Read, decode and parse a config file with every bound, or raise a located ``ConfigError``.

    Example:
        >>> read_yaml("experiments/segments.yaml")["segments"]["older_traditional"]["when"]
        {'age': {'$gte': 50}, 'channel': 'email'}
    """
    name = str(path)
    return parse_yaml(decode_config(read_config_bytes(name), name), name)
