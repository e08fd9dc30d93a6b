"""Segment conditions: MongoDB-style rules over user attributes, compiled to closures.

A condition maps attribute paths (``"country"``, ``"device.os"``) to a literal
(equality) or to an object of ``$operators``; several keys are ANDed, and
``$and``/``$or``/``$nor``/``$not`` combine conditions. The semantics follow
GrowthBook's SDK targeting conditions; every rule is listed in
``docs/conditions.md``. A type mismatch never raises: it just does not match.

Example:
    >>> match = compile_condition({"age": {"$lt": 35}, "channel": "social"})
    >>> match({"age": 30, "channel": "social"}), match({"age": "30", "channel": "social"})
    (True, False)
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from segab.condition_regex import regex_predicate, regex_problem
from segab.condition_values import (
    ARRAY,
    KIND_NAMES,
    NUMBER,
    OBJECT,
    OTHER,
    STRING,
    ValuePredicate,
    all_of,
    always,
    any_of,
    compare_predicate,
    equal_predicate,
    in_predicate,
    is_array,
    is_number,
    kind,
    matches_equal,
    membership,
    negate,
    path_keys,
    resolve_path,
)
from segab.errors import ConditionError, ConfigProblem
from segab.semver import compare_versions, is_version, version_key

__all__ = [
    "Condition",
    "Predicate",
    "compare_versions",
    "compile_condition",
    "condition_fields",
    "evaluate_condition",
    "validate_condition",
]

Condition: TypeAlias = Mapping[str, Any]
Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]
Problem: TypeAlias = tuple[str, str, str]

_LIST_LOGIC = ("$and", "$or", "$nor")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_VERSION: dict[str, Callable[[Any, Any], bool]] = {
    "$veq": operator.eq,
    "$vne": operator.ne,
    "$vgt": operator.gt,
    "$vgte": operator.ge,
    "$vlt": operator.lt,
    "$vlte": operator.le,
}
_IN_OPS = ("$in", "$nin", "$ini", "$nini")
_ALL_OPS = ("$all", "$alli")
_OTHER_OPS = ("$eq", "$ne", "$exists", "$type", "$regex", "$regexi", "$size", "$elemMatch")
_FIELD_OPS = frozenset(
    (*_COMPARE, *_VERSION, *_IN_OPS, *_ALL_OPS, *_OTHER_OPS, "$not", "$inGroup", "$notInGroup")
)
_TYPE_NAMES = KIND_NAMES[:-1]  # every name but "unknown"


# --------------------------------------------------------------------------- validation


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_operator_object(value: Any) -> bool:
    """A non-empty mapping whose keys all start with ``$``."""
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _elem_on_value(cond: Mapping[Any, Any]) -> bool:
    """``$elemMatch`` tests elements themselves unless it holds fields or $and/$or/$nor."""
    return _is_operator_object(cond) and not any(k in _LIST_LOGIC for k in cond)


def _check_literal(value: Any, path: str, out: list[Problem]) -> None:
    kv = kind(value)
    if kv == ARRAY:
        for i, item in enumerate(value):
            _check_literal(item, f"{path}[{i}]", out)
    elif kv == OBJECT:
        for k, item in value.items():
            if not isinstance(k, str):
                out.append((path, f"key {_show(k)}", "string keys"))
            else:
                _check_literal(item, f"{path}.{k}", out)
    elif kv == OTHER:
        expected = "a JSON value (string, number, boolean, null, array or object)"
        out.append((path, _show(value), expected))


def _check_value(value: Any, path: str, out: list[Problem], re2: bool) -> None:
    """A field's value: a literal (equality) or an object of operators."""
    if not isinstance(value, Mapping):
        _check_literal(value, path, out)
    elif _is_operator_object(value):
        for op, operand in value.items():
            _check_operator(op, operand, f"{path}.{op}", out, re2)
    elif not value:
        out.append((path, "{}", "an object of $operators or a literal value"))
    elif any(isinstance(k, str) and k.startswith("$") for k in value):
        out.append((path, _show(value), "either only $operators or a literal object"))
    else:
        _check_literal(value, path, out)


def _check_condition(cond: Any, path: str, out: list[Problem], re2: bool) -> None:
    if not isinstance(cond, Mapping):
        out.append((path, _show(cond), "a condition (a mapping of field paths to values)"))
        return
    for key, value in cond.items():
        if not isinstance(key, str):
            out.append((path, f"key {_show(key)}", "string field paths"))
            continue
        where = f"{path}.{key}"
        if key in _LIST_LOGIC:
            if not isinstance(value, list | tuple) or not value:
                out.append((where, _show(value), "a non-empty list of conditions"))
                continue
            for i, item in enumerate(value):
                _check_condition(item, f"{where}[{i}]", out, re2)
        elif key == "$not":
            _check_condition(value, where, out, re2)
        elif key.startswith("$"):
            out.append((where, f"unknown operator {key}", "a field path or $and, $or, $nor, $not"))
        elif not all(key.split(".")):
            out.append((where, repr(key), "a dot path without empty parts"))
        else:
            _check_value(value, where, out, re2)


def _check_operator(op: str, x: Any, path: str, out: list[Problem], re2: bool) -> None:
    found = _show(x)
    if op in ("$eq", "$ne"):
        _check_literal(x, path, out)
    elif op in _COMPARE:
        if not (isinstance(x, str) or (is_number(x) and x == x)):
            out.append((path, found, "a number or a string"))
    elif op in _IN_OPS or op in _ALL_OPS:
        if not isinstance(x, list | tuple):
            out.append((path, found, "a list of values"))
            return
        for i, item in enumerate(x):
            if op in _ALL_OPS and _is_operator_object(item):
                _check_value(item, f"{path}[{i}]", out, re2)
            else:
                _check_literal(item, f"{path}[{i}]", out)
    elif op == "$exists":
        if not isinstance(x, bool):
            out.append((path, found, "true or false"))
    elif op == "$type":
        if x not in _TYPE_NAMES:
            out.append((path, found, "one of " + ", ".join(_TYPE_NAMES)))
    elif op in ("$regex", "$regexi"):
        problem = regex_problem(x, re2=re2)
        if problem is not None:
            out.append((path, found, problem))
    elif op == "$size":
        if _is_operator_object(x):
            _check_value(x, path, out, re2)
        elif isinstance(x, bool) or not isinstance(x, int) or x < 0:
            out.append((path, found, "a non-negative integer or an object of $operators"))
    elif op == "$elemMatch":
        if not isinstance(x, Mapping) or not x:
            out.append((path, found, "a non-empty condition on the array's elements"))
        elif _elem_on_value(x):
            _check_value(x, path, out, re2)
        else:
            _check_condition(x, path, out, re2)
    elif op == "$not":
        _check_value(x, path, out, re2)
    elif op in _VERSION:
        if not is_version(x):
            out.append((path, found, "a version string such as 1.2.3 or v2.0-beta"))
    elif op in ("$inGroup", "$notInGroup"):
        if not isinstance(x, str) or not x:
            out.append((path, found, "a group name (a non-empty string)"))
    elif op in _LIST_LOGIC:
        out.append((path, f"{op} inside a field", f"{op} at condition level: {{'{op}': [...]}}"))
    else:
        close = difflib.get_close_matches(op, sorted(_FIELD_OPS), n=1)
        hint = f"did you mean {close[0]}?" if close else "see docs/conditions.md"
        out.append((path, f"unknown operator {op}", f"a known operator ({hint})"))


def validate_condition(
    condition: Any, path: str = "when", *, re2: bool = True
) -> list[tuple[str, str, str]]:
    """Return every problem in ``condition`` as ``(field_path, found, expected)``; ``[]`` if valid.

    Never raises. Paths extend ``path``: ``when.age.$gtt``, ``when.$or[1].country``.
    Group names are only checked by :func:`compile_condition`, which knows the groups.
    A ``$regex`` must compile with Python's ``re`` and, unless ``re2`` is false,
    run with RE2 (:mod:`segab.condition_regex`; the SQL compiler has its own rules).

    Example:
        >>> validate_condition({"age": {"$gtt": 3}})
        [('when.age.$gtt', 'unknown operator $gtt', 'a known operator (did you mean $gt?)')]
        >>> validate_condition({"tags": {"$in": "a"}}, path="cells[0].when")
        [('cells[0].when.tags.$in', "'a'", 'a list of values')]
        >>> validate_condition({"name": {"$regex": "(a)\\\\1"}})[0][2]
        'a pattern RE2 can run in linear time (RE2: invalid escape sequence: \\\\1)'
    """
    out: list[Problem] = []
    try:
        _check_condition(condition, path, out, re2)
    except RecursionError:
        out.append((path, "a condition nested too deeply", "fewer nesting levels"))
    except Exception as exc:  # a hostile Mapping; validation must not raise
        out.append((path, f"an unreadable condition ({exc!r})", "plain JSON-like data"))
    return out


# --------------------------------------------------------------------------- compilation


class _Compiler:
    """Turns a validated condition into closures; collects unknown-group problems."""

    def __init__(self, groups: Mapping[str, Sequence[Any]] | None) -> None:
        self.groups = groups or {}
        self.problems: list[Problem] = []
        self.members: dict[str, ValuePredicate] = {}

    def condition(self, cond: Mapping[str, Any], path: str) -> Predicate:
        preds = [self.entry(key, value, f"{path}.{key}") for key, value in cond.items()]
        return all_of(preds) if preds else always

    def entry(self, key: str, value: Any, path: str) -> Predicate:
        if key in _LIST_LOGIC:
            parts = [self.condition(c, f"{path}[{i}]") for i, c in enumerate(value)]
            if key == "$and":
                return all_of(parts)
            return any_of(parts) if key == "$or" else negate(any_of(parts))
        if key == "$not":
            return negate(self.condition(value, path))
        keys = path_keys(key)
        if len(keys) > 1:
            vp = self.value(value, path)
            return lambda a: vp(resolve_path(a, keys))
        return self.top_field(key, value, path)

    def top_field(self, k: str, value: Any, path: str) -> Predicate:
        """A field without dots, specialized for string/number equality and one comparison."""
        kv = kind(value)
        if kv in (STRING, NUMBER):
            x = value
            if kv == STRING:

                def eq_str_field(a: Mapping[str, Any]) -> bool:
                    v = a.get(k)
                    return v == x if type(v) is str else matches_equal(v, x)

                return eq_str_field

            def eq_num_field(a: Mapping[str, Any]) -> bool:
                v = a.get(k)
                t = type(v)
                return v == x if t is int or t is float else matches_equal(v, x)

            return eq_num_field
        if kv == OBJECT and len(value) == 1:
            ((op, x),) = value.items()
            fn = _COMPARE.get(op)
            if fn is not None and type(x) in (int, float):

                def cmp_num_field(a: Mapping[str, Any]) -> bool:
                    v = a.get(k)
                    t = type(v)
                    if t is int or t is float:
                        return fn(v, x)
                    return is_number(v) and bool(fn(v, x))

                return cmp_num_field
        vp = self.value(value, path)
        return lambda a: vp(a.get(k))

    def value(self, value: Any, path: str) -> ValuePredicate:
        if _is_operator_object(value):
            return all_of([self.operator(op, x, f"{path}.{op}") for op, x in value.items()])
        return equal_predicate(value)

    def operator(self, op: str, x: Any, path: str) -> ValuePredicate:
        if op == "$eq":
            return equal_predicate(x)
        if op == "$ne":
            return negate(equal_predicate(x))
        fn = _COMPARE.get(op)
        if fn is not None:
            return compare_predicate(fn, x)
        if op in _IN_OPS:
            found = in_predicate(membership(x, insensitive=op in ("$ini", "$nini")))
            return found if op in ("$in", "$ini") else negate(found)
        if op in _ALL_OPS:
            return self.all_of(op, x, path)
        if op == "$exists":
            return (lambda v: v is not None) if x else (lambda v: v is None)
        if op == "$type":
            name = x
            return lambda v: KIND_NAMES[kind(v)] == name
        if op in ("$regex", "$regexi"):
            return regex_predicate(x, ignore_case=op == "$regexi")
        if op == "$size":
            return self.size(x, path)
        if op == "$elemMatch":
            return self.elem_match(x, path)
        if op == "$not":
            return negate(self.value(x, path))
        if op in _VERSION:
            return self.version(op, x)
        return self.group(op, x, path)

    def all_of(self, op: str, entries: Sequence[Any], path: str) -> ValuePredicate:
        preds: list[ValuePredicate] = []
        for i, entry in enumerate(entries):
            if _is_operator_object(entry):
                preds.append(self.value(entry, f"{path}[{i}]"))
            elif op == "$alli" and isinstance(entry, str):
                preds.append(in_predicate(membership([entry], insensitive=True)))
            else:
                preds.append(equal_predicate(entry))
        ps = tuple(preds)
        return lambda v: is_array(v) and all(any(map(p, v)) for p in ps)

    def size(self, x: Any, path: str) -> ValuePredicate:
        if isinstance(x, int):
            n = x
            return lambda v: is_array(v) and len(v) == n
        inner = self.value(x, path)
        return lambda v: is_array(v) and inner(len(v))

    def elem_match(self, x: Mapping[str, Any], path: str) -> ValuePredicate:
        if _elem_on_value(x):
            on_value = self.value(x, path)
            return lambda v: is_array(v) and any(map(on_value, v))
        on_fields = self.condition(x, path)
        return lambda v: is_array(v) and any(isinstance(e, Mapping) and on_fields(e) for e in v)

    def version(self, op: str, x: str) -> ValuePredicate:
        fn, key = _VERSION[op], version_key(x)
        if op == "$vne":
            return lambda v: (k := version_key(v)) is None or k != key
        return lambda v: (k := version_key(v)) is not None and fn(k, key)

    def group(self, op: str, name: str, path: str) -> ValuePredicate:
        contains = self.members.get(name)
        if contains is None:
            values = self.groups.get(name)
            if values is None:
                known = ", ".join(sorted(self.groups)) or "none"
                self.problems.append((path, repr(name), f"a defined group (known: {known})"))
                return always
            if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
                self.problems.append(
                    (path, f"group {name!r} = {_show(values)}", "a list of values")
                )
                return always
            contains = self.members[name] = membership(values)
        found = in_predicate(contains)
        return found if op == "$inGroup" else negate(found)


def compile_condition(
    condition: Condition, groups: Mapping[str, Sequence[Any]] | None = None
) -> Predicate:
    """Validate ``condition`` and compile it once into a fast predicate on attribute mappings.

    ``groups`` maps the names used by ``$inGroup``/``$notInGroup`` to lists of values.
    Raises :class:`~segab.errors.ConditionError` listing every problem (file
    ``<condition>``), including group names missing from ``groups``.

    Example:
        >>> is_target = compile_condition(
        ...     {"country": {"$inGroup": "eu"}, "device.os": "ios"}, groups={"eu": ["FR", "DE"]}
        ... )
        >>> is_target({"country": "FR", "device": {"os": "ios"}})
        True
        >>> compile_condition({"age": {"$gt": [1]}})
        Traceback (most recent call last):
        ...
        segab.errors.ConditionError: 1 problem in config:
          - <condition>: when.age.$gt: found [1], expected a number or a string
    """
    problems = validate_condition(condition)
    if not problems:
        compiler = _Compiler(groups)
        predicate = compiler.condition(condition, "when")
        problems = compiler.problems
    if problems:
        raise ConditionError([ConfigProblem("<condition>", *p) for p in problems])
    return predicate


def evaluate_condition(
    condition: Condition,
    attributes: Mapping[str, Any],
    groups: Mapping[str, Sequence[Any]] | None = None,
) -> bool:
    """Compile ``condition`` and apply it to ``attributes`` (compile once to evaluate many).

    Example:
        >>> evaluate_condition({"app": {"$vgte": "2.0"}}, {"app": "v2.1.0-rc.1"})
        True
    """
    return compile_condition(condition, groups)(attributes)


def condition_fields(condition: Condition) -> set[str]:
    """The attribute paths that ``condition`` reads, as written (dot paths).

    For ``$elemMatch`` with a condition on objects, only the array's own path is
    listed. Malformed parts are skipped rather than reported (see validate_condition).

    Example:
        >>> sorted(condition_fields({"$or": [{"age": {"$gt": 3}}, {"device.os": "ios"}]}))
        ['age', 'device.os']
    """
    fields: set[str] = set()
    todo: list[Any] = [condition]
    while todo:
        cond = todo.pop()
        if not isinstance(cond, Mapping):
            continue
        for key, value in cond.items():
            if key in _LIST_LOGIC and isinstance(value, list | tuple):
                todo.extend(value)
            elif key == "$not":
                todo.append(value)
            elif isinstance(key, str) and not key.startswith("$"):
                fields.add(key)
    return fields
