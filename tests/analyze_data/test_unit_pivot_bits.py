"""``segab_u`` takes each stage's first and last cell from bit sets when they fit.

Oracle: ``MIN``/``MAX`` of the packed cell per unit and stage, computed by pandas
on the same rows. Shapes cover one 63-bit word, several words, and too many
cells for a word (the ``MIN``/``MAX`` statements).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from segab.sums._fast.unit_pivot import PivotShape, _bit_words, pivot_table_sql


@pytest.mark.parametrize(
    ("n_segments", "n_stages", "n_variants", "n_words"),
    [(2, 3, 2, 1), (4, 4, 2, 1), (7, 4, 9, 4), (10, 4, 3, 2), (3, 5, 7, 2), (40, 3, 2, None)],
)
def test_first_and_last_cells_equal_min_and_max(
    n_segments: int, n_stages: int, n_variants: int, n_words: int | None
) -> None:
    shape = PivotShape(n_segments, n_stages, n_variants, tuple(range(1, n_stages)))
    words = _bit_words(shape)
    assert (None if words is None else len(words)) == n_words
    rng = np.random.default_rng(n_segments * 100 + n_stages * 10 + n_variants)
    n = 3000
    xs = pd.DataFrame(
        {
            "h": rng.integers(0, 400, n).astype("uint64"),
            "h2": np.zeros(n, dtype="uint32"),
            "g": rng.integers(0, n_segments, n).astype("int16"),
            "s": rng.integers(0, n_stages, n).astype("int16"),
            "v": rng.integers(0, n_variants, n).astype("int16"),
            "t": rng.uniform(0, 1e6, n),
        }
    )
    # most units keep one segment and variant per stage; the extreme codes occur
    keep = rng.random(n) < 0.7
    xs.loc[keep, "g"] = (xs.loc[keep, "h"] % n_segments).astype("int16")
    xs.loc[keep, "v"] = (xs.loc[keep, "h"] // 7 % n_variants).astype("int16")
    xs.loc[:5, "g"] = np.array([0, n_segments - 1] * 3, dtype="int16")
    xs.loc[:5, "v"] = np.array([0, n_variants - 1] * 3, dtype="int16")
    con = duckdb.connect()
    con.register("xs_in", xs)
    con.execute(pivot_table_sql([("xs", "SELECT * FROM xs_in")], shape))
    got = con.execute("SELECT * FROM segab_u ORDER BY h").df().set_index("h")

    xs["gv"] = xs["g"].astype(int) * n_variants + xs["v"]
    per = xs.groupby(["h", "s"])
    long = pd.DataFrame({"a": per["gv"].min(), "b": per["gv"].max(), "t": per["t"].min()})
    long["n"] = per.size()
    want = long.unstack("s")
    for c in range(n_stages):
        for col in ("a", "b", "t", "n"):
            expected = want[(col, c)].reindex(got.index)
            actual = got[f"{col}{c}"]
            if col == "n":
                expected = expected.fillna(0)
            pd.testing.assert_series_equal(
                actual.astype(float), expected.astype(float), check_names=False
            )
