"""The engine contract: determinism, exact injection and restoration, golden = same path.

Not a test module itself: test modules subclass :class:`EngineContract` for the engines they build
(every registered runtime in ``test_engine_contract.py``, a runtime added by a test in
``test_added_runtime.py``).
"""
from __future__ import annotations

import hashlib
from contextlib import ExitStack

import numpy as np
import pytest

from readlx.data.synthetic import synthetic
from readlx.engines.base import Engine
from readlx.fault_maps.fault import Fault, FaultKind

BATCH = 8
N_IMAGES = 20  # two full batches and a short one


def bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def _element_at(weight: np.ndarray, k: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(k % weight.size, weight.shape))


class EngineContract:
    """The tests every engine passes; a test module subclasses it and provides the fixtures ``engine``,
    ``torch_engine`` (the PyTorch engine of the same model) and ``images``."""

    def test_is_an_engine(self, engine: Engine) -> None:
        assert isinstance(engine, Engine)
        assert engine.describe()["framework"] == engine.framework
        assert engine.batch_size == BATCH

    def test_infer_is_deterministic_and_matches_torch(
        self, engine: Engine, torch_engine: Engine, images: np.ndarray
    ) -> None:
        first = engine.infer(images)
        assert first.dtype == np.float32 and first.shape == (N_IMAGES, 10)
        assert bits(engine.infer(images)).tobytes() == bits(first).tobytes()
        np.testing.assert_allclose(first, torch_engine.infer(images), rtol=0, atol=1e-5)

    def test_same_input_bytes_reach_the_runtime(self, engine: Engine, images: np.ndarray) -> None:
        digest = hashlib.sha256(images.tobytes()).hexdigest()
        once = engine.infer(images[:16])
        twice = engine.infer(np.concatenate([images[:16], images[:16]]))
        assert hashlib.sha256(images.tobytes()).hexdigest() == digest  # inputs left untouched
        assert bits(twice[:16]).tobytes() == bits(once).tobytes()
        assert bits(twice[16:]).tobytes() == bits(once).tobytes()

    def test_weights_equal_torch_bitwise(self, engine: Engine, torch_engine: Engine) -> None:
        for layer in engine.table.names:
            ours, reference = engine.weight(layer), torch_engine.weight(layer)
            assert ours.shape == reference.shape and ours.tobytes() == reference.tobytes(), layer
            assert isinstance(engine.layer_name(layer), str)

    @pytest.mark.parametrize("bit", [0, 22, 30, 31])
    def test_inject_changes_exactly_the_addressed_bits(self, engine: Engine, bit: int) -> None:
        for k, layer in enumerate(engine.table.names):
            before = {name: bits(engine.weight(name)).copy() for name in engine.table.names}
            index = _element_at(before[layer], 7 * k + bit)
            with engine.inject(Fault(layer, index, bit)):
                during = {name: bits(engine.weight(name)) for name in engine.table.names}
            changed = during[layer] ^ before[layer]
            expected = np.zeros_like(changed)
            expected[index] = np.uint32(1 << bit)
            assert np.array_equal(changed, expected), (layer, index)
            for name in engine.table.names:
                if name != layer:
                    assert np.array_equal(during[name], before[name])
                assert np.array_equal(bits(engine.weight(name)), before[name])

    def test_restores_when_the_body_raises(self, engine: Engine) -> None:
        layer = engine.table.names[-1]
        before = bits(engine.weight(layer)).copy()
        with pytest.raises(KeyError):
            with engine.inject(Fault(layer, (1, 2), 30)):
                raise KeyError("body failed")
        assert np.array_equal(bits(engine.weight(layer)), before)

    def test_nested_faults_restore_nan_payloads_exactly(self, engine: Engine) -> None:
        layer = engine.table.names[0]
        before = bits(engine.weight(layer)).copy()
        index = _element_at(before, 5)
        word = int(before[index])
        with ExitStack() as stack:
            # Stuck-at-1 on every exponent bit, one nested fault per bit, ends in a NaN (or inf).
            for bit in range(23, 31):
                stack.enter_context(engine.inject(Fault(layer, index, bit, FaultKind.STUCK_AT_1)))
                word |= 1 << bit
                assert int(bits(engine.weight(layer))[index]) == word
            stack.enter_context(engine.inject(Fault(layer, index, 0)))
            nan = word ^ 1
            assert int(bits(engine.weight(layer))[index]) == nan
            assert np.isnan(np.uint32(nan).view(np.float32))
            engine.infer(synthetic(2).images)  # whether the NaN reaches the output is the runtime's affair
            stack.close()
            assert np.array_equal(bits(engine.weight(layer)), before)
        with engine.inject(Fault(layer, index, 30, FaultKind.STUCK_AT_1)):
            with engine.inject(Fault(layer, index, 0)):
                pass
            assert int(bits(engine.weight(layer))[index]) == int(before[index]) | 1 << 30
        assert np.array_equal(bits(engine.weight(layer)), before)

    def test_unchanged_weight_forced_through_inference_is_masked(
        self, engine: Engine, images: np.ndarray
    ) -> None:
        golden = engine.infer(images)
        for k, layer in enumerate(engine.table.names):
            weight = bits(engine.weight(layer))
            index = _element_at(weight, 11 * k + 3)
            bit = 30 if weight[index] >> 30 & 1 else 29
            kind = FaultKind.STUCK_AT_1 if weight[index] >> bit & 1 else FaultKind.STUCK_AT_0
            fault = Fault(layer, index, bit, kind)
            assert fault.is_noop(weight[index].view(np.float32))
            with engine.inject(fault):
                faulty = engine.infer(images)
            masked = np.all(bits(faulty) == bits(golden), axis=1)
            assert masked.all(), f"{layer}: {int((~masked).sum())} of {len(masked)} not masked"

    def test_a_real_fault_reaches_the_output(self, engine: Engine, images: np.ndarray) -> None:
        golden = engine.infer(images)
        for layer in engine.table.names:
            with engine.inject(Fault(layer, (0,) * len(engine.table[layer].shape), 30)):
                faulty = engine.infer(images)
            assert not np.array_equal(bits(faulty), bits(golden)), layer
        assert bits(engine.infer(images)).tobytes() == bits(golden).tobytes()

    def test_faulty_outputs_agree_with_torch(
        self, engine: Engine, torch_engine: Engine, images: np.ndarray
    ) -> None:
        fault = Fault("conv2", (3, 5, 1, 2), 27)
        outs = []
        for e in (engine, torch_engine):
            with e.inject(fault):
                outs.append(e.infer(images))
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-4)

    def test_rejects_faults_outside_the_model(self, engine: Engine) -> None:
        from readlx.errors import FaultListError

        with pytest.raises(FaultListError, match="unknown layer"):
            with engine.inject(Fault("nope", (0,), 1)):
                pass
        with pytest.raises(FaultListError, match="out of range"):
            with engine.inject(Fault("linear", (10, 0), 1)):
                pass
