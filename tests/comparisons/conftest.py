"""Synthetic campaign Datasets with known answers, built with readlx.results.make_dataset."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest
import xarray as xr

from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.results import make_dataset

Builder = Callable[..., xr.Dataset]


def build_dataset(outcome: np.ndarray, frameworks: Sequence[str], layers: Sequence[str] | None = None,
                  bits: Sequence[int] | None = None, per_image: bool = True,
                  labels: np.ndarray | None = None, ids: Sequence[int] | None = None) -> xr.Dataset:
    """A campaign Dataset from per-image codes ``outcome`` (faults, frameworks, images)."""
    outcome = np.asarray(outcome, np.int8)
    n_faults, n_fw, n_images = outcome.shape
    layers = list(layers or ["conv1"] * n_faults)
    bits = list(bits if bits is not None else [k % 32 for k in range(n_faults)])
    faults = FaultList("synthetic", tuple(Fault(layers[i], (i % 4, 0, 0, 0), bits[i]) for i in range(n_faults)),
                       ids=tuple(ids) if ids is not None else ())
    base = outcome & 3
    counts = np.zeros((n_faults, n_fw, 5), np.int64)
    for k in range(3):
        counts[..., k] = (base == k).sum(-1)
    counts[..., 3] = ((outcome & 4) != 0).sum(-1)
    return make_dataset(
        model="synthetic", faults=faults, frameworks=list(frameworks),
        layer_names={fw: layers for fw in frameworks}, counts=counts, noop=np.zeros((n_faults, n_fw), bool),
        golden_correct=[n_images] * n_fw,
        labels=labels if labels is not None else np.zeros(n_images, np.int64),
        outcome=outcome if per_image else None,
        golden_top1=np.zeros((n_fw, n_images), np.int16) if per_image else None,
    )


@pytest.fixture
def make_ds() -> Builder:
    return build_dataset


@pytest.fixture
def three_runtimes() -> xr.Dataset:
    """6 faults (2 layers × 3 bits) on 3 runtimes, 10 images; runtime c moves masked images to
    non-critical on the low-bit faults, runtime b equals a except one critical image on fault 5."""
    rng = np.random.default_rng(4)
    a = rng.choice(np.array([0, 0, 1, 2], np.int8), size=(6, 10))
    b = a.copy()
    b[5, 0] = 2 if a[5, 0] != 2 else 1
    c = a.copy()
    low = [0, 3]  # bit 0 faults
    c[low] = np.where(c[low] == 0, 1, c[low])
    return build_dataset(np.stack([a, b, c], axis=1), ["a", "b", "c"],
                         layers=["conv1"] * 3 + ["fc"] * 3, bits=[0, 15, 30] * 2)
