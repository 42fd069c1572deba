from __future__ import annotations

import numpy as np
import pytest

from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.zoo import ZOO, load_model


@pytest.fixture()
def engine() -> TorchEngine:
    return TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), batch_size=8)


def test_inject_changes_exactly_one_weight_and_restores(engine: TorchEngine) -> None:
    before = engine.weight("conv2").view(np.uint32).copy()
    fault = Fault("conv2", (3, 1, 2, 0), 22)
    with engine.inject(fault):
        during = engine.weight("conv2").view(np.uint32)
        diff = np.argwhere(during != before)
        assert diff.tolist() == [[3, 1, 2, 0]]
        assert during[3, 1, 2, 0] == before[3, 1, 2, 0] ^ (1 << 22)
    assert np.array_equal(engine.weight("conv2").view(np.uint32), before)


def test_restores_when_the_body_raises(engine: TorchEngine) -> None:
    before = engine.weight("linear").view(np.uint32).copy()
    with pytest.raises(RuntimeError):
        with engine.inject(Fault("linear", (0, 0), 30)):
            raise RuntimeError("boom")
    assert np.array_equal(engine.weight("linear").view(np.uint32), before)


def test_nan_producing_fault_restores_bits(engine: TorchEngine) -> None:
    w = engine.weight("conv1")[0, 0, 0, 0]
    # Set every exponent bit: the corrupted value becomes Inf or NaN.
    with engine.inject(Fault("conv1", (0, 0, 0, 0), 30, FaultKind.STUCK_AT_1)):
        pass
    assert engine.weight("conv1")[0, 0, 0, 0].tobytes() == w.tobytes()


def test_infer_is_deterministic_and_batch_layout_fixed(engine: TorchEngine) -> None:
    x = synthetic(20).images
    a, b = engine.infer(x), engine.infer(x)
    assert a.shape == (20, 10) and a.tobytes() == b.tobytes()


def test_out_of_range_fault_is_rejected(engine: TorchEngine) -> None:
    with pytest.raises(FaultListError, match="out of range"):
        with engine.inject(Fault("conv1", (8, 0, 0, 0), 1)):
            pass
