"""The HTML report rendered by a real browser: headless Chromium, when installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from readlx.comparisons.examples import toy_dataset
from readlx.comparisons.html import report_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = report_html(toy_dataset(), tmp_path / "report.html")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<img") == 5 and "Paired tests per fault" in dom
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri())
    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    # a page that failed to render is one flat colour; figures and tables make many distinct rows
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50
