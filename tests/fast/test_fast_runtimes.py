"""Fast mode on every runtime of a bundle: the same Dataset as the reference loop, whichever path ran."""
from __future__ import annotations

import numpy as np
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList

MODEL = "democnn-synthetic10"
RUNTIMES = ("torch", "keras", "onnxruntime", "onnxruntime-keras")


def _faults(bundle: Bundle) -> FaultList:
    rng = np.random.default_rng(11)
    chosen = []
    for k, layer in enumerate(bundle.table.layers * 2):
        index = tuple(int(rng.integers(0, s)) for s in layer.shape)
        kind = (FaultKind.BIT_FLIP, FaultKind.STUCK_AT_0, FaultKind.STUCK_AT_1)[k % 3]
        chosen.append(Fault(layer.name, index, int((2, 13, 22, 27, 30)[k % 5]), kind))
    return FaultList(MODEL, tuple(chosen))


def _modeless(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    return out


def test_fast_mode_equals_reference_on_every_runtime(demo_bundle: Bundle) -> None:
    bundle = demo_bundle
    data = synthetic(20)
    faults = _faults(bundle)
    engines = [bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast"))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    assert fast.attrs["mode_torch"] == "fast"
    for name in RUNTIMES[1:]:  # no fast path: the reference loop ran, and the attrs say why
        assert fast.attrs[f"mode_{name}"] == "reference"
        assert "no fast path" in fast.attrs[f"mode_{name}_detail"]
