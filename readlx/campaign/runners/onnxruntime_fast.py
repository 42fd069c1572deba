"""The fast campaign runner of the ONNX Runtime engine: each fault runs the suffix subgraph of its layer.

A layer's *cut* sits before the first node that reads its (fed) weight. The values live across it are
the tensors made before the cut and read at or after it: the layer's input and, inside a residual
block, the skip connection. The suffix subgraph from those values to the output
(``onnx.utils.Extractor``) runs in a session with the engine's own settings, its weights still fed
inputs, so :meth:`OnnxRuntimeEngine.inject` corrupts it as it corrupts the whole graph. A probe session
(the whole graph with a group of cuts' values as extra outputs) gives the golden values of a chunk
once. The checks, the grouping and the block loop are :class:`readlx.campaign.runners.cut.CutRunner`'s.

An activation fault restarts from the engine's own activation cut
(:class:`readlx.engines.onnxruntime_cuts.ActivationCut`, verified bit for bit against the whole graph):
the prefix runs once per chunk and layer, and each fault of the layer corrupts a copy of its values and
runs the suffix.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import onnx
from onnx.utils import Extractor

from readlx._typing import Array
from readlx.campaign.runners.cut import ChunkValues, CutValues
from readlx.campaign.runners.cut_channel import ChannelConv, ChannelCutRunner, after, whole_because
from readlx.campaign.runners.onnxruntime_channel import ConvNode, PairSessions, conv_node, live_after
from readlx.campaign.runners.options import FastOptions, FastUnsupported
from readlx.engines.base import Engine
from readlx.fault_maps.fault import Fault, Site
from readlx.outcomes.tasks import CLASSIFICATION, Task


def live_at(proto: onnx.ModelProto, weight: str, constants: set[str]) -> list[str]:
    """Tensors made before the first node that reads ``weight`` and read at or after it, in order.

    Examples
    --------
    >>> from onnx import helper
    >>> nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Conv", ["a", "w"], ["b"]),
    ...          helper.make_node("Add", ["b", "a"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, 1, None) for n in "xw"],
    ...                       [helper.make_tensor_value_info("y", 1, None)])
    >>> live_at(helper.make_model(g), "w", {"w"})
    ['a']
    """
    nodes = list(proto.graph.node)
    cut = reading_span(proto, weight)[0]
    made_before = {t for n in nodes[:cut] for t in n.output} | {i.name for i in proto.graph.input}
    read_after = [t for n in nodes[cut:] for t in n.input]
    return list(dict.fromkeys(t for t in read_after if t in made_before and t not in constants))


def with_outputs(proto: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """A copy of ``proto`` that also outputs ``tensors``."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    out.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors)
    return out


class OnnxModelEngine(Engine, Protocol):
    """What the ONNX Runtime fast path needs of an engine
    (:class:`readlx.engines.onnxruntime.OnnxRuntimeEngine`)."""

    proto: onnx.ModelProto
    bindings: str

    @property
    def image_input(self) -> str: ...

    @property
    def weight_feeds(self) -> dict[str, Array]: ...

    def fed_name(self, layer: str) -> str: ...

    def layout_images(self, images: Array) -> Array: ...

    def session_for(self, proto: onnx.ModelProto, arena: bool = True) -> Any: ...

    def cut_values(self, layer: str, feeds: dict[str, Array], site: Site = ...) -> dict[str, Any]: ...

    def faulty_from(self, fault: Fault, values: Mapping[str, Any], feeds: dict[str, Array],
                    first_image: int = 0) -> Array: ...


class OrtFastRunner(ChannelCutRunner):
    """Runs faults on an :class:`~readlx.engines.onnxruntime.OnnxRuntimeEngine` with the outcomes of
    :func:`readlx.campaign.run_fault`.

    Parameters
    ----------
    engine
        The engine; its fed weights are only changed inside ``engine.inject``.
    images, golden
        The campaign's images and the engine's golden outputs for them.
    options
        Speed and memory knobs.
    task
        The classifier of the outputs.

    Raises
    ------
    FastUnsupported
        When no node of the graph reads some layer's fed weight.
    """

    engine: OnnxModelEngine
    suffixes_kept = 32
    """A bound on the sessions held at once, graphs and kernels included."""

    def __init__(self, engine: OnnxModelEngine, images: Array, golden: Array,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        start = time.perf_counter()
        proto = engine.proto
        constants = set(engine.weight_feeds) | {t.name for t in proto.graph.initializer}
        live = {layer: live_at(proto, engine.fed_name(layer), constants) for layer in engine.table.names}
        cuts = {layer: [] if engine.image_input in names else names for layer, names in live.items()}
        self._inferred = onnx.shape_inference.infer_shapes(proto)
        spans = {layer: reading_span(proto, engine.fed_name(layer)) for layer in engine.table.names}
        nodes, refused = self._convs(engine, options or FastOptions(), cuts)
        self.pairs = PairSessions(proto, engine.session_for, nodes)
        cuts.update({after(layer): live_after(proto, conv.position, constants) for layer, conv in nodes.items()})
        image_bytes = _image_bytes(self._inferred, {n for names in cuts.values() for n in names})
        convs = {layer: ChannelConv(conv.input, conv.output, engine.weight_feeds[conv.weight].shape[0], 1)
                 for layer, conv in nodes.items()}
        super().__init__(engine, images, golden, options, task, cuts, image_bytes, spans, convs, refused)
        # A session's arena keeps as much memory as its largest run needed: one per suffix costs 1.2 GB
        # each on DenseNet121 (batch 256), and without them ResNet20's suffixes run about 20 % slower.
        self._arena = self._batch_bytes(self._names(list(cuts))) <= self.options.cache_bytes
        self._activation_kept: tuple[tuple[str, str, int, int], list[_CutBatch]] | None = None
        self.stats.startup_seconds = time.perf_counter() - start

    @classmethod
    def _convs(cls, engine: OnnxModelEngine, options: FastOptions,
               cuts: dict[str, list[str]]) -> tuple[dict[str, ConvNode], dict[str, str]]:
        """The layers whose faults may compute their channel alone (:mod:`.onnxruntime_channel`), and why
        the others may not."""
        convs, whole = {}, {}
        for layer, names in cuts.items():
            fed = engine.fed_name(layer)
            conv = conv_node(engine.proto, fed, engine.weight_feeds[fed].shape)
            why = whole_because(cls.channel_off_because(options), names, conv if isinstance(conv, str) else None)
            if why is not None or isinstance(conv, str):
                whole[layer] = str(why)
            else:
                convs[layer] = conv
        return convs, whole

    def channel_of(self, layer: str, x: Any, o: int) -> Array:
        return self.pairs.channel(layer, x, self.engine.weight_feeds, o)

    def output_channel(self, fault: Fault) -> int:
        return int(self.engine.table.binding(self.engine.bindings, fault.layer).to_framework_index(fault.index)[0])

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> Array:
        """An activation fault restarts each batch from the golden values at its layer's activation cut
        (the engine's prefix run, kept for the layer's next faults), corrupted as the engine does."""
        if not fault.is_activation:
            return super()._fault_chunk(fault, goldens, lo, hi)
        self.engine.table.check_fault(fault)
        return np.concatenate([self.engine.faulty_from(fault, values, feeds, start)
                               for start, values, feeds in self._activation_values(fault, lo, hi)])

    def _activation_values(self, fault: Fault, lo: int, hi: int) -> list[_CutBatch]:
        key = (fault.layer, fault.site.value, lo, hi)
        if self._activation_kept is not None and self._activation_kept[0] == key:
            return self._activation_kept[1]
        self._activation_kept = None  # the previous layer's values go before this layer's are made
        chunk = []
        for rows in self.layout:
            if lo <= rows.start < hi:
                feeds = {self.engine.image_input: self.engine.layout_images(self.images[rows]),
                         **self.engine.weight_feeds}
                chunk.append((rows.start, self.engine.cut_values(fault.layer, feeds, fault.site), feeds))
        self._activation_kept = (key, chunk)
        return chunk

    def _make_probe(self, names: tuple[str, ...]) -> Any:
        return self.engine.session_for(with_outputs(self.engine.proto, list(names)))

    def _run_probe(self, probe: Any, rows: slice) -> tuple[Array, list[Any]]:
        feeds = {self.engine.image_input: self.engine.layout_images(self.images[rows]), **self.engine.weight_feeds}
        out, *values = probe.run(None, feeds)
        return np.asarray(out, np.float32), values

    def _make_suffix(self, layer: str) -> tuple[Any, list[str], list[str]]:
        """The suffix session, its live inputs and the fed weights it reads."""
        names = self.cuts[layer]
        output = self.engine.proto.graph.output[0].name
        sub = Extractor(self._inferred).extract_model([*names, *self.engine.weight_feeds], [output])
        session = self.engine.session_for(sub, arena=self._arena)
        used = [i.name for i in session.get_inputs() if i.name in self.engine.weight_feeds]
        return session, names, used

    def run_suffix(self, layer: str, values: CutValues) -> Array:
        session, names, used = self.suffix[layer]
        feeds = {**{n: values[n] for n in names}, **{n: self.engine.weight_feeds[n] for n in used}}
        return np.asarray(session.run(None, feeds)[0], dtype=np.float32)

    def _make_segment(self, start: str, check: str, made: list[str]) -> tuple[Any, list[str], list[str]]:
        """The segment's session, its inputs (those of the start's values and fed weights it reads) and
        its outputs."""
        sub = Extractor(self._inferred).extract_model([*self.cuts[start], *self.engine.weight_feeds], made)
        session = self.engine.session_for(sub, arena=self._arena)
        return session, [i.name for i in session.get_inputs()], made

    def _run_segment(self, segment: tuple[Any, list[str], list[str]], start: str, values: CutValues) -> list[Any]:
        session, inputs, made = segment
        weights = self.engine.weight_feeds
        return list(session.run(made, {n: values[n] if n in values else weights[n] for n in inputs}))


_CutBatch = tuple[int, dict[str, Any], dict[str, Array]]
"""One batch at an activation cut: its first image, the cut's golden values, the engine's feeds."""


def reading_span(proto: onnx.ModelProto, weight: str) -> tuple[int, int]:
    """Positions of the first and the last node of ``proto`` that read ``weight``.

    >>> from onnx import helper
    >>> nodes = [helper.make_node("Conv", ["x", "w"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
    ...          helper.make_node("Conv", ["b", "w"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, 1, None) for n in "xw"],
    ...                       [helper.make_tensor_value_info("y", 1, None)])
    >>> reading_span(helper.make_model(g), "w")
    (0, 2)
    """
    reading = [i for i, node in enumerate(proto.graph.node) if weight in node.input]
    if not reading:
        raise FastUnsupported(f"no node of the ONNX graph reads {weight!r}")
    return reading[0], reading[-1]


def _image_bytes(inferred: onnx.ModelProto, names: set[str]) -> dict[str, int | None]:
    """Bytes per image of float32 tensors ``names`` from inferred shapes (``None`` where unknown)."""
    out: dict[str, int | None] = {n: None for n in names}
    for info in inferred.graph.value_info:
        if info.name in names:
            dims = [d.dim_value if d.HasField("dim_value") else 0 for d in info.type.tensor_type.shape.dim[1:]]
            out[info.name] = 4 * int(np.prod(dims)) if all(dims) else None
    return out
