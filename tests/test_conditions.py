"""Tests for segab.conditions and segab.semver.

Oracle: GrowthBook's Python SDK (``growthbook.core.evalCondition``) where its semantics
and ours agree; the rows where they deliberately differ are listed in ``GB_DIFFERS``
with the reason (also documented in docs/conditions.md).
"""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segab.conditions import (
    compare_versions,
    compile_condition,
    condition_fields,
    evaluate_condition,
    validate_condition,
)
from segab.errors import ConditionError, ConfigError

GROUPS = {"eu": ["FR", "DE", 1], "empty": []}
ORDERS = [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 3}]

# (id, condition, attributes, expected)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # implicit equality, implicit AND, empty condition
    ("eq-str", {"country": "US"}, {"country": "US"}, True),
    ("eq-case", {"country": "US"}, {"country": "us"}, False),
    ("eq-missing", {"country": "US"}, {}, False),
    ("eq-null-missing", {"country": None}, {}, True),
    ("eq-null-null", {"country": None}, {"country": None}, True),
    ("eq-null-value", {"country": None}, {"country": "US"}, False),
    ("eq-int-float", {"n": 1}, {"n": 1.0}, True),
    ("eq-num-bool", {"n": 1}, {"n": True}, False),
    ("eq-bool-num", {"n": True}, {"n": 1}, False),
    ("eq-bool", {"n": False}, {"n": False}, True),
    ("eq-str-num", {"n": "1"}, {"n": 1}, False),
    ("eq-num-str", {"n": 1}, {"n": "1"}, False),
    ("eq-array-contains", {"tags": "a"}, {"tags": ["a", "b"]}, True),
    ("eq-array-lacks", {"tags": "c"}, {"tags": ["a", "b"]}, False),
    ("eq-array-num-bool", {"tags": 1}, {"tags": [True]}, False),
    ("eq-tuple-contains", {"tags": 2}, {"tags": (1, 2)}, True),
    ("eq-array-whole", {"tags": ["a", "b"]}, {"tags": ["a", "b"]}, True),
    ("eq-array-order", {"tags": ["a", "b"]}, {"tags": ["b", "a"]}, False),
    ("eq-array-nested", {"tags": ["a"]}, {"tags": [["a"], "x"]}, True),
    ("eq-object", {"o": {"a": 1}}, {"o": {"a": 1}}, True),
    ("eq-object-extra", {"o": {"a": 1}}, {"o": {"a": 1, "b": 2}}, False),
    ("and-both", {"a": 1, "b": 2}, {"a": 1, "b": 2}, True),
    ("and-one", {"a": 1, "b": 2}, {"a": 1, "b": 3}, False),
    ("and-three", {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, True),
    ("empty", {}, {"a": 1}, True),
    # dot paths
    ("path", {"device.os": "ios"}, {"device": {"os": "ios"}}, True),
    ("path-other", {"device.os": "ios"}, {"device": {"os": "android"}}, False),
    ("path-parent-none", {"device.os": "ios"}, {"device": None}, False),
    ("path-parent-scalar", {"device.os": "ios"}, {"device": "ios"}, False),
    ("path-missing-null", {"device.os": None}, {}, True),
    ("path-deep", {"a.b.c": {"$gt": 1}}, {"a": {"b": {"c": 2}}}, True),
    ("path-list-index", {"items.0.sku": "x"}, {"items": ORDERS}, True),
    ("path-list-out-of-range", {"items.5.sku": "x"}, {"items": ORDERS}, False),
    ("path-list-no-map", {"items.sku": "x"}, {"items": ORDERS}, False),
    ("path-list-noncanonical", {"items.01": 2}, {"items": [1, 2]}, False),
    ("path-list-tail-array", {"a.tags": "t"}, {"a": {"tags": ["t"]}}, True),
    # $eq / $ne
    ("$eq", {"n": {"$eq": 3}}, {"n": 3}, True),
    ("$eq-str", {"n": {"$eq": 3}}, {"n": "3"}, False),
    ("$eq-missing", {"n": {"$eq": 3}}, {}, False),
    ("$eq-array", {"n": {"$eq": 3}}, {"n": [1, 3]}, True),
    ("$eq-null", {"n": {"$eq": None}}, {}, True),
    ("$ne", {"n": {"$ne": 3}}, {"n": 4}, True),
    ("$ne-equal", {"n": {"$ne": 3}}, {"n": 3}, False),
    ("$ne-missing", {"n": {"$ne": 3}}, {}, True),
    ("$ne-bool", {"n": {"$ne": 1}}, {"n": True}, True),
    ("$ne-array", {"n": {"$ne": 3}}, {"n": [3, 4]}, False),
    # comparisons
    ("$gt", {"age": {"$gt": 30}}, {"age": 31}, True),
    ("$gt-equal", {"age": {"$gt": 30}}, {"age": 30}, False),
    ("$gt-float", {"age": {"$gt": 30}}, {"age": 30.5}, True),
    ("$gt-str", {"age": {"$gt": 30}}, {"age": "abc"}, False),
    ("$gt-numeric-str", {"age": {"$gt": 30}}, {"age": "40"}, False),
    ("$gt-missing", {"age": {"$gt": 30}}, {}, False),
    ("$gt-none", {"age": {"$gt": 30}}, {"age": None}, False),
    ("$gt-bool", {"age": {"$gt": 0}}, {"age": True}, False),
    ("$gt-array", {"age": {"$gt": 30}}, {"age": [40]}, False),
    ("$gt-nan", {"age": {"$gt": 30}}, {"age": float("nan")}, False),
    ("$gt-fraction", {"age": {"$gt": 1}}, {"age": Fraction(3, 2)}, True),
    ("$gt-np-int", {"age": {"$gt": 30}}, {"age": np.int64(40)}, True),
    ("$gt-decimal", {"age": {"$gt": 30}}, {"age": Decimal("30.5")}, True),
    ("$gt-np-bool", {"age": {"$gt": 0}}, {"age": np.bool_(True)}, False),
    ("$gte", {"age": {"$gte": 30}}, {"age": 30}, True),
    ("$gte-less", {"age": {"$gte": 30}}, {"age": 29.9}, False),
    ("$lt", {"age": {"$lt": 30}}, {"age": 29}, True),
    ("$lt-missing", {"age": {"$lt": 30}}, {}, False),
    ("$lt-none", {"age": {"$lt": 30}}, {"age": None}, False),
    ("$lte", {"age": {"$lte": 30}}, {"age": 30}, True),
    ("$lte-more", {"age": {"$lte": 30}}, {"age": 31}, False),
    ("range", {"age": {"$gte": 18, "$lt": 35}}, {"age": 20}, True),
    ("range-out", {"age": {"$gte": 18, "$lt": 35}}, {"age": 35}, False),
    ("$gt-string", {"name": {"$gt": "b"}}, {"name": "c"}, True),
    ("$gt-string-less", {"name": {"$gt": "b"}}, {"name": "a"}, False),
    ("$gt-string-num", {"name": {"$gt": "b"}}, {"name": 5}, False),
    ("$lt-path", {"u.age": {"$lt": 30}}, {"u": {"age": 20}}, True),
    # $in / $nin / $ini / $nini
    ("$in", {"c": {"$in": ["US", "CA"]}}, {"c": "US"}, True),
    ("$in-no", {"c": {"$in": ["US", "CA"]}}, {"c": "MX"}, False),
    ("$in-missing", {"c": {"$in": ["US", "CA"]}}, {}, False),
    ("$in-array", {"c": {"$in": ["US", "CA"]}}, {"c": ["MX", "CA"]}, True),
    ("$in-array-no", {"c": {"$in": ["US", "CA"]}}, {"c": ["MX"]}, False),
    ("$in-empty-list", {"c": {"$in": []}}, {"c": "US"}, False),
    ("$in-empty-missing", {"c": {"$in": []}}, {}, False),
    ("$in-num-bool", {"c": {"$in": [1]}}, {"c": True}, False),
    ("$in-bool-num", {"c": {"$in": [True]}}, {"c": 1}, False),
    ("$in-bool", {"c": {"$in": [True]}}, {"c": True}, True),
    ("$in-int-float", {"c": {"$in": [1]}}, {"c": 1.0}, True),
    ("$in-null", {"c": {"$in": [None]}}, {}, True),
    ("$in-nan", {"c": {"$in": [float("nan")]}}, {"c": float("nan")}, False),
    ("$in-case", {"c": {"$in": ["US"]}}, {"c": "us"}, False),
    ("$in-whole-array", {"c": {"$in": [[1, 2]]}}, {"c": [1, 2]}, True),
    ("$in-object", {"c": {"$in": [{"a": 1}]}}, {"c": {"a": 1}}, True),
    ("$nin", {"c": {"$nin": ["US"]}}, {"c": "MX"}, True),
    ("$nin-in", {"c": {"$nin": ["US"]}}, {"c": "US"}, False),
    ("$nin-missing", {"c": {"$nin": ["US"]}}, {}, True),
    ("$nin-array", {"c": {"$nin": ["US"]}}, {"c": ["US", "MX"]}, False),
    ("$nin-empty", {"c": {"$nin": []}}, {"c": "US"}, True),
    ("$ini", {"c": {"$ini": ["US"]}}, {"c": "us"}, True),
    ("$ini-array", {"c": {"$ini": ["US"]}}, {"c": ["mx", "Us"]}, True),
    ("$ini-num", {"c": {"$ini": [1]}}, {"c": 1}, True),
    ("$ini-no", {"c": {"$ini": ["US"]}}, {"c": "usa"}, False),
    ("$nini", {"c": {"$nini": ["US"]}}, {"c": "uS"}, False),
    ("$nini-missing", {"c": {"$nini": ["US"]}}, {}, True),
    # $all / $alli
    ("$all", {"t": {"$all": ["a", "b"]}}, {"t": ["a", "b", "c"]}, True),
    ("$all-partial", {"t": {"$all": ["a", "b"]}}, {"t": ["a"]}, False),
    ("$all-scalar", {"t": {"$all": ["a"]}}, {"t": "a"}, False),
    ("$all-missing", {"t": {"$all": ["a"]}}, {}, False),
    ("$all-empty", {"t": {"$all": []}}, {"t": []}, True),
    ("$all-empty-scalar", {"t": {"$all": []}}, {"t": "x"}, False),
    ("$all-cond", {"t": {"$all": [{"$gt": 5}, 1]}}, {"t": [1, 6]}, True),
    ("$all-cond-no", {"t": {"$all": [{"$gt": 5}]}}, {"t": [1, 2]}, False),
    ("$all-bool", {"t": {"$all": [1]}}, {"t": [True]}, False),
    ("$alli", {"t": {"$alli": ["A", "b"]}}, {"t": ["a", "B"]}, True),
    ("$alli-no", {"t": {"$alli": ["A", "c"]}}, {"t": ["a", "B"]}, False),
    # $exists / $type
    ("$exists", {"x": {"$exists": True}}, {"x": "a"}, True),
    ("$exists-zero", {"x": {"$exists": True}}, {"x": 0}, True),
    ("$exists-false-value", {"x": {"$exists": True}}, {"x": False}, True),
    ("$exists-empty-str", {"x": {"$exists": True}}, {"x": ""}, True),
    ("$exists-missing", {"x": {"$exists": True}}, {}, False),
    ("$exists-null", {"x": {"$exists": True}}, {"x": None}, False),
    ("$exists-f-missing", {"x": {"$exists": False}}, {}, True),
    ("$exists-f-value", {"x": {"$exists": False}}, {"x": 0}, False),
    ("$exists-path", {"a.b": {"$exists": True}}, {"a": {"b": 1}}, True),
    ("$type-string", {"x": {"$type": "string"}}, {"x": ""}, True),
    ("$type-number", {"x": {"$type": "number"}}, {"x": 1.5}, True),
    ("$type-bool-not-number", {"x": {"$type": "number"}}, {"x": True}, False),
    ("$type-boolean", {"x": {"$type": "boolean"}}, {"x": False}, True),
    ("$type-array", {"x": {"$type": "array"}}, {"x": [1]}, True),
    ("$type-object", {"x": {"$type": "object"}}, {"x": {}}, True),
    ("$type-null", {"x": {"$type": "null"}}, {"x": None}, True),
    ("$type-null-missing", {"x": {"$type": "null"}}, {}, True),
    ("$type-set", {"x": {"$type": "array"}}, {"x": {1}}, False),
    ("$type-mismatch", {"x": {"$type": "string"}}, {"x": 1}, False),
    # $regex / $regexi
    ("$regex", {"e": {"$regex": "^ab"}}, {"e": "abc"}, True),
    ("$regex-anchor", {"e": {"$regex": "^ab"}}, {"e": "xab"}, False),
    ("$regex-search", {"e": {"$regex": "b"}}, {"e": "abc"}, True),
    ("$regex-case", {"e": {"$regex": "^AB"}}, {"e": "abc"}, False),
    ("$regex-num", {"e": {"$regex": "1"}}, {"e": 1}, False),
    ("$regex-missing", {"e": {"$regex": ".*"}}, {}, False),
    ("$regex-array", {"e": {"$regex": "a"}}, {"e": ["abc"]}, False),
    ("$regexi", {"e": {"$regexi": "^AB"}}, {"e": "abc"}, True),
    ("$regexi-no", {"e": {"$regexi": "^AB"}}, {"e": "cab"}, False),
    # $size
    ("$size", {"t": {"$size": 2}}, {"t": [1, 2]}, True),
    ("$size-other", {"t": {"$size": 2}}, {"t": [1]}, False),
    ("$size-zero", {"t": {"$size": 0}}, {"t": []}, True),
    ("$size-string", {"t": {"$size": 2}}, {"t": "ab"}, False),
    ("$size-missing", {"t": {"$size": 0}}, {}, False),
    ("$size-cond", {"t": {"$size": {"$gt": 1}}}, {"t": [1, 2]}, True),
    ("$size-cond-no", {"t": {"$size": {"$gt": 1}}}, {"t": [1]}, False),
    ("$size-cond-range", {"t": {"$size": {"$gte": 1, "$lte": 2}}}, {"t": (1, 2)}, True),
    # $elemMatch
    ("$elemMatch-value", {"t": {"$elemMatch": {"$gt": 5}}}, {"t": [1, 6]}, True),
    ("$elemMatch-value-no", {"t": {"$elemMatch": {"$gt": 5}}}, {"t": [1, 2]}, False),
    ("$elemMatch-scalar", {"t": {"$elemMatch": {"$gt": 5}}}, {"t": 6}, False),
    ("$elemMatch-string", {"t": {"$elemMatch": {"$eq": "a"}}}, {"t": "abc"}, False),
    ("$elemMatch-missing", {"t": {"$elemMatch": {"$gt": 5}}}, {}, False),
    ("$elemMatch-empty", {"t": {"$elemMatch": {"$gt": 5}}}, {"t": []}, False),
    ("$elemMatch-range", {"t": {"$elemMatch": {"$gt": 1, "$lt": 3}}}, {"t": [0, 4, 2]}, True),
    ("$elemMatch-none", {"t": {"$elemMatch": {"$exists": False}}}, {"t": [None]}, True),
    ("$elemMatch-not", {"t": {"$elemMatch": {"$not": {"$gt": 5}}}}, {"t": [6, 1]}, True),
    (
        "$elemMatch-object",
        {"o": {"$elemMatch": {"sku": "x", "qty": {"$gte": 2}}}},
        {"o": [{"sku": "x", "qty": 2}]},
        True,
    ),
    (
        "$elemMatch-object-split",
        {"o": {"$elemMatch": {"sku": "x", "qty": {"$gte": 2}}}},
        {"o": ORDERS},
        False,
    ),
    ("$elemMatch-object-scalars", {"o": {"$elemMatch": {"sku": "x"}}}, {"o": ["x"]}, False),
    (
        "$elemMatch-or",
        {"o": {"$elemMatch": {"$or": [{"a": 1}, {"b": 2}]}}},
        {"o": [{"b": 2}]},
        True,
    ),
    # logic
    ("$and", {"$and": [{"a": 1}, {"b": {"$gt": 1}}]}, {"a": 1, "b": 2}, True),
    ("$and-no", {"$and": [{"a": 1}, {"b": {"$gt": 1}}]}, {"a": 1, "b": 1}, False),
    ("$or", {"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
    ("$or-no", {"$or": [{"a": 1}, {"b": 2}]}, {"b": 3}, False),
    ("$or-single", {"$or": [{"a": 1}]}, {"a": 1}, True),
    ("$nor", {"$nor": [{"a": 1}, {"b": 2}]}, {"b": 3}, True),
    ("$nor-no", {"$nor": [{"a": 1}, {"b": 2}]}, {"a": 1}, False),
    ("$not", {"$not": {"a": 1}}, {"a": 2}, True),
    ("$not-match", {"$not": {"a": 1}}, {"a": 1}, False),
    ("$not-missing", {"$not": {"a": 1}}, {}, True),
    ("$not-missing-gt", {"$not": {"a": {"$gt": 1}}}, {}, True),
    ("$not-field-missing", {"a": {"$not": {"$gt": 5}}}, {}, True),
    ("$not-field", {"a": {"$not": {"$gt": 5}}}, {"a": 6}, False),
    ("$not-field-low", {"a": {"$not": {"$gt": 5}}}, {"a": 3}, True),
    ("$not-field-literal", {"a": {"$not": "US"}}, {"a": "CA"}, True),
    ("$not-not", {"$not": {"$not": {"a": 1}}}, {"a": 1}, True),
    ("nested-logic", {"$or": [{"$and": [{"a": 1}, {"b": 1}]}, {"c": 1}]}, {"a": 1, "b": 1}, True),
    # versions
    ("$veq-pad", {"v": {"$veq": "1.2.0"}}, {"v": "v1.2"}, True),
    ("$veq-build", {"v": {"$veq": "1.2.0"}}, {"v": "1.2.0+build.5"}, True),
    ("$veq-pre", {"v": {"$veq": "1.2.0"}}, {"v": "1.2.0-rc.1"}, False),
    ("$vne", {"v": {"$vne": "1.2.0"}}, {"v": "1.2.1"}, True),
    ("$vne-equal", {"v": {"$vne": "1.2.0"}}, {"v": "1.2"}, False),
    ("$vne-missing", {"v": {"$vne": "1.2.0"}}, {}, True),
    ("$vgt-release-pre", {"v": {"$vgt": "1.0.0-beta"}}, {"v": "1.0.0"}, True),
    ("$vgt-numeric", {"v": {"$vgt": "1.9.0"}}, {"v": "1.10.0"}, True),
    ("$vgt-missing", {"v": {"$vgt": "1.0.0"}}, {}, False),
    ("$vgt-garbage", {"v": {"$vgt": "1.0.0"}}, {"v": "abc"}, False),
    ("$vgt-bool", {"v": {"$vgt": "0.0.1"}}, {"v": True}, False),
    ("$vgte", {"v": {"$vgte": "2.0.0"}}, {"v": "2.0"}, True),
    ("$vgte-int", {"v": {"$vgte": "2.0.0"}}, {"v": 2}, True),
    ("$veq-float", {"v": {"$veq": "1.5.0"}}, {"v": 1.5}, True),
    ("$vlt-pre", {"v": {"$vlt": "1.0.0"}}, {"v": "1.0.0-rc.1"}, True),
    ("$vlt-alpha-beta", {"v": {"$vlt": "1.0.0-beta"}}, {"v": "1.0.0-alpha"}, True),
    ("$vlte", {"v": {"$vlte": "1.0.0"}}, {"v": "v1.0.0"}, True),
    ("$vlte-more", {"v": {"$vlte": "1.0.0"}}, {"v": "1.0.1"}, False),
    # groups
    ("$inGroup", {"c": {"$inGroup": "eu"}}, {"c": "FR"}, True),
    ("$inGroup-no", {"c": {"$inGroup": "eu"}}, {"c": "US"}, False),
    ("$inGroup-array", {"c": {"$inGroup": "eu"}}, {"c": ["US", "DE"]}, True),
    ("$inGroup-missing", {"c": {"$inGroup": "eu"}}, {}, False),
    ("$inGroup-num-bool", {"c": {"$inGroup": "eu"}}, {"c": True}, False),
    ("$inGroup-empty", {"c": {"$inGroup": "empty"}}, {"c": "FR"}, False),
    ("$notInGroup", {"c": {"$notInGroup": "eu"}}, {"c": "US"}, True),
    ("$notInGroup-in", {"c": {"$notInGroup": "eu"}}, {"c": "DE"}, False),
    ("$notInGroup-missing", {"c": {"$notInGroup": "eu"}}, {}, True),
]

# Rows where GrowthBook 4.x answers differently, on purpose (docs/conditions.md).
GB_DIFFERS = {
    "eq-array-contains": "implicit equality matches an element of an array (MongoDB)",
    "eq-tuple-contains": "tuples are arrays, and equality matches an element",
    "eq-array-nested": "implicit equality matches an element of an array (MongoDB)",
    "path-list-tail-array": "implicit equality matches an element of an array (MongoDB)",
    "$eq-array": "$eq is the same as implicit equality",
    "$ne-array": "$ne is the negation of $eq",
    "$gt-fraction": "any numbers.Real (not bool) is a number",
    "$gt-np-int": "any numbers.Real (not bool) is a number",
    "$gt-decimal": "Decimal is a number",
    "$type-set": "a set is not an array",
    "$elemMatch-none": "None elements are tested too",
    "$veq-float": "a number attribute is read as a version",
    "$in-whole-array": "$in is an OR of $eq, which compares arrays by content",
    "$in-object": "$in is an OR of $eq, which compares objects by content",
    "$size-cond-range": "tuples are arrays",
    "$veq-pad": "missing version parts count as 0",
    "$vne-equal": "missing version parts count as 0",
    "$vgte": "missing version parts count as 0",
    "$vgte-int": "a number attribute is read as a version",
    "$vgt-garbage": "an attribute that is not a version never orders",
}


def _ids(rows: list[tuple[str, Any, Any, bool]]) -> list[str]:
    return [row[0] for row in rows]


@pytest.mark.parametrize(("name", "condition", "attributes", "expected"), CASES, ids=_ids(CASES))
def test_operator_table(
    name: str, condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    assert compile_condition(condition, GROUPS)(attributes) is expected
    assert evaluate_condition(condition, attributes, GROUPS) is expected


def test_ids_are_unique() -> None:
    assert len(set(_ids(CASES))) == len(CASES)


def test_growthbook_agrees_except_documented_rows() -> None:
    core = pytest.importorskip("growthbook.core")
    differs = set()
    for name, condition, attributes, expected in CASES:
        if core.evalCondition(attributes, condition, GROUPS) is not expected:
            differs.add(name)
    assert differs == set(GB_DIFFERS)


# --------------------------------------------------------------------------- versions

# Ascending, per the SemVer 2.0 precedence example plus padding and numeric parts.
VERSION_ORDER = [
    "0.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2",
    "1.9.9",
    "1.10.0",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(VERSION_ORDER, 2)))
def test_version_order(a: str, b: str) -> None:
    assert compare_versions(a, b) == -1
    assert compare_versions(b, a) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("v1.2", "1.2.0"),
        ("V1.2", "1.2"),
        ("1.2.0.0", "1.2"),
        ("1.2.3+build.7", "1.2.3"),
        ("1.2.3-rc.1+b", "1.2.3-rc.1"),
        ("1.2.3-rc-1", "1.2.3-rc.1"),
        ("01.002.3", "1.2.3"),
        (" 1.2.3 ", "1.2.3"),
    ],
)
def test_version_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0


@pytest.mark.parametrize("bad", ["", "abc", "1.x", "1..2", "1.2.3beta", "-1.0", "1.0.0-", "v"])
def test_version_invalid(bad: str) -> None:
    with pytest.raises(ConditionError):
        compare_versions(bad, "1.0.0")
    assert validate_condition({"v": {"$vgt": bad}})[0][0] == "when.v.$vgt"


# --------------------------------------------------------------------------- validation

INVALID: list[tuple[Any, str]] = [
    ({"age": {"$gtt": 3}}, "when.age.$gtt"),
    ({"tags": {"$in": "a"}}, "when.tags.$in"),
    ({"tags": {"$size": "2"}}, "when.tags.$size"),
    ({"tags": {"$size": -1}}, "when.tags.$size"),
    ({"tags": {"$size": {"$bad": 1}}}, "when.tags.$size.$bad"),
    ({"name": {"$regex": "("}}, "when.name.$regex"),
    ({"name": {"$regexi": 5}}, "when.name.$regexi"),
    ({"$and": {"a": 1}}, "when.$and"),
    ({"$or": []}, "when.$or"),
    ({"$or": [{"a": 1}, "b"]}, "when.$or[1]"),
    ({"$nor": [{"a": {"$in": 1}}]}, "when.$nor[0].a.$in"),
    ({"$not": [1]}, "when.$not"),
    ({"c": {"$inGroup": 5}}, "when.c.$inGroup"),
    ({"c": {"$notInGroup": ""}}, "when.c.$notInGroup"),
    ({"x": {"$exists": "yes"}}, "when.x.$exists"),
    ({"x": {"$type": "int"}}, "when.x.$type"),
    ({"x": {"$gt": True}}, "when.x.$gt"),
    ({"x": {"$gt": float("nan")}}, "when.x.$gt"),
    ({"x": {"$gt": 1, "y": 2}}, "when.x"),
    ({"x": {}}, "when.x"),
    ({"x": {"$elemMatch": {"y": {"$bad": 1}}}}, "when.x.$elemMatch.y.$bad"),
    ({"x": {"$elemMatch": {}}}, "when.x.$elemMatch"),
    ({"x": {"$elemMatch": 3}}, "when.x.$elemMatch"),
    ({"x": {"$all": [{"$gtt": 1}]}}, "when.x.$all[0].$gtt"),
    ({"x": {"$or": [{"a": 1}]}}, "when.x.$or"),
    ({"x": {"$not": {"$foo": 1}}}, "when.x.$not.$foo"),
    ({"$where": "1"}, "when.$where"),
    ({"a..b": 1}, "when.a..b"),
    ({1: "a"}, "when"),
    ({"x": {1, 2}}, "when.x"),
    ({"x": [object()]}, "when.x[0]"),
    ("country = US", "when"),
    (None, "when"),
]


@pytest.mark.parametrize(("condition", "path"), INVALID, ids=[p for _, p in INVALID])
def test_validate_reports_path(condition: Any, path: str) -> None:
    problems = validate_condition(condition)
    assert [p[0] for p in problems] == [path]
    assert all(isinstance(part, str) and part for part in problems[0])
    with pytest.raises(ConditionError) as info:
        compile_condition(condition)
    assert info.value.problems[0].file == "<condition>"
    assert info.value.problems[0].path == path


def test_validate_collects_every_problem_and_prefix() -> None:
    problems = validate_condition({"a": {"$gtt": 1}, "b": {"$in": 3}}, path="cells[2].when")
    assert [p[0] for p in problems] == ["cells[2].when.a.$gtt", "cells[2].when.b.$in"]
    assert problems[0][2] == "a known operator (did you mean $gt?)"
    assert validate_condition({"a": {"$regex": "("}})[0][1] == "'('"


def test_every_table_condition_is_valid() -> None:
    for name, condition, _, _ in CASES:
        assert validate_condition(condition) == [], name


def test_validate_never_raises_on_deep_nesting() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(5000):
        deep = {"$not": deep}
    assert validate_condition(deep)[0][0] == "when"


def test_unknown_group_is_a_condition_error() -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition({"c": {"$inGroup": "asia"}, "d": {"$notInGroup": "x"}}, GROUPS)
    assert [p.path for p in info.value.problems] == ["when.c.$inGroup", "when.d.$notInGroup"]
    assert "known: empty, eu" in info.value.problems[0].expected
    assert isinstance(info.value, ConfigError)
    with pytest.raises(ConditionError):
        compile_condition({"c": {"$inGroup": "eu"}})
    with pytest.raises(ConditionError, match="a list of values"):
        compile_condition({"c": {"$inGroup": "eu"}}, {"eu": "FR"})


def test_group_accepts_any_iterable() -> None:
    match = compile_condition({"c": {"$inGroup": "g"}}, {"g": ("a", "b")})
    assert match({"c": "b"}) and not match({"c": "c"})


def test_condition_fields() -> None:
    condition = {
        "age": {"$gt": 3},
        "device.os": "ios",
        "$or": [{"country": "US"}, {"$and": [{"plan": "pro"}]}],
        "$nor": [{"x": 1}],
        "$not": {"y": {"$exists": True}},
        "orders": {"$elemMatch": {"sku": "x"}},
    }
    expected = {"age", "device.os", "country", "plan", "x", "y", "orders"}
    assert condition_fields(condition) == expected
    assert condition_fields({}) == set()


# --------------------------------------------------------------------------- properties

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 1)),
    st.sampled_from(["", "a", "A", "b", "1", "1.2.0", "v2"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=6,
)
_attributes = st.dictionaries(st.sampled_from(["a", "b", "c"]), _values, max_size=3)
_ordered = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b"]))


def _field_ops() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda v: {"$eq": v}, _values),
        st.builds(lambda v: {"$ne": v}, _values),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), _ordered),
        st.builds(
            lambda op, v: {op: v}, st.sampled_from(["$in", "$nin", "$ini"]), st.lists(_values)
        ),
        st.builds(lambda v: {"$all": v}, st.lists(_scalars, max_size=2)),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
        st.builds(lambda v: {"$type": v}, st.sampled_from(["null", "number", "array", "string"])),
        st.builds(lambda v: {"$regex": v}, st.sampled_from(["^a", "1", "A"])),
        st.builds(lambda v: {"$size": v}, st.integers(0, 2) | st.just({"$gt": 0})),
        st.builds(lambda v: {"$elemMatch": {"$eq": v}}, _scalars),
        st.builds(lambda v: {"$vgte": v}, st.sampled_from(["1.2", "2.0.0-rc"])),
    )


_fields = st.sampled_from(["a", "b", "c", "a.a", "c.0"])
_leaf = st.one_of(
    st.builds(lambda f, v: {f: v}, _fields, _scalars),
    st.builds(lambda f, op: {f: op}, _fields, _field_ops()),
)
_conditions = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda cs: {"$or": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$and": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"$not": c}, inner),
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(_conditions, _attributes)
def test_not_is_negation(condition: dict[str, Any], attributes: dict[str, Any]) -> None:
    assert validate_condition(condition) == []
    result = evaluate_condition(condition, attributes)
    assert isinstance(result, bool)
    assert evaluate_condition({"$not": condition}, attributes) is (not result)
    assert evaluate_condition({"$nor": [condition]}, attributes) is (not result)


@settings(max_examples=300, deadline=None)
@given(_field_ops(), _attributes)
def test_field_not_is_negation(op: dict[str, Any], attributes: dict[str, Any]) -> None:
    result = evaluate_condition({"a": op}, attributes)
    assert evaluate_condition({"a": {"$not": op}}, attributes) is (not result)


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=4), _attributes)
def test_in_is_or_of_equalities_and_nin_its_negation(
    values: list[Any], attributes: dict[str, Any]
) -> None:
    found = evaluate_condition({"a": {"$in": values}}, attributes)
    ors = any(evaluate_condition({"a": {"$eq": v}}, attributes) for v in values)
    assert found is ors
    assert evaluate_condition({"a": {"$nin": values}}, attributes) is (not found)


@settings(max_examples=300, deadline=None)
@given(_scalars, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), _ordered, _attributes)
def test_fast_paths_match_generic_paths(
    literal: Any, op: str, bound: Any, attributes: dict[str, Any]
) -> None:
    # {"a": x} and {"a": {op: x}} take specialized closures; the dotted form
    # {"a.a": ...} on {"a": {"a": ...}} goes through the generic resolver.
    nested = {"a": dict(attributes)}
    for condition in ({"a": literal}, {"a": {op: bound}}, {"a": {"$eq": literal}}):
        fast = evaluate_condition(condition, attributes)
        generic = evaluate_condition({"a.a": next(iter(condition.values()))}, nested)
        assert fast is generic


_versions = st.builds(
    lambda core, pre: ".".join(map(str, core)) + (f"-{'.'.join(pre)}" if pre else ""),
    st.lists(st.integers(0, 12), min_size=1, max_size=4),
    st.lists(st.sampled_from(["alpha", "beta", "rc", "0", "1", "11", "b-2"]), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(_versions, _versions, _versions)
def test_compare_versions_is_a_total_order(a: str, b: str, c: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, a) == 0
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0
    assert compare_versions(a, a + ".0" if "-" not in a else a) == 0


# --------------------------------------------------------------------------- $regex on RE2


@pytest.mark.parametrize(
    "pattern",
    ["(a)\\1", "(?P<x>a)(?P=x)", "a(?=b)", "a(?!b)", "(?<=a)b", "(?<!a)b", "a*+", "a{1001}"],
)
def test_patterns_re2_cannot_run_are_refused(pattern: str) -> None:
    problems = validate_condition({"s": {"$regex": pattern}})
    assert problems and problems[0][0] == "when.s.$regex" and "RE2" in problems[0][2]
    with pytest.raises(ConditionError, match="RE2"):
        compile_condition({"s": {"$regexi": pattern}})


@pytest.mark.timeout(60)  # a hang guard for a backtracking engine, not a speed assertion
def test_redos_pattern_is_accepted_and_linear() -> None:
    match = compile_condition({"s": {"$regex": "(a+)+$"}, "t": {"$regex": "^(a|aa)+b"}})
    # Python's re takes seconds at 27 characters and doubles with each one
    assert match({"s": "a" * 10_000 + "!", "t": "a" * 10_000}) is False
    assert match({"s": "a" * 10_000, "t": "a" * 9_999 + "b"}) is True


def test_classes_are_re2s_ascii_classes() -> None:
    """RE2 (hence DuckDB) reads \\d, \\w, \\s as ASCII; Python's re would match these."""
    assert evaluate_condition({"n": {"$regex": "^\\d$"}}, {"n": "٣"}) is False
    assert evaluate_condition({"n": {"$regex": "^\\w+$"}}, {"n": "é"}) is False
    assert evaluate_condition({"n": {"$regex": "^\\d\\w\\s$"}}, {"n": "1a "}) is True


def test_python_spellings_keep_their_meaning() -> None:
    """``$`` before a final newline, ``{,n}``, ``\\Z``, ``[`` in a class, as in ``re.search``."""
    rows = [
        ("b$", "ab\n", True),
        ("b$", "ab\n\n", False),
        ("^a{,2}b", "aab", True),
        ("^a{,2}b", "aaab", False),
        ("b\\Z", "ab\n", False),
        ("[[:a]]", ":]", True),
        ("[[:a]]", "a", False),
        ("\\u00e9", "café", True),
        ("x{}", "x{}", True),
        ("(?i)É", "é", True),
    ]
    for pattern, value, expected in rows:
        assert evaluate_condition({"v": {"$regex": pattern}}, {"v": value}) is expected, pattern


def test_lone_surrogates_never_raise() -> None:
    value = json.loads('"a\\ud800b"')
    assert evaluate_condition({"v": {"$regex": "a.b"}}, {"v": value}) is True
    assert evaluate_condition({"v": {"$regex": "^x"}}, {"v": value}) is False


_ATOMS = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", "\\.", "\n", "(?:a|b)", "(a|)"])
_QUANTS = st.sampled_from(["", "", "*", "+", "?", "{,2}", "{1,2}", "{2}", "*?", "{,}"])


@st.composite
def _patterns(draw: st.DrawFn) -> str:
    parts = [draw(_ATOMS) + draw(_QUANTS) for _ in range(draw(st.integers(1, 4)))]
    pattern = "".join(parts)
    if draw(st.booleans()):
        pattern = "^" + pattern
    if draw(st.booleans()):
        pattern += draw(st.sampled_from(["$", "\\Z", "|b$"]))
    return pattern


@settings(max_examples=500, deadline=None)
@given(_patterns(), st.text(alphabet="abAB.\n", max_size=8), st.booleans())
def test_re2_finds_what_python_re_finds(pattern: str, value: str, ignore_case: bool) -> None:
    """Oracle: Python's ``re.search`` on the portable subset (ASCII, no classes like \\d)."""
    expected = re.search(pattern, value, re.IGNORECASE if ignore_case else 0) is not None
    op = "$regexi" if ignore_case else "$regex"
    assert evaluate_condition({"v": {op: pattern}}, {"v": value}) is expected


def test_public_re2_api_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """If google-re2's internals move, the predicate falls back to its public ``search``."""
    from segab import condition_regex

    class Public:
        def __init__(self, compiled: Any) -> None:
            self.search = compiled.search

    real = condition_regex._compile
    monkeypatch.setattr(condition_regex, "_compile", lambda p, i: Public(real(p, i)))
    found = condition_regex.regex_predicate("^a.c$", ignore_case=True)
    assert [found(v) for v in ("Abc", "abc\n", "ab", 1, json.loads('"a\\ud800c"'))] == [
        True,
        True,
        False,
        False,
        True,
    ]
