"""A model that arrives as an ONNX file: its canonical layer table, read from the graph.

The weights as stored are the canonical weights (invariant 2 of docs/architecture.md): every ``Conv``
weight and every ``Gemm``/``MatMul`` weight held in an initializer is an injectable layer, named after
its initializer (``conv1.weight`` -> ``conv1``, as a PyTorch export names it) and bound to it for ONNX
Runtime. A convolution keeps its stored layout ``(O, I/groups, kH, kW)``; a linear layer is canonical
``(out, in)``, so a ``Gemm`` without ``transB`` or a ``MatMul`` binds its ``(in, out)`` tensor through
the permutation ``(1, 0)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from readlx.errors import InputError
from readlx.graph import Binding, Layer, LayerTable

BINDINGS = "onnxruntime"


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read an ONNX file (its external data too), or raise :class:`InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such ONNX file", path=path)
    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as e:
        raise InputError(f"not a readable ONNX model: {e}", path=path) from e


def onnx_table(proto: onnx.ModelProto, model: str) -> LayerTable:
    """The canonical layer table of an ONNX graph, with ``"onnxruntime"`` bindings.

    Examples
    --------
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> import numpy as np
    >>> w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "conv1.weight")
    >>> fc = numpy_helper.from_array(np.zeros((4, 2), np.float32), "fc")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "conv1.weight"], ["y"], name="Conv_0"),
    ...      helper.make_node("MatMul", ["y", "fc"], ["z"], name="MatMul_1")],
    ...     "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
    ...     [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w, fc])
    >>> table = onnx_table(helper.make_model(graph), "m")
    >>> [(layer.name, layer.kind, layer.shape) for layer in table]
    [('conv1', 'conv', (4, 3, 3, 3)), ('fc', 'linear', (2, 4))]
    >>> table.binding("onnxruntime", "fc").permutation
    (1, 0)
    """
    inits = {t.name: t for t in proto.graph.initializer}
    layers: list[Layer] = []
    bindings: dict[str, Binding] = {}
    for node in proto.graph.node:
        found = _weight(node, inits)
        if found is None:
            continue
        weight, kind, shape, permutation, groups = found
        name = _layer_name(weight, {layer.name for layer in layers})
        layers.append(Layer(name, kind, shape, groups))
        bindings[name] = Binding(node.name or node.output[0], weight, permutation)
    if not layers:
        raise InputError(f"ONNX model {model!r} has no Conv, Gemm or MatMul whose weight is an initializer")
    return LayerTable(model, tuple(layers), {BINDINGS: bindings})


def _weight(node: Any, inits: dict[str, Any]) -> tuple[str, str, tuple[int, ...], tuple[int, ...], int] | None:
    """``(initializer, kind, canonical shape, permutation, groups)`` of an injectable node, else None."""
    if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.input[1] not in inits:
        return None
    name = node.input[1]
    dims = tuple(int(d) for d in inits[name].dims)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Conv":
        return (name, "conv", dims, tuple(range(len(dims))), int(attrs.get("group", 1))) if len(dims) == 4 else None
    if len(dims) != 2 or attrs.get("transA", 0):
        return None
    if node.op_type == "Gemm" and attrs.get("transB", 0):
        return name, "linear", dims, (0, 1), 1
    return name, "linear", (dims[1], dims[0]), (1, 0), 1


def _layer_name(initializer: str, taken: set[str]) -> str:
    name = initializer.removesuffix(".weight") or initializer
    if name in taken:
        raise InputError(f"two injectable layers would both be named {name!r} (initializer {initializer!r}); "
                         "an initializer shared by two nodes is not supported")
    return name
