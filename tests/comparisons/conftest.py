"""Synthetic campaign Datasets with known answers, built with readlx.results.make_dataset."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import xarray as xr

from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.records import FaultRecords, GoldenRecord
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
    faults = FaultList.from_faults("synthetic", (Fault(layers[i], (i % 4, 0, 0, 0), bits[i]) for i in range(n_faults)),
                                   ids=ids)
    records = {}
    for k, fw in enumerate(frameworks):
        full = FaultRecords.from_codes(outcome[:, k])
        records[fw] = full if per_image else FaultRecords(0, **{**full.arrays(), "outcome": None})
    golden = {fw: GoldenRecord(n_images, np.zeros(0), np.zeros(n_images, np.int16)) for fw in frameworks}
    return make_dataset(
        model="synthetic", faults=faults, layer_names={fw: layers for fw in frameworks}, records=records,
        golden=golden, labels=labels if labels is not None else np.zeros(n_images, np.int64),
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
