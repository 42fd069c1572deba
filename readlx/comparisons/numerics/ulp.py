"""Distances in float32 units in the last place (ULP)."""
from __future__ import annotations

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError


def _ordered(x: Array) -> Array:
    """float32 bit patterns mapped to integers that are ordered like the values (±0 both map to 0)."""
    word = np.ascontiguousarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(word < 0, -(word & 0x7FFFFFFF), word)


def ulp_distance(values: Array, truth: Array) -> Array:
    """Number of float32 values between ``values`` (float32) and ``truth`` rounded to float32.

    0 means the float32 result is the correctly rounded truth; NaN anywhere gives -1.

    Examples
    --------
    >>> one = np.float32(1.0)
    >>> ulp_distance(np.array([one, np.nextafter(one, np.float32(2)), -one], np.float32),
    ...              np.array([1.0, 1.0, 1.0])).tolist()
    [0, 1, 2130706432]
    """
    values = np.asarray(values)
    if values.dtype != np.float32:
        raise ReadlxError(f"ULP distances are measured on float32 values, got {values.dtype}")
    truth32 = np.asarray(truth, dtype=np.float64).astype(np.float32)
    if values.shape != truth32.shape:
        raise ReadlxError(f"values {values.shape} and truth {truth32.shape} differ in shape")
    dist = np.abs(_ordered(values) - _ordered(truth32))
    return np.where(np.isnan(values) | np.isnan(truth32), -1, dist)


ULP_BIN_EDGES = (0, 1, 2, 4, 8, 16, 64, 256, 1024)
"""Left edges of the ULP histogram bins: [0], [1], [2, 4), ..., [256, 1024), [1024, ...)."""


def ulp_bin_labels() -> list[str]:
    """Readable names of the histogram bins.

    >>> ulp_bin_labels()[:3], ulp_bin_labels()[-1]
    (['0', '1', '2-3'], '>=1024')
    """
    labels = []
    for lo, hi in zip(ULP_BIN_EDGES, ULP_BIN_EDGES[1:], strict=False):
        labels.append(str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}")
    return labels + [f">={ULP_BIN_EDGES[-1]}"]


def ulp_histogram(dist: Array) -> Array:
    """Counts per :data:`ULP_BIN_EDGES` bin (NaN distances, coded -1, are not counted).

    >>> ulp_histogram(np.array([0, 0, 1, 3, 5000, -1])).tolist()
    [2, 1, 1, 0, 0, 0, 0, 0, 1]
    """
    valid = np.asarray(dist)[np.asarray(dist) >= 0]
    which = np.searchsorted(np.asarray(ULP_BIN_EDGES[1:]), valid, side="right")
    return np.bincount(which, minlength=len(ULP_BIN_EDGES)).astype(np.int64)
