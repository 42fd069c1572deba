"""Graph cuts at a layer's output for ONNX Runtime's activation faults: a prefix session that returns the
layer's output (and every other value the rest of the graph reads from before it), and a suffix session
from those values to the output.

The layout of the layer's output is the operator's: ONNX ``Conv`` is NCHW by definition, in both exports
(the canonical ``(C, H, W)`` index as is); another rank-4 producer is NHWC where its binding's kernel is
channels-last (:func:`readlx.fault_maps.translate.channels_last`); a table that knows the output shape
confirms it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx.utils import Extractor

from readlx._typing import Array
from readlx.errors import ReadlxError
from readlx.fault_maps.translate import channels_last


class ActivationNotExposed(ReadlxError):
    """The graph cut at a layer's output does not reproduce the whole graph's output bit for bit."""


@dataclass
class ActivationCut:
    """A graph cut at a layer's output ``tensor``: ``prefix`` returns ``values`` (``tensor``, then what else the
    rest reads from before the cut: skip connections); ``suffix`` (``None`` where ``output`` is among ``values``)
    computes ``output`` from ``suffix_inputs``. ``checked``: batch sizes verified against the whole graph."""

    tensor: str
    channels_last: bool
    prefix: ort.InferenceSession
    prefix_inputs: list[str]
    values: list[str]
    suffix: ort.InferenceSession | None
    suffix_inputs: list[str]
    output: str
    checked: set[int] = field(default_factory=set)

    def finish(self, values: Mapping[str, Any], feeds: Mapping[str, Any]) -> Array:
        """The graph's output from one batch's (possibly corrupted) cut ``values`` and engine ``feeds``."""
        if self.suffix is None:
            return np.asarray(values[self.output], np.float32)
        inputs = {n: values[n] if n in values else feeds[n] for n in self.suffix_inputs}
        return np.asarray(self.suffix.run(None, inputs)[0], np.float32)


def make_cut(engine: Any, layer: str, tensor: str) -> ActivationCut:
    """``layer``'s cut at its output ``tensor`` in ``engine``'s graph (an
    :class:`~readlx.engines.onnxruntime.OnnxRuntimeEngine`): the prefix computes every value the rest of
    the graph reads from it; the suffix, the rest."""
    proto, fed = engine.proto, set(engine.weight_feeds)
    nodes, output = list(proto.graph.node), proto.graph.output[0].name
    producer = {t: k for k, node in enumerate(nodes) for t in node.output}
    before, todo = set(), [tensor]  # the nodes the layer's output depends on
    while todo:
        k = producer.get(todo.pop(), -1)
        if k >= 0 and k not in before:
            before.add(k)
            todo.extend(nodes[k].input)
    constant = {t.name for t in proto.graph.initializer}
    for node in nodes:  # recomputed where read, never carried across the cut
        if all(t in constant for t in node.input if t):
            constant.update(node.output)
    after = {t for k, node in enumerate(nodes) if k not in before for t in node.input}
    values = [t for t in dict.fromkeys([tensor, *sorted(after), output])
              if producer.get(t, -1) in before and t not in constant]
    inferred = engine.inferred
    if unknown := sorted(set(values) - {v.name for v in [*inferred.graph.value_info, *inferred.graph.output]}):
        raise ReadlxError(f"layer {layer!r}: shape inference types none of {unknown}, live across {tensor!r}")
    sources = [engine.image_input, *sorted(fed)]  # a feed the graph does not declare is refused
    read = {t for k in before for t in nodes[k].input}
    prefix = [n for n in sources if n in read]
    suffix = [n for n in [*values, *sources] if n in after]
    # NCHW by the operator's definition
    last = nodes[producer[tensor]].op_type not in ("Conv", "ConvTranspose", "BatchNormalization")
    return ActivationCut(
        tensor, last and channels_last(engine.table.binding(engine.bindings, layer)),
        engine.session_for(Extractor(inferred).extract_model(prefix, values)), prefix, values,
        None if output in values else engine.session_for(Extractor(inferred).extract_model(suffix, [output])),
        suffix, output)

def canonical_shape(shape: tuple[int, ...], channels_last: bool) -> tuple[int, ...]:
    """A layer output's per-image shape in canonical (C, H, W) order."""
    return (shape[2], shape[0], shape[1]) if channels_last and len(shape) == 3 else tuple(shape)
