"""Faults in the output of a layer's BatchNorm (the ``normalized`` site) on every runtime.

The reference is built independently of readlx's hooks: the PyTorch model with its BatchNorm module
wrapped by one that corrupts the element. Every runtime's faulty logits move from its golden logits
as that model's do, and differently from a fault of the layer's own output.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.errors import FaultListError
from readlx.fault_maps import generate
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.sites import with_outputs
from readlx.fault_maps.transient import transient_faults
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
RUNTIMES = ("torch", "keras", "onnxruntime", "onnxruntime-keras")
N = Site.NORMALIZED
FAULTS = (Fault("conv1", (3, 4, 5), 22, site=N), Fault("dwconv", (2, 7, 9), 23, site=N),
          Fault("conv2", (5, 3, 3), 24, FaultKind.STUCK_AT_1, site=N), Fault("conv2", (1, 0, 7), 31, site=N))


class Corrupted(nn.Module):
    """A BatchNorm followed by one element's bits corrupted in every row."""

    def __init__(self, norm: nn.Module, fault: Fault) -> None:
        super().__init__()
        self.norm, self.fault = norm, fault

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(x).clone()
        bits = out.view(torch.int32)
        where = (slice(None), *self.fault.index)
        mask = int(np.array(self.fault.mask, np.uint32).view(np.int32))
        bits[where] = bits[where] ^ mask if self.fault.kind is FaultKind.BIT_FLIP else bits[where] | mask
        return out


def _wrapped_logits(fault: Fault, images: np.ndarray, table: LayerTable) -> np.ndarray:
    model = copy.deepcopy(load_model(MODEL)).eval()
    setattr(model, table.normalized[fault.layer], Corrupted(getattr(model, table.normalized[fault.layer]), fault))
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(images[i:i + 8])).numpy() for i in range(0, len(images), 8)])


@pytest.fixture(scope="module")
def table(demo_bundle: Bundle) -> LayerTable:
    return with_outputs(demo_bundle.table, load_model(MODEL), ZOO[MODEL].input_shape)


def test_the_table_knows_which_layers_a_batchnorm_normalizes(table: LayerTable) -> None:
    assert table.normalized == {"conv1": "bn1", "dwconv": "bn2", "conv2": "bn3"}
    assert LayerTable.from_json(table.to_json()).normalized == table.normalized
    with pytest.raises(FaultListError, match="field 'layer'.*'conv3' goes to no BatchNorm.*conv1, dwconv, conv2"):
        table.check_fault(Fault("conv3", (0, 0, 0), 30, site=N))
    fl = generate(table, margin=0.1, mode="network-wise", site="normalized")
    assert {f.layer for f in fl.faults} == {"conv1", "dwconv", "conv2"} and all(f.site is N for f in fl.faults)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_corrupts_the_batchnorms_output(demo_bundle: Bundle, table: LayerTable, runtime: str) -> None:
    images = synthetic(16).images
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(images)
    torch_golden = _wrapped_logits(Fault("conv1", (0, 0, 0), 0, FaultKind.STUCK_AT_1, site=N), images, table)
    for fault in FAULTS:
        with engine.inject(fault):
            moved = engine.infer(images) - golden
        with engine.inject(Fault(fault.layer, fault.index, fault.bit, fault.kind, Site.ACTIVATION)):
            moved_before = engine.infer(images) - golden
        expected = _wrapped_logits(fault, images, table) - torch_golden
        scale = np.abs(expected).max()
        assert scale > 1e-3, fault.describe()  # the fault changes the logits
        np.testing.assert_allclose(moved, expected, atol=1e-4 * max(1.0, scale), err_msg=f"{runtime} {fault}")
        assert np.abs(moved_before - expected).max() > 1e-2 * scale  # not the layer's own output
        assert np.array_equal(engine.infer(images).view(np.uint32), golden.view(np.uint32))  # restored


def test_fast_paths_equal_the_reference_loop_for_normalized_faults(demo_bundle: Bundle, table: LayerTable) -> None:
    data = synthetic(20)
    transient = transient_faults(table, 1, mode="layer-wise", seed=2, site="normalized").faults
    faults = FaultList.from_faults(MODEL, (*FAULTS, *transient))
    engines = [demo_bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast-always"))
    xr.testing.assert_identical(ref.drop_attrs(), fast.drop_attrs())
    assert {k: v for k, v in ref.attrs.items() if not k.startswith("mode")} == {
        k: v for k, v in fast.attrs.items() if not k.startswith("mode")}
    assert (ref.site.values == "normalized").all() and 0 < int(ref.critical.sum()) < ref.critical.size * 20


def test_a_layer_without_batchnorm_is_refused_by_each_runtime(demo_bundle: Bundle) -> None:
    images = synthetic(8).images
    for runtime in RUNTIMES:
        engine = demo_bundle.engine(runtime, batch_size=8)
        with pytest.raises(FaultListError, match="BatchNorm"):  # the bundle's table knows no outputs
            with engine.inject(Fault("conv3", (0, 0, 0), 30, site=N)):
                engine.infer(images)
