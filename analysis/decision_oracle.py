"""Oracle Bayes frontier of the decision study's sparse world (analysis/decision_study.py).

Is "1.5x Holm's correct decisions at false ships <= Holm's + 1 point" attainable in the
sparse world by any rule that decides each cell from its own estimate and standard error?
The sparse generator puts ``K = max(2, cells // 10)`` cells at ``4d`` and the rest at 0, so
each cell's true prior is ``pi = K / cells`` at ``4d``, ``1 - pi`` at 0. The oracle knows it
(and ``4d``) and ships when the posterior ``P(θ = 4d | y)`` (normal likelihood of the lift
``y`` with standard error ``s``) exceeds a threshold ``t`` and ``y > 0``; it never rolls
back (its prior has no negative effect). The posterior is monotone in the likelihood ratio,
so by Neyman-Pearson (a common threshold on it maximises the expected correct ships at a
given expected number of false ships, over cells of any ``s``) no per-cell rule does better
in expectation, up to the normal approximation of the binary lift. ``t`` is chosen in
hindsight on the same data, over THRESHOLDS: the most correct decisions with false ships
at most Holm's + 1 point (optimistic, like the study's shared-level frontier).

Three variants: the true standard error of each cell (from the true means); the estimated
one (the study's); and a compound oracle that also knows the exact count ``K`` and uses all
the grid's cells, ``P(θ_i = 4d | y_1..y_m) = LR_i e_{K-1}(LR_{-i}) / e_K(LR)`` (``e``:
elementary symmetric polynomials of the likelihood ratios), the Bayes bound over all rules.

The data are the study's: the same generator functions, seed and random streams (the row's
index in ``all_configs()``), replayed without the slow methods; only ``effects`` and
``draw_folds`` draw random numbers in ``one_experiment``, so the replay sees the same grids
(its Holm figures equal the full study's). It draws no numbers of the study's own streams.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segab.stats import adjust_p_values

__all__ = [
    "RULES",
    "SD",
    "THRESHOLDS",
    "compound_posterior",
    "envelope",
    "log_lr",
    "oracle_markdown",
    "oracle_report",
    "oracle_rows",
    "posterior",
    "true_se",
]

# posterior thresholds: 61 points, logit-spaced from 1e-4 to 1 - 1e-4
THRESHOLDS = 1.0 / (1.0 + np.exp(-np.linspace(-9.2, 9.2, 61)))
SD = 20.0  # the continuous metric's outcome sd (decision_study.draw_folds)


def log_lr(y: np.ndarray, s0: np.ndarray, s1: np.ndarray, effect: float) -> np.ndarray:
    """Log likelihood ratio of ``θ = effect`` (lift ~ ``N(effect, s1²)``) to ``θ = 0``
    (``N(0, s0²)``).

    >>> float(log_lr(np.array([2.0]), np.array([1.0]), np.array([1.0]), 4.0)[0])
    0.0
    """
    return np.asarray((y / s0) ** 2 / 2 - ((y - effect) / s1) ** 2 / 2 + np.log(s0 / s1))


def posterior(llr: np.ndarray, pi: float) -> np.ndarray:
    """``P(θ = effect | y)`` from the log likelihood ratio, prior ``pi`` at ``effect``.

    >>> float(posterior(np.array([0.0]), 0.2)[0])
    0.2
    """
    return np.asarray(0.5 * (1 + np.tanh((llr + math.log(pi / (1 - pi))) / 2)))


def compound_posterior(llr: np.ndarray, k: int) -> np.ndarray:
    """``P(θ_i = effect | all y)`` when exactly ``k`` of the last axis's cells are at the
    effect (uniformly placed) and the rest at 0; ``llr``: each cell's log likelihood ratio.

    >>> p = compound_posterior(np.array([[4.5, -4.0, -4.5]]), 1)
    >>> round(float(p.sum()), 12), bool(p[0, 0] > 0.9)
    (1.0, True)
    """
    lr = np.exp(llr - llr.max(axis=-1, keepdims=True))  # the ratios below are scale-free
    m = llr.shape[-1]
    # e_r over all cells but i, r = 0..k-1, for every i: add the cells one at a time
    e = np.zeros((*llr.shape, k))
    e[..., 0] = 1.0
    for j in range(m):
        shifted = np.concatenate([np.zeros((*llr.shape, 1)), e[..., :-1]], axis=-1)
        keep = (np.arange(m) != j)[:, None]  # cell j is not added to its own "all but i"
        e = e + np.where(keep, lr[..., j : j + 1, None] * shifted, 0.0)
    num = lr * e[..., k - 1]
    # e_K over all cells: sum_i LR_i e_{K-1}(-i) counts every K-set K times
    return np.asarray(num / (num.sum(axis=-1, keepdims=True) / k))


def true_se(metric: str, n: np.ndarray, control: np.ndarray, effect: float) -> np.ndarray:
    """Standard error of each cell's lift from the true means, under ``θ = 0`` and under
    ``θ = effect`` (shape (2, cells); they differ for the binary metric only); ``n``: units
    per (cell, fold, arm), ``control``: the true control means.

    >>> n = np.full((1, 2, 2), 100.0)  # 200 units per arm: se = 20 * sqrt(2 / 200)
    >>> true_se("continuous", n, np.array([10.0]), 1.0).tolist()
    [[2.0], [2.0]]
    """
    per_arm = n.sum(axis=1)
    out = []
    for treat in (control, control + effect):
        means = np.stack([control, treat], axis=1)
        var = means * (1 - means) if metric == "binary" else np.full_like(means, SD**2)
        out.append(np.sqrt((var / per_arm).sum(axis=1)))
    return np.stack(out)


def envelope(
    score: np.ndarray, y: np.ndarray, truth: np.ndarray, limit: float
) -> tuple[float, float, float]:
    """Ship the cells with ``y > 0`` and ``score >= c``; the ``c`` (any value, chosen in
    hindsight) with the most correct ships whose false-ship rate is at most ``limit``:
    ``(c, correct rate, false-ship rate)``, rates over all cells.

    >>> envelope(np.array([3.0, 2.0, 1.0, 0.5]), np.ones(4), np.array([1, 0, 1, 0]), 0.25)
    (1.0, 0.5, 0.25)
    """
    score, y, truth = score.ravel(), y.ravel(), truth.ravel()
    cand = y > 0
    order = np.argsort(-score[cand], kind="stable")
    s, good = score[cand][order], truth[cand][order] > 0
    tp, fp = np.cumsum(good), np.cumsum(~good)
    cut = np.r_[s[1:] < s[:-1], True]  # only between distinct scores
    ok = cut & (fp <= limit * truth.size + 1e-9)
    if not ok.any():
        return math.inf, 0.0, 0.0
    j = int(np.flatnonzero(ok)[np.argmax(tp[ok])])
    return float(s[j]), float(tp[j] / truth.size), float(fp[j] / truth.size)


def _grid(
    post: np.ndarray, y: np.ndarray, truth: np.ndarray, limit: float
) -> tuple[float, float, float]:
    """As :func:`envelope`, over THRESHOLDS only (ship when ``post > t``)."""
    ship = (post[None] > THRESHOLDS[:, None, None]) & (y > 0)
    correct = np.sum(ship & (truth > 0), axis=(1, 2)) / truth.size
    false = np.sum(ship & (truth <= 0), axis=(1, 2)) / truth.size
    j = int(np.argmax(np.where(false <= limit, correct, -1.0)))
    return float(THRESHOLDS[j]), float(correct[j]), float(false[j])


RULES = {
    "holm": "per-cell Holm",
    "shared_62": "shared level, the study's 62 levels (frontier table)",
    "shared_exact": "shared level, any level (alpha: largest p shipped)",
    "oracle_61": "oracle, true se, 61 thresholds",
    "oracle": "oracle, true se, any threshold",
    "oracle_est": "oracle, estimated se, any threshold",
    "compound": "compound oracle (knows K), true se, any threshold",
}


def oracle_rows(
    study: Any, experiments: int, seed: int, cells_list: tuple[int, ...] = (16, 64)
) -> dict[tuple[int, str], dict[str, tuple[float, float, float]]]:
    """Replay the study's sparse rows; per (cells, metric) and rule of RULES: (threshold,
    correct rate, false-ship rate), thresholds chosen in hindsight for false ships at most
    Holm's + 1 point (Holm's threshold: NaN).

    ``study``: the decision_study module (its generators, estimates and constants).
    """
    configs = study.all_configs()
    out = {}
    for cells in cells_list:
        for metric in study.METRICS:
            i = configs.index((cells, metric, "sparse"))
            rng = np.random.default_rng([seed, i])
            grid = study.Grid.make(cells)
            effect, k = 4 * study.METRICS[metric], max(2, cells // 10)
            ys, ses, tses, truths, ps, holm = [], [], [], [], [], np.zeros(2)
            for _ in range(experiments):
                theta = study.effects("sparse", grid, study.METRICS[metric], rng)
                n, sums, sums_sq, means = study.draw_folds(metric, grid, theta, rng)
                truth = means[:, 1] - means[:, 0]
                cmp, lift, se = study.cell_estimates(metric, n, sums, sums_sq)
                p = np.nan_to_num(np.asarray(cmp.p_value, dtype=float), nan=1.0)
                adj = np.array(adjust_p_values([float(v) for v in cmp.p_value], "holm"))
                sig = np.nan_to_num(adj, nan=1.0) < study.ALPHA
                holm += [
                    np.sum(sig & (lift > 0) & (truth > 0)) + np.sum(sig & (lift < 0) & (truth < 0)),
                    np.sum(sig & (lift > 0) & (truth <= 0)),
                ]
                ys.append(lift), ses.append(se), truths.append(truth), ps.append(p)
                tses.append(true_se(metric, n, means[:, 0], effect))
            y, se, truth, p = (np.stack(a) for a in (ys, ses, truths, ps))
            s0, s1 = np.stack(tses, axis=1)
            total = truth.size
            r = {"holm": (math.nan, holm[0] / total, holm[1] / total)}
            limit = holm[1] / total + 0.01
            sig_at = p[None] < study.FRONTIER_ALPHAS[:, None, None]
            f_correct = np.sum(sig_at & (y > 0) & (truth > 0), axis=(1, 2))
            f_correct += np.sum(sig_at & (y < 0) & (truth < 0), axis=(1, 2))
            f_false = np.sum(sig_at & (y > 0) & (truth <= 0), axis=(1, 2))
            j = int(np.argmax(np.where(f_false / total <= limit, f_correct, -1)))
            r["shared_62"] = (study.FRONTIER_ALPHAS[j], f_correct[j] / total, f_false[j] / total)
            c, cor, fal = envelope(-p, y, truth, limit)  # rollbacks: never correct here
            r["shared_exact"] = (-c, cor, fal)
            llr = log_lr(y, s0, s1, effect)
            post = posterior(llr, k / cells)
            r["oracle_61"] = _grid(post, y, truth, limit)
            r["oracle"] = envelope(post, y, truth, limit)
            r["oracle_est"] = envelope(
                posterior(log_lr(y, se, se, effect), k / cells), y, truth, limit
            )
            r["compound"] = envelope(compound_posterior(llr, k), y, truth, limit)
            out[(cells, metric)] = {rule: tuple(map(float, v)) for rule, v in r.items()}
    return out


def oracle_markdown(rows: dict[tuple[int, str], dict[str, tuple[float, float, float]]]) -> str:
    """The oracle table: one line per (grid, metric, rule), ratio to Holm's correct."""
    lines = [
        "| grid | metric | rule | alpha or t | correct | false ship | vs Holm |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for (cells, metric), r in rows.items():
        holm = r["holm"][1]
        for rule, (t, c, f) in r.items():
            vs = f"{c / holm:.3f}x" if holm > 0 else "n/a"
            thr = "" if math.isnan(t) else f"{t:.3g}"
            lines.append(
                f"| {cells} | {metric} | {RULES[rule]} | {thr} | {c:.4f} | {f:.4f} | {vs} |"
            )
    return "\n".join(lines)


def oracle_report(study: Any, experiments: int, seed: int) -> str:
    """Title and table, as the study prints them (``study``: the decision_study module)."""
    return (
        f"\nOracle Bayes frontier (sparse world, {experiments} experiments per row, seed "
        f"{seed}; thresholds chosen in hindsight, false ships <= Holm's + 1 point; "
        "analysis/decision_oracle.py):\n\n" + oracle_markdown(oracle_rows(study, experiments, seed))
    )
