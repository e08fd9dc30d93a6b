"""A synthetic landing-page test, its config, and the pandas preparation that is the oracle.

Columns ``user_id, timestamp, group, landing_page, converted``; some rows' group and
page disagree (the filter keeps the others), some users appear twice or more (the
first exposure counts), a few times are unreadable or missing, and each user's country
is in a second table (with a repeated and a missing user).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segab.config import parse_experiment
from segab.config.models import Experiment

FILTER = {
    "$or": [
        {"group": "control", "landing_page": "old_page"},
        {"group": "treatment", "landing_page": "new_page"},
    ]
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def config(**analysis: Any) -> dict[str, Any]:
    """The experiment as a dict (``analysis`` settings given)."""
    return {
        "key": "landing",
        "name": "Landing page",
        "unit": "user_id",
        "segments": [{"key": "all", "when": {}}],
        "cells": [
            {
                "control": "control",
                "variants": [
                    {"key": "control", "weight": 0.5},
                    {"key": "treatment", "weight": 0.5},
                ],
            }
        ],
        "metrics": {"primary": {"key": "converted", "kind": "binary", "column": "converted"}},
        "analysis": analysis,
    }


def experiment(**analysis: Any) -> Experiment:
    return parse_experiment(config(**analysis))


FULL = {"filter": FILTER, "dedupe": "first", "time_column": "timestamp"}


def landing(n: int = 300, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, countries): ~3% mismatched rows, ~2% repeated users, ties, bad times."""
    rng = np.random.default_rng(seed)
    users = [f"u{i:04d}" for i in range(n)]
    group = rng.choice(["control", "treatment"], n)
    page = np.where(group == "control", "old_page", "new_page")
    swap = rng.random(n) < 0.03
    page = np.where(swap, np.where(page == "old_page", "new_page", "old_page"), page)
    t0 = pd.Timestamp("2024-01-02")
    times = t0 + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s")
    rate = np.where(group == "control", 0.12, 0.14)
    rows = pd.DataFrame(
        {
            "user_id": users,
            "timestamp": times.strftime(TIME_FORMAT),
            "group": group,
            "landing_page": page,
            "converted": (rng.random(n) < rate).astype("int64"),
        }
    )
    again = rows.sample(frac=0.02, random_state=seed).copy()  # later, other outcome
    later = pd.to_datetime(again["timestamp"]) + pd.Timedelta(hours=3)
    again["timestamp"] = later.dt.strftime(TIME_FORMAT)
    again["converted"] = 1 - again["converted"]
    extra = [again]
    tie = rows.iloc[[1, 2]].copy()  # the same time, the other outcome: a tie
    tie["converted"] = 1 - tie["converted"]
    extra.append(tie)
    earlier = rows.iloc[[3]].copy()  # an earlier row that is filtered out: not the first
    earlier["timestamp"] = "2024-01-01 00:00:00"
    earlier["landing_page"] = "new_page" if earlier["group"].iloc[0] == "control" else "old_page"
    extra.append(earlier)
    bad = rows.iloc[[4, 5]].copy()  # an unreadable and a missing time, earlier in the file
    bad["timestamp"] = ["yesterday", None]
    bad["converted"] = 1 - bad["converted"]
    extra.append(bad)
    out = pd.concat([*extra, rows], ignore_index=True)
    out = out.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    countries = pd.DataFrame(
        {"user_id": users, "country": rng.choice(["UK", "US", "CA"], n, p=[0.5, 0.3, 0.2])}
    )
    countries = countries[~countries["user_id"].isin(users[10:13])]  # not in the file
    repeated = countries[countries["user_id"].isin(users[20:22])].assign(country="XX")
    countries = pd.concat([countries, repeated], ignore_index=True)
    return out, countries


def prepare(
    rows: pd.DataFrame,
    countries: pd.DataFrame | None,
    *,
    filtered: bool = True,
    first: bool = True,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The oracle: the rows segab should analyse, prepared in pandas, and the counters."""
    quality = dict.fromkeys(
        ("filtered_out", "bad_timestamps", "duplicate_units", "missing_attributes"), 0
    )
    if filtered:
        keep = ((rows["group"] == "control") & (rows["landing_page"] == "old_page")) | (
            (rows["group"] == "treatment") & (rows["landing_page"] == "new_page")
        )
        quality["filtered_out"] = int((~keep).sum())
        rows = rows[keep]
    if first:
        t = pd.to_datetime(rows["timestamp"], format=TIME_FORMAT, errors="coerce")
        quality["bad_timestamps"] = int(t.isna().sum())
        rows = rows[t.notna()].assign(_t=t[t.notna()])
        # ties: the outcome read as a number, then the group as text (segab's tie-breakers)
        rows = rows.sort_values(["_t", "converted", "group"], kind="stable")
        firsts = rows.groupby("user_id", sort=False).head(1)
        quality["duplicate_units"] = len(rows) - len(firsts)
        rows = firsts.drop(columns="_t")
    if countries is not None:
        single = countries.drop_duplicates("user_id", keep=False)
        rows = rows.merge(single, on="user_id", how="left")
        quality["missing_attributes"] = int(rows["country"].isna().sum())
        counted = countries["user_id"].value_counts()
        quality["duplicate_attributes"] = int(counted[counted > 1].sum())
    return rows.reset_index(drop=True), quality


def oracle_sums(
    rows: pd.DataFrame, by: tuple[str, ...] = ()
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(n, conversions) per (variant, *by); a missing attribute is None."""
    keys = ["group", *by]
    filled = rows.assign(**{c: rows[c].astype(object).where(rows[c].notna(), None) for c in by})
    out = {}
    for key, g in filled.groupby(keys, dropna=False):
        k = tuple(None if isinstance(v, float) and v != v else v for v in key)
        out[k] = (len(g), int(g["converted"].sum()))
    return out
