"""Tiny campaign Datasets with known answers, for the examples in the docstrings."""
from __future__ import annotations

import numpy as np
import xarray as xr

from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.results import make_dataset


def toy_dataset() -> xr.Dataset:
    """A two-fault, two-framework, two-image campaign Dataset with per-image outcomes.

    Fault 10 is critical then masked on framework ``a`` and non-critical twice on ``b``; fault 11
    is masked everywhere.

    >>> int(toy_dataset().critical.sum())
    1
    """
    faults = FaultList("toy", (Fault("conv1", (0, 0, 0, 0), 30), Fault("fc", (1, 2), 3)), ids=(10, 11))
    outcome = np.array([[[2, 0], [1, 1]], [[0, 0], [0, 0]]], np.int8)  # fault, framework, image
    counts = np.zeros((2, 2, 5), np.int64)
    for k in range(3):
        counts[..., k] = (outcome == k).sum(-1)
    return make_dataset(model="toy", faults=faults, frameworks=["a", "b"],
                        layer_names={"a": ["conv1", "fc"], "b": ["conv1", "fc"]}, counts=counts,
                        noop=np.zeros((2, 2), bool), golden_correct=[2, 2], labels=np.array([0, 1]),
                        outcome=outcome, golden_top1=np.zeros((2, 2), np.int16))
