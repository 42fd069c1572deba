"""Fast mode on every runtime of a bundle: the same Dataset as the reference loop, whichever path ran."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign, run_fault
from readlx.campaign.runners import FastOptions, FastUnsupported, fast_runner
from readlx.campaign.runners.cut import CutRunner, CutValues
from readlx.campaign.runners.cut_channel import ChannelCutRunner, after
from readlx.campaign.runners.keras_fast import KerasFastRunner, ordered_nodes
from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner
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
    return FaultList.from_faults(MODEL, tuple(chosen))


def _modeless(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    return out


# one cut group holding every layer, and the smallest cache: a group and a chunk of one batch per layer
@pytest.mark.parametrize("cache_bytes", [FastOptions.cache_bytes, 1])
def test_fast_mode_equals_reference_on_every_runtime(demo_bundle: Bundle, cache_bytes: int) -> None:
    bundle = demo_bundle
    data = synthetic(20)
    faults = _faults(bundle)
    engines = [bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast-always", fast=FastOptions(cache_bytes=cache_bytes)))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    for name in RUNTIMES:
        assert fast.attrs[f"mode_{name}"] == "fast"
    for name in ("keras", "onnxruntime", "onnxruntime-keras"):
        assert json.loads(fast.attrs[f"mode_{name}_detail"])["cache_bytes"] == cache_bytes


def _mixed_faults(bundle: Bundle) -> FaultList:
    """Activation faults of every layer (bit flips, stuck-at, a bit set) beside multi-bit weight faults."""
    from readlx.fault_maps.sites import with_outputs
    from readlx.zoo import ZOO, load_model

    table = with_outputs(bundle.table, load_model(MODEL), ZOO[MODEL].input_shape)
    rng = np.random.default_rng(5)
    chosen = []
    for k, layer in enumerate(table.layers * 2):
        kind = (FaultKind.BIT_FLIP, FaultKind.STUCK_AT_1, FaultKind.STUCK_AT_0)[k % 3]
        out = tuple(int(rng.integers(0, n)) for n in table.outputs[layer.name])
        chosen.append(Fault(layer.name, out, ((30,), (29, 30), (22,), (31,), (23, 24, 25))[k % 5], kind, "activation"))
        index = tuple(int(rng.integers(0, n)) for n in layer.shape)
        chosen.append(Fault(layer.name, index, (27, 28) if k % 2 else (28, 29, 30), kind))
    return FaultList.from_faults(MODEL, tuple(chosen))


def test_fast_mode_equals_reference_for_activation_and_multi_bit_faults(demo_bundle: Bundle) -> None:
    data = synthetic(20)
    faults = _mixed_faults(demo_bundle)
    engines = [demo_bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast-always"))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    assert (ref.site.values == "activation").sum() == len(faults) // 2
    assert ref.critical.sum() > 0 and ref.masked.sum() > 0  # the faults do something, and not everything
    for name in RUNTIMES:
        assert fast.attrs[f"mode_{name}"] == "fast"


@pytest.mark.parametrize("runtime", ["keras", "onnxruntime", "onnxruntime-keras"])
def test_every_suffix_of_the_demo_model_reproduces_golden(demo_bundle: Bundle, runtime: str) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine(runtime, batch_size=8)
    runner = fast_runner(engine, data.images, engine.infer(data.images))
    assert isinstance(runner, CutRunner)
    names = list(demo_bundle.table.names)
    assert runner._groups(names) == [names]  # the demo's cut values fit the default cache at once
    runner.prepare(names)
    afters = {after(layer) for layer in runner.convs} if isinstance(runner, ChannelCutRunner) else set()
    assert set(runner.suffix) | set(runner.whole) == set(names) | afters
    assert runner.stats.whole_graph_layers == runner.whole and len(runner.whole) <= 1  # the input layer's
    if isinstance(runner, OrtFastRunner):  # the one-group convolutions after the input's compute a channel
        assert set(runner.convs) | {"conv1"} == {"conv1", "conv2", "conv3"}, runner.channel_whole
        assert "conv1" in runner.convs or runner.channel_whole["conv1"] == "its suffix is the whole graph"
        assert runner.channel_whole["dwconv"] == "a grouped convolution (group=8)"
        assert "not as a Conv's filters" in runner.channel_whole["linear"]


def test_cut_groups_follow_the_cache_bound(demo_bundle: Bundle) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine("onnxruntime", batch_size=8)
    names = [n for n in demo_bundle.table.names]
    runner = OrtFastRunner(engine, data.images, engine.infer(data.images), FastOptions(cache_bytes=1))
    assert runner._groups(names) == [[n] for n in names]
    assert all(runner._chunk_batches([n]) == 1 for n in names)
    first = runner._batch_bytes(runner._names(names[1:2]))
    roomy = OrtFastRunner(engine, data.images, engine.infer(data.images), FastOptions(cache_bytes=first * 2))
    assert roomy._chunk_batches(names[1:2]) == 2


SKEWED = "conv2"


def _skewed(runner: type[CutRunner]) -> type[CutRunner]:
    """``runner`` with the suffix of one layer off by one ulp in one output: the self-check must catch it."""

    class Skewed(runner):  # type: ignore[misc, valid-type]  # the runner class is a parameter
        def run_suffix(self, layer: str, values: CutValues) -> np.ndarray:
            out = super().run_suffix(layer, values).copy()
            if layer == SKEWED:
                out.view(np.uint32)[0, 0] ^= 1
            return out

    return Skewed


@pytest.mark.parametrize(("runtime", "runner"), [("onnxruntime", OrtFastRunner), ("keras", KerasFastRunner)])
def test_a_suffix_that_misses_golden_runs_the_whole_graph(demo_bundle: Bundle, runtime: str,
                                                          runner: type[CutRunner]) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(data.images)
    fast = _skewed(runner)(engine, data.images, golden)
    faults = [f for f in _faults(demo_bundle).faults if f.layer == SKEWED]
    for fault, (codes, _, _) in zip(faults, fast.run(faults), strict=True):
        assert np.array_equal(codes, run_fault(engine, fault, data.images, golden,
                                               engine.weight(fault.layer)[fault.index], True)[0])
    assert SKEWED in fast.stats.whole_graph_layers and SKEWED not in fast.suffix


class _Subclassed(tf.keras.Model):
    """A Keras model without a layer graph."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = tf.keras.layers.Dense(3, name="dense")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.dense(tf.reshape(x, (-1, 12)))


def test_a_keras_model_without_a_layer_graph_has_no_cuts() -> None:
    model = _Subclassed()
    model(tf.zeros((1, 2, 2, 3)))
    with pytest.raises(FastUnsupported, match="not a functional model"):
        ordered_nodes(model)


@pytest.mark.parametrize("runtime", ["keras", "onnxruntime"])
def test_evicted_suffixes_are_rebuilt_with_the_same_outcomes(demo_bundle: Bundle, runtime: str) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(data.images)
    faults = _faults(demo_bundle).faults  # every layer twice over: each comes back after the others
    runner = fast_runner(engine, data.images, golden, FastOptions(cache_bytes=1, block_faults=3))
    assert isinstance(runner, CutRunner)
    runner.suffixes_kept = 1
    for fault, (codes, preds, _) in zip(faults, runner.run(faults), strict=True):
        want = run_fault(engine, fault, data.images, golden, engine.weight(fault.layer)[fault.index], True)
        assert np.array_equal(codes, want[0]) and np.array_equal(preds, want[1])
        # the fault's layer, the point after its Conv (ONNX Runtime) and its checks'
        assert len(runner.suffix) <= 2 + runner.options.checks
