"""The TensorFlow/Keras engine: a Keras SavedModel taking NHWC input, driven in canonical terms.

Images arrive NCHW (the same bytes every engine gets, invariant 6 of docs/architecture.md) and are transposed to
NHWC here, at the edge; the transposition is exact. Weights are addressed canonically and translated
through the table's ``"keras"`` bindings.

An activation fault corrupts the output of the Keras layer bound to its canonical layer in an instrumented
copy of the model's graph (:mod:`readlx.engines.keras_activations`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from readlx._tensorflow import LazyTensorFlow
from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.base import batches, check_activation_index
from readlx.engines.keras_activations import NEUTRAL_MASKS, InstrumentedGraph, faulty_batch, instrument, row_masks
from readlx.engines.keras_files import load_keras_model
from readlx.engines.registry import RUNTIMES, Runtime
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind, Site, check_prefix
from readlx.fault_maps.transient import draws
from readlx.fault_maps.translate import activation_to_canonical, activation_to_framework, channels_last
from readlx.graph import Binding, LayerTable

tf: Any = LazyTensorFlow()  # imported on first use, without the CUDA plugin registration noise

BINDINGS = "keras"
NCHW_TO_NHWC = (0, 2, 3, 1)



class KerasEngine:
    """Runs a Keras model with a compiled ``tf.function`` on a fixed batch layout.

    Parameters
    ----------
    model
        A SavedModel directory written by :func:`readlx.converters.to_keras.torch_to_keras`, or a
        loaded ``tf.keras.Model`` taking NHWC input.
    table
        The canonical layer table with ``"keras"`` bindings.
    batch_size
        Images per call (the same for golden and faulty passes).
    device
        A TensorFlow device string, e.g. ``"/CPU:0"`` or ``"/GPU:0"``.

    Examples
    --------
    >>> from readlx.converters import load_bundle  # doctest: +SKIP
    >>> bundle = load_bundle("bundles/demo")  # doctest: +SKIP
    >>> eng = KerasEngine(bundle.keras_dir, bundle.table)  # doctest: +SKIP
    >>> eng.infer(images).shape  # doctest: +SKIP
    (4, 10)
    """

    framework = "keras"

    def __init__(
        self, model: str | Path | Any, table: LayerTable, batch_size: int = 256, device: str = "/CPU:0"
    ) -> None:
        self.model = _load(model)
        self.table = table
        self.batch_size = batch_size
        self.device = device
        self._variables = {
            layer.name: self._variable(table.binding(BINDINGS, layer.name)) for layer in table
        }
        self._call = self._compile()
        self._instrumented: dict[tuple[str, Site], InstrumentedGraph] = {}
        self._active: InstrumentedGraph | None = None  # the graph of the activation fault in place
        self._transient: Fault | None = None  # the transient fault in place, whose draws it runs

    def _variable(self, binding: Binding) -> Any:
        try:
            layer = self.model.get_layer(binding.name)
        except ValueError as e:
            raise ReadlxError(f"Keras model has no layer {binding.name!r}") from e
        by_name = {v.name: v for v in layer.weights}
        if binding.variable not in by_name:
            raise ReadlxError(
                f"Keras layer {binding.name!r} has no variable {binding.variable!r}; it has "
                + ", ".join(sorted(by_name))
            )
        return by_name[binding.variable]

    def _compile(self) -> Any:
        return self.function_for(self.model)

    def function_for(self, model: Any) -> Any:
        """``model`` (this engine's model or one sharing its layers) as a ``tf.function`` in inference
        mode, compiled as this engine compiles its own: one signature per input, batch axis free, so
        the last, shorter batch reuses the same graph."""
        specs = _input_specs(model)
        if len(specs) == 1:
            return tf.function(lambda x: model(x, training=False), input_signature=specs)
        return tf.function(lambda *xs: model(list(xs), training=False), input_signature=specs)

    def batch_input(self, images: Array) -> Any:
        """One batch of NCHW images as the model's NHWC input tensor (the transposition is exact)."""
        return tf.constant(np.ascontiguousarray(np.transpose(images, NCHW_TO_NHWC)))

    def infer(self, images: Array, first_image: int = 0) -> Array:
        out = []
        with tf.device(self.device):
            for sl in batches(len(images), self.batch_size):
                batch = self.batch_input(images[sl])
                if self._active is None:
                    out.append(np.asarray(self._call(batch), dtype=np.float32))
                    continue
                out.append(self.activation_batch(batch, first_image=first_image + sl.start))
        return np.concatenate(out)

    def activation_batch(self, batch: Any, neutral: Array | None = None, golden: Array | None = None,
                         first_image: int = 0) -> Array:
        """The output of one NHWC ``batch`` under the activation fault in place (inside :meth:`inject`);
        ``neutral`` and ``golden``: that batch's neutral recomputation and golden output, where the
        caller keeps them (:func:`readlx.engines.keras_activations.faulty_batch`); ``first_image``: the
        batch's first image in the campaign's image set (a transient fault's draws)."""
        if self._active is None:
            raise ReadlxError("no activation fault is injected (activation_batch runs inside inject)")
        rows = None if self._transient is None else self._row_arguments(self._transient, int(batch.shape[0]),
                                                                        first_image)
        graph, faulty = faulty_batch(self, self._active, batch, neutral, golden, rows)
        self._active = self._instrumented[graph.layer, graph.site] = graph
        return faulty

    @property
    def golden_function(self) -> Any:
        """The engine's own compiled model (NHWC batch -> output), what an activation fault's graph is
        checked against."""
        return self._call

    def variable(self, layer: str) -> Any:
        """The ``tf.Variable`` that holds canonical ``layer``'s weight: the one :meth:`inject` corrupts."""
        self.table[layer]  # raises with the list of layers
        return self._variables[layer]

    def weight(self, layer: str) -> Array:
        self.table[layer]  # raises with the list of layers
        binding = self.table.binding(BINDINGS, layer)
        stored = self._variables[layer].numpy()
        return binding.to_canonical_array(stored)

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
        if fault.is_activation:
            with self._transient_in_place(fault) if fault.is_transient else self._corrupting(fault):
                yield
            return
        variable = self._variables[fault.layer]
        index = self.table.binding(BINDINGS, fault.layer).to_framework_index(fault.index)
        stored = np.array([variable[index].numpy()], dtype=np.float32)
        corrupted = stored.copy()
        corrupted.view(np.uint32)[0] = fault.apply_bits(stored.view(np.uint32)[0])
        where = tf.constant([index], dtype=tf.int64)
        variable.scatter_nd_update(where, tf.constant(corrupted))
        try:
            yield
        finally:
            variable.scatter_nd_update(where, tf.constant(stored))

    def _row_arguments(self, fault: Fault, n: int, first_image: int) -> tuple[Any, ...]:
        """Arguments of the instrumented graph's ``rows`` function for a transient fault's draws."""
        graph = self.instrumented(fault.layer, fault.site)
        binding = self.table.binding(BINDINGS, fault.layer)
        drawn = draws(fault, activation_to_canonical(graph.shape, binding), np.arange(first_image, first_image + n))
        where = np.concatenate([np.arange(n)[:, None], drawn.framework_index(channels_last(binding))], axis=1)
        return (tf.constant(where, tf.int64), *(tf.constant(m) for m in row_masks(fault.kind, drawn.masks)))

    @contextmanager
    def _transient_in_place(self, fault: Fault) -> Iterator[None]:
        """A transient fault: :meth:`infer` runs the instrumented graph's per-row corruption."""
        graph = self.instrumented(fault.layer, fault.site)
        check_prefix(fault, activation_to_canonical(graph.shape, self.table.binding(BINDINGS, fault.layer)))
        if self._active is not None:
            raise ReadlxError(f"an activation fault is already injected; {fault.describe()!r} must wait "
                              f"until it is removed (one activation fault at a time)")
        try:
            self._active, self._transient = graph, fault
            yield
        finally:
            self._active = self._transient = None

    @contextmanager
    def _corrupting(self, fault: Fault) -> Iterator[None]:
        """An activation fault: one element of the layer's masks set, :meth:`infer` running the
        instrumented function; the neutral masks and the engine's own function back in ``finally``."""
        graph = self.instrumented(fault.layer, fault.site)
        binding = self.table.binding(BINDINGS, fault.layer)
        check_activation_index(activation_to_canonical(graph.shape, binding), fault.index, fault)
        if self._active is not None:
            raise ReadlxError(f"an activation fault is already injected; {fault.describe()!r} must wait "
                              f"until it is removed (one activation fault at a time)")
        mask = int(np.array(fault.mask, np.uint32).view(np.int32))
        at, value = {FaultKind.BIT_FLIP: (0, mask), FaultKind.STUCK_AT_1: (1, mask)}.get(fault.kind, (2, ~mask))
        where = tf.constant([activation_to_framework(fault.index, binding)], dtype=tf.int64)
        try:
            graph.masks[at].scatter_nd_update(where, tf.constant([value], dtype=tf.int32))
            self._active = graph
            yield
        finally:
            self._active = None
            for mask_variable, neutral in zip(graph.masks, NEUTRAL_MASKS, strict=True):
                mask_variable.scatter_nd_update(where, tf.constant([neutral], dtype=tf.int32))

    def instrumented(self, layer: str, site: Site = Site.ACTIVATION) -> InstrumentedGraph:
        """The graph :meth:`inject` runs for an activation fault of ``layer``, built on first use. With
        neutral masks its output is the engine's bit for bit on a fixed random batch it is plain, else
        spliced (:mod:`readlx.engines.keras_activations`).

        Examples
        --------
        >>> engine.instrumented("linear").shape  # doctest: +SKIP
        (10,)
        """
        self.table[layer]  # raises with the list of layers
        if (layer, site) not in self._instrumented:
            self._instrumented[layer, site] = instrument(self, layer, site)
        return self._instrumented[layer, site]

    def layer_name(self, layer: str) -> str:
        self.table[layer]
        return self.table.binding(BINDINGS, layer).name

    def describe(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "version": tf.__version__,
            "keras": _keras_version(),
            "device": self.device,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            # oneDNN graph fusions change numerics (a NaN weight can vanish in a fused Conv+ReLU).
            "onednn": _onednn_enabled(),
            "batch_size": self.batch_size,
        }


def _input_specs(model: Any) -> list[Any]:
    """One float32 spec per model input, batch axis free."""
    return [tf.TensorSpec((None, *tuple(t.shape[1:])), tf.float32) for t in model.inputs]


def _onednn_enabled() -> bool | None:
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def _keras_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras")
    except PackageNotFoundError:
        return "unknown"


def _load(model: str | Path | Any) -> Any:
    return load_keras_model(model) if isinstance(model, (str, Path)) else model


TF_DEVICES = {"cpu": "/CPU:0", "cuda": "/GPU:0"}


def build(artifact: Artifact, *, batch_size: int = 256, device: str = "cpu") -> KerasEngine:
    """The Keras engine on the artifact's SavedModel, on ``"cpu"`` or ``"cuda"`` (TensorFlow's first GPU)."""
    if device == "cuda" and not tf.config.list_physical_devices("GPU"):
        raise ReadlxError("device 'cuda' asked for, but TensorFlow finds no GPU here")
    tf_device = TF_DEVICES.get(device, device)
    return KerasEngine(artifact.file(BINDINGS), artifact.table, batch_size=batch_size, device=tf_device)


def activations(engine: KerasEngine, images: Array, batch_size: int) -> dict[str, Array]:
    """Outputs of the bound Keras layers, NHWC transposed back to NCHW."""
    names = engine.table.names
    layers = [engine.model.get_layer(engine.layer_name(name)) for name in names]
    probe = tf.keras.Model(engine.model.inputs, [layer.output for layer in layers])
    parts: list[list[Array]] = [[] for _ in names]
    with tf.device(engine.device):
        for sl in batches(len(images), batch_size):
            outs = probe(engine.batch_input(images[sl]), training=False)
            for sink, out in zip(parts, outs if isinstance(outs, (list, tuple)) else [outs], strict=True):
                sink.append(_to_nchw(np.asarray(out)))
    return {name: np.concatenate(p) for name, p in zip(names, parts, strict=True)}


def _to_nchw(x: Array) -> Array:
    return np.transpose(x, (0, 3, 1, 2)) if x.ndim == 4 else x


def fast_runner(engine: Any, images: Array, golden: Array, options: Any, task: Any) -> Any:
    """The exact fast runner of this runtime (imported on first use: the runners import the engines)."""
    from readlx.campaign.runners.keras_fast import KerasFastRunner

    return KerasFastRunner(engine, images, golden, options, task)


RUNTIMES.register(Runtime(
    "keras", build, "TensorFlow/Keras on the converted SavedModel (NHWC)", needs=(BINDINGS,),
    engine_type=KerasEngine, devices=("cpu", "cuda"), fast=fast_runner, activations=activations,
))
