from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.comparisons.cf import missing_cf, write_derived
from readlx.comparisons.numerics.golden import format_golden, golden_divergence
from readlx.comparisons.numerics.ulp import ulp_bin_labels, ulp_distance, ulp_histogram
from readlx.errors import ReadlxError


def test_ulp_distance_counts_float32_steps() -> None:
    one = np.float32(1.0)
    up = [np.nextafter(one, np.float32(2))]
    for _ in range(4):
        up.append(np.nextafter(up[-1], np.float32(2)))
    values = np.array([one, up[0], up[4], np.float32(-0.0), np.nan], np.float32)
    truth = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    assert ulp_distance(values, truth).tolist() == [0, 1, 5, 0, -1]
    # the truth is rounded to float32 first: 1 + 0.4 ulp is correctly rounded to 1.0
    assert ulp_distance(np.array([one]), np.array([1 + 0.4 * 2.0**-23])).tolist() == [0]
    # across zero the distance adds up on both sides
    tiny = np.float32(2.0**-149)
    assert ulp_distance(np.array([-tiny], np.float32), np.array([float(tiny)])).tolist() == [2]
    with pytest.raises(ReadlxError, match="float32"):
        ulp_distance(np.ones(2), np.ones(2))


def test_ulp_histogram_bins() -> None:
    assert ulp_bin_labels() == ["0", "1", "2-3", "4-7", "8-15", "16-63", "64-255", "256-1023", ">=1024"]
    assert ulp_histogram(np.array([0, 1, 2, 3, 4, 15, 16, 1023, 1024, 10**9, -1])).tolist() == \
        [1, 1, 2, 1, 1, 1, 0, 1, 2]


def test_golden_divergence_known_answers(tmp_path: Path) -> None:
    truth = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.5], [1.0, 1.0 + 1e-9, 0.0]])
    exact = truth.astype(np.float32)
    flipped = exact.copy()
    flipped[0, 2] = -1.0  # top-1 of image 0 moves from class 2 to class 1
    ds = golden_divergence({"exact": exact, "flipped": flipped}, truth, labels=np.array([2, 0, 0]))
    assert ds.variant.values.tolist() == ["exact", "flipped"]
    assert ds.top1_correct.values.tolist() == [3, 2]
    # image 2: 1 + 1e-9 rounds to 1.0 in float32, the tie goes to the first class: a flip by rounding
    assert ds.argmax_flips.values.tolist() == [1, 2]
    assert ds.max_abs_diff.values[1] == 3.0
    assert ds.correctly_rounded.values[0] == 100.0 and ds.ulp_max.values[0] == 0
    assert ds.ulp_histogram.values.sum(axis=1).tolist() == [9, 9]
    assert ds.attrs["truth_top1_correct"] == 2
    assert missing_cf(ds) == []
    with xr.open_dataset(write_derived(ds, tmp_path / "g.nc")) as back:
        assert back.ulp_histogram.attrs["units"] == "logits"
    text = format_golden(ds)
    assert "flipped" in text and "float64 ground truth: top-1 66.67 %" in text


def test_golden_divergence_needs_outputs() -> None:
    with pytest.raises(ReadlxError, match="at least one"):
        golden_divergence({}, np.zeros((1, 2)))
