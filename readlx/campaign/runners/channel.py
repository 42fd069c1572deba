"""A weight fault's layer computed for the one output channel the fault can change.

Why it is exact
---------------
A fault in element ``(o, ...)`` of the weight of a ``Conv2d`` (one group) or ``Linear`` changes output
channel (feature) ``o`` of the layer and nothing else: every other channel reads no element of row
``o``. So the faulty output is the golden output with channel ``o`` replaced by that channel computed
alone, ``conv2d(x, W[o:o+1], b[o:o+1])``, *provided* the runtime sums one channel computed alone in
the same order as within the whole layer. That held on every ResNet20 shape measured (PyTorch 2.14,
CPU; a ``Linear`` computed for one feature never matched, since the runtime then multiplies a
matrix by a vector), but it is a property of the kernels the runtime picks for a shape, so it is not
assumed: :meth:`ChannelLayers.check` computes, before a layer's faults run on a batch of a shape not
seen yet (the last batch may be shorter), the first, middle and last output channels alone from that
batch's golden input and compares each with the golden output bit for bit. A layer that differs, or
whose module is not one of those above
(a grouped convolution, whose channel reads only its group), computes the whole layer, and
:attr:`ChannelLayers.whole` says why.

The golden output of the layer itself is one of the values a golden batch keeps (see
:func:`readlx.campaign.runners.golden_batch.golden_batch`'s ``keep``), so the faulty output costs one
channel's products and a copy. When the channel computed alone equals the golden one bit for bit,
the whole batch is golden from there on and no node after the layer runs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.campaign.runners.compare import bits
from readlx.engines.fxgraph import CutGraph
from readlx.fault_maps.fault import Fault, Site


@dataclass
class ChannelLayers:
    """Which layers of ``graph`` compute a weight fault's channel alone, and why the others do not.

    ``node`` maps a layer to the node that calls it; ``checked`` holds the layers and input shapes whose
    check passed; ``whole`` maps a layer to the reason its faults compute the whole layer.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> model = load_model("democnn-synthetic10")
    >>> layers = ChannelLayers.of(CutGraph(model, ZOO["democnn-synthetic10"].layer_table().names))
    >>> sorted(layers.node), layers.whole["dwconv"]
    (['conv1', 'conv2', 'conv3', 'linear'], 'a grouped convolution (groups=8)')
    """

    graph: CutGraph
    node: dict[str, int]
    whole: dict[str, str] = field(default_factory=dict)
    checked: set[tuple[str, tuple[int, ...]]] = field(default_factory=set)

    @classmethod
    def of(cls, graph: CutGraph) -> ChannelLayers:
        """The layers whose module and node allow a channel computed alone (before any check)."""
        node, whole = {}, {}
        for layer, span in graph.spans.items():
            why = _unsupported(graph, layer, span.first, span.last)
            if why is None:
                node[layer] = span.first
            else:
                whole[layer] = why
        return cls(graph, node, whole)

    def applies(self, fault: Fault) -> bool:
        """Does ``fault`` compute its channel alone (a weight fault of a layer not refused so far)?"""
        return fault.site is Site.WEIGHT and fault.layer in self.node

    def check(self, layer: str, x: torch.Tensor, full: torch.Tensor) -> bool:
        """Check ``layer`` once per input shape (see the module docstring) on a golden batch: its
        input ``x`` and output ``full``, with the golden weights in place. ``False`` (and the layer
        moved to :attr:`whole`) when a channel computed alone differs."""
        if (layer, tuple(x.shape)) in self.checked:
            return True
        if layer not in self.node:
            return False
        module = self._module(layer)
        linear = isinstance(module, nn.Linear)
        for o in sorted({0, module.weight.shape[0] // 2, module.weight.shape[0] - 1}):
            if not torch.equal(bits(channel_output(module, x, o)), bits(_channel(full, o, linear))):
                del self.node[layer]
                self.whole[layer] = (f"output channel {o} computed alone differs from the whole layer's "
                                     f"on input {tuple(x.shape)}")
                return False
        self.checked.add((layer, tuple(x.shape)))
        return True

    def step(self, fault: Fault) -> Callable[[dict[int, Any], Any], Any | None]:
        """The faulty output of ``fault``'s layer from its node's input values and its golden output,
        or ``None`` when it is the golden output bit for bit; read while the fault is injected."""
        layer, o = fault.layer, int(fault.index[0])
        module = self._module(layer)
        i = self.node[layer]
        source = self.graph.inputs(i)[0]
        linear = isinstance(module, nn.Linear)

        def faulty(env: dict[int, Any], golden: Any) -> Any | None:
            alone = channel_output(module, env[source], o)
            if torch.equal(bits(alone), bits(_channel(golden, o, linear))):
                return None
            out = golden.clone()
            _channel(out, o, linear).copy_(alone)
            return out

        return faulty

    def _module(self, layer: str) -> nn.Conv2d | nn.Linear:
        return cast("nn.Conv2d | nn.Linear", self.graph.model.get_submodule(layer))


def channel_output(module: nn.Conv2d | nn.Linear, x: torch.Tensor, o: int) -> torch.Tensor:
    """Output channel ``o`` of ``module`` on ``x``, computed alone (the channel axis kept, size 1).

    >>> conv = nn.Conv2d(3, 4, 3, padding=1)
    >>> x = torch.randn(2, 3, 5, 5)
    >>> bool((channel_output(conv, x, 2) - conv(x)[:, 2:3]).abs().max() < 1e-5)
    True
    """
    bias = None if module.bias is None else module.bias[o : o + 1]
    if isinstance(module, nn.Linear):
        return F.linear(x, module.weight[o : o + 1], bias)
    return F.conv2d(x, module.weight[o : o + 1], bias, module.stride, module.padding, module.dilation, 1)


def _channel(t: torch.Tensor, o: int, linear: bool) -> torch.Tensor:
    return t[..., o : o + 1] if linear else t[:, o : o + 1]


def _unsupported(graph: CutGraph, layer: str, first: int, last: int) -> str | None:
    """Why ``layer``'s faults cannot compute their channel alone, or ``None``."""
    module = graph.model.get_submodule(layer)
    node = graph.nodes[first]
    if first != last or node.op != "call_module" or node.target != layer:
        return "its weight is read by more than one node, or not by a call of its module"
    if len(graph.inputs(first)) != 1 or node.kwargs:
        return "its node takes other arguments than one input tensor"
    if type(module) not in (nn.Conv2d, nn.Linear):
        return f"a {type(module).__name__}, not a Conv2d or Linear"
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            return f"a grouped convolution (groups={module.groups})"
        if module.padding_mode != "zeros":
            return f"a convolution with padding mode {module.padding_mode!r}"
    return None
