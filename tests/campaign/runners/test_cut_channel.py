"""Faulty convolutions computed for one output channel (ONNX Runtime, Keras): exact, and only where checked."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from readlx.campaign import run_fault
from readlx.campaign.runners import FastOptions, fast_runner
from readlx.campaign.runners.cut import CutValues
from readlx.campaign.runners.cut_channel import ChannelCutRunner, after
from readlx.campaign.runners.keras_fast import KerasFastRunner
from readlx.campaign.runners.onnxruntime_channel import conv_node
from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner
from readlx.converters import Bundle
from readlx.converters.from_onnx import onnx_table
from readlx.data.synthetic import synthetic
from readlx.engines.base import Engine
from readlx.engines.onnxruntime import OnnxRuntimeEngine
from readlx.fault_maps.fault import Fault, FaultKind


def _faults(engine: Engine, layers: list[str], count: int = 16) -> list[Fault]:
    """Bit flips of low and high bits at random places of ``layers``' weights."""
    rng = np.random.default_rng(1)
    out = []
    for layer in layers:
        shape = engine.weight(layer).shape
        for k in range(count):
            index = tuple(int(rng.integers(0, s)) for s in shape)
            out.append(Fault(layer, index, int(rng.integers(20, 31)) if k % 2 else k % 3, FaultKind.BIT_FLIP))
    return out


def _assert_reference(runner: ChannelCutRunner, faults: list[Fault], images: np.ndarray) -> list[np.ndarray]:
    engine, golden, codes = runner.engine, runner.golden, []
    for fault, (got, preds, _) in zip(faults, runner.run(faults), strict=True):
        want = run_fault(engine, fault, images, golden, engine.weight(fault.layer)[fault.index], True)
        assert np.array_equal(got, want[0]) and np.array_equal(preds, want[1]), fault
        codes.append(got)
    return codes


RUNTIMES = ["onnxruntime", "onnxruntime-keras", "keras"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_faulty_channels_give_the_reference_outcomes(demo_bundle: Bundle, runtime: str) -> None:
    data = synthetic(20)  # batches of 8, 8 and 4: both batch lengths are checked
    engine = demo_bundle.engine(runtime, batch_size=8)
    runner = fast_runner(engine, data.images, engine.infer(data.images), FastOptions(block_faults=5, channel_only=True))
    assert isinstance(runner, ChannelCutRunner)
    faults = _faults(engine, ["conv2", "conv3"])
    _assert_reference(runner, faults, data.images)
    used = {"conv2", "conv3"}
    assert set(runner.convs) & used == used, runner.channel_whole
    assert {(layer, n) for layer in used for n in (8, 4)} <= runner.channel_checked
    assert runner.stats.channel_batches == 3 * len(faults)  # none is a no-op
    if isinstance(runner, KerasFastRunner):  # Grappler fuses conv2 with the BatchNormalization that reads it
        assert "conv2" in runner.through and "conv3" not in runner.through
        bn = runner.through["conv2"][0]
        assert runner.convs["conv2"].output == bn.output.name  # spliced after the normalization
        # the suffixes built so far gave every layer another node: a second runner decides the same
        again = KerasFastRunner(engine, data.images, runner.golden, FastOptions(channel_only=True))
        assert set(again.through) == set(runner.through) and set(again.convs) == set(runner.convs)


def test_keras_refuses_a_convolution_fused_with_a_normalization_it_cannot_compute_through() -> None:
    tf = pytest.importorskip("tensorflow")
    from readlx.campaign.runners.keras_channel import batch_norm_after, refusal

    x = tf.keras.Input((6, 6, 2))
    conv, relu_conv = tf.keras.layers.Conv2D(4, 3), tf.keras.layers.Conv2D(4, 3, activation="relu")
    bn, other = tf.keras.layers.BatchNormalization(), tf.keras.layers.BatchNormalization()
    y = conv(x)
    _ = bn(y), tf.keras.layers.ReLU()(y)
    _ = other(relu_conv(x))
    why = ("read by a BatchNormalization, which TensorFlow fuses with it, not as its only reader after a linear "
           "convolution")
    assert refusal(conv, conv.kernel, (1, 1), [bn, tf.keras.layers.ReLU()]) == why  # a second reader
    assert refusal(relu_conv, relu_conv.kernel, (1, 1), [other]) == why  # an activation in between
    assert batch_norm_after(conv, [bn]) is bn and refusal(conv, conv.kernel, (1, 1), [bn]) is None


class _UnwaryKeras(KerasFastRunner):
    fused_readers = ()  # no static rule: the probe has to find out


def test_a_convolution_whose_output_changes_the_graph_is_computed_whole(demo_bundle: Bundle) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine("keras", batch_size=8)
    asked = FastOptions(block_faults=5, channel_only=True)
    runner = _UnwaryKeras(engine, data.images, engine.infer(data.images), asked)
    assert "conv2" in runner.convs  # before its first fault
    faults = _faults(engine, ["conv2", "conv3"], 8)
    _assert_reference(runner, faults, data.images)
    assert runner.channel_whole["conv2"] == ("the graph with its convolution's output as an output misses "
                                             "golden (the runtime optimizes it otherwise)")
    assert "conv3" in runner.convs and runner.stats.channel_batches == 3 * 8
    assert runner.stats.whole_graph_layers == []  # the layers' own suffixes still run
    assert runner.stats.stopped_batches > 0 and runner.stats.unchecked == []


@pytest.mark.parametrize("runtime", ["onnxruntime", "keras"])
def test_channel_only_off_computes_every_layer_whole(demo_bundle: Bundle, runtime: str) -> None:
    data = synthetic(12)
    engine = demo_bundle.engine(runtime, batch_size=8)
    runner = fast_runner(engine, data.images, engine.infer(data.images), FastOptions(channel_only=False))
    assert isinstance(runner, ChannelCutRunner)
    _assert_reference(runner, _faults(engine, ["conv2"], 6), data.images)
    assert runner.convs == {} and set(runner.channel_whole.values()) == {"channel-only runs are off"}
    assert runner.stats.channel_batches == 0 and after("conv2") not in runner.suffix
    assert runner.describe()["channel_only"] == "off: channel-only runs are off"


def test_keras_computes_layers_whole_unless_asked(demo_bundle: Bundle) -> None:
    data = synthetic(12)
    engine = demo_bundle.engine("keras", batch_size=8)
    runner = fast_runner(engine, data.images, engine.infer(data.images))
    assert isinstance(runner, KerasFastRunner) and KerasFastRunner.channel_off is not None
    _assert_reference(runner, _faults(engine, ["conv2"], 4), data.images)
    assert runner.convs == {} and set(runner.channel_whole.values()) == {KerasFastRunner.channel_off}
    assert runner.stats.channel_batches == 0
    assert runner.describe()["channel_only"] == f"off: {KerasFastRunner.channel_off}"
    asked = fast_runner(engine, data.images, runner.golden, FastOptions(channel_only=True))
    assert isinstance(asked, KerasFastRunner) and "conv2" in asked.convs


@pytest.mark.parametrize("runtime", ["onnxruntime", "keras"])
def test_a_channel_one_ulp_off_is_not_used(demo_bundle: Bundle, runtime: str) -> None:
    data = synthetic(12)
    engine = demo_bundle.engine(runtime, batch_size=8)
    runner = fast_runner(engine, data.images, engine.infer(data.images), FastOptions(channel_only=True))
    assert isinstance(runner, ChannelCutRunner)
    conv = runner.convs["conv3"]
    values = runner.golden_values(["conv3"], runner.layout[0])
    assert values is not None
    off = np.array(values[conv.output], np.float32)
    off.view(np.uint32)[(0,) * off.ndim] ^= 1  # channel 0 on both layouts
    assert not runner.check_channels("conv3", {**values, conv.output: off})
    assert runner.channel_whole["conv3"] == ("output channel 0 computed alone differs from the whole layer's on "
                                             "a batch of 8")
    _assert_reference(runner, _faults(engine, ["conv3"], 6), data.images)
    assert runner.stats.channel_batches == 0 and "conv3" in runner.suffix  # the layer's own suffix instead


class _MisplacingKeras(KerasFastRunner):
    """Rebuilds the output around the channel one ulp off in another channel: the check must catch it."""

    def channel_output(self, layer: str, values: CutValues, o: int) -> tuple[np.ndarray, Any]:
        alone, out = super().channel_output(layer, values, o)
        wrong = np.array(out, np.float32)
        wrong.view(np.uint32)[(0,) * (wrong.ndim - 1) + ((o + 1) % wrong.shape[-1],)] ^= 1
        return alone, wrong


def test_a_keras_output_rebuilt_wrong_around_its_channel_is_not_used(demo_bundle: Bundle) -> None:
    data = synthetic(12)
    engine = demo_bundle.engine("keras", batch_size=8)
    runner = _MisplacingKeras(engine, data.images, engine.infer(data.images), FastOptions(channel_only=True))
    _assert_reference(runner, _faults(engine, ["conv3"], 4), data.images)
    assert runner.channel_whole["conv3"] == ("the output rebuilt around channel 0 differs from the whole layer's "
                                             "on a batch of 8")
    assert runner.stats.channel_batches == 0


def _carrying_model() -> onnx.ModelProto:
    """x -> Relu -> conv ``a`` -> (Relu -> conv ``b``) + a -> mean -> linear: the faulty conv's output is
    carried, unchanged, across the cut of ``b`` (its check). Filter 0 of ``a`` is negative everywhere, so
    the Relu zeroes channel 0 and a fault of its mantissa or exponent bits changes nothing but the carried value."""
    rng = np.random.default_rng(0)
    wa = rng.uniform(0.1, 1.0, (4, 2, 3, 3)).astype(np.float32)
    wa[0] *= -1
    weights = {"a.weight": wa, "b.weight": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
               "fc.weight": rng.standard_normal((4, 3)).astype(np.float32)}
    pads = {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}
    nodes = [helper.make_node("Relu", ["x"], ["x1"]), helper.make_node("Conv", ["x1", "a.weight"], ["a"], **pads),
             helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Conv", ["r", "b.weight"], ["b"], **pads),
             helper.make_node("Add", ["b", "a"], ["s"]), helper.make_node("GlobalAveragePool", ["s"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("MatMul", ["f", "fc.weight"], ["y"])]
    graph = helper.make_graph(nodes, "carry", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
                              [numpy_helper.from_array(w, n) for n, w in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_faulty_value_carried_past_a_check_never_stops_the_batch() -> None:
    proto = _carrying_model()
    engine = OnnxRuntimeEngine(proto, onnx_table(proto, "carry"), batch_size=4)
    images = np.random.default_rng(2).uniform(0, 1, (10, 2, 6, 6)).astype(np.float32)
    runner = OrtFastRunner(engine, images, engine.infer(images))
    assert "a" in runner.convs and runner.planned[after("a")][:1] == ["b"]
    faults = [Fault("a", (0, 0, 1, 1), bit, FaultKind.BIT_FLIP) for bit in (12, 16, 20, 26)]
    codes = _assert_reference(runner, faults, images)
    assert all((c != 0).any() for c in codes)  # not masked: only the carried value changed
    assert runner.checks_of(after("a"))[:1] == ["b"]  # the check was there to be used
    assert runner.stats.channel_batches == 3 * len(faults) and runner.stats.stopped_batches == 0


def test_a_weight_read_by_other_than_one_conv_is_computed_whole() -> None:
    proto = _carrying_model()
    assert "not as a Conv's filters" in str(conv_node(proto, "fc.weight", (4, 3)))
    shared = onnx.ModelProto()
    shared.CopyFrom(proto)
    shared.graph.node[3].input[1] = "a.weight"
    assert conv_node(shared, "a.weight", (4, 2, 3, 3)) == "its weight is read by 2 nodes, not one"


def test_a_keras_channel_function_is_traced_once_for_every_batch_length() -> None:
    tf = pytest.importorskip("tensorflow")
    from readlx.campaign.runners.keras_channel import ChannelFunctions

    conv = tf.keras.layers.Conv2D(4, 3)
    conv.build((None, 6, 6, 2))
    functions = ChannelFunctions("/CPU:0")
    for n in (8, 4, 8, 1):  # a campaign's full batches and its shorter last one
        x = tf.random.normal((n, 6, 6, 2))
        alone, out = functions.replaced(conv, x, conv(x), n % 4)
        assert np.array_equal(alone, conv(x).numpy()[..., n % 4 :][..., :1])
    (function,) = functions._functions.values()
    assert function.experimental_get_tracing_count() == 1
