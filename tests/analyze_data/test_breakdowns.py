"""Several breakdowns in one call (``--breakdown``, ``breakdowns=``): one scan, the same numbers.

Oracle: the same breakdowns run in separate calls, one breakdown each (the ``--by``
path), on the same engine and data. PostgreSQL and Spark: tests/sql/test_breakdowns_engines.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from segab.analysis.api import analyze
from segab.cli import cli
from segab.sql.dialects import get_dialect
from segab.sums.aggregate import aggregate_event_log, aggregate_units
from segab.sums.breakdowns import plan_breakdowns
from segab.sums.sources import Relation, open_engine
from segab.sums.specs import MetricSpec, UnitColumns, UnitSpec
from segab.sums.units import units_query
from tests.analyze_data.breakdown_data import (
    BREAKDOWNS,
    UNIT_CONFIG,
    assert_one_call_equals_separate,
    event_log,
    sums_table,
    unit_experiment,
    unit_table,
)
from tests.analyze_data.conftest import make_exp


def _sqlite(tmp_path: Path, **tables: pd.DataFrame) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    for name, df in tables.items():
        df.to_sql(name, engine, index=False)
    engine.dispose()
    return url


@pytest.mark.parametrize("source", ["dataframe", "csv", "parquet", "sqlite"])
def test_unit_table_one_call_equals_separate_calls(tmp_path: Path, source: str) -> None:
    exp, df = unit_experiment(), unit_table()
    url = None
    units: Any = df
    if source == "csv":
        units = tmp_path / "units.csv"
        df.to_csv(units, index=False)
    elif source == "parquet":
        units = tmp_path / "units.parquet"
        df.to_parquet(units)
    elif source == "sqlite":
        url, units = _sqlite(tmp_path, units=df), "units"
    with open_engine(url) as eng:
        one = analyze(exp, units=units, breakdowns=BREAKDOWNS, engine=eng)
        separate = {b: analyze(exp, units=units, by=b, engine=eng) for b in BREAKDOWNS}
    assert one.data_quality["bad_values"] == 1 and one.data_quality["duplicate_units"] == 2
    assert_one_call_equals_separate(one, separate)


@pytest.mark.parametrize("source", ["dataframe", "sqlite"])
def test_event_log_one_call_equals_separate_calls(tmp_path: Path, source: str) -> None:
    exp, (x, e) = make_exp(), event_log()
    url = _sqlite(tmp_path, exposures=x, events=e) if source == "sqlite" else None
    inputs: dict[str, Any] = {"exposures": x, "events": e}
    if url is not None:
        inputs = {"exposures": "exposures", "events": "events"}
    with open_engine(url) as eng:
        one = analyze(exp, **inputs, breakdowns=BREAKDOWNS, engine=eng)
        separate = {b: analyze(exp, **inputs, by=b, engine=eng) for b in BREAKDOWNS}
    assert one.data_quality["duplicate_exposures"] == 1
    assert_one_call_equals_separate(one, separate)


def test_fast_path_generic_route_and_cells_agree() -> None:
    """The fast path rolls its finest crossing up; the generic route uses GROUPING SETS."""
    exp, (x, e) = make_exp(), event_log()
    fast = aggregate_event_log(exp, x, e, breakdowns=BREAKDOWNS)
    for route in ("generic", "cells"):
        other = aggregate_event_log(exp, x, e, breakdowns=BREAKDOWNS, route=route)
        assert sums_table(other) == sums_table(fast)
        assert other.data_quality == fast.data_quality
    assert fast.breakdowns == tuple(BREAKDOWNS)
    assert set(fast.sums["breakdown"]) == {0, 1, 2, 3}


def test_null_value_is_a_group_distinct_from_not_in_the_breakdown() -> None:
    exp, df = unit_experiment(), unit_table()
    agg = aggregate_units(exp, df, breakdowns=BREAKDOWNS)
    sums = agg.sums
    null_channel = sums[(sums["breakdown"] == 1) & sums["channel"].isna()]
    assert len(null_channel) and null_channel["n"].sum() > 0
    assert sums.loc[sums["breakdown"] == 3, "channel"].isna().all()  # not in breakdown 3
    one = analyze(exp, units=df, breakdowns=BREAKDOWNS).to_dict()
    dims = [r["dimensions"] for r in one["results"]]
    assert {"channel": None} in dims  # the NULL channel's own rows
    assert {} in dims and all("channel" not in d for d in dims if "zip_code" in d)
    assert {"zip_code": "urban", "newbie": 1} in dims  # in the breakdown's own order
    n_null = sum(
        r["n_control"] + r["n_variant"]
        for r in one["results"]
        if r["dimensions"] == {"channel": None} and r["metric"] == "conv"
    )
    n_all = sum(
        r["n_control"] + r["n_variant"]
        for r in one["results"]
        if r["dimensions"] == {} and r["metric"] == "conv"
    )
    assert 0 < n_null < n_all


def test_by_crossing_is_unchanged_and_one_breakdown_is_by() -> None:
    exp, df = unit_experiment(), unit_table()
    crossed = aggregate_units(exp, df, by=("zip_code", "newbie"))
    assert "breakdown" not in crossed.sums.columns and crossed.breakdowns == ()
    same = aggregate_units(exp, df, breakdowns=[("zip_code", "newbie")])
    assert sums_table(same) == sums_table(crossed)
    doc = analyze(exp, units=df, by=("zip_code", "newbie")).to_dict()
    assert doc["breakdowns"] == [["zip_code", "newbie"]]
    assert all(set(r["dimensions"]) in ({"zip_code", "newbie"}, set()) for r in doc["results"])
    # --by and --breakdown together: the crossing is one more breakdown
    both = aggregate_units(exp, df, by=("zip_code", "newbie"), breakdowns=["channel"])
    assert both.breakdowns == (("zip_code", "newbie"), ("channel",))


def test_breakdowns_are_planned_once_each() -> None:
    plan = plan_breakdowns(("newbie", "zip_code"), ["channel", ("zip_code", "newbie")])
    assert plan.names == (("newbie", "zip_code"), ("channel",))
    assert plan.sets == ((0, 1), (2,))


def test_the_dialect_says_how_the_sets_are_grouped() -> None:
    rel = Relation("t", ("arm", "y", "a", "b"), {})
    spec = UnitSpec("arm", None, None, ("a", "b"), (MetricSpec("m", "continuous", "y"),))
    spec = UnitSpec(**{**spec.__dict__, "sets": ((0,), (1,))})
    for name in ("duckdb", "postgresql", "spark"):
        assert get_dialect(name).grouping_sets
        assert "GROUPING SETS" in units_query(name, rel, spec)[0]
    sql = units_query("sqlite", rel, spec)[0]
    assert not get_dialect("sqlite").grouping_sets
    assert "gs_fine AS MATERIALIZED" in sql and sql.count("UNION ALL") == 2


def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    (tmp_path / "experiments").mkdir(exist_ok=True)
    (tmp_path / "experiments" / "mail.yaml").write_text(yaml.safe_dump(UNIT_CONFIG))
    unit_table().to_csv(tmp_path / "units.csv", index=False)
    result = CliRunner().invoke(
        cli,
        ["analyze", "mail", "--units", str(tmp_path / "units.csv"), "--experiments",
         str(tmp_path / "experiments"), *args],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def test_cli_breakdowns_json_equals_library(tmp_path: Path) -> None:
    args = ("--breakdown", "channel", "--breakdown", "zip_code*newbie", "--by", "newbie")
    code, out, err = _cli(tmp_path, *args, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["breakdowns"] == [["newbie"], ["channel"], ["zip_code", "newbie"]]
    want = analyze(
        unit_experiment(),
        units=tmp_path / "units.csv",
        by=("newbie",),
        breakdowns=[("channel",), ("zip_code", "newbie")],
    ).to_dict()
    assert json.dumps(doc, sort_keys=True) == json.dumps(want, sort_keys=True)


def test_cli_breakdowns_in_table_csv_and_html(tmp_path: Path) -> None:
    args = ("--breakdown", "channel", "--breakdown", "zip_code*newbie")
    code, out, _ = _cli(tmp_path, *args, "--format", "csv")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), keep_default_na=False)
    assert {"breakdown", "by_channel", "by_zip_code", "by_newbie"} <= set(frame.columns)
    assert set(frame["breakdown"]) == {"", "channel", "zip_code*newbie"}
    null = frame[(frame["breakdown"] == "channel") & (frame["by_channel"] == "")]
    assert len(null)  # the NULL channel, told apart by its breakdown column
    code, out, _ = _cli(tmp_path, *args)
    assert code == 0 and "breakdowns: channel; zip_code × newbie" in out
    code, out, _ = _cli(tmp_path, *args, "--format", "html")
    assert code == 0 and "by channel; zip_code × newbie" in out


def test_cli_bad_breakdown_is_an_error(tmp_path: Path) -> None:
    code, _, err = _cli(tmp_path, "--breakdown", "zip_code**newbie")
    assert code == 1 and "Error: --breakdown: found 'zip_code**newbie'" in err
    code, _, err = _cli(tmp_path, "--breakdown", "nope")
    assert code == 1 and "nope" in err and "Traceback" not in err


def test_units_columns_option_still_reads_a_variant_column() -> None:
    exp, df = unit_experiment(), unit_table().rename(columns={"variant": "arm"})
    agg = aggregate_units(exp, df, columns=UnitColumns(variant="arm"), breakdowns=BREAKDOWNS)
    assert set(agg.sums["variant"]) == {"none", "mens", "womens"}


def test_a_breakdown_column_from_the_attributes_file() -> None:
    """``attributes`` joined on the unit column serve the breakdowns as the table's own do."""
    exp, df = unit_experiment(), unit_table().drop_duplicates("user_id")
    attrs, units = df[["user_id", "channel"]], df.drop(columns="channel")
    one = analyze(exp, units=units, attributes=attrs, breakdowns=BREAKDOWNS)
    separate = {b: analyze(exp, units=units, attributes=attrs, by=b) for b in BREAKDOWNS}
    assert_one_call_equals_separate(one, separate)
    same = analyze(exp, units=df, breakdowns=BREAKDOWNS)
    assert one.to_dict()["results"] == same.to_dict()["results"]
