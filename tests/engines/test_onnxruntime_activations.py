"""Activation faults on ONNX Runtime: the layer's output corrupted on the host between the two sessions
of its graph cut, bit for bit what a by-hand split run gives, the same faults PyTorch's forward hook
makes, and the whole-graph path again once the context is left."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner
from readlx.campaign.runners.reference import ReferenceRunner
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.engines.onnxruntime import OnnxRuntimeEngine
from readlx.engines.onnxruntime_cuts import ActivationCut, ActivationNotExposed
from readlx.engines.torch import TorchEngine
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Bits, Fault, FaultKind, Site
from readlx.outcomes.classification import MASKED

BATCH = 8
N_IMAGES = 20  # two whole batches and a shorter last one
RUNTIMES = ("onnxruntime", "onnxruntime-keras")
SITES = {"conv1": (3, 5, 1), "dwconv": (2, 7, 4), "conv2": (9, 3, 2), "conv3": (5, 1, 6), "linear": (4,)}
"""One element per layer, conv, depthwise conv and linear; C, H and W all differ, so a transposed
reading of the index lands on another element."""
SHAPES = {"conv1": (8, 16, 16), "dwconv": (8, 16, 16), "conv2": (16, 8, 8), "conv3": (16, 8, 8), "linear": (10,)}
MODELS: list[tuple[Bits, FaultKind]] = [
    (30, FaultKind.BIT_FLIP), (31, FaultKind.BIT_FLIP), (22, FaultKind.BIT_FLIP), ((21, 30), FaultKind.BIT_FLIP),
    (29, FaultKind.STUCK_AT_0), (30, FaultKind.STUCK_AT_1),
]


def _fault(layer: str, bit: Bits, kind: FaultKind = FaultKind.BIT_FLIP, index: tuple[int, ...] | None = None) -> Fault:
    return Fault(layer, SITES[layer] if index is None else index, bit, kind, site=Site.ACTIVATION)


def _words(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, np.float32).view(np.uint32).tobytes()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def torch_engine(demo_bundle: Bundle) -> TorchEngine:
    engine = demo_bundle.engine("torch", batch_size=BATCH)
    assert isinstance(engine, TorchEngine)
    return engine


@pytest.fixture(scope="module", params=RUNTIMES)
def engine(request: pytest.FixtureRequest, demo_bundle: Bundle) -> OnnxRuntimeEngine:
    built = demo_bundle.engine(request.param, batch_size=BATCH)
    assert isinstance(built, OnnxRuntimeEngine)
    return built


@pytest.fixture(scope="module")
def golden(engine: OnnxRuntimeEngine, images: np.ndarray) -> np.ndarray:
    return engine.infer(images)


def _by_hand(engine: OnnxRuntimeEngine, cut: ActivationCut, images: np.ndarray, fault: Fault | None) -> np.ndarray:
    """The cut run session by session, the layer's output corrupted here (NCHW: the index as is)."""
    assert not cut.channels_last  # ONNX Conv is NCHW in both exports
    out = []
    for lo in range(0, len(images), engine.batch_size):
        feeds: dict[str, Any] = {engine.image_input: engine.layout_images(images[lo:lo + engine.batch_size]),
                                 **engine.weight_feeds}
        values = dict(zip(cut.values, cut.prefix.run(cut.values, {n: feeds[n] for n in cut.prefix_inputs}),
                          strict=True))
        if fault is not None:
            words = np.array(values[cut.tensor], np.float32).view(np.uint32)
            where, mask = (slice(None), *fault.index), np.uint32(sum(1 << b for b in fault.bits))
            if fault.kind is FaultKind.BIT_FLIP:
                words[where] ^= mask
            elif fault.kind is FaultKind.STUCK_AT_1:
                words[where] |= mask
            else:
                words[where] &= ~mask
            values[cut.tensor] = words.view(np.float32)
        if cut.suffix is None:
            out.append(np.asarray(values[cut.output], np.float32))
        else:
            inputs = {n: values[n] if n in values else feeds[n] for n in cut.suffix_inputs}
            out.append(np.asarray(cut.suffix.run(None, inputs)[0], np.float32))
    return np.concatenate(out)


@pytest.mark.parametrize("layer", list(SITES))
def test_the_uncorrupted_cut_is_golden_bit_for_bit(engine: OnnxRuntimeEngine, images: np.ndarray,
                                                   golden: np.ndarray, layer: str) -> None:
    cut = engine.activation_cut(layer)
    assert cut.values[0] == cut.tensor and (cut.suffix is None) == (cut.output in cut.values)
    assert _words(_by_hand(engine, cut, images, None)) == _words(golden)


def test_the_cut_carries_the_skip_connection(demo_bundle: Bundle) -> None:
    engine = demo_bundle.engine("onnxruntime", batch_size=BATCH)
    assert isinstance(engine, OnnxRuntimeEngine)
    # dwconv sits inside a residual block: the block's input is live across its output
    assert engine.activation_cut("dwconv").values == ["/dwconv/Conv_output_0", "/Relu_output_0"]
    assert engine.activation_cut("linear").suffix is None  # the Gemm's output is the graph's


@pytest.mark.parametrize("layer", list(SITES))
def test_faults_match_a_by_hand_split_and_pytorch(engine: OnnxRuntimeEngine, torch_engine: TorchEngine,
                                                  images: np.ndarray, golden: np.ndarray, layer: str) -> None:
    cut = engine.activation_cut(layer)
    for bit, kind in MODELS:
        fault = _fault(layer, bit, kind)
        with engine.inject(fault):
            faulty = engine.infer(images)
        with torch_engine.inject(fault):
            reference = torch_engine.infer(images)
        assert _words(faulty) == _words(_by_hand(engine, cut, images, fault)), fault.describe()
        assert _words(engine.infer(images)) == _words(golden)  # the whole graph again, outside the context
        if bit == 30 and kind is FaultKind.BIT_FLIP:
            assert _words(faulty) != _words(golden), fault.describe()
            assert np.array_equal(np.argmax(faulty, 1), np.argmax(reference, 1)), fault.describe()
        if np.isfinite(reference).all():  # the same element, corrupted the same way, in both runtimes
            scale = max(1.0, float(np.abs(reference).max()))
            np.testing.assert_allclose(faulty, reference, rtol=1e-4, atol=1e-4 * scale, err_msg=fault.describe())


def test_a_transposed_index_would_be_caught(engine: OnnxRuntimeEngine, torch_engine: TorchEngine,
                                            images: np.ndarray) -> None:
    """The closeness check above tells elements apart: the element at the index read as (H, W, C)."""
    fault = _fault("conv1", 22)
    moved = _fault("conv1", 22, index=(SITES["conv1"][1], SITES["conv1"][2], SITES["conv1"][0]))
    with engine.inject(moved):
        faulty = engine.infer(images)
    with torch_engine.inject(fault):
        reference = torch_engine.infer(images)
    assert not np.allclose(faulty, reference, rtol=1e-4, atol=1e-4)


def test_the_context_restores_the_whole_graph_after_an_error(engine: OnnxRuntimeEngine, images: np.ndarray,
                                                             golden: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="inside"), engine.inject(_fault("conv2", 30)):
        assert _words(engine.infer(images)) != _words(golden)
        raise RuntimeError("inside")
    assert _words(engine.infer(images)) == _words(golden)


@pytest.mark.parametrize("layer", ["conv2", "linear"])
def test_an_out_of_range_index_names_layer_index_and_shape(engine: OnnxRuntimeEngine, images: np.ndarray,
                                                           layer: str) -> None:
    bad = _fault(layer, 30, index=tuple(n if k == 0 else 0 for k, n in enumerate(SHAPES[layer])))
    said = rf"{re.escape(str(bad.index))}.*{layer!r}.*{re.escape(str(SHAPES[layer]))}"
    with pytest.raises(FaultListError, match=said):
        with engine.inject(bad):
            engine.infer(images)


def test_a_table_with_output_shapes_checks_at_injection(demo_bundle: Bundle, images: np.ndarray) -> None:
    table = replace(demo_bundle.table, outputs=SHAPES)
    engine = OnnxRuntimeEngine(demo_bundle.artifact().file("onnxruntime"), table, BATCH)
    with pytest.raises(FaultListError, match=r"\(16, 0, 0\).*'conv2'.*\(16, 8, 8\)"):
        with engine.inject(_fault("conv2", 30, index=(16, 0, 0))):
            pytest.fail("injected")
    wrong = replace(demo_bundle.table, outputs={**SHAPES, "conv2": (8, 8, 16)})  # as if NHWC
    engine = OnnxRuntimeEngine(demo_bundle.artifact().file("onnxruntime"), wrong, BATCH)
    fault = _fault("conv2", 30, index=(5, 3, 2))  # in range in either shape
    with pytest.raises(ReadlxError, match=r"'conv2'.*\(16, 8, 8\).*\(8, 8, 16\)"), engine.inject(fault):
        engine.infer(images)


class _Counting:
    """A session whose runs are counted, optionally off by one ulp in one output."""

    def __init__(self, session: Any, skew: bool) -> None:
        self.session, self.skew, self.runs = session, skew, 0

    def run(self, names: Any, feeds: Any) -> list[Any]:
        self.runs += 1
        out = list(self.session.run(names, feeds))
        if self.skew:
            out[0] = np.array(out[0], np.float32)
            out[0].view(np.uint32)[0, 0] ^= 1
        return out


def test_the_cut_is_verified_once_per_batch_size(demo_bundle: Bundle, images: np.ndarray) -> None:
    engine = demo_bundle.engine("onnxruntime", batch_size=BATCH)
    assert isinstance(engine, OnnxRuntimeEngine)
    whole = engine.session = _Counting(engine.session, skew=False)
    for bit in (30, 22):
        with engine.inject(_fault("conv3", bit)):
            engine.infer(images)
        assert whole.runs == 2  # batches of 8 and of 4, checked on the first fault only
    assert engine.activation_cut("conv3").checked == {8, 4}


def test_a_cut_that_misses_the_whole_graph_is_refused(demo_bundle: Bundle, images: np.ndarray) -> None:
    engine = demo_bundle.engine("onnxruntime", batch_size=BATCH)
    assert isinstance(engine, OnnxRuntimeEngine)
    engine.session = _Counting(engine.session, skew=True)
    with pytest.raises(ActivationNotExposed, match="layer 'dwconv'.*fuses across.*not exposed"):
        with engine.inject(_fault("dwconv", 30)):
            engine.infer(images)
    assert engine._active is None


def test_the_fast_runner_gives_the_reference_outcomes(demo_bundle: Bundle, images: np.ndarray) -> None:
    engine = demo_bundle.engine("onnxruntime", batch_size=BATCH)
    assert isinstance(engine, OnnxRuntimeEngine)
    golden = engine.infer(images)
    faults = [_fault(layer, bit, kind) for layer in SITES for bit, kind in MODELS[::2]]
    reference = list(ReferenceRunner(engine, images, golden).run(faults))
    fast = list(OrtFastRunner(engine, images, golden).run(faults))
    for fault, want, got in zip(faults, reference, fast, strict=True):
        assert np.array_equal(want.codes, got.codes) and np.array_equal(want.prediction, got.prediction), fault
    assert any((want.codes != MASKED).any() for want in reference)
