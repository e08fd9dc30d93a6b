"""The decision study's report (analysis/decision_study.py): tables, target lines, frontier.

Pure functions of the study's rows (``decision_study.Row``: per-method tallies, the
frontier tallies over ``frontier_alphas``, the union rules' tallies), kept apart from the
simulation so that each file stays short. Row order, methods and worlds are the rows'
own (the study builds them in a fixed order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["frontier", "frontier_markdown", "summary", "table_markdown", "targets"]


def summary(row: Any) -> dict[str, dict[str, float]]:
    raw_mse = row.tallies["holm"].sq_err
    out = {}
    for m, t in row.tallies.items():
        out[m] = {
            "mse_ratio": t.sq_err / raw_mse if raw_mse > 0 else math.nan,
            "coverage": t.covered / t.cells,
            "param_coverage": t.param_covered / t.cells,
            "correct": t.correct / t.cells,
            "false_ship": t.false_ship / t.cells,
        }
    return out


def table_markdown(rows: Mapping[tuple[int, str, str], Any]) -> str:
    lines = [
        "| grid | metric | world | method | MSE / raw | coverage | correct | false ship "
        "| tailoring cov. |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for (cells, metric, world), row in rows.items():
        s = summary(row)
        tail = row.tailoring_covered / row.experiments
        for m in row.tallies:
            v = s[m]
            cov = "n/a" if math.isnan(v["coverage"]) else f"{v['coverage']:.3f}"
            if m.startswith("eb"):
                cov += f" (param. {v['param_coverage']:.3f})"
            lines.append(
                f"| {cells} | {metric} | {world} | {m} | {v['mse_ratio']:.3f} | {cov} "
                f"| {v['correct']:.3f} | {v['false_ship']:.4f} | "
                + (f"{tail:.3f} |" if m == "holm" else " |")
            )
    return "\n".join(lines)


def frontier(row: Any) -> dict[str, float]:
    """The best uncorrected per-cell level: most correct decisions with false ships at most
    Holm's + 1 point (an in-sample oracle over the row's levels), and the union rules.
    """
    cells = row.tallies["holm"].cells
    holm = summary(row)["holm"]
    correct, false = row.frontier_correct / cells, row.frontier_false / cells
    ok = false <= holm["false_ship"] + 0.01
    j = int(np.argmax(np.where(ok, correct, -1.0)))
    out = {
        "holm_correct": holm["correct"],
        "holm_false": holm["false_ship"],
        "best_alpha": float(row.frontier_alphas[j]),
        "best_correct": float(correct[j]),
        "best_false": float(false[j]),
    }
    for u, t in row.unions.items():
        out[f"{u}_correct"] = t.correct / t.cells
        out[f"{u}_false"] = t.false_ship / t.cells
    return out


def frontier_markdown(rows: Mapping[tuple[int, str, str], Any]) -> str:
    """Per row: Holm; the oracle per-cell level; the union rules (ratios to Holm's correct)."""

    def ratio(x: float, holm: float) -> str:
        return f"{x / holm:.2f}x" if holm > 0 else "n/a"

    lines = [
        "| grid | metric | world | Holm correct | Holm false ship | best per-cell alpha "
        "| correct | false ship | vs Holm | eb_grid or Holm: correct | false ship | vs Holm "
        "| eb_grid_ucb or Holm: correct | false ship | vs Holm |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (cells, metric, world), row in rows.items():
        f = frontier(row)
        hc = f["holm_correct"]
        cols = [
            f"{hc:.3f}",
            f"{f['holm_false']:.4f}",
            f"{f['best_alpha']:.2g}",
            f"{f['best_correct']:.3f}",
            f"{f['best_false']:.4f}",
            ratio(f["best_correct"], hc),
        ]
        for u in row.unions:
            c = f[f"{u}_correct"]
            cols += [f"{c:.3f}", f"{f[f'{u}_false']:.4f}", ratio(c, hc)]
        lines.append(f"| {cells} | {metric} | {world} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def targets(rows: Mapping[tuple[int, str, str], Any], method: str = "eb_grid") -> list[str]:
    """The issue's four targets, PASS/MISS per grid and metric, with the margin."""
    out = []
    for cells in dict.fromkeys(k[0] for k in rows):
        for metric in dict.fromkeys(k[1] for k in rows if k[0] == cells):
            sub = {k[2]: summary(r) for k, r in rows.items() if k[:2] == (cells, metric)}
            tag = f"{cells} cells, {metric}"
            for w in ("common_small", "common_moderate"):
                if w in sub:
                    cut = 1 - sub[w][method]["mse_ratio"]
                    out.append(_line(cut >= 0.30, f"{tag}, {w}: MSE cut {cut:.1%} (target >= 30%)"))
            worst = max(sub, key=lambda w: sub[w][method]["mse_ratio"])
            r = sub[worst][method]["mse_ratio"]
            out.append(_line(r <= 1.05, f"{tag}: worst MSE ratio {r:.3f} in {worst} (<= 1.05)"))
            low = min(sub, key=lambda w: np.nan_to_num(sub[w][method]["coverage"], nan=2.0))
            c = sub[low][method]["coverage"]
            if math.isnan(c):
                out.append(f"- n/a: {tag}: {method} computes no interval")
            else:
                cov = f"{tag}: lowest EB coverage {c:.3f} in {low} (>= 0.945)"
                out.append(_line(c >= 0.945, cov))
            eb_c = sum(sub[w][method]["correct"] for w in sub if w != "null")
            holm_c = sum(sub[w]["holm"]["correct"] for w in sub if w != "null")
            eb_f = np.mean([sub[w][method]["false_ship"] for w in sub])
            holm_f = np.mean([sub[w]["holm"]["false_ship"] for w in sub])
            ratio = eb_c / holm_c if holm_c > 0 else math.inf
            ok = ratio >= 1.5 and eb_f <= holm_f + 0.01
            out.append(
                _line(
                    ok,
                    f"{tag}: correct decisions {ratio:.2f}x Holm's (>= 1.5x), false ships "
                    f"{eb_f:.4f} vs Holm's {holm_f:.4f} (<= +0.01), averaged over worlds",
                )
            )
            for w in sub:
                if w == "null":
                    continue
                holm, eb = sub[w]["holm"], sub[w][method]
                ratio = eb["correct"] / holm["correct"] if holm["correct"] > 0 else math.inf
                ok = ratio >= 1.5 and eb["false_ship"] <= holm["false_ship"] + 0.01
                out.append(
                    _line(
                        ok,
                        f"{tag}, {w}: correct {ratio:.2f}x Holm's, false ships "
                        f"{eb['false_ship']:.4f} vs {holm['false_ship']:.4f}",
                    )
                )
            tails = {
                w: rows[(cells, metric, w)].tailoring_covered / rows[(cells, metric, w)].experiments
                for w in sub
            }
            low_t = min(tails, key=lambda w: tails[w])
            out.append(
                _line(
                    tails[low_t] >= 0.94,
                    f"{tag}: lowest tailoring coverage {tails[low_t]:.3f} in {low_t} (>= 0.94)",
                )
            )
    return out


def _line(ok: bool, text: str) -> str:
    return f"- {'PASS' if ok else 'MISS'}: {text}"
