"""torchvision models through PyTorch -> Keras -> ONNX with every weight stored as it is.

MobileNetV3 puts constant divisions next to its convolutions (grappler's constant folding multiplied
them into the weights), EfficientNet holds StochasticDepth modules (nobuco's Keras layer for them
could not be saved); the Keras -> ONNX export keeps weights out of every constant-folding rewrite.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
import xarray as xr

import readlx
from readlx.converters import Bundle, load_bundle, to_onnx
from readlx.converters.namemaps import torch_weights
from readlx.fault_maps import FaultList
from readlx.fault_maps.fault import Fault, FaultKind

FRAMEWORKS = ("torch", "keras", "onnxruntime")
BINDINGS = ("keras", "onnxruntime", "onnx-keras")
SIDE = 32


def _patched() -> list[tuple[object, str]]:
    """The tf2onnx attributes the export swaps, as (owner, attribute)."""
    from tf2onnx import tf_loader
    from tf2onnx.optimizer import back_to_back_optimizer as b2b
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    return [(tf_loader, "tf_optimize_grappler"), (TransposeOptimizer, "_mul_handler"), (b2b, "_func_map")]


def _snapshot() -> list[object]:
    values: list[object] = []
    for owner, name in _patched():
        value = getattr(owner, name)
        values.append(dict(value) if isinstance(value, dict) else value)
    return values


@pytest.mark.parametrize("manager", [to_onnx._grappler_without_constfold, to_onnx._weights_kept_as_stored])
def test_export_context_restores_tf2onnx_even_after_an_error(
    manager: Callable[[], AbstractContextManager[None]]
) -> None:
    from tf2onnx import tf_loader

    before = _snapshot()
    with pytest.raises(RuntimeError, match="export failed"), manager():
        assert tf_loader.tf_optimize_grappler is to_onnx._optimize_grappler_without_constfold
        raise RuntimeError("export failed")
    assert _snapshot() == before


def test_export_context_switches_off_every_weight_rewrite() -> None:
    from tf2onnx.optimizer import back_to_back_optimizer as b2b
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    original = TransposeOptimizer.__dict__["_mul_handler"]
    with to_onnx._weights_kept_as_stored():
        assert to_onnx._CONV_BN_FUSION not in b2b._func_map
        assert TransposeOptimizer.__dict__["_mul_handler"] is not original
    assert to_onnx._CONV_BN_FUSION in b2b._func_map
    assert TransposeOptimizer.__dict__["_mul_handler"] is original


def test_constants_next_to_convolutions_stay_out_of_their_weights(tmp_path: Path) -> None:
    """x * 0.5 before a convolution (grappler), * c after a bias-free one (tf2onnx), / 3 after another."""
    import onnxruntime as ort
    import tensorflow as tf
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    x = tf.keras.Input((6, 6, 3))
    y = tf.keras.layers.Conv2D(4, 3, use_bias=False)(x * 0.5)
    y = y * tf.constant(rng.standard_normal(4).astype(np.float32))
    model = tf.keras.Model(x, tf.keras.layers.Conv2D(2, 1, use_bias=False)(y) / 3.0)
    path = to_onnx.keras_to_onnx(model, tmp_path / "m.onnx", (6, 6, 3))
    stored = [numpy_helper.to_array(t).tobytes() for t in onnx.load(str(path)).graph.initializer]
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            kernel = np.ascontiguousarray(layer.get_weights()[0].transpose(3, 2, 0, 1))
            assert kernel.tobytes() in stored, layer.name
    images = rng.standard_normal((4, 6, 6, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(got, model(images).numpy(), rtol=1e-5, atol=1e-6)


def _noop_control(model: nn.Module, name: str) -> FaultList:
    """One stuck-at per convolution and linear layer that leaves its weight as it is."""
    faults = []
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for i, (layer, module) in enumerate(layers):
        weight = module.weight.detach().numpy()
        index = tuple(int(k) for k in np.unravel_index(weight.size // 2, weight.shape))
        bit = 7 * i % 32
        word = int(weight[index].reshape(1).view(np.uint32)[0])
        kind = FaultKind.STUCK_AT_1 if word >> bit & 1 else FaultKind.STUCK_AT_0
        faults.append(Fault(layer, index, bit, kind))
    return FaultList.from_faults(name, tuple(faults))


def _convert_and_control(model: nn.Module, name: str, cache: Path) -> tuple[Bundle, FaultList, xr.Dataset]:
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((8, 3, SIDE, SIDE)).astype(np.float32), rng.integers(0, 10, 8))
    faults = _noop_control(model, name)
    ds = readlx.run(model, data, faults, frameworks=FRAMEWORKS, force_noop=True)
    [path] = [p for p in (cache / "bundles").iterdir() if (p / "bundle.json").is_file()]
    return load_bundle(path), faults, ds


def _assert_weights_stored_bitwise(bundle: Bundle, model: nn.Module) -> None:
    from onnx import numpy_helper

    table = bundle.table
    weights = torch_weights(model, table)
    for key in BINDINGS:
        assert list(table.bindings[key]) == table.names, key
    for key in ("onnxruntime", "onnx-keras"):
        inits = {t.name: t for t in onnx.load(str(bundle.onnx_path(key))).graph.initializer}
        for name, binding in table.bindings[key].items():
            expected = np.ascontiguousarray(weights[name].transpose(binding.permutation))
            assert numpy_helper.to_array(inits[binding.variable]).tobytes() == expected.tobytes(), (key, name)


@pytest.mark.slow
@pytest.mark.parametrize("factory", ["mobilenet_v3_small", "efficientnet_b0"])
def test_torchvision_model_converts_with_exact_bindings(
    factory: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = getattr(torchvision.models, factory)(num_classes=10).eval()
    bundle, faults, ds = _convert_and_control(model, factory, tmp_path / "cache")
    _assert_weights_stored_bitwise(bundle, model)
    assert len(faults) == len(bundle.table.names)
    report = bundle.report
    assert report is not None and report.ok
    assert [r.framework for r in report.runtimes] == ["keras", "onnxruntime", "onnxruntime-keras"]
    for runtime in report.runtimes:
        assert runtime.output.max_rel <= 1e-4, runtime.framework
    assert bool(ds.noop.all()) and bool((ds.masked == 8).all())

