"""ONNX -> PyTorch: the module the ``torch`` runtime runs for a model that arrived as ONNX.

onnx2torch builds a ``torch.fx.GraphModule`` with one submodule per ONNX node, named after the node.
readlx then makes its canonical layers addressable the PyTorch way (invariant 1 of
docs/architecture.md):

- the children of an ``nn.Sequential`` (an asymmetric ``Pad`` and its ``Conv2d``) are called one by
  one, so every ``Conv2d`` is a node of its own;
- a ``MatMul`` by a stored ``(in, out)`` matrix becomes an ``nn.Linear`` without bias holding the
  transposed matrix (the same numbers, bit for bit), so that every canonical layer is a ``Conv2d`` or
  ``Linear`` module with a ``weight``;
- each canonical layer's module is found by its weight, bitwise equal to the stored initializer
  (never by node name or position), and moved to the layer's name, so ``conv1`` is ``model.conv1``;
- every other submodule and constant is moved under ``onnx/``-prefixed names, which no canonical name
  (letters, digits, ``_`` and ``.``) can equal.

The result is rebuilt from the ONNX file whenever it is needed, so nothing but the file is stored.
"""
from __future__ import annotations

import copy
import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from readlx._typing import Array
from readlx.converters.namemaps import Candidate, match_bindings
from readlx.converters.onnx_opsets import newer_opsets
from readlx.errors import ConversionError
from readlx.graph import LayerTable, inverse_permutation

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch.fx as fx
    import torch.nn as nn

OTHERS = "onnx/"
"""Prefix of the submodules and constants that are not canonical layers."""


def onnx_to_torch(proto: onnx.ModelProto, table: LayerTable, weights: Mapping[str, Array] | None = None
                  ) -> nn.Module:
    """A PyTorch module computing ``proto`` whose canonical layers are named as in ``table``.

    Parameters
    ----------
    proto
        The ONNX model (not changed).
    table
        Its canonical layers.
    weights
        The canonical weights by layer (default: read from ``proto`` through the table's
        ``"onnxruntime"`` bindings).

    Raises
    ------
    ConversionError
        When onnx2torch has no converter for an operator of the graph (the operator is named), or a
        canonical layer's weight is held by no ``Conv2d`` or ``Linear`` module of the result.

    Examples
    --------
    >>> import torch, torch.nn as nn, tempfile, os, onnx
    >>> from readlx.converters.from_onnx import onnx_table
    >>> from readlx.converters.to_onnx import torch_to_onnx
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2)).eval()
    >>> proto = onnx.load(str(torch_to_onnx(net, os.path.join(tempfile.mkdtemp(), "m.onnx"), (3, 8, 8))))
    >>> table = onnx_table(proto, "m")
    >>> module = onnx_to_torch(proto, table)
    >>> table.names, type(module.get_submodule("0")).__name__
    (['0', '2'], 'Conv2d')
    >>> x = torch.randn(2, 3, 8, 8)
    >>> bool(torch.equal(module(x), net(x)))
    True
    """
    graph_module = _convert(proto)
    _inline_sequentials(graph_module)
    _matmuls_as_linear(graph_module)
    names = _module_names(graph_module, table, weights if weights is not None else onnx_weights(proto, table))
    return _renamed(graph_module, names)


def _convert(proto: onnx.ModelProto) -> fx.GraphModule:
    from onnx2torch import convert

    try:
        with newer_opsets():
            module: fx.GraphModule = convert(_identities_materialized(proto))
        return module
    except NotImplementedError as e:  # onnx2torch's way of saying it lacks an operator's converter
        raise ConversionError(f"ONNX -> PyTorch: {e}; this operator cannot run on the torch runtime") from e
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ConversionError(f"ONNX -> PyTorch conversion failed: {type(e).__name__}: {e}") from e


def _identities_materialized(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` in which each ``Identity`` of an initializer is a copy of that initializer.

    The exporter's constant folding shares equal tensors (e.g. the zero biases of folded BatchNorms)
    through ``Identity`` nodes, and onnx2torch reads a Conv's bias only from an initializer.
    """
    out = copy.deepcopy(proto)
    inits = {t.name: t for t in out.graph.initializer}
    outputs = {o.name for o in out.graph.output}
    kept = []
    for node in out.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] not in {*inits, *outputs}:
            tensor = copy.deepcopy(inits[node.input[0]])
            tensor.name = node.output[0]
            out.graph.initializer.append(tensor)
            inits[tensor.name] = tensor
        else:
            kept.append(node)
    del out.graph.node[:]
    out.graph.node.extend(kept)
    return out


def onnx_weights(proto: onnx.ModelProto, table: LayerTable, bindings: str = "onnxruntime") -> dict[str, Array]:
    """The canonical weights of ``table``'s layers, read from ``proto``'s initializers."""
    from onnx import numpy_helper

    inits = {t.name: t for t in proto.graph.initializer}
    weights = {}
    for layer in table:
        binding = table.binding(bindings, layer.name)
        stored = numpy_helper.to_array(inits[binding.variable])
        weights[layer.name] = np.ascontiguousarray(stored.transpose(inverse_permutation(binding.permutation)))
    return weights


def _inline_sequentials(graph_module: fx.GraphModule) -> None:
    """Call the children of each ``nn.Sequential`` one by one (onnx2torch puts an asymmetric ``Pad``
    and its ``Conv2d`` in one), so that every ``Conv2d`` is a node of its own."""
    import torch.nn as nn

    for node in list(graph_module.graph.nodes):
        chain = graph_module.get_submodule(str(node.target)) if node.op == "call_module" else None
        if not isinstance(chain, nn.Sequential):
            continue
        value = node.args[0]
        with graph_module.graph.inserting_before(node):
            for k in range(len(chain)):
                value = graph_module.graph.call_module(f"{node.target}.{k}", (value,))
        node.replace_all_uses_with(value)
        graph_module.graph.erase_node(node)
    graph_module.recompile()


def _matmuls_as_linear(graph_module: fx.GraphModule) -> None:
    """Replace each ``MatMul(x, W)`` with ``W`` a stored 2-D float32 tensor by ``nn.Linear(W.T)``."""
    import torch
    import torch.nn as nn

    for node in list(graph_module.graph.nodes):
        weight = _matmul_constant(graph_module, node)
        if weight is None:
            continue
        linear = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
        with torch.no_grad():
            linear.weight.copy_(weight.t())
        target = f"{node.target}_linear"
        graph_module.add_submodule(target, linear)
        node.target, node.args = target, (node.args[0],)
    graph_module.graph.eliminate_dead_code()
    graph_module.recompile()


def _matmul_constant(graph_module: fx.GraphModule, node: fx.Node) -> Any:
    import torch

    if node.op != "call_module" or type(graph_module.get_submodule(str(node.target))).__name__ != "OnnxMatMul":
        return None
    if len(node.args) != 2 or getattr(node.args[1], "op", None) != "get_attr":
        return None
    weight = operator.attrgetter(str(node.args[1].target))(graph_module)  # type: ignore[union-attr]
    ok = isinstance(weight, torch.Tensor) and weight.dim() == 2 and weight.dtype == torch.float32
    return weight if ok else None


def _module_names(graph_module: fx.GraphModule, table: LayerTable, weights: Mapping[str, Array]) -> dict[str, str]:
    """onnx2torch module path -> canonical layer name, found by bitwise-equal weights."""
    import torch.nn as nn

    called = [str(n.target) for n in graph_module.graph.nodes if n.op == "call_module"]
    candidates = []
    for position, target in enumerate(called):
        module = graph_module.get_submodule(target)
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            tensor = module.weight.detach().numpy()
            candidates.append(Candidate(target, target + ".weight", tensor, tuple(range(tensor.ndim)), position))
    found = match_bindings(table, weights, candidates, framework="torch (onnx2torch)")
    return {binding.name: layer for layer, binding in found.items()}


def _renamed(graph_module: fx.GraphModule, names: Mapping[str, str]) -> nn.Module:
    """A new GraphModule whose canonical modules sit at their layer names, everything else under
    :data:`OTHERS`."""
    import torch.fx as fx

    graph = copy.deepcopy(graph_module.graph)
    owners: dict[str, Any] = {}
    for node in graph.nodes:
        if node.op not in ("call_module", "get_attr"):
            continue
        target = str(node.target)
        value = operator.attrgetter(target)(graph_module)
        node.target = names.get(target) if node.op == "call_module" and target in names else (
            OTHERS + target.replace(".", "/"))
        owners[node.target] = value
    renamed = fx.GraphModule(owners, graph, class_name="OnnxModel")
    return renamed.eval()
