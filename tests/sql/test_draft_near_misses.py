"""`segab init` on columns that are numbers (or 0/1/yes/no) but for a few text values.

A column of amounts holding ``N/A`` in a few rows is still a continuous outcome: the
profile reads it on every row and counts the values that are not numbers exactly, in
every engine, keeping a few of them as examples; a column of true/false holding one
``Y`` is named with it instead of being taken for a breakdown. Oracle: pandas on the
same frame (``to_numeric(errors="coerce")`` for the numbers). With three columns of
many distinct values, the sampled values are more than SQLite's 500 terms of a compound
SELECT: they are read in several statements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segab.draft.infer import classify_columns
from segab.draft.profile import EXAMPLES, TableProfile, profile_table
from segab.sums.sources import open_engine

RNG = np.random.default_rng(16)
N = 300
_amounts = [f"{x:.2f}" for x in RNG.uniform(0, 50, N)]  # ~300 distinct: sampled, not listed
for _i, _bad in ((3, "N/A"), (40, "N/A"), (77, "-"), (150, "$12.00")):
    _amounts[_i] = _bad
_flags = list(RNG.choice(["TRUE", "false", "True", "FALSE"], N))
_flags[9] = "Y"
_mostly_text = [f"note {i}" for i in range(N)]
for _i in range(0, N, 10):
    _mostly_text[_i] = str(_i)  # a tenth are numbers
FRAME = pd.DataFrame(
    {
        "arm": ["a", "b"] * (N // 2),
        "spend": _amounts,
        "bought": _flags,
        "comment": _mostly_text,
        "half": [("N/A" if i % 2 else f"{i}.5") for i in range(N)],  # half text
    }
)


def _oracle(name: str) -> tuple[int, float | None, float | None, set[str]]:
    numbers = pd.to_numeric(FRAME[name], errors="coerce")
    text = set(FRAME[name][numbers.isna()])
    return int(numbers.isna().sum()), float(numbers.min()), float(numbers.max()), text


def _check(p: TableProfile) -> None:
    spend = p.column("spend")
    bad, lo, hi, text = _oracle("spend")
    assert (spend.not_number, spend.minimum, spend.maximum) == (bad, lo, hi)
    # examples: the least and greatest such values (the engine's collation) and sampled ones
    assert set(spend.examples) <= text and 2 <= len(spend.examples) <= EXAMPLES
    bought = p.column("bought")
    assert bought.not_binary == 1 and bought.examples == ("Y",)
    comment = p.column("comment")  # text: not read on every row
    assert comment.not_number == comment.present == N
    cols = classify_columns(p, "arm", unit=None)
    assert [(o.column, o.kind) for o in cols.outcomes] == [("spend", "continuous")]
    assert "4 values" in cols.outcomes[0].note and "not numbers" in cols.outcomes[0].note
    reasons = dict(cols.ignored)
    assert "but for 1 value ('Y')" in reasons["bought"]
    assert "50%" in reasons["half"]  # too many to leave out
    assert "bought" not in dict(cols.breakdowns)


def test_duckdb_frame_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    FRAME.to_csv(path, index=False)
    with open_engine(None) as eng:
        _check(profile_table(eng, FRAME, levels_of=["arm"]))
        _check(profile_table(eng, str(path), levels_of=["arm"]))


def test_sqlite(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 't.db'}"
    FRAME.to_sql("t", sa.create_engine(url), index=False)
    with open_engine(url) as eng:
        _check(profile_table(eng, "t", levels_of=["arm"]))


def test_postgresql(pg_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    FRAME.to_sql("segab_draft_near", engine, index=False, if_exists="replace")
    try:
        with open_engine(str(engine.url.render_as_string(hide_password=False))) as eng:
            _check(profile_table(eng, "segab_draft_near", levels_of=["arm"]))
    finally:
        with engine.begin() as con:
            con.execute(sa.text("DROP TABLE IF EXISTS segab_draft_near"))
        engine.dispose()


def test_spark(spark: Any) -> None:
    from segab.sums.spark import SparkEngine

    schema = ", ".join(f"{c} string" for c in FRAME.columns)
    rows = [tuple(r) for r in FRAME.itertuples(index=False)]
    spark.createDataFrame(rows, schema).createOrReplaceTempView("segab_draft_near")
    _check(profile_table(SparkEngine(spark), "segab_draft_near", levels_of=["arm"]))
