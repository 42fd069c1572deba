"""The fast campaign runner of the Keras engine: each fault runs the sub-model from its layer's cut.

The layers of a functional Keras model form a graph of nodes. In a topological order of them, a
layer's *cut* sits before its first node; the values live across it are the tensors made before the
cut and read at or after it: the layer's input and, inside a residual block, the skip connection. The
suffix is a ``tf.keras.Model`` from those tensors to the output: it shares the model's layers, hence
its variables, so :meth:`KerasEngine.inject` corrupts it as it corrupts the whole model. A probe model
(the whole model with a group of cuts' tensors as extra outputs) gives the golden values of a chunk
once. Each is compiled as the engine compiles its model; the checks, the grouping and the block loop
are :class:`readlx.campaign.runners.cut.CutRunner`'s.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from readlx._tensorflow import LazyTensorFlow
from readlx._typing import Array
from readlx.campaign.runners.cut import ChunkValues, CutValues
from readlx.campaign.runners.cut_channel import ChannelConv, ChannelCutRunner, after, whole_because
from readlx.campaign.runners.keras_channel import (
    FUSED_READERS,
    ChannelFunctions,
    batch_norm_after,
    live_after,
    reader_positions,
    refusal,
)
from readlx.campaign.runners.options import FastOptions, FastUnsupported
from readlx.engines.base import Engine
from readlx.fault_maps.fault import Fault, Site
from readlx.outcomes.tasks import CLASSIFICATION, Task

tf: Any = LazyTensorFlow()  # imported on first use


def ordered_nodes(model: Any) -> list[Any]:
    """The nodes of a functional model, each after the nodes whose outputs it reads.

    A node's depth is its longest distance to the output, so every producer is deeper than its
    consumers and deepest-first is a topological order.

    Examples
    --------
    >>> x = tf.keras.Input((2,), name="x")
    >>> m = tf.keras.Model(x, tf.keras.layers.Dense(1, name="d")(tf.keras.layers.ReLU(name="r")(x)))
    >>> [node.layer.name for node in ordered_nodes(m)]
    ['x', 'r', 'd']
    """
    by_depth = getattr(model, "_nodes_by_depth", None)
    if not by_depth or not getattr(model, "_is_graph_network", False):
        raise FastUnsupported(f"Keras model {model.name!r} is not a functional model (no layer graph)")
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def live_across(nodes: list[Any], layer: Any) -> list[Any]:
    """The symbolic tensors made before ``layer``'s first node and read at or after it, in order."""
    cut = next((i for i, node in enumerate(nodes) if node.layer is layer), None)
    if cut is None:
        raise FastUnsupported(f"Keras layer {layer.name!r} is not a node of the model's graph")
    made = {id(t): t for node in nodes[:cut] for t in tf.nest.flatten(node.outputs)}
    live: dict[int, Any] = {}
    for node in nodes[cut:]:
        for t in node.keras_inputs:
            if id(t) in made:
                live.setdefault(id(t), t)
    return list(live.values())


def node_span(nodes: list[Any], layer: Any) -> tuple[int, int]:
    """Positions of the first and the last node of ``layer`` in ``nodes`` (a layer called twice has two)."""
    own = [i for i, node in enumerate(nodes) if node.layer is layer]
    if not own:
        raise FastUnsupported(f"Keras layer {layer.name!r} is not a node of the model's graph")
    return own[0], own[-1]


@contextmanager
def quiet_keras() -> Iterator[None]:
    """Silence Keras' warning that a model's inputs do not come from ``tf.keras.Input`` (a suffix
    starts from intermediate tensors on purpose) and TensorFlow's that many functions are traced (it
    counts every function made by :meth:`readlx.engines.keras.KerasEngine.function_for` as one, retraced)."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class KerasModelEngine(Engine, Protocol):
    """What the Keras fast path needs of an engine (:class:`readlx.engines.keras.KerasEngine`)."""

    model: Any
    device: str

    def function_for(self, model: Any) -> Any: ...

    def variable(self, layer: str) -> Any: ...

    def batch_input(self, images: Array) -> Any: ...

    def instrumented(self, layer: str, site: Site = ...) -> Any: ...

    def activation_batch(self, batch: Any, neutral: Array | None = None, golden: Array | None = None,
                         first_image: int = 0) -> Array: ...



class KerasFastRunner(ChannelCutRunner):
    """Runs faults on a :class:`~readlx.engines.keras.KerasEngine` with the outcomes of
    :func:`readlx.campaign.run_fault`.

    Parameters
    ----------
    engine
        The engine; its variables are only changed inside ``engine.inject``.
    images, golden
        The campaign's images and the engine's golden outputs for them.
    options
        Speed and memory knobs.
    task
        The classifier of the outputs.

    Raises
    ------
    FastUnsupported
        When the model is not a functional model with one input and one output.
    """

    engine: KerasModelEngine

    def __init__(self, engine: KerasModelEngine, images: Array, golden: Array,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        start = time.perf_counter()
        model = engine.model
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise FastUnsupported(f"Keras model {model.name!r} has {len(model.inputs)} inputs and "
                                  f"{len(model.outputs)} outputs; the fast path needs one of each")
        nodes = ordered_nodes(model)
        live = {layer: live_across(nodes, model.get_layer(engine.layer_name(layer))) for layer in engine.table.names}
        image = id(model.inputs[0])
        self._tensors = {t.name: t for ts in live.values() for t in ts if id(t) != image}
        cuts = {layer: [] if any(id(t) == image for t in ts) else [t.name for t in ts] for layer, ts in live.items()}
        spans = {layer: node_span(nodes, model.get_layer(engine.layer_name(layer))) for layer in engine.table.names}
        convs, refused, self.through = self._convs(engine, nodes, cuts, spans, options or FastOptions())
        """Layers computed through the ``BatchNormalization`` that reads them, with its node's position."""
        for layer in convs:
            after_conv = live_after(nodes, self.through[layer][1] if layer in self.through else spans[layer][0])
            self._tensors.update({t.name: t for t in after_conv})
            cuts[after(layer)] = [t.name for t in after_conv]
        image_bytes = {name: _image_bytes(t) for name, t in self._tensors.items()}
        self._channels = ChannelFunctions(engine.device)
        super().__init__(engine, images, golden, options, task, cuts, image_bytes, spans, convs, refused)
        self._activation_kept: tuple[tuple[str, str, int, int], list[tuple[slice, Any, Array | None]]] | None = None
        self.stats.startup_seconds = time.perf_counter() - start

    channel_off = ("on TensorFlow's CPU kernels a Conv2D costs nearly as much for a few filters as for all "
                   "(ResNet20, 8x8x64, batch 256: 1 filter 1.4 ms, all 64 4.0 ms): 100 faults of the published "
                   "list ran 1.09x slower with channel-only layers")
    """Channel-only layers are off unless asked for: they are exact, not faster (``benchmarks/runtime_speed.py
    --ablate``). Choosing per layer does not pay either: timing each layer both ways on its first golden
    batch, to its first check, kept the channel alone on 4 of the 15 ResNet20 layers timed (8x8x64: 4.1-4.5
    ms against 4.6-5.0 ms whole; 32x32x16: 12-13 ms against 6-7 ms), doubled the time spent building
    graphs (8.3 s against 4.0 s) and ran the same 100 faults 1.10x slower."""

    fused_readers = FUSED_READERS
    """Layers that TensorFlow fuses with a ``Conv2D`` they read (:func:`.keras_channel.refusal`)."""

    @classmethod
    def _convs(cls, engine: KerasModelEngine, nodes: list[Any], cuts: dict[str, list[str]],
               spans: dict[str, tuple[int, int]],
               options: FastOptions) -> tuple[dict[str, ChannelConv], dict[str, str], dict[str, tuple[Any, int]]]:
        """The layers whose faults may compute their channel alone (:mod:`.keras_channel`), why the
        others may not, and the ``BatchNormalization`` (and its node's position) that those computed
        through one are computed through."""
        convs, whole, through = {}, {}, {}
        for layer, names in cuts.items():
            keras_layer = engine.model.get_layer(engine.layer_name(layer))
            positions = reader_positions(nodes, spans[layer][0])
            reading = [nodes[i].layer for i in positions]
            own = refusal(keras_layer, engine.variable(layer), spans[layer], reading, cls.fused_readers)
            why = whole_because(cls.channel_off_because(options), names, own)
            if why is not None:
                whole[layer] = why
                continue
            node = nodes[spans[layer][0]]
            bn = batch_norm_after(keras_layer, reading) if cls.fused_readers else None
            if bn is not None:  # its output is a value of the compiled graph, the convolution's is not
                through[layer] = (bn, positions[0])
                node = nodes[positions[0]]
            convs[layer] = ChannelConv(nodes[spans[layer][0]].keras_inputs[0].name,
                                       tf.nest.flatten(node.outputs)[0].name, int(keras_layer.kernel.shape[-1]), -1)
        return convs, whole, through

    def channel_of(self, layer: str, x: Any, o: int) -> Array:
        bn = self.through[layer][0] if layer in self.through else None
        return self._channels.channel(self.engine.model.get_layer(self.engine.layer_name(layer)), x, o, bn)

    def channel_output(self, layer: str, values: CutValues, o: int) -> tuple[Array, Any | None]:
        """The channel and the output with it in place from one graph, the output left to TensorFlow:
        no copy of the golden output on the host, and none back into the suffix's input."""
        bn = self.through[layer][0] if layer in self.through else None
        conv = self.convs[layer]
        keras_layer = self.engine.model.get_layer(self.engine.layer_name(layer))
        return self._channels.replaced(keras_layer, values[conv.input], values[conv.output], o, bn)

    def output_channel(self, fault: Fault) -> int:
        return int(self.engine.table.binding("keras", fault.layer).to_framework_index(fault.index)[3])

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> Array:
        """An activation fault reruns only the corrupted recomputation of each batch: the golden outputs,
        the batch tensors and, for a spliced layer, the neutral recomputation are kept for the layer's
        next faults (:mod:`readlx.engines.keras_activations`)."""
        if not fault.is_activation:
            return super()._fault_chunk(fault, goldens, lo, hi)
        with self.engine.inject(fault), tf.device(self.engine.device):
            return np.concatenate([self.engine.activation_batch(batch, neutral, self.golden[rows], rows.start)
                                   for rows, batch, neutral in self._activation_batches(fault, lo, hi)])

    def _activation_batches(self, fault: Fault, lo: int, hi: int) -> list[tuple[slice, Any, Array | None]]:
        key = (fault.layer, fault.site.value, lo, hi)
        if self._activation_kept is not None and self._activation_kept[0] == key:
            return self._activation_kept[1]
        self._activation_kept = None  # the previous layer's values go before this layer's are made
        graph = self.engine.instrumented(fault.layer, fault.site)
        kept = []
        with tf.device(self.engine.device):
            for rows in self.layout:
                if lo <= rows.start < hi:
                    batch = self.engine.batch_input(self.images[rows])
                    kept.append((rows, batch, np.asarray(graph.neutral(batch), np.float32) if graph.spliced else None))
        self._activation_kept = (key, kept)
        return kept

    def _make_probe(self, names: tuple[str, ...]) -> Any:
        model = self.engine.model
        with quiet_keras():
            outputs = [*model.outputs, *(self._tensors[n] for n in names)]
            return self.engine.function_for(tf.keras.Model(model.inputs, outputs))

    def _run_probe(self, probe: Any, rows: slice) -> tuple[Array, list[Any]]:
        with tf.device(self.engine.device), quiet_keras():  # the first call traces
            out, *values = probe(self.engine.batch_input(self.images[rows]))
        return np.asarray(out, np.float32), values

    def _make_suffix(self, layer: str) -> Any:
        with quiet_keras():
            inputs = [self._tensors[n] for n in self.cuts[layer]]
            return self.engine.function_for(tf.keras.Model(inputs, self.engine.model.outputs[0]))

    def run_suffix(self, layer: str, values: CutValues) -> Array:
        with tf.device(self.engine.device), quiet_keras():  # the first call traces
            return np.asarray(self.suffix[layer](*(values[n] for n in self.cuts[layer])), dtype=np.float32)

    def _make_segment(self, start: str, check: str, made: list[str]) -> tuple[Any, list[str]]:
        """The segment's function and the names of its inputs: the values at ``start``'s cut that the
        values ``made`` depend on (Keras refuses a model with an input it does not use)."""
        outputs = [self._tensors[n] for n in made]
        names = needed_inputs([self._tensors[n] for n in self.cuts[start]], outputs)
        with quiet_keras():
            return self.engine.function_for(tf.keras.Model([self._tensors[n] for n in names], outputs)), names

    def _run_segment(self, segment: tuple[Any, list[str]], start: str, values: CutValues) -> list[Any]:
        function, names = segment
        with tf.device(self.engine.device), quiet_keras():  # the first call traces
            return list(tf.nest.flatten(function(*(values[n] for n in names))))


def needed_inputs(inputs: list[Any], outputs: list[Any]) -> list[str]:
    """Names of the symbolic tensors of ``inputs`` that some tensor of ``outputs`` is computed from.

    Examples
    --------
    >>> x = tf.keras.Input((2,), name="x")
    >>> a, b = tf.keras.layers.ReLU(name="a")(x), tf.keras.layers.ReLU(name="b")(x)
    >>> needed_inputs([a, b], [tf.keras.layers.Dense(1, name="d")(b)])
    ['b/Relu:0']
    """
    wanted = {id(t) for t in inputs}
    found: set[int] = set()
    stack, seen = list(outputs), set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if id(t) in wanted:
            found.add(id(t))
            continue
        layer, node_index, _ = t._keras_history
        stack.extend(tf.nest.flatten(layer._inbound_nodes[node_index].keras_inputs))
    return [t.name for t in inputs if id(t) in found]


def _image_bytes(tensor: Any) -> int | None:
    dims = tuple(tensor.shape[1:])
    return 4 * int(np.prod(dims)) if all(d is not None for d in dims) else None
