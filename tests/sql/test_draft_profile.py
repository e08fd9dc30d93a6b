"""`segab init`'s profile is computed inside each engine and agrees across them.

The same table as a CSV file and a DataFrame (DuckDB), a SQLite table, a
PostgreSQL table and a Spark table: row count, per column the present, distinct,
non-binary and non-numeric values and the range, and the listed values of the
text columns. Oracle: pandas on the same frame (closed-form counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segab.draft.profile import TableProfile, profile_table
from segab.sums.sources import open_engine

FRAME = pd.DataFrame(
    {
        "arm": [" Control", " Civic Duty", " Control", "No E-Mail", " Control", None],
        "voted": ["Yes", "no", "YES", None, "No", "yes"],
        "rounds": [3, 0, 17, 5, 5, 120],
        "spend": [0.0, 12.5, None, 3.25, 0.0, 99.0],
        "city": ["x", "y", "x", "z", "x", "y"],
    }
)
TEXT = ("arm", "city", "voted")


def _summary(p: TableProfile) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": p.rows}
    for c in p.columns:
        out[c.name] = (c.present, c.distinct, c.not_binary, c.not_number, c.minimum, c.maximum)
        if c.name in TEXT:
            out[c.name + ".levels"] = c.levels
    return out


def _oracle() -> dict[str, Any]:
    out: dict[str, Any] = {"rows": len(FRAME)}
    for name in FRAME.columns:
        col = FRAME[name].dropna()
        numeric = pd.to_numeric(col, errors="coerce")
        words = col.astype(str).str.strip().str.lower()
        binary = words.isin(["0", "1", "true", "false", "yes", "no", "0.0", "1.0"])
        lo = float(numeric.min()) if numeric.notna().all() else None
        hi = float(numeric.max()) if numeric.notna().all() else None
        out[name] = (
            len(col),
            col.nunique(),
            int((~binary).sum()),
            int(numeric.isna().sum()),
            lo,
            hi,
        )
        if name in TEXT:
            counts = FRAME[name].value_counts(dropna=False)
            levels = [(None if pd.isna(k) else str(k), int(v)) for k, v in counts.items()]
            out[name + ".levels"] = tuple(
                sorted(levels, key=lambda kv: (kv[0] is None, kv[0] or ""))
            )
    return out


def test_duckdb_file_and_frame_agree_with_pandas(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    FRAME.to_csv(path, index=False)
    with open_engine(None) as eng:
        from_file = profile_table(eng, str(path), levels_of=["arm"])
        from_frame = profile_table(eng, FRAME, levels_of=["arm"])
    assert _summary(from_frame) == _oracle()
    # DuckDB's CSV reader types a yes/no column as BOOLEAN (as segab analyze reads it too)
    assert from_file.column("voted").is_binary and from_frame.column("voted").is_binary
    file, frame = _summary(from_file), _summary(from_frame)
    assert {k: v for k, v in file.items() if not k.startswith("voted")} == {
        k: v for k, v in frame.items() if not k.startswith("voted")
    }


def test_sqlite_agrees(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    import sqlalchemy as sa

    FRAME.to_sql("t", sa.create_engine(url), index=False)
    with open_engine(url) as eng:
        got = profile_table(eng, "t", levels_of=["arm"])
    assert _summary(got) == _oracle()


def test_postgresql_agrees(pg_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    FRAME.to_sql("segab_draft_profile", engine, index=False, if_exists="replace")
    try:
        with open_engine(str(engine.url.render_as_string(hide_password=False))) as eng:
            got = profile_table(eng, "segab_draft_profile", levels_of=["arm"])
        assert _summary(got) == _oracle()
    finally:
        with engine.begin() as con:
            con.execute(sa.text("DROP TABLE IF EXISTS segab_draft_profile"))
        engine.dispose()


def test_spark_agrees(spark: Any, tmp_path: Path) -> None:
    from segab.sums.spark import SparkEngine

    rows = [
        tuple(None if pd.isna(v) else (int(v) if c == "rounds" else v) for c, v in row.items())
        for _, row in FRAME.iterrows()
    ]
    schema = "arm string, voted string, rounds long, spend double, city string"
    spark.createDataFrame(rows, schema).createOrReplaceTempView("segab_draft_profile")
    eng = SparkEngine(spark)
    got = profile_table(eng, "segab_draft_profile", levels_of=["arm"])
    assert _summary(got) == _oracle()


@pytest.mark.parametrize("max_levels", [1, 3])
def test_only_columns_with_few_values_list_them(max_levels: int) -> None:
    with open_engine(None) as eng:
        got = profile_table(eng, FRAME, levels_of=["arm"], max_levels=max_levels)
    listed = {c.name for c in got.columns if c.levels is not None}
    assert listed == {"arm", *(c for c in FRAME if FRAME[c].nunique() <= max_levels)}
