"""Activation faults on Keras: the model's graph with one layer's output corrupted by mask variables.

An activation fault corrupts the output of the Keras layer bound to its canonical layer, its ``(C, H, W)``
index translated to NHWC's ``(H, W, C)``, in an instrumented copy of the model's graph built once per
layer (:class:`InstrumentedGraph`). Each element's bits become ``((bits ^ xor) | or) & and``, the masks
being int32 variables of the layer's per-image output shape broadcast over the batch; a fault sets one
element of them, reset in ``finally`` (:meth:`readlx.engines.keras.KerasEngine.inject`).

Where the runtime fuses that output into the next operation (oneDNN fuses a Conv2D with the
BatchNormalization after it), it is not a tensor of the engine's graph, and a corrupted copy of the
graph misses the golden bits even with :data:`NEUTRAL_MASKS`. Such a layer is *spliced*: the model
recomputed node by node runs twice, corrupted (``faulty``) and with neutral masks (``neutral``); an image
whose two recomputed outputs are equal bit for bit gets the engine's output (masked), any other the
corrupted recomputation (:func:`spliced_output`). The neutral run and the engine's output do not depend
on the fault, so a fast runner computes them once per batch and layer. A *plain* layer (the corrupted
recomputation alone is the faulty output) is one where, with neutral masks, the recomputation gives the
engine's outputs bit for bit: checked on a fixed random batch when it is built, and again on the first
batch of every size it runs; a batch where it does not makes the layer spliced.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from readlx._tensorflow import LazyTensorFlow
from readlx._typing import Array
from readlx.errors import FastUnsupported, FaultListError, ReadlxError
from readlx.fault_maps.fault import FaultKind, Site
from readlx.fault_maps.translate import channels_last
from readlx.graph import Binding

tf: Any = LazyTensorFlow()

NEUTRAL_MASKS = (0, 0, -1)
"""The xor, or and and masks (int32) that leave every bit of an activation as it is."""
PROBE_IMAGES = 8
"""Images of the fixed random batch on which an instrumented graph is checked against the engine's."""


@dataclass(frozen=True)
class InstrumentedGraph:
    """The model recomputed node by node as ``tf.function`` s (NHWC batch -> output) with one layer's
    output corrupted by ``masks`` (``faulty``) or by neutral masks (``neutral``); ``shape`` is the
    layer's per-image output in the framework's layout.

    Examples
    --------
    >>> graph = engine.instrumented("conv1")  # doctest: +SKIP
    >>> graph.shape, graph.spliced  # doctest: +SKIP
    ((16, 16, 8), True)
    """

    layer: str
    site: Site
    faulty: Any
    neutral: Any
    shape: tuple[int, ...]
    masks: tuple[Any, Any, Any]
    spliced: bool
    rows: Any = None
    """The recomputation with one element of each row corrupted: ``rows(batch, where, xor, or, and)``,
    ``where`` the ``(row, *element)`` indices, the masks one int32 per row (transient faults)."""
    checked: set[int] = field(default_factory=set)
    """Batch sizes on which a plain graph's neutral run was found equal to the engine's."""


def instrument(engine: Any, layer: str, site: Site = Site.ACTIVATION) -> InstrumentedGraph:
    """``layer``'s instrumented graph on a :class:`~readlx.engines.keras.KerasEngine`, corrupting the
    layer's output or (``normalized``) that of the BatchNormalization called on it: plain where its
    neutral run reproduces the engine's outputs on a fixed random batch, else spliced."""
    from readlx.campaign.runners.cut import same_bits
    from readlx.campaign.runners.keras_fast import ordered_nodes, quiet_keras

    model = engine.model
    binding = engine.table.binding("keras", layer)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ReadlxError(f"Keras model {model.name!r} has {len(model.inputs)} inputs and "
                          f"{len(model.outputs)} outputs; activation faults need one of each")
    try:
        nodes = ordered_nodes(model)
    except FastUnsupported as e:
        raise ReadlxError(f"activation faults need the model's layer graph: {e}") from e
    target = model.get_layer(binding.name)
    shape = output_shape(engine, layer, binding, target, nodes)
    if site is Site.NORMALIZED:
        target = normalizer(model, nodes, target, layer)
        if output_shape(engine, layer, binding, target, nodes) != shape:
            raise ReadlxError(f"Keras layer {target.name!r} normalizes layer {layer!r} but changes its shape")
    dims = tuple(model.inputs[0].shape[1:])
    if None in dims:
        raise ReadlxError(f"activation faults need a fully known input shape; {model.name!r} has {dims}")
    with tf.device(engine.device):
        masks = tuple(tf.Variable(tf.fill(shape, tf.constant(v, tf.int32)), trainable=False) for v in NEUTRAL_MASKS)
        neutral_masks = [tf.Variable(v, dtype=tf.int32, trainable=False) for v in NEUTRAL_MASKS]
    walk = _walker(model, nodes, target)
    specs = [tf.TensorSpec((None, *dims), tf.float32)]
    faulty = tf.function(lambda x: walk(x, _corrupting(masks)), input_signature=specs)
    neutral = tf.function(lambda x: walk(x, _corrupting(neutral_masks)), input_signature=specs)
    row_specs = [*specs, tf.TensorSpec((None, 1 + len(shape)), tf.int64), *[tf.TensorSpec((None,), tf.int32)] * 3]
    rows = tf.function(lambda x, where, *m: walk(x, _corrupting_rows(where, m)), input_signature=row_specs)
    probe = tf.constant(np.random.default_rng(0).standard_normal(
        (min(engine.batch_size, PROBE_IMAGES), *dims)).astype(np.float32))
    with tf.device(engine.device), quiet_keras():  # the first calls trace
        unchanged = np.asarray(neutral(probe), np.float32)
        plain = same_bits(unchanged, np.asarray(engine.golden_function(probe), np.float32))
        if not (same_bits(np.asarray(faulty(probe), np.float32), unchanged)  # its masks are neutral here
                and same_bits(np.asarray(rows(probe, *neutral_rows(len(probe), len(shape))), np.float32), unchanged)):
            raise ReadlxError(f"the model recomputed at Keras layer {binding.name!r} (layer {layer!r}) differs "
                              "between two copies of one graph; its activation faults cannot run here")
    return InstrumentedGraph(layer, site, faulty, neutral, shape, masks, spliced=not plain, rows=rows)


def normalizer(model: Any, nodes: list[Any], target: Any, layer: str) -> Any:
    """The BatchNormalization layer called on the output of Keras layer ``target`` (one call of each)."""
    calls = [node for node in nodes if node.layer is target]
    outputs = {i for node in calls for i in node.flat_output_ids}
    found = [node.layer for node in nodes if isinstance(node.layer, tf.keras.layers.BatchNormalization)
             and outputs & set(node.flat_input_ids)]
    if len(calls) != 1 or len(found) != 1:
        names = ", ".join(sorted(n.name for n in found)) or "none"
        raise FaultListError(f"the output of layer {layer!r} (Keras layer {target.name!r}) goes to {len(found)} "
                             f"BatchNormalization layers ({names}) in {model.name!r}; a normalized fault needs one",
                             field="site")
    return found[0]


def neutral_rows(n: int, rank: int) -> tuple[Any, Any, Any, Any]:
    """Arguments of :attr:`InstrumentedGraph.rows` that leave every bit of ``n`` rows as it is."""
    where = np.zeros((n, 1 + rank), np.int64)
    where[:, 0] = np.arange(n)
    return (tf.constant(where), *(tf.constant(np.full(n, v, np.int32)) for v in NEUTRAL_MASKS))


def row_masks(kind: Any, masks: Array) -> tuple[Array, Array, Array]:
    """The xor, or and and masks (int32, one per row) that apply ``kind`` to each row's bits ``masks``."""
    bits = np.asarray(masks, np.uint32).view(np.int32)
    xor, or_, and_ = (np.full(len(bits), v, np.int32) for v in NEUTRAL_MASKS)
    if kind is FaultKind.BIT_FLIP:
        xor = bits
    elif kind is FaultKind.STUCK_AT_1:
        or_ = bits
    else:
        and_ = ~bits
    return xor, or_, and_


def faulty_batch(engine: Any, graph: InstrumentedGraph, batch: Any, neutral: Array | None = None,
                 golden: Array | None = None, rows: tuple[Any, ...] | None = None) -> tuple[InstrumentedGraph, Array]:
    """The faulty outputs of one NHWC ``batch`` under ``graph``'s masks (or, given ``rows``, under
    :attr:`InstrumentedGraph.rows` with those arguments), and the graph (made spliced where its plain
    form misses the engine's outputs on this batch size). ``neutral`` and ``golden``: the batch's
    neutral recomputation and engine output where the caller keeps them."""
    from readlx.campaign.runners.cut import same_bits

    size = int(batch.shape[0])
    if not graph.spliced and size not in graph.checked:
        golden = _or_run(golden, engine.golden_function, batch)
        neutral = _or_run(neutral, graph.neutral, batch)
        if same_bits(neutral, golden):
            graph.checked.add(size)
        else:
            graph = replace(graph, spliced=True, checked=set())
    faulty = np.asarray(graph.faulty(batch) if rows is None else graph.rows(batch, *rows), np.float32)
    if not graph.spliced:
        return graph, faulty
    return graph, spliced_output(faulty, _or_run(neutral, graph.neutral, batch),
                                 _or_run(golden, engine.golden_function, batch))


def _or_run(kept: Array | None, function: Any, batch: Any) -> Array:
    return kept if kept is not None else np.asarray(function(batch), np.float32)


def spliced_output(faulty: Array, neutral: Array, golden: Array) -> Array:
    """Per image: ``golden`` where the corrupted recomputation equals the neutral one bit for bit
    (the fault is masked), else the corrupted recomputation.

    >>> spliced_output(np.array([[1.0], [2.0]], np.float32), np.array([[1.0], [3.0]], np.float32),
    ...                np.array([[1.5], [3.5]], np.float32)).tolist()
    [[1.5], [2.0]]
    """
    flat = faulty.reshape(len(faulty), -1).view(np.uint32)
    same = (flat == neutral.reshape(len(neutral), -1).view(np.uint32)).all(axis=1)
    return np.where(same.reshape((-1,) + (1,) * (faulty.ndim - 1)), golden, faulty).astype(np.float32)


def output_shape(engine: Any, layer: str, binding: Binding, target: Any, nodes: list[Any]) -> tuple[int, ...]:
    """Per-image output shape of Keras layer ``target``, checked against the canonical layer: one
    shape for every call, the layout the binding implies, and the layer's output channels."""
    calls = [node for node in nodes if node.layer is target]
    shapes = {tuple(t.shape[1:]) for node in calls for t in tf.nest.flatten(node.outputs)}
    if not calls or len(shapes) != 1 or None in next(iter(shapes)):
        found = ", ".join(str(s) for s in sorted(shapes, key=str)) or "no call in the model's graph"
        raise ReadlxError(f"Keras layer {binding.name!r} (layer {layer!r}) needs one fully known "
                          f"output shape for activation faults; found {found}")
    shape = tuple(int(n) for n in next(iter(shapes)))
    last = channels_last(binding)
    data_format = getattr(target, "data_format", None)
    if len(shape) == 3 and data_format is not None and (data_format == "channels_last") != last:
        raise ReadlxError(f"Keras layer {binding.name!r} (layer {layer!r}) is {data_format}, its kernel "
                          f"layout {binding.permutation} says {'channels_' + ('last' if last else 'first')}")
    channels = shape[-1] if len(shape) == 3 and last else shape[0]
    expected = engine.table[layer].shape[0]
    if channels != expected:
        raise ReadlxError(f"Keras layer {binding.name!r} (layer {layer!r}) has output shape {shape} "
                          f"with {channels} channels; the canonical layer has {expected}")
    return shape


def _corrupting(masks: Any) -> Callable[[Any], Any]:
    def corrupt(out: Any) -> Any:
        xor, or_, and_ = masks
        flipped = tf.bitwise.bitwise_xor(tf.bitcast(out, tf.int32), xor)
        return tf.bitcast(tf.bitwise.bitwise_and(tf.bitwise.bitwise_or(flipped, or_), and_), tf.float32)

    return corrupt
def _corrupting_rows(where: Any, masks: Any) -> Callable[[Any], Any]:
    def corrupt(out: Any) -> Any:
        xor, or_, and_ = masks
        bits = tf.bitcast(out, tf.int32)
        picked = tf.bitwise.bitwise_xor(tf.gather_nd(bits, where), xor)
        picked = tf.bitwise.bitwise_and(tf.bitwise.bitwise_or(picked, or_), and_)
        return tf.bitcast(tf.tensor_scatter_nd_update(bits, where, picked), tf.float32)

    return corrupt


def _walker(model: Any, nodes: list[Any], target: Any) -> Callable[[Any, Callable[[Any], Any]], Any]:
    """Runs ``model``'s layers node by node, as a functional model runs them in inference mode, with the
    outputs of ``target``'s calls passed through a function.

    Calling the layers on tensors (not on Keras symbolic tensors) adds no node to the model's graph."""
    source = str(id(model.inputs[0]))
    result = str(id(model.outputs[0]))

    def walk(x: Any, at_target: Callable[[Any], Any]) -> Any:
        values = {source: x}
        for node in nodes:
            if node.is_input or any(i not in values for i in node.flat_input_ids):
                continue
            # map_arguments takes one value per use of a tensor.
            args, kwargs = node.map_arguments({i: [values[i]] * n for i, n in Counter(node.flat_input_ids).items()})
            out = node.layer(*args, **{"training": False, **kwargs})
            if node.layer is target:
                out = at_target(out)
            values.update(zip(node.flat_output_ids, tf.nest.flatten(out), strict=True))
        if result not in values:
            raise ReadlxError(f"Keras model {model.name!r}: its output is not computable from its input "
                              f"node by node")
        return values[result]

    return walk
