"""Engine names -> factories that build an engine from a converted bundle.

Each factory imports its runtime when called, so importing this module stays light (no TensorFlow,
no ONNX Runtime).

Examples
--------
>>> sorted(ENGINES)
['keras', 'onnxruntime', 'onnxruntime-keras', 'torch']
>>> ENGINES["tensorrt"]
Traceback (most recent call last):
...
readlx.errors.RegistryError: unknown engine 'tensorrt'; available: keras, onnxruntime, onnxruntime-keras, torch
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from readlx.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from readlx.converters.bundle import Bundle
    from readlx.engines.base import Engine


def make_torch(
    bundle: "Bundle", *, batch_size: int = 256, model: "nn.Module | None" = None, device: str = "cpu"
) -> "Engine":
    """PyTorch engine on the bundle's state dict (or on ``model``, checked against it)."""
    from readlx.engines.torch import TorchEngine

    return TorchEngine(bundle.torch_model(model), bundle.table, batch_size=batch_size, device=device)


def make_keras(bundle: "Bundle", *, batch_size: int = 256, device: str = "/CPU:0") -> "Engine":
    """Keras engine on the bundle's SavedModel."""
    from readlx.engines.keras import KerasEngine

    return KerasEngine(bundle.keras_dir, bundle.table, batch_size=batch_size, device=device)


def make_onnxruntime(bundle: "Bundle", *, batch_size: int = 256, **options: Any) -> "Engine":
    """ONNX Runtime engine on the PyTorch export (options: optimization, device, threads)."""
    from readlx.engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(bundle.onnx_path("onnxruntime"), bundle.table, batch_size, **options)


def make_onnxruntime_keras(bundle: "Bundle", *, batch_size: int = 256, **options: Any) -> "Engine":
    """ONNX Runtime engine on the Keras export (NHWC input, ``"onnx-keras"`` bindings)."""
    from readlx.engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(
        bundle.onnx_path("onnx-keras"),
        bundle.table,
        batch_size,
        bindings="onnx-keras",
        input_layout="NHWC",
        framework="onnxruntime-keras",
        **options,
    )


# Factories take the bundle, then keyword-only batch_size and engine options.
ENGINES: Registry[Callable[..., "Engine"]] = Registry("engine")
ENGINES.register("torch", make_torch)
ENGINES.register("keras", make_keras)
ENGINES.register("onnxruntime", make_onnxruntime)
ENGINES.register("onnxruntime-keras", make_onnxruntime_keras)
