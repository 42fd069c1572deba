"""One contract, every registered runtime: determinism, exact injection and restoration, golden = same path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from engines.contract import BATCH, N_IMAGES, EngineContract, bits

from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.engines import RUNTIMES
from readlx.engines.base import Engine
from readlx.fault_maps.fault import Fault, FaultKind

ENGINE_NAMES = tuple(RUNTIMES.examples())
"""Every registered runtime, and examples of each family (reference executor, PyTorch backends)."""


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def torch_engine(demo_bundle: Bundle) -> Engine:
    return demo_bundle.engine("torch", batch_size=BATCH)


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest, demo_bundle: Bundle) -> Engine:
    return demo_bundle.engine(request.param, batch_size=BATCH)


class TestEngineContract(EngineContract):
    pass


def test_every_runtime_kind_is_covered() -> None:
    assert {"torch", "keras", "onnxruntime", "onnxruntime-keras"} <= set(ENGINE_NAMES)
    assert any(n.startswith("reference-") for n in ENGINE_NAMES)
    assert any(n.startswith("torch-") for n in ENGINE_NAMES)


@pytest.mark.parametrize("level", ["disabled", "basic", "extended", "all"])
def test_onnxruntime_levels_keep_faults_and_golden_path(
    demo_bundle: Bundle, torch_engine: Engine, images: np.ndarray, level: str
) -> None:
    engine = demo_bundle.engine("onnxruntime", batch_size=BATCH, optimization=level, threads=1)
    settings = engine.describe()
    assert (settings["optimization"], settings["intra_op_threads"]) == (level, 1)
    golden = engine.infer(images)
    np.testing.assert_allclose(golden, torch_engine.infer(images), rtol=0, atol=1e-5)
    weight = bits(engine.weight("conv2"))
    stored_bit = int(weight[2, 3, 1, 1] >> 24 & 1)
    noop = Fault("conv2", (2, 3, 1, 1), 24, FaultKind.STUCK_AT_1 if stored_bit else FaultKind.STUCK_AT_0)
    with engine.inject(noop):
        assert bits(engine.infer(images)).tobytes() == bits(golden).tobytes()
    with engine.inject(Fault("conv2", (2, 3, 1, 1), 30)):  # a fed weight is never folded away
        assert not np.array_equal(engine.infer(images), golden)


def test_onnxruntime_records_the_providers_in_use(demo_bundle: Bundle) -> None:
    from readlx.engines.onnxruntime import OnnxRuntimeEngine

    # The engine itself records what ONNX Runtime gave it; the runtime's builder refuses a fallback.
    engine = OnnxRuntimeEngine(demo_bundle.artifact().file("onnxruntime"), demo_bundle.table, BATCH, device="cuda")
    settings = engine.describe()
    assert settings["requested_providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert settings["providers"] == engine.session.get_providers()
    assert settings["providers"][-1] == "CPUExecutionProvider"


def test_onnxruntime_rejects_unknown_options(demo_bundle: Bundle) -> None:
    from readlx.engines.onnxruntime import OnnxRuntimeEngine
    from readlx.errors import ArgumentError, ReadlxError

    with pytest.raises(ReadlxError, match="unknown optimization level 'max'; valid: disabled, basic"):
        demo_bundle.engine("onnxruntime", optimization="max")
    with pytest.raises(ArgumentError, match="argument 'device': runtime 'onnxruntime' runs on cpu, cuda, not 'tpu'"):
        demo_bundle.engine("onnxruntime", device="tpu")
    with pytest.raises(ReadlxError, match="unknown device 'tpu'; valid: cpu, cuda"):
        OnnxRuntimeEngine(demo_bundle.artifact().file("onnxruntime"), demo_bundle.table, BATCH, device="tpu")


CUDA = torch.cuda.is_available()


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "keras"])
def test_cuda_where_there_is_none_is_an_error_not_a_fallback(demo_bundle: Bundle, runtime: str) -> None:
    from readlx.errors import ReadlxError

    with pytest.raises(ReadlxError, match="device 'cuda' asked for, but"):
        demo_bundle.engine(runtime, batch_size=BATCH, device="cuda")


def test_cpu_only_runtimes_refuse_cuda(demo_bundle: Bundle) -> None:
    from readlx.errors import ArgumentError

    with pytest.raises(ArgumentError, match="'reference-im2col-tf32' runs on cpu, not 'cuda'"):
        demo_bundle.engine("reference-im2col-tf32", device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_runtime_on_cuda_keeps_the_contract(demo_bundle: Bundle, images: np.ndarray, runtime: str) -> None:
    engine = demo_bundle.engine(runtime, batch_size=BATCH, device="cuda")
    golden = engine.infer(images)
    assert bits(engine.infer(images)).tobytes() == bits(golden).tobytes()
    weight = bits(engine.weight("conv2"))
    stored = int(weight[1, 2, 0, 0] >> 20 & 1)
    with engine.inject(Fault("conv2", (1, 2, 0, 0), 20, FaultKind.STUCK_AT_1 if stored else FaultKind.STUCK_AT_0)):
        assert bits(engine.infer(images)).tobytes() == bits(golden).tobytes()
