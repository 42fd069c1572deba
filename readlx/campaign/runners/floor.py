"""The multiply-accumulates an exact faulty run cannot avoid: the floor a fast runner is measured against.

A weight fault in output channel ``o`` of a layer changes that channel only, so an exact run must
compute that channel of the layer (``1 / C_out`` of it) and every Conv/Linear layer that depends on
the layer's output, in full (a channel-mixing layer spreads the change to every channel). Layers that
do not depend on it (before it, or on a parallel branch) keep their golden values. Elementwise and
per-channel operations are left out: they cost far less than the convolutions between them.
Dropping images whose activations are back to golden lowers the floor further; this count does not,
so a runner that drops them can beat it.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from readlx.engines.fxgraph import CutGraph
from readlx.graph import LayerTable


@dataclass(frozen=True)
class Floor:
    """Multiply-accumulates per image: of the faulty layer's one channel, and of the layers after it."""

    channel: int
    after: int

    @property
    def total(self) -> int:
        return self.channel + self.after


def layer_macs(table: LayerTable, layer: str) -> int:
    """Multiply-accumulates per image of ``layer``: output elements times weights per output channel.

    >>> from readlx.fault_maps.sites import with_outputs
    >>> from readlx.zoo import ZOO, load_model
    >>> table = with_outputs(ZOO["democnn-synthetic10"].layer_table(), load_model("democnn-synthetic10"), (3, 32, 32))
    >>> layer_macs(table, "linear"), layer_macs(table, "conv1") == 32 * 32 * 8 * 3 * 3 * 3
    (160, True)
    """
    spec = table[layer]
    return prod(table.output_shape(layer)) * spec.numel // spec.shape[0]


def floors(graph: CutGraph, table: LayerTable) -> dict[str, Floor]:
    """Each layer's :class:`Floor` (``table`` must know output shapes: ``with_outputs``).

    Examples
    --------
    >>> from readlx.fault_maps.sites import with_outputs
    >>> from readlx.zoo import ZOO, load_model
    >>> model = load_model("democnn-synthetic10")
    >>> table = with_outputs(ZOO["democnn-synthetic10"].layer_table(), model, (3, 32, 32))
    >>> f = floors(CutGraph(model, table.names), table)
    >>> f["linear"], f["conv3"].after == layer_macs(table, "linear")
    (Floor(channel=16, after=0), True)
    """
    macs = {layer: layer_macs(table, layer) for layer in table.names}
    out: dict[str, Floor] = {}
    for layer in table.names:
        first = graph.spans[layer].first
        downstream = graph.descendants(first) - {first}
        after = sum(m for other, m in macs.items() if other != layer and graph.spans[other].first in downstream)
        out[layer] = Floor(macs[layer] // table[layer].shape[0], after)
    return out


def network_macs(table: LayerTable) -> int:
    """Multiply-accumulates per image of every layer: one whole inference."""
    return sum(layer_macs(table, layer) for layer in table.names)
