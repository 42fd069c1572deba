"""A model that arrives as an ONNX file: its canonical layer table, read from the graph.

The weights as stored are the canonical weights (invariant 2 of docs/architecture.md): every ``Conv``
weight and every ``Gemm``/``MatMul`` weight held in an initializer is an injectable layer, bound to it
for ONNX Runtime. A BatchNorm folded into a weight by the exporter is part of that weight.

A layer is named after its initializer (``conv1.weight`` -> ``conv1``, as a PyTorch export names it);
an exporter's generated name (``onnx::Conv_27``, after constant folding) gives way to the node's path
(``/layer1/conv1/Conv`` -> ``layer1.conv1``). ``/`` separates as ``.`` does; names are made of
letters, digits and ``_`` joined by ``.``, so each is also a PyTorch module path (:mod:`readlx.converters.onnx_torch`).

A convolution keeps its stored layout ``(O, I/groups, kH, kW)``; a linear layer is canonical
``(out, in)``, so a ``Gemm`` without ``transB`` or a ``MatMul`` binds its ``(in, out)`` tensor through
the permutation ``(1, 0)``.
"""
from __future__ import annotations

import re
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
    seen: set[str] = set()
    bindings: dict[str, Binding] = {}
    for node in proto.graph.node:
        found = _weight(node, inits)
        if found is None:
            continue
        weight, kind, shape, permutation, groups = found
        if weight in seen:
            raise InputError(f"initializer {weight!r} is the weight of two nodes; a weight shared by two layers "
                             "is not supported")
        seen.add(weight)
        name = _layer_name(weight, node, {layer.name for layer in layers})
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


def _layer_name(initializer: str, node: Any, taken: set[str]) -> str:
    """The canonical name of the layer of ``node`` whose weight is ``initializer``.

    >>> from onnx import helper
    >>> _layer_name("onnx::Conv_27", helper.make_node("Conv", ["x", "w"], ["y"], name="/layer1/conv/Conv"), set())
    'layer1.conv'
    >>> _layer_name("features.0.weight", None, set()), _layer_name("w:0", None, {"w_0"})
    ('features.0', 'w_0_2')
    """
    generated = initializer.startswith("onnx::") or not initializer
    path = _node_path(node) if generated and node is not None else initializer.removesuffix(".weight")
    name = ".".join(_SEPARATOR.sub("_", part) or "_" for part in re.split(r"[./]", (path or initializer).strip("/")))
    if any(t.startswith(name + ".") or name.startswith(t + ".") for t in taken):
        name = name.replace(".", "_")  # a module cannot both be a layer and hold another under its path
    base, k = name, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _node_path(node: Any) -> str:
    """The module path of a node named by the PyTorch exporter's scopes.

    A scope is the child's attribute name, or, inside a container, ``parent.index``:

    >>> from onnx import helper
    >>> _node_path(helper.make_node("Conv", [], ["y"], name="/layer2/layer2.0/downsample/downsample.0/Conv"))
    'layer2.0.downsample.0'
    """
    scopes = [p for p in str(node.name).split("/") if p]
    if len(scopes) > 1 and scopes[-1].split("_")[0] == node.op_type:
        scopes = scopes[:-1]
    path: list[str] = []
    for scope in scopes:
        if path and scope.startswith(path[-1] + "."):
            path[-1] = scope
        else:
            path.append(scope)
    return ".".join(path) or str(node.output[0])


_SEPARATOR = re.compile(r"[^A-Za-z0-9_]")


def onnx_input_shape(proto: onnx.ModelProto, model: str) -> tuple[int, ...] | None:
    """``(C, H, W)`` of the graph's one image input ``(N, C, H, W)``; None where a size is left open.

    Raises
    ------
    InputError
        For a graph of no input or several, or an input that is not 4-D.
    """
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs) or "none"
        raise InputError(f"ONNX model {model!r} has {len(inputs)} inputs ({names}); readlx runs models of one "
                         "image input (N, C, H, W)")
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise InputError(f"ONNX model {model!r}: input {inputs[0].name!r} has {len(dims)} axes; readlx runs "
                         "models of one image input (N, C, H, W)")
    return tuple(dims[1:]) if all(dims[1:]) else None
