"""Shared data for the SQL tests: synthetic units and the Python-path oracle."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segab.bulk import assign_file
from segab.config import Experiment, Registry, load_experiments

N_UNITS = 100_000
COMPARED = ("unit_id", "segment", "stage", "variant", "bucket", "in_experiment", "reason")
EXPERIMENTS = ("journey_content", "channel_tailoring", "loyalty_offer")


def synthetic_units(n: int, seed: int = 7) -> pa.Table:
    """Units with ids, stages (some unknown or missing) and attributes with NULLs and NaNs."""
    rng = np.random.default_rng(seed)

    def pick(values: list[object], p: list[float] | None = None) -> list[object]:
        idx = rng.choice(len(values), size=n, p=p)
        return [values[i] for i in idx]

    ids: list[str | None] = [f"u{i}" for i in range(n)]
    stages = ["awareness", "consideration", "purchase", "post_purchase", "checkout", None]
    stage = pick(stages, [0.2, 0.2, 0.2, 0.36, 0.02, 0.02])
    specials = ["qa-loyal-1", "test-account-1", "test-account-2", "", None]
    for i, special in enumerate(specials * 3):
        ids[10 * i + 1] = special
        stage[10 * i + 1] = "post_purchase"
    ages = rng.integers(15, 80, size=n)
    age_null = rng.random(n) < 0.1
    affinity = np.round(rng.integers(0, 21, size=n) * 0.05, 2)
    affinity[rng.random(n) < 0.02] = np.nan
    channels = ["social", "instagram", "tiktok", "youtube", "email", "search", "Email", None, ""]
    return pa.table(
        {
            "user_id": pa.array(ids, pa.string()),
            "customer_id": pa.array(ids, pa.string()),
            "stage": pa.array(stage, pa.string()),
            "age": pa.array(ages, pa.int64(), mask=age_null),
            "channel": pa.array(pick(channels), pa.string()),
            "orders_last_year": pa.array(pick([0, 1, 2, 3, 4, 5, 8, None]), pa.int64()),
            "discount_affinity": pa.array(affinity, pa.float64(), mask=rng.random(n) < 0.05),
            "loyalty.tier": pa.array(pick(["bronze", "silver", "gold", "platinum", None])),
            "loyalty.active": pa.array(pick([True, False, None]), pa.bool_()),
        }
    )


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_experiments("experiments")


@pytest.fixture(scope="session")
def units_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("units") / "units.parquet"
    pq.write_table(synthetic_units(N_UNITS), path)
    return path


_ORACLE: dict[tuple[str, Path], pa.Table] = {}


def python_assignments(exp: Experiment, units: Path) -> pa.Table:
    """The oracle: ``segab.bulk.assign_file`` (``segab.assign()`` row by row), sorted."""
    key = (exp.key, units)
    if key not in _ORACLE:
        out = units.parent / f"python_{exp.key}.parquet"
        assign_file(exp, units, out)
        _ORACLE[key] = sort_rows(pq.read_table(out))
    return _ORACLE[key]


_SCHEMA = pa.schema(
    [
        (c, pa.int64() if c == "bucket" else pa.bool_() if c == "in_experiment" else pa.string())
        for c in COMPARED
    ]
)


def sort_rows(table: pa.Table) -> pa.Table:
    """Keep the compared columns, typed alike (all nullable), sorted by every column."""
    return table.select(list(COMPARED)).cast(_SCHEMA).sort_by([(c, "ascending") for c in COMPARED])


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for every Spark test (skipped without pyspark or Java)."""
    from segab.bulk.spark_engine import spark_available, spark_session

    if not spark_available():
        pytest.skip("pyspark or Java is not installed (pip install 'segab[spark]'; Java 17)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark's pandas version check
        session = spark_session("local[2]", app_name="segab-tests")
    session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny test data: fewer tasks
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL URL of SEGAB_TEST_DATABASE_URL (skipped when unset)."""
    url = os.environ.get("SEGAB_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "SEGAB_TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    return url
