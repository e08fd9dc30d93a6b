"""Value semantics of segment conditions: JSON types, equality, membership, dot paths.

Shared by :mod:`segab.conditions` (and by anything that must agree with it, such
as a SQL compiler). Values are classified by JSON type: ``bool`` is never a
number, any ``numbers.Real`` or ``Decimal`` is a number, lists and tuples are
arrays, mappings are objects, ``None`` is null (a missing attribute reads as
``None``). Values of different JSON types are never equal.

Example:
    >>> deep_equal(1, 1.0), deep_equal(1, True), deep_equal([1, "a"], (1.0, "a"))
    (True, False, True)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = [
    "ARRAY",
    "BOOL",
    "KIND_NAMES",
    "NULL",
    "NUMBER",
    "OBJECT",
    "OTHER",
    "STRING",
    "PathKeys",
    "ValuePredicate",
    "all_of",
    "always",
    "any_of",
    "compare_predicate",
    "deep_equal",
    "equal_predicate",
    "in_predicate",
    "is_array",
    "is_number",
    "kind",
    "matches_equal",
    "membership",
    "negate",
    "path_keys",
    "resolve_path",
]

ValuePredicate: TypeAlias = Callable[[Any], bool]
PathKeys: TypeAlias = tuple[tuple[str, int | None], ...]

NULL, BOOL, NUMBER, STRING, ARRAY, OBJECT, OTHER = range(7)
KIND_NAMES = ("null", "boolean", "number", "string", "array", "object", "unknown")
_NUMBER_TYPES = (numbers.Real, Decimal)
_ARRAY_TYPES = (list, tuple)  # a tuple of types: isinstance is faster than with list | tuple


def kind(v: Any) -> int:
    """The JSON type of ``v``, as an index into ``KIND_NAMES`` (the ``$type`` names).

    Example:
        >>> [KIND_NAMES[kind(v)] for v in (None, True, 2.5, "x", (1,), {}, {1})]
        ['null', 'boolean', 'number', 'string', 'array', 'object', 'unknown']
    """
    if v is None:
        return NULL
    t = type(v)
    if t is str:
        return STRING
    if t is int or t is float:
        return NUMBER
    if t is bool:
        return BOOL
    if isinstance(v, str):
        return STRING
    if isinstance(v, _NUMBER_TYPES):
        return NUMBER
    if isinstance(v, _ARRAY_TYPES):
        return ARRAY
    if isinstance(v, Mapping):
        return OBJECT
    return OTHER


def is_number(v: Any) -> bool:
    """Whether ``v`` is a number: int, float, any ``numbers.Real`` or ``Decimal``, not bool.

    Example:
        >>> is_number(3), is_number(True), is_number("3")
        (True, False, False)
    """
    t = type(v)
    return t is int or t is float or (t is not bool and isinstance(v, _NUMBER_TYPES))


def is_array(v: Any) -> bool:
    """Whether ``v`` is an array (a list or a tuple).

    Example:
        >>> is_array([1]), is_array((1,)), is_array("ab")
        (True, True, False)
    """
    return isinstance(v, _ARRAY_TYPES)


def deep_equal(a: Any, b: Any) -> bool:
    """Equality by JSON type: ``True != 1``, ``1 == 1.0``, arrays and objects by content.

    Object key order does not matter; NaN equals nothing.

    Example:
        >>> deep_equal({"a": [1, None]}, {"a": [1.0, None]}), deep_equal("1", 1)
        (True, False)
    """
    ka = kind(a)
    if ka != kind(b):
        return False
    if ka == ARRAY:
        return len(a) == len(b) and all(map(deep_equal, a, b))
    if ka == OBJECT:
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # an exotic attribute value whose == is not a bool
        return False


def matches_equal(v: Any, x: Any) -> bool:
    """Implicit equality: ``v`` equals ``x``, or ``v`` is an array with an element equal to it.

    Example:
        >>> matches_equal(["a", "b"], "a"), matches_equal(["a", "b"], ["a", "b"])
        (True, True)
    """
    if v is None:
        return x is None
    if deep_equal(v, x):
        return True
    return is_array(v) and any(deep_equal(e, x) for e in v)


def membership(values: Iterable[Any], insensitive: bool = False) -> ValuePredicate:
    """Return ``contains(v)``: whether the single value ``v`` deep-equals one of ``values``.

    Hash lookups per JSON type keep ``True`` and ``1`` apart. With ``insensitive``,
    strings are compared after ``str.lower()``.

    Example:
        >>> contains = membership(["US", 1, None])
        >>> contains("US"), contains(True), contains(1.0), contains(None)
        (True, False, True, True)
    """
    strs: set[str] = set()
    nums: set[Any] = set()
    bools: set[bool] = set()
    has_none = False
    others: list[Any] = []
    for x in values:
        kx = kind(x)
        if kx == STRING:
            strs.add(x.lower() if insensitive else x)
        elif kx == NUMBER:
            if x == x:  # NaN equals nothing
                nums.add(x)
        elif kx == BOOL:
            bools.add(x)
        elif kx == NULL:
            has_none = True
        else:
            others.append(x)
    fstrs, fnums, fbools = frozenset(strs), frozenset(nums), frozenset(bools)

    def contains(v: Any) -> bool:
        t = type(v)
        if t is str:
            return (v.lower() if insensitive else v) in fstrs
        if t is int or t is float:
            return v in fnums
        if v is None:
            return has_none
        kv = kind(v)
        if kv == BOOL:
            return v in fbools
        if kv == STRING:
            return (v.lower() if insensitive else str(v)) in fstrs
        if kv == NUMBER:
            return v in fnums
        return any(deep_equal(v, x) for x in others)

    return contains


def in_predicate(contains: ValuePredicate) -> ValuePredicate:
    """``$in`` semantics: ``v`` is listed, or ``v`` is an array with a listed element.

    Example:
        >>> found = in_predicate(membership(["CA"]))
        >>> found("CA"), found(["MX", "CA"]), found(["MX"])
        (True, True, False)
    """

    def pred(v: Any) -> bool:
        if type(v) is list or type(v) is tuple:
            return any(map(contains, v)) or contains(v)
        return contains(v)

    return pred


def equal_predicate(x: Any) -> ValuePredicate:
    """A predicate for implicit equality with ``x``, with fast paths for strings and numbers.

    Example:
        >>> is_us = equal_predicate("US")
        >>> is_us("US"), is_us(["US"]), is_us(None)
        (True, True, False)
    """
    kx = kind(x)
    if kx == STRING:

        def eq_str(v: Any) -> bool:
            return v == x if type(v) is str else matches_equal(v, x)

        return eq_str
    if kx == NUMBER:

        def eq_num(v: Any) -> bool:
            t = type(v)
            return v == x if t is int or t is float else matches_equal(v, x)

        return eq_num
    return lambda v: matches_equal(v, x)


def compare_predicate(fn: Callable[[Any, Any], Any], x: Any) -> ValuePredicate:
    """``fn(v, x)`` when ``v`` and ``x`` are both strings or both numbers, else False.

    Example:
        >>> import operator
        >>> over_30 = compare_predicate(operator.gt, 30)
        >>> over_30(31), over_30("31"), over_30(None), over_30(True)
        (True, False, False, False)
    """
    if isinstance(x, str):
        return lambda v: isinstance(v, str) and bool(fn(v, x))
    return lambda v: is_number(v) and bool(fn(v, x))


def path_keys(path: str) -> PathKeys:
    """Split a dot path once into ``(key, list index or None)`` pairs.

    Only a canonical non-negative integer part (``"0"``, ``"12"``, not ``"01"``)
    can index a list.

    Example:
        >>> path_keys("items.0.sku")
        (('items', None), ('0', 0), ('sku', None))
    """
    keys = []
    for part in path.split("."):
        is_index = part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")
        keys.append((part, int(part) if is_index else None))
    return tuple(keys)


def resolve_path(attributes: Any, keys: PathKeys) -> Any:
    """Read a dot path from nested mappings (and list indexes); None when any step is missing.

    Example:
        >>> resolve_path({"device": {"os": "ios"}}, path_keys("device.os"))
        'ios'
        >>> resolve_path({"device": None}, path_keys("device.os")) is None
        True
    """
    cur = attributes
    for key, index in keys:
        if type(cur) is dict or isinstance(cur, Mapping):
            cur = cur.get(key)
        elif index is not None and isinstance(cur, _ARRAY_TYPES):
            cur = cur[index] if index < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur


def negate(p: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """The predicate that is true where ``p`` is false.

    Example:
        >>> negate(bool)(0)
        True
    """

    def pred(v: Any) -> bool:
        return not p(v)

    return pred


def all_of(preds: Sequence[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """True where every predicate is (a plain loop: faster than ``all()``).

    Example:
        >>> all_of([bool, lambda v: v > 1])(2), all_of([bool, lambda v: v > 1])(1)
        (True, False)
    """
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        p1, p2 = preds

        def both(v: Any) -> bool:
            return p1(v) and p2(v)

        return both
    ps = tuple(preds)

    def every(v: Any) -> bool:
        for p in ps:  # noqa: SIM110 - a plain loop is faster than all() with a generator
            if not p(v):
                return False
        return True

    return every


def any_of(preds: Sequence[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """True where some predicate is.

    Example:
        >>> any_of([lambda v: v < 0, lambda v: v > 9])(10)
        True
    """
    ps = tuple(preds)

    def some(v: Any) -> bool:
        for p in ps:  # noqa: SIM110 - a plain loop is faster than any() with a generator
            if p(v):
                return True
        return False

    return ps[0] if len(ps) == 1 else some


def always(_: Any) -> bool:
    """A predicate true for every value.

    Example:
        >>> always(None)
        True
    """
    return True
