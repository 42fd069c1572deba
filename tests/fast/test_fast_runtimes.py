"""Fast mode on every runtime of a bundle: the same Dataset as the reference loop, whichever path ran."""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign, run_fault
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.fast.onnxruntime_fast import OrtFastRunner
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
    for name in ("torch", "onnxruntime", "onnxruntime-keras"):
        assert fast.attrs[f"mode_{name}"] == "fast"
    for name in ("onnxruntime", "onnxruntime-keras"):  # every layer's suffix reproduced golden
        detail = json.loads(fast.attrs[f"mode_{name}_detail"])
        assert set(detail["suffix_layers"]) | set(detail["whole_graph_layers"]) == set(bundle.table.names)
        assert len(detail["suffix_layers"]) >= len(bundle.table.names) - 1
    assert fast.attrs["mode_keras"] == "reference"  # no fast path: the attrs say why
    assert "no fast path" in fast.attrs["mode_keras_detail"]


class _SkewedRunner(OrtFastRunner):
    """A runner whose suffix of one layer is off by one ulp in one output: the self-check must catch it."""

    SKEWED = "conv2"

    def _run_suffix(self, layer: str, values: dict[str, np.ndarray]) -> np.ndarray:
        out = super()._run_suffix(layer, values)
        if layer == self.SKEWED:
            out.view(np.uint32)[0, 0] ^= 1
        return out


def test_a_suffix_that_misses_golden_runs_the_whole_graph(demo_bundle: Bundle) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine("onnxruntime", batch_size=8)
    golden = engine.infer(data.images)
    runner = _SkewedRunner(engine, data.images, golden)
    assert _SkewedRunner.SKEWED in runner.describe()["whole_graph_layers"]
    assert _SkewedRunner.SKEWED not in runner.suffix
    faults = [f for f in _faults(demo_bundle) if f.layer == _SkewedRunner.SKEWED]
    for fault, (codes, preds, noop) in zip(faults, runner.run(faults)):
        assert np.array_equal(codes, run_fault(engine, fault, data.images, golden,
                                               engine.weight(fault.layer)[fault.index], True)[0])
