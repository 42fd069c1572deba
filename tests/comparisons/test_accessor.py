from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

import readlx.comparisons.accessor  # noqa: F401 - registers ds.readlx
from readlx.comparisons import breakdown, divergence, stats, summary


def test_accessor_methods_delegate(three_runtimes, tmp_path: Path) -> None:
    ds = three_runtimes
    acc = ds.readlx
    assert acc.summary() == summary.summarize(ds)
    xr.testing.assert_identical(acc.divergence(), divergence.divergence(ds))
    xr.testing.assert_identical(acc.by_bit(), breakdown.by_bit(ds))
    xr.testing.assert_identical(acc.by_layer(), breakdown.by_layer(ds))
    xr.testing.assert_identical(acc.sdc1_differences("a", "b"), divergence.sdc1_differences(ds, "a", "b"))
    assert acc.paired_test("a", "c", "masked") == stats.paired_test(ds, "a", "c", "masked")
    assert acc.most_divergent(3) == divergence.most_divergent(ds, 3)
    assert len(acc.plots(tmp_path / "p")) == 7 * 3  # seven figures, each as PNG, PDF and SVG
    assert acc.html(tmp_path / "r.html").stat().st_size > 10_000


def test_accessor_forwards_the_baseline(make_ds, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    codes = rng.choice(np.array([0, 1, 2], np.int8), size=(4, 3, 6))  # the runtimes differ
    ds = make_ds(codes, ["torch", "keras", "onnxruntime"], bits=[0, 8, 16, 30])
    figures = {}
    for name, baseline in (("default", None), ("torch", "torch"), ("keras", "keras")):
        ds.readlx.plots(tmp_path / name, baseline=baseline)
        figures[name] = (tmp_path / name / "differences_by_bit.svg").read_bytes()
    assert figures["default"] == figures["torch"]  # torch by default, and the files are reproducible
    assert figures["default"] != figures["keras"]
    text = ds.readlx.html(tmp_path / "keras.html", baseline="keras").read_text()
    assert "Differences from keras" in text and "Differences from torch" not in text
    text = ds.readlx.html(tmp_path / "default.html").read_text()
    assert "Differences from torch" in text and "Differences from keras" not in text
