"""Transient activation faults on every runtime: each image's own draw, whatever the batch layout.

The slow, obviously correct definition: image ``i`` under a transient fault has the outcome of the
permanent fault at image ``i``'s drawn element and bit. Every runtime's reference loop and fast path
are held to it, and to each other, per image.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.sites import with_outputs
from readlx.fault_maps.transient import draws, transient_faults
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
RUNTIMES = ("torch", "keras", "onnxruntime", "onnxruntime-keras")
N_IMAGES = 20  # batches of 8: two full ones and a shorter one


@pytest.fixture(scope="module")
def table(demo_bundle: Bundle) -> LayerTable:
    return with_outputs(demo_bundle.table, load_model(MODEL), ZOO[MODEL].input_shape)


@pytest.fixture(scope="module")
def faults(table: LayerTable) -> FaultList:
    """Two transient faults per layer: bit flips over all bits, stuck-at-1 on the exponent's top bits
    (outcomes that are neither all masked nor all critical), one of them within one channel."""
    listed = transient_faults(table, 1, mode="layer-wise", seed=3).faults
    more = [replace(f, bit=(29, 30), kind=FaultKind.STUCK_AT_1, seed=f.seed + 1,  # type: ignore[operator]
                    index=(1,) if len(table.outputs[f.layer]) == 3 else ()) for f in listed]
    return FaultList.from_faults(MODEL, (*listed, *more))


def _modeless(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    return out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_image_has_the_outcome_of_its_own_permanent_fault(demo_bundle: Bundle, table: LayerTable,
                                                              faults: FaultList, runtime: str) -> None:
    data = synthetic(N_IMAGES)
    engine = demo_bundle.engine(runtime, batch_size=8)
    got = run_campaign([engine], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    for k, fault in enumerate(faults.faults):
        drawn = draws(fault, table.outputs[fault.layer], np.arange(N_IMAGES))
        permanent = FaultList.from_faults(MODEL, tuple(
            Fault(fault.layer, tuple(int(i) for i in drawn.index[r]), int(drawn.bit[r]), fault.kind, Site.ACTIVATION)
            for r in range(N_IMAGES)))
        each = run_campaign([engine], permanent, data, model=MODEL, options=CampaignOptions(per_image=True))
        expected = np.array([each.outcome.values[0, r, 0, r] for r in range(N_IMAGES)])  # model, fault, fw, image
        assert np.array_equal(got.outcome.values[0, k, 0], expected), (runtime, fault.describe())
    assert 0 < int(got.masked.sum()) < len(faults) * N_IMAGES  # the faults do something, and not everything


def test_fast_paths_equal_the_reference_loop_on_every_runtime(demo_bundle: Bundle, faults: FaultList) -> None:
    data = synthetic(N_IMAGES)
    engines = [demo_bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast-always"))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    assert all(fast.attrs[f"mode_{name}"] == "fast" for name in RUNTIMES)
    assert (ref.seed.values >= 0).all()


def test_outcomes_do_not_depend_on_the_batch_layout(demo_bundle: Bundle, faults: FaultList) -> None:
    """Batches of 4 and of 10 split the images differently; each image keeps its draw. (The model's
    golden outputs are the same for both layouts on ONNX Runtime with one thread, checked here.)"""
    data = synthetic(N_IMAGES)
    runs = []
    for size in (4, 10):
        engine = demo_bundle.engine("onnxruntime", batch_size=size)
        runs.append(run_campaign([engine], faults, data, model=MODEL, options=CampaignOptions(per_image=True)))
    assert np.array_equal(runs[0].golden_top1.values, runs[1].golden_top1.values)
    assert np.array_equal(runs[0].outcome.values, runs[1].outcome.values)


def test_a_prefix_out_of_the_output_is_a_named_error(table: LayerTable) -> None:
    bad = Fault("conv1", (99,), 30, site=Site.ACTIVATION, seed=1)
    with pytest.raises(FaultListError, match=r"field 'index'.*not a leading part.*conv1"):
        table.check_fault(bad)
