"""Golden vectors of hash version 1 and of assignment (tests/golden/hash_v1.json).

The vectors pin the algorithm: any change to the key format, the digest or the
bucket arithmetic fails here, and would re-bucket every user in production.
The bucket is also recomputed independently from the MD5 hex digest, the way
SQL engines do it (first 8 hex digits read as base 16, modulo 10,000).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segab import assign, load_experiments
from segab.hashing import BUCKETS, HASH_VERSION, bucket, bucket_of_key, hash_key

GOLDEN = json.loads((Path(__file__).parent / "golden" / "hash_v1.json").read_text("utf-8"))
REGISTRY = load_experiments(Path(__file__).parent / "golden" / "experiments")


def test_version_and_bucket_count() -> None:
    assert (GOLDEN["hash_version"], GOLDEN["buckets"]) == (HASH_VERSION, BUCKETS)


@pytest.mark.parametrize("vector", GOLDEN["keys"], ids=lambda v: v["key"])
def test_key_vectors(vector: dict[str, object]) -> None:
    key = str(vector["key"])
    assert hashlib.md5(key.encode("utf-8")).hexdigest() == vector["md5_hex"]
    assert bucket_of_key(key) == vector["bucket"]
    # independent recomputation, as DuckDB/PostgreSQL/Spark do it from the hex text
    assert int(str(vector["md5_hex"])[:8], 16) % 10_000 == vector["bucket"]


def test_bucket_joins_parts_with_the_separator() -> None:
    assert hash_key(("a", "b", "c")) == "a|b|c"
    assert bucket(("a", "b", "c")) == bucket_of_key("a|b|c")


@pytest.mark.parametrize(
    "case", GOLDEN["assignments"], ids=lambda c: f"{c['experiment']}:{c['unit_id']}:{c['stage']}"
)
def test_assignment_vectors(case: dict[str, object]) -> None:
    exp = REGISTRY[str(case["experiment"])]
    result = assign(exp, str(case["unit_id"]), case["attributes"], str(case["stage"]))  # type: ignore[arg-type]
    assert result.to_dict() == case["expected"]


def test_assigned_bucket_is_the_documented_key() -> None:
    exp = REGISTRY["journey_content"]
    a = assign(exp, "u1", {"age": 28, "channel": "social"}, "awareness")
    assert a.bucket == bucket_of_key("journey_content|young_tech_savvy|awareness|u1")
    journey = REGISTRY["channel_tailoring"]
    b = assign(journey, "u6", {"age": 22, "channel": "tiktok"}, "purchase")
    assert b.bucket == bucket_of_key("channel_tailoring|young_tech_savvy|*|u6")


_SCRIPT = """
import json, sys
from segab import assign, load_experiments
reg = load_experiments(sys.argv[1])
out = [assign(reg['journey_content'], f'u{i}', {'age': i % 80, 'channel': 'social'},
              ['awareness', 'purchase'][i % 2]).variant for i in range(3000)]
print(json.dumps(out))
"""


def test_same_assignments_across_processes_with_different_hash_seeds() -> None:
    """Python's hash() randomisation must not leak into assignment."""
    outputs = []
    for seed in ("1", "987654"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(Path(__file__).parent / "golden" / "experiments")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) >= 2
