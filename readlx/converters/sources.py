"""What a conversion starts from: a zoo model, a PyTorch module, an ONNX graph or a Keras model.

Whatever the origin, a :class:`Source` holds the model as a PyTorch module (for ONNX and Keras models
built through ONNX, :mod:`readlx.converters.onnx_torch`), its canonical layer table, the shape of one
input and, for an ONNX or Keras model, the original itself: the runtime of the origin runs the model
the researcher gave, never a converted copy of it.
"""
from __future__ import annotations

import copy
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from readlx._version import __version__
from readlx.errors import ArgumentError, ConversionError
from readlx.graph import LayerTable

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch.nn as nn

ORIGINS = ("torch", "onnx", "keras")


@dataclass(frozen=True)
class Source:
    """A model ready to convert.

    ``origin`` is ``"torch"`` (a zoo model or module), ``"onnx"`` (``onnx_graph`` is the graph) or
    ``"keras"`` (``keras_model`` is the model and ``keras_onnx`` its tf2onnx export, NHWC input).
    """

    model: nn.Module
    table: LayerTable
    input_shape: tuple[int, ...]
    benchmark: str | None = None
    origin: str = "torch"
    onnx_graph: onnx.ModelProto | None = None
    keras_model: Any = None
    keras_onnx: onnx.ModelProto | None = None

    def key(self) -> str:
        """sha256 of what the conversion depends on: the original model's graph and weights, the input
        shape and readlx's version."""
        h = hashlib.sha256(f"readlx {__version__}\n{self.origin}\n{self.input_shape}\n".encode())
        if self.onnx_graph is not None:
            h.update(self.onnx_graph.SerializeToString(deterministic=True))
        elif self.keras_model is not None:
            h.update(self.keras_model.to_json().encode())
            for weight in self.keras_model.weights:
                h.update(f"{weight.name}|{weight.shape}\n".encode())
                h.update(np.ascontiguousarray(weight.numpy()).tobytes())
        else:
            h.update(module_digest(self.model).encode())
        return h.hexdigest()


def module_digest(model: nn.Module) -> str:
    """sha256 of a module's architecture (its ``repr``) and state (every tensor's name, dtype, shape, bytes).

    >>> import torch, torch.nn as nn
    >>> torch.manual_seed(0); a = nn.Linear(3, 2)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> module_digest(a) == module_digest(a), module_digest(a) == module_digest(nn.Linear(3, 2))
    (True, False)
    """
    h = hashlib.sha256(f"{model!r}\n".encode())
    for name, tensor in model.state_dict().items():
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        h.update(f"{name}|{array.dtype}|{array.shape}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def zoo_source(name: str, checkpoint: str | Path | None = None) -> Source:
    from readlx.zoo import ZOO, load_model

    bench = ZOO[name]
    return Source(load_model(name, checkpoint).eval(), bench.layer_table(), bench.input_shape, name)


def module_source(model: nn.Module, table: LayerTable | None, input_shape: tuple[int, ...]) -> Source:
    """A module (copied: the conversion process and the exporters trace on the CPU, in eval mode)."""
    net = copy.deepcopy(model).eval().cpu()
    return Source(net, table or LayerTable.from_torch(net, type(model).__name__), tuple(input_shape))


def onnx_source(proto: onnx.ModelProto, name: str, input_shape: tuple[int, ...] | None = None) -> Source:
    """An ONNX graph; ``input_shape`` where the graph leaves ``(C, H, W)`` open."""
    from readlx.converters.from_onnx import onnx_input_shape, onnx_table
    from readlx.converters.onnx_torch import onnx_to_torch

    shape = input_shape or onnx_input_shape(proto, name)
    if shape is None:
        raise ArgumentError(f"ONNX model {name!r} leaves its input size open; give input_shape=(C, H, W) or "
                            "images", argument="input_shape")
    table = onnx_table(proto, name)
    return Source(onnx_to_torch(proto, table), table, tuple(shape), origin="onnx", onnx_graph=proto)


def keras_source(model: Any, name: str | None = None) -> Source:
    """A Keras model taking one NHWC image input."""
    from readlx.converters.from_keras import keras_input_shape, keras_table, keras_weights, nchw_input
    from readlx.converters.onnx_torch import onnx_to_torch

    shape = keras_input_shape(model)
    table = keras_table(model, name or model.name)
    exported = _tf2onnx(model, (shape[1], shape[2], shape[0]))
    torch_model = onnx_to_torch(nchw_input(exported), table, keras_weights(model, table))
    return Source(torch_model, table, shape, origin="keras", keras_model=model, keras_onnx=exported)


def _tf2onnx(model: Any, shape_nhwc: tuple[int, ...]) -> onnx.ModelProto:
    import onnx

    from readlx.converters.to_onnx import keras_to_onnx

    with tempfile.TemporaryDirectory(prefix="readlx-tf2onnx-") as work:
        path = keras_to_onnx(model, Path(work) / "model.onnx", shape_nhwc)
        return onnx.load(str(path))


def resolve(model: Any, table: LayerTable | None, checkpoint: str | Path | None,
            input_shape: tuple[int, ...] | None, name: str | None = None) -> Source:
    """The source of ``model``: a zoo name, a ``torch.nn.Module``, an ``onnx.ModelProto`` or a Keras model
    (``name``, else the table's model name, names the last two)."""
    import torch.nn as nn

    from readlx.converters.from_keras import is_keras_model

    if isinstance(model, str):
        return zoo_source(model, checkpoint)
    if checkpoint is not None:
        raise ConversionError("checkpoint= applies to zoo models; load the weights into the model instead")
    if isinstance(model, nn.Module):
        if input_shape is None:
            raise ConversionError("a model given as a module needs input_shape=(C, H, W) or images=")
        return module_source(model, table, input_shape)
    name = name or (table.model if table is not None else None)
    if is_keras_model(model):
        return keras_source(model, name)
    if type(model).__name__ == "ModelProto":
        return onnx_source(model, name or "onnx-model", input_shape)
    raise ConversionError(f"model must be a zoo name, a torch.nn.Module, an onnx.ModelProto or a Keras model, "
                          f"got {type(model).__name__}")
