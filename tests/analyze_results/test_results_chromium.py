"""The HTML report renders in headless Chromium (Debian's ``chromium``); skipped without it.

For a look at the page, run ``analysis/render_report.py`` and open its PNG screenshots.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from segab.report.html import render_html

from .test_results_render import _result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_to_a_screenshot(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(_result()), encoding="utf-8")
    png = tmp_path / "report.png"
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
        "--window-size=1300,2200", page.as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1300, 2200)
    assert len(data) > 20_000  # not a blank page
