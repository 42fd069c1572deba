from __future__ import annotations

from pathlib import Path

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
