"""Benchmark: segab's vectorized frequentist path against GrowthBook's gbstats 0.8.0.

The workload is one analysis of 4 segments × 4 stages × 2 treatment variants =
32 treatment-vs-control comparisons, for a binary metric and for a continuous
metric (64 comparisons in all), on the same sufficient statistics.

* segab: ``compare_proportions_arrays`` + ``compare_means_arrays`` (one call each,
  which returns absolute and relative lifts, CIs and p-values for all cells).
* gbstats: ``gbstats.frequentist.tests.TwoSidedTTest(...).compute_result()`` per
  comparison on ``ProportionStatistic`` / ``SampleMeanStatistic`` objects built
  outside the timer. Timed twice: relative only (gbstats' default, one call per
  comparison, a *subset* of what segab returns) and absolute + relative (two
  calls per comparison, the same content as segab's output).

Reports the median wall time over repeated runs and the ratios, then checks
that both agree on the estimates. Needs gbstats (``make bench-deps``). Run:

    .venv/bin/python analysis/bench_stats.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from segab.stats import compare_means_arrays, compare_proportions_arrays

try:
    from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
    from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic
except ImportError as exc:  # pragma: no cover - optional peer
    raise SystemExit(f"gbstats is not installed ({exc}); run `make bench-deps`") from exc

SEGMENTS, STAGES, VARIANTS = 4, 4, 2
CELLS = SEGMENTS * STAGES * VARIANTS  # 32 comparisons per metric
REPEATS = 300


def make_cells(seed: int = 7) -> dict[str, np.ndarray]:
    """Sufficient statistics of 32 comparisons (control repeated for its 2 variants)."""
    rng = np.random.default_rng(seed)
    cells = SEGMENTS * STAGES
    n_c = np.repeat(rng.integers(2000, 20000, cells), VARIANTS)
    n_t = rng.integers(2000, 20000, CELLS)
    p = np.repeat(rng.uniform(0.02, 0.3, cells), VARIANTS)
    x_c = rng.binomial(n_c, p)
    x_t = rng.binomial(n_t, p * rng.uniform(0.95, 1.1, CELLS))
    mu = np.repeat(rng.uniform(20, 80, cells), VARIANTS)
    sd = mu * 1.5
    m_c = mu + rng.normal(0, 1, CELLS) * sd / np.sqrt(n_c)
    m_t = mu * rng.uniform(0.97, 1.05, CELLS)
    v_c = sd**2 * rng.uniform(0.9, 1.1, CELLS)
    v_t = sd**2 * rng.uniform(0.9, 1.1, CELLS)
    return {
        "n_c": n_c,
        "x_c": x_c,
        "n_t": n_t,
        "x_t": x_t,
        "s_c": n_c * m_c,
        "ss_c": (n_c - 1) * v_c + n_c * m_c**2,
        "s_t": n_t * m_t,
        "ss_t": (n_t - 1) * v_t + n_t * m_t**2,
    }


def segab_run(d: dict[str, np.ndarray]) -> tuple[object, object]:
    """All 64 comparisons through segab's array path."""
    binary = compare_proportions_arrays(d["n_c"], d["x_c"], d["n_t"], d["x_t"], 0.05)
    cont = compare_means_arrays(d["n_c"], d["s_c"], d["ss_c"], d["n_t"], d["s_t"], d["ss_t"], 0.05)
    return binary, cont


def gb_objects(d: dict[str, np.ndarray]) -> list[tuple[object, object]]:
    """gbstats statistic pairs for the 64 comparisons (built outside the timer)."""
    pairs: list[tuple[object, object]] = []
    for i in range(CELLS):
        pairs.append(
            (
                ProportionStatistic(n=int(d["n_c"][i]), sum=float(d["x_c"][i])),
                ProportionStatistic(n=int(d["n_t"][i]), sum=float(d["x_t"][i])),
            )
        )
    for i in range(CELLS):
        pairs.append(
            (
                SampleMeanStatistic(
                    n=int(d["n_c"][i]), sum=float(d["s_c"][i]), sum_squares=float(d["ss_c"][i])
                ),
                SampleMeanStatistic(
                    n=int(d["n_t"][i]), sum=float(d["s_t"][i]), sum_squares=float(d["ss_t"][i])
                ),
            )
        )
    return pairs


REL = FrequentistConfig(alpha=0.05, difference_type="relative")
ABS = FrequentistConfig(alpha=0.05, difference_type="absolute")


def gb_run(pairs: list[tuple[object, object]], configs: tuple[FrequentistConfig, ...]) -> list:
    """gbstats' two-sided t-test on every pair, once per config."""
    return [TwoSidedTTest(a, b, cfg).compute_result() for cfg in configs for a, b in pairs]


def median_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of ``fn()`` in seconds (after a warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def agreement(d: dict[str, np.ndarray], pairs: list[tuple[object, object]]) -> list[str]:
    """Largest differences between segab and gbstats on the same cells."""
    binary, cont = segab_run(d)
    gb_rel = gb_run(pairs, (REL,))
    gb_abs = gb_run(pairs, (ABS,))
    out = []
    for name, res, sl in (
        ("binary", binary, slice(0, CELLS)),
        ("continuous", cont, slice(CELLS, None)),
    ):
        rel, ab = gb_rel[sl], gb_abs[sl]
        diffs = {
            "abs lift": np.abs(res.abs_lift - [g.expected for g in ab]).max(),  # type: ignore[attr-defined]
            "rel lift": np.abs(res.rel_lift - [g.expected for g in rel]).max(),  # type: ignore[attr-defined]
            "abs CI": np.abs(res.abs_ci_low - [g.ci[0] for g in ab]).max(),  # type: ignore[attr-defined]
            "rel CI": np.abs(res.rel_ci_low - [g.ci[0] for g in rel]).max(),  # type: ignore[attr-defined]
            "p (abs)": np.abs(res.p_value - [g.p_value for g in ab]).max(),  # type: ignore[attr-defined]
        }
        out.append(
            f"  {name:<10} max |segab − gbstats|: "
            + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
        )
    out.append(
        "  (binary CI/p differ by design: segab uses the pooled z-test and z quantiles, "
        "gbstats a t-test with Welch df)"
    )
    return out


def main() -> None:
    d = make_cells()
    pairs = gb_objects(d)
    t_segab = median_time(lambda: segab_run(d))
    t_gb_rel = median_time(lambda: gb_run(pairs, (REL,)), repeats=REPEATS // 3)
    t_gb_both = median_time(lambda: gb_run(pairs, (ABS, REL)), repeats=REPEATS // 3)
    print(
        f"workload: {SEGMENTS} segments x {STAGES} stages x {VARIANTS} variants = {CELLS} "
        "comparisons, binary + continuous metric (64 comparisons)"
    )
    print(f"segab vectorized (abs + rel, CI, p)     median {t_segab * 1e3:8.3f} ms")
    print(
        f"gbstats TwoSidedTTest, relative only    median {t_gb_rel * 1e3:8.3f} ms  "
        f"ratio {t_gb_rel / t_segab:6.1f}x"
    )
    print(
        f"gbstats TwoSidedTTest, abs + relative   median {t_gb_both * 1e3:8.3f} ms  "
        f"ratio {t_gb_both / t_segab:6.1f}x"
    )
    print("agreement on the same cells:")
    print("\n".join(agreement(d, pairs)))


if __name__ == "__main__":
    main()
