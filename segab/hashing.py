"""Versioned, integer-only bucketing hash (hash version 1).

Version 1 is defined as follows; every engine (Python, DuckDB, PostgreSQL,
Spark SQL) computes exactly this:

1. Build the *key string*: the parts joined by ``|``
   (``"|".join(parts)``), encoded as UTF-8.
2. Take the MD5 digest of the key string.
3. Read the first 4 bytes of the digest as an unsigned big-endian integer
   (equivalently, the first 8 hex digits of ``md5()`` read as base-16).
4. The bucket is that integer modulo :data:`BUCKETS` (10,000).

The key parts for the variant draw are ``(seed, segment, stage, unit_id)``;
with journey-wide consistency the stage is replaced by ``*``. The holdout draw
uses ``(seed, "holdout", unit_id)`` and the namespace draw uses
``("namespace", namespace, unit_id)``. See ``docs/hashing.md``.

Example:
    >>> bucket(("checkout_cta", "young_social", "purchase", "u1")) == bucket_of_key(
    ...     "checkout_cta|young_social|purchase|u1")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import md5

__all__ = ["BUCKETS", "HASH_VERSION", "SEPARATOR", "bucket", "bucket_of_key", "hash_key"]

HASH_VERSION = 1
BUCKETS = 10_000
SEPARATOR = "|"


def hash_key(parts: Sequence[str]) -> str:
    """Join key parts into the string that is hashed.

    Example:
        >>> hash_key(("seed", "seg", "stage", "u1"))
        'seed|seg|stage|u1'
    """
    return SEPARATOR.join(parts)


def bucket_of_key(key: str) -> int:
    """Return the bucket in ``[0, BUCKETS)`` of an already-built key string.

    Example:
        >>> 0 <= bucket_of_key("anything") < BUCKETS
        True
    """
    return int.from_bytes(md5(key.encode("utf-8")).digest()[:4], "big") % BUCKETS


def bucket(parts: Sequence[str]) -> int:
    """Return the bucket in ``[0, BUCKETS)`` of the key built from ``parts``.

    Example:
        >>> bucket(("exp", "holdout", "u1")) == bucket_of_key("exp|holdout|u1")
        True
    """
    return bucket_of_key(SEPARATOR.join(parts))
