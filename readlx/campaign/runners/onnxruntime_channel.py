"""A weight fault's ONNX ``Conv`` computed for the output channel the fault can change, in ONNX Runtime.

Why it is exact
---------------
A fault in filter ``o`` of a one-group ``Conv`` changes output channel ``o`` and nothing else, so the
faulty output is the golden output with channel ``o`` replaced (the argument of
:mod:`readlx.campaign.runners.channel`). The channel comes from a small session with the engine's
settings: the same ``Conv`` node on a *pair* of filters, ``o`` and its neighbour, fed the golden input at
the layer's cut. A pair and not ``o`` alone, because ONNX Runtime 1.31's CPU kernel sums a one-filter
convolution in another order (on all 19 ResNet20 convolutions, batch 16 and 256) while two or more filters
matched the whole layer bit for bit. That is a property of the kernels, so it is not assumed: the
check of :class:`readlx.campaign.runners.cut_channel.ChannelCutRunner` runs on every layer and batch
length. A layer whose weight is read by anything but one one-group ``Conv`` (a grouped or transposed
convolution, a ``Gemm``, a weight transposed first) computes the whole layer (:func:`conv_node` says
why). The values live right after the ``Conv`` node are :func:`live_after`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from readlx._typing import Array


@dataclass(frozen=True)
class ConvNode:
    """The one ``Conv`` node that reads a layer's fed weight."""

    position: int
    input: str
    output: str
    weight: str
    bias: str | None
    attributes: tuple[onnx.AttributeProto, ...]


def conv_node(proto: onnx.ModelProto, weight: str, shape: tuple[int, ...]) -> ConvNode | str:
    """The node that computes with fed ``weight`` (of ``shape``), or why it cannot compute a channel alone.

    Examples
    --------
    >>> from onnx import helper
    >>> nodes = [helper.make_node("Conv", ["x", "w"], ["y"], group=2)]
    >>> g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, 1, None) for n in "xw"],
    ...                       [helper.make_tensor_value_info("y", 1, None)])
    >>> conv_node(helper.make_model(g), "w", (4, 2, 3, 3))
    'a grouped convolution (group=2)'
    """
    reading = [i for i, node in enumerate(proto.graph.node) if weight in node.input]
    if len(reading) != 1:
        return f"its weight is read by {len(reading)} nodes, not one"
    node = proto.graph.node[reading[0]]
    if node.op_type != "Conv" or list(node.input[1:2]) != [weight]:
        return f"its weight is read by a {node.op_type} node as its input {list(node.input).index(weight)}, " \
               "not as a Conv's filters"
    group = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1)
    if group != 1:
        return f"a grouped convolution (group={group})"
    if len(shape) != 4 or shape[0] < 2:
        return f"a filter of shape {shape}: channels are computed in pairs of 2-d filters"
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    return ConvNode(reading[0], node.input[0], node.output[0], weight, bias, tuple(node.attribute))


def live_after(proto: onnx.ModelProto, position: int, constants: set[str]) -> list[str]:
    """Tensors made by or before node ``position`` (or graph inputs) and read after it, in order.

    >>> from onnx import helper
    >>> nodes = [helper.make_node("Conv", ["x", "w"], ["a"]), helper.make_node("Add", ["a", "x"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, 1, None) for n in "xw"],
    ...                       [helper.make_tensor_value_info("y", 1, None)])
    >>> live_after(helper.make_model(g), 0, {"w"})
    ['a', 'x']
    """
    nodes = list(proto.graph.node)
    made = {t for n in nodes[: position + 1] for t in n.output} | {i.name for i in proto.graph.input}
    read = [t for n in nodes[position + 1 :] for t in n.input]
    return list(dict.fromkeys(t for t in read if t in made and t not in constants))


def pair_of(o: int, channels: int) -> int:
    """The first of the two filters computed for channel ``o`` (of ``channels``).

    >>> pair_of(0, 16), pair_of(5, 16), pair_of(6, 7)
    (0, 4, 5)
    """
    return min(o - o % 2, channels - 2)


@dataclass
class PairSessions:
    """One small session per layer, with the engine's settings: the layer's ``Conv`` node on a pair of
    filters (inputs ``x``, ``w`` and ``b`` where it has a bias)."""

    proto: onnx.ModelProto
    session_for: Any
    node: dict[str, ConvNode]
    _sessions: dict[str, Any] = field(default_factory=dict)

    def session(self, layer: str) -> Any:
        if layer not in self._sessions:
            conv = self.node[layer]
            names = ["x", "w", *(["b"] if conv.bias else [])]
            inputs = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names]
            node = helper.make_node("Conv", names, ["y"])
            node.attribute.extend(conv.attributes)
            graph = helper.make_graph([node], "pair", inputs,
                                      [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
            model = helper.make_model(graph, opset_imports=self.proto.opset_import, ir_version=self.proto.ir_version)
            self._sessions[layer] = self.session_for(model)
        return self._sessions[layer]

    def channel(self, layer: str, x: Array, weights: dict[str, Array], o: int) -> Array:
        """Output channel ``o`` of ``layer``'s ``Conv`` on ``x`` (channel axis kept), from the fed
        ``weights`` as they are now (corrupted inside an injection)."""
        first = pair_of(o, weights[self.node[layer].weight].shape[0])
        y = self.session(layer).run(None, self.feeds(layer, x, weights, first, first + 2))[0]
        return np.asarray(y[:, o - first : o - first + 1], np.float32)

    def feeds(self, layer: str, x: Array, weights: dict[str, Array], lo: int, hi: int) -> dict[str, Array]:
        """The session's inputs for filters ``lo`` to ``hi`` (excluded) of ``layer`` on ``x``."""
        conv = self.node[layer]
        out = {"x": x, "w": np.ascontiguousarray(weights[conv.weight][lo:hi])}
        if conv.bias:
            if conv.bias in weights:
                bias = weights[conv.bias]
            else:
                init = next(t for t in self.proto.graph.initializer if t.name == conv.bias)
                bias = np.asarray(numpy_helper.to_array(init), np.float32)
            out["b"] = np.ascontiguousarray(bias[lo:hi])
        return out
