"""Tiny campaign Datasets with known answers, for the examples in the docstrings."""
from __future__ import annotations

import numpy as np
import xarray as xr

from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.records import FaultRecords, GoldenRecord
from readlx.results import make_dataset


def toy_dataset() -> xr.Dataset:
    """A two-fault, two-framework, two-image campaign Dataset with per-image outcomes.

    Fault 10 is critical then masked on framework ``a`` and non-critical twice on ``b``; fault 11
    is masked everywhere.

    >>> int(toy_dataset().critical.sum())
    1
    """
    faults = FaultList.from_faults("toy", (Fault("conv1", (0, 0, 0, 0), 30), Fault("fc", (1, 2), 3)), ids=(10, 11))
    outcome = np.array([[[2, 0], [1, 1]], [[0, 0], [0, 0]]], np.int8)  # fault, framework, image
    records = {fw: FaultRecords.from_codes(outcome[:, k]) for k, fw in enumerate(("a", "b"))}
    golden = {fw: GoldenRecord(2, np.zeros(0), np.zeros(2, np.int16)) for fw in ("a", "b")}
    return make_dataset(model="toy", faults=faults, layer_names={"a": ["conv1", "fc"], "b": ["conv1", "fc"]},
                        records=records, golden=golden, labels=np.array([0, 1]))
