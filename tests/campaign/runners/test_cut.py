"""Early stops of the probe-and-suffix runners (ONNX Runtime, Keras): exact, and only through checked segments."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from readlx.campaign import run_fault
from readlx.campaign.runners import FastOptions
from readlx.campaign.runners.cut import CutRunner, CutValues
from readlx.campaign.runners.keras_fast import KerasFastRunner
from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.fault_maps.fault import Fault, FaultKind

RUNNERS = [("onnxruntime", OrtFastRunner), ("keras", KerasFastRunner)]


def _low_and_high_bits(bundle: Bundle, count: int = 24) -> list[Fault]:
    """Bit flips of every bit range in the layers after the first (some come back to golden, some not)."""
    rng = np.random.default_rng(0)
    chosen = []
    for layer in bundle.table.layers[1:]:
        for k in range(count):
            index = tuple(int(rng.integers(0, s)) for s in layer.shape)
            chosen.append(Fault(layer.name, index, int(rng.integers(0, 31)) if k % 2 else k % 4, FaultKind.BIT_FLIP))
    return chosen


def _assert_reference(runner: CutRunner, faults: list[Fault], images: np.ndarray, golden: np.ndarray) -> None:
    engine = runner.engine
    for fault, (codes, preds, _) in zip(faults, runner.run(faults), strict=True):
        want = run_fault(engine, fault, images, golden, engine.weight(fault.layer)[fault.index], True)
        assert np.array_equal(codes, want[0]) and np.array_equal(preds, want[1]), fault


@pytest.mark.parametrize(("runtime", "runner"), RUNNERS)
def test_batches_back_to_golden_stop_with_the_reference_outcomes(demo_bundle: Bundle, runtime: str,
                                                                 runner: type[CutRunner]) -> None:
    data = synthetic(20)  # batches of 8, 8 and 4
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(data.images)
    fast = runner(engine, data.images, golden, FastOptions(block_faults=7, checks=2))
    faults = _low_and_high_bits(demo_bundle)
    _assert_reference(fast, faults, data.images, golden)
    assert fast.stats.unchecked == []
    assert fast.checks_of("conv2") == ["conv3", "linear"] and fast.checks_of("linear") == []
    assert 0 < fast.stats.stopped_batches < 3 * len(faults)


@pytest.mark.parametrize(("runtime", "runner"), RUNNERS)
def test_a_second_check_adds_stops_and_changes_no_outcome(demo_bundle: Bundle, runtime: str,
                                                          runner: type[CutRunner]) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(data.images)
    faults = _low_and_high_bits(demo_bundle, 12)
    one, two = (runner(engine, data.images, golden, FastOptions(checks=n)) for n in (1, 2))
    for a, b in zip(one.run(faults), two.run(faults), strict=True):
        assert np.array_equal(a.codes, b.codes) and np.array_equal(a.prediction, b.prediction)
    assert one.checks_of("conv2") == ["conv3"]
    assert 0 < one.stats.stopped_batches <= two.stats.stopped_batches  # a batch golden at the first stops there


SKEWED = ("conv2", "conv3")


def _skewed(runner: type[CutRunner]) -> type[CutRunner]:
    """``runner`` whose segment from conv2 to conv3 is off by one ulp: the self-check must catch it."""

    class Skewed(runner):  # type: ignore[misc, valid-type]  # the runner class is a parameter
        def _run_segment(self, segment: Any, start: str, values: CutValues) -> list[Any]:
            out = [np.array(v, np.float32) for v in super()._run_segment(segment, start, values)]
            if start == SKEWED[0] and segment is self.segment.get(SKEWED):
                out[0].reshape(-1).view(np.uint32)[0] ^= 1
            return out

    return Skewed


@pytest.mark.parametrize(("runtime", "runner"), RUNNERS)
def test_a_segment_that_misses_golden_is_not_used(demo_bundle: Bundle, runtime: str, runner: type[CutRunner]) -> None:
    data = synthetic(20)
    engine = demo_bundle.engine(runtime, batch_size=8)
    golden = engine.infer(data.images)
    fast = _skewed(runner)(engine, data.images, golden)
    faults = _low_and_high_bits(demo_bundle, 12)
    _assert_reference(fast, faults, data.images, golden)
    assert fast.stats.unchecked == ["conv2->conv3"]
    assert fast.checks_of("conv2") == [] and fast.checks_of("dwconv") == ["conv2"]
    assert SKEWED not in fast.segment


def test_no_segment_leads_to_a_check_whose_layer_runs_whole_graph(demo_bundle: Bundle) -> None:
    data = synthetic(12)
    engine = demo_bundle.engine("onnxruntime", batch_size=8)
    fast = OrtFastRunner(engine, data.images, engine.infer(data.images), FastOptions(channel_only=False, checks=2))
    assert fast._pairs("conv2") == [("conv2", "conv3"), ("conv3", "linear")]
    fast.whole.append("linear")  # as when its suffix misses golden: its cut's values are no longer probed
    assert fast._pairs("conv2") == [("conv2", "conv3")] and fast._pairs("conv3") == []
    fast.whole.append("conv3")
    assert fast._pairs("conv2") == []


def test_a_value_golden_in_its_first_image_only_is_not_golden() -> None:
    from readlx.campaign.runners.cut import _golden_at

    golden = {"x": np.zeros((4, 3), np.float32), "y": np.ones((4, 2), np.float32)}
    later = golden["y"].copy()
    later[3, 1] = np.nextafter(np.float32(1), np.float32(2))  # one ulp, in the last image
    signed = golden["x"].copy()
    signed[0, 0] = -0.0  # the first image differs in its sign bit only
    assert _golden_at({"x": golden["x"].copy(), "y": golden["y"].copy()}, golden)
    assert not _golden_at({"y": later}, golden)
    assert not _golden_at({"x": signed}, golden)
    assert _golden_at({}, golden)
