"""The fast campaign runner of the Keras engine: each fault runs the sub-model from its layer's cut.

The layers of a functional Keras model form a graph of nodes. In a topological order of them, a
layer's *cut* sits before its first node; the values live across it are the tensors made before the
cut and read at or after it: the layer's input and, inside a residual block, the skip connection. The
suffix is a ``tf.keras.Model`` from those tensors to the output: it shares the model's layers, hence
its variables, so :meth:`KerasEngine.inject` corrupts it as it corrupts the whole model. A probe model
(the whole model with every cut's tensors as extra outputs) gives the golden values of a chunk once.
Each is compiled as the engine compiles its model; the start-up self-check and the block loop are
:class:`readlx.fast.cut_runner.CutRunner`'s.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from readlx.engines.base import batches
from readlx.engines.keras import KerasEngine
from readlx.fast.blocks import FastStats
from readlx.fast.cut_runner import CutRunner, CutValues, same_bits
from readlx.fast.options import FastOptions, FastUnsupported
from readlx.tasks import CLASSIFICATION, Task


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


@contextmanager
def _quiet_keras() -> Iterator[None]:
    """Silence Keras' warning that a model's inputs do not come from ``tf.keras.Input`` (a suffix
    starts from intermediate tensors on purpose) and TensorFlow's that many functions are traced (it
    counts every function made by :meth:`KerasEngine.function_for` as one, retraced)."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class KerasFastRunner(CutRunner):
    """Runs faults on a :class:`KerasEngine` with the outcomes of :func:`readlx.campaign.run_fault`.

    Parameters
    ----------
    engine
        The engine; its variables are only changed inside ``engine.inject``.
    images, golden
        The campaign's images and the engine's golden outputs for them.
    options
        Speed and memory knobs (``checks`` is not used: no run stops early).
    task
        The classifier of the outputs.

    Raises
    ------
    FastUnsupported
        When the model is not a functional model with one input and one output, or the probe model
        does not reproduce the engine's golden outputs.
    """

    def __init__(self, engine: KerasEngine, images: np.ndarray, golden: np.ndarray,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        super().__init__()
        start = time.perf_counter()
        self.engine, self.images, self.golden, self.task = engine, images, golden, task
        self.options = options or FastOptions()
        self.layout = batches(len(images), engine.batch_size)
        model = engine.model
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise FastUnsupported(f"Keras model {model.name!r} has {len(model.inputs)} inputs and "
                                  f"{len(model.outputs)} outputs; the fast path needs one of each")
        nodes = ordered_nodes(model)
        live = {layer: live_across(nodes, model.get_layer(engine.layer_name(layer))) for layer in engine.table.names}
        image = id(model.inputs[0])
        self.whole = [layer for layer, ts in live.items() if any(id(t) == image for t in ts)]
        cut = {id(t): t for layer, ts in live.items() if layer not in self.whole for t in ts}
        self.cut_names = [t.name for t in cut.values()]
        with _quiet_keras():
            self.probe_function = engine.function_for(tf.keras.Model(model.inputs, [*model.outputs, *cut.values()]))
            self.suffix = {
                layer: (engine.function_for(tf.keras.Model(ts, model.outputs[0])), [t.name for t in ts])
                for layer, ts in live.items() if layer not in self.whole
            }
        with tf.device(engine.device), _quiet_keras():  # every function is traced here, once
            self.chunk_batches = self._self_check()
        self.stats = FastStats(startup_seconds=time.perf_counter() - start)

    def probe(self, rows: slice) -> CutValues:
        """Golden values at every cut for one batch, after checking the probe's output against golden."""
        with tf.device(self.engine.device):
            out, *values = self.probe_function(self.engine.batch_input(self.images[rows]))
        if not same_bits(np.asarray(out, np.float32), self.golden[rows]):
            raise FastUnsupported(f"the probe model's golden outputs differ from the engine's for images "
                                  f"{rows.start}..{rows.stop - 1}")
        return dict(zip(self.cut_names, values))

    def run_suffix(self, layer: str, values: CutValues) -> np.ndarray:
        function, names = self.suffix[layer]
        with tf.device(self.engine.device):
            return np.asarray(function(*(values[n] for n in names)), dtype=np.float32)

    def _nbytes(self, values: CutValues) -> int:
        return sum(int(np.prod(v.shape)) * v.dtype.size for v in values.values())
