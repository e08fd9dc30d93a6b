"""Render the HTML report of a simulated experiment in headless Chromium, to PNG screenshots.

Simulates a population (``segab simulate``), assigns it, simulates its events,
analyzes it into ``OUT/report.html`` and takes screenshots of the page with
Debian's ``chromium`` (``apt-get install -y chromium``): ``OUT/report.png`` (the
top, 1300×2200) and ``OUT/report_full.png`` (the whole page, cropped to its
height), so that a human can look at them.

Usage::

    .venv/bin/python analysis/render_report.py [--key journey_content] [--units 30000]
        [--out analysis/out/report] [--by channel]

Example:
    >>> callable(main)
    True
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from segab.analysis.api import analyze
from segab.bulk import assign_file
from segab.config import load_experiments
from segab.report.html import render_html
from segab.simulate import default_effects, simulate_events, simulate_population

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    """The Chromium executable, if installed.

    Example:
        >>> chromium() is None or chromium().endswith(("chromium", "chromium-browser"))
        True
    """
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html_path: Path, png_path: Path, width: int = 1300, height: int = 2200) -> None:
    """Screenshot ``html_path`` into ``png_path`` with headless Chromium.

    Example:
        >>> callable(screenshot)
        True
    """
    exe = chromium()
    if exe is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png_path.resolve()}",
            f"--window-size={width},{height}",
            html_path.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def build(key: str, units: int, out: Path, by: list[str], seed: int = 1) -> Path:
    """Simulate, assign, simulate events and write ``out/report.html``.

    Example:
        >>> callable(build)
        True
    """
    exp = load_experiments("experiments")[key]
    out.mkdir(parents=True, exist_ok=True)
    population = simulate_population(exp, units, seed)
    pop_path, asg_path = out / "population.csv", out / "assignments.csv"
    population.to_csv(pop_path, index=False)
    assign_file(exp, str(pop_path), str(asg_path))
    import pandas as pd

    assignments = pd.read_csv(asg_path, dtype={"unit_id": str})
    events = simulate_events(exp, assignments, default_effects(exp), seed=seed)
    if by:
        attrs = population[[exp.unit, "stage", *by]].rename(columns={exp.unit: "unit_id"})
        assignments = assignments.merge(attrs, on=["unit_id", "stage"], how="left")
    result = analyze(exp, exposures=assignments, events=events, by=by)
    report = out / "report.html"
    report.write_text(render_html(result), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Example:
        >>> callable(main)
        True
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", default="journey_content")
    parser.add_argument("--units", type=int, default=30_000)
    parser.add_argument("--out", default="analysis/out/report")
    parser.add_argument("--by", action="append", default=[])
    args = parser.parse_args(argv)
    out = Path(args.out)
    report = build(args.key, args.units, out, args.by)
    screenshot(report, out / "report.png")
    screenshot(report, out / "report_full.png", height=9000)
    print(f"report: {report}\nscreenshots: {out / 'report.png'}, {out / 'report_full.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
