"""The HTML report rendered by a real browser: headless Chromium, when installed.

Set ``READLX_SCREENSHOT_DIR`` to keep the screenshot of the whole page (``report.png``) for a look by eye.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from readlx.comparisons.html import report_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")
WIDTH, HEIGHT = 1400, 9000


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def _keep(shot: Path, name: str) -> None:
    target = os.environ.get("READLX_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(three_runtimes: xr.Dataset, tmp_path: Path) -> None:
    three_runtimes.attrs.update(model_name="synthetic", readlx_version="0.0", sampling_seed=3)
    page = report_html(three_runtimes, tmp_path / "report.html")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<img") == 7 and "Paired tests per fault" in dom and "Provenance" in dom
    assert "readlx_version" not in dom
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri())
    pixels = imread(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    # a page that failed to render is one flat colour; figures and tables make many distinct rows
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50
    # the figures are decoded and drawn wide: rows of the lower page hold coloured (non-grey) pixels
    # across more than half of the window
    rgb = pixels[..., :3].astype(np.float64)
    coloured = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.2
    columns = np.flatnonzero(coloured.any(axis=0))
    assert columns.size and columns.max() - columns.min() > WIDTH // 2
    _keep(shot, "report.png")
