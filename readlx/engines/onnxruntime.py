"""The ONNX Runtime engine: one session per campaign, injectable weights fed as graph inputs.

Every canonical layer's weight initializer becomes a graph input, fed on every run: with the stored
values for the golden pass and with one element corrupted for a faulty pass, so golden and faulty runs
share one session and one feeds path (invariant 5 of docs/architecture.md). Fed tensors are never constant-folded,
so graph optimizations cannot fold the injected weight into another tensor.

ONNX has no bitcast operator: an activation fault corrupts its layer's output on the host, between the two
sessions of the layer's :class:`~readlx.engines.onnxruntime_cuts.ActivationCut`, verified bit for bit against
the whole graph on the first batch of each size (:mod:`readlx.engines.onnxruntime_cuts` says which layout).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.base import batches, check_activation_index, corrupt_activation
from readlx.engines.onnxruntime_cuts import ActivationCut, ActivationNotExposed, canonical_shape, make_cut
from readlx.engines.registry import RUNTIMES, Runtime
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Fault, Site
from readlx.fault_maps.transient import corrupt_rows, draws
from readlx.graph import LayerTable

_LEVEL = ort.GraphOptimizationLevel
OPTIMIZATION_LEVELS = {"disabled": _LEVEL.ORT_DISABLE_ALL, "basic": _LEVEL.ORT_ENABLE_BASIC,
                       "extended": _LEVEL.ORT_ENABLE_EXTENDED, "all": _LEVEL.ORT_ENABLE_ALL}
PROVIDERS = {"cpu": ("CPUExecutionProvider",), "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider")}
LAYOUTS = {"NCHW": None, "NHWC": (0, 2, 3, 1)}
_QUIET = 3  # ORT log severity: errors and fatal only


class OnnxRuntimeEngine:
    """Runs an ONNX model in one ONNX Runtime session on a fixed batch layout.

    Parameters
    ----------
    model
        An ``.onnx`` file or a loaded ``onnx.ModelProto``.
    table
        The canonical layer table with bindings under ``bindings``.
    batch_size
        Images per run (the same for golden and faulty passes).
    optimization
        Graph optimization level: ``"disabled"``, ``"basic"``, ``"extended"`` or ``"all"``.
    device
        ``"cpu"`` or ``"cuda"``; the session falls back to the CPU when CUDA is not usable, and
        :meth:`describe` records the providers actually in use.
    threads
        Intra-op threads (``None``: ONNX Runtime's default).
    bindings
        Key of the table's bindings: ``"onnxruntime"`` for the PyTorch export, ``"onnx-keras"`` for the
        Keras export.
    input_layout
        ``"NCHW"`` (PyTorch export) or ``"NHWC"`` (Keras export); images are transposed at the edge.
    framework
        The value on the results' framework axis.

    Examples
    --------
    >>> eng = OnnxRuntimeEngine(bundle.path / "model_torch.onnx", bundle.table)  # doctest: +SKIP
    >>> eng.describe()["providers"]  # doctest: +SKIP
    ['CPUExecutionProvider']
    >>> eng.activation_cut("dwconv").values  # its output and the residual block's input  # doctest: +SKIP
    ['/dwconv/Conv_output_0', '/Relu_output_0']
    """

    def __init__(self, model: str | Path | onnx.ModelProto, table: LayerTable, batch_size: int = 256, *,
                 optimization: str = "all", device: str = "cpu", threads: int | None = None,
                 bindings: str = "onnxruntime", input_layout: str = "NCHW", framework: str = "onnxruntime") -> None:
        self.framework = framework
        self.table = table
        self.batch_size = batch_size
        self.bindings = bindings
        self.optimization = _choice(optimization, OPTIMIZATION_LEVELS, "optimization level")
        self.device = _choice(device, PROVIDERS, "device")
        self.input_layout = _choice(input_layout, LAYOUTS, "input layout")
        self.threads = threads
        proto = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
        self._variables = {layer.name: table.binding(bindings, layer.name).variable for layer in table}
        self._input = _image_input(proto)
        fed, self._weights = _feed_weights(proto, set(self._variables.values()))
        _free_batch_axis(fed, self._input)
        self.proto = fed
        self.session = self.session_for(fed)
        self._cuts: dict[tuple[str, Site], ActivationCut] = {}
        self._active: Fault | None = None

    @property
    def image_input(self) -> str:
        """Name of the graph input that takes the images."""
        return self._input

    @property
    def weight_feeds(self) -> dict[str, Array]:
        """The fed weight arrays by graph input name: the very arrays :meth:`inject` corrupts."""
        return self._weights

    def fed_name(self, layer: str) -> str:
        """The graph input that feeds canonical ``layer``'s weight."""
        self.table[layer]
        return self._variables[layer]

    def layout_images(self, images: Array) -> Array:
        """Images as this engine feeds them (NCHW, or transposed to NHWC), contiguous."""
        perm = LAYOUTS[self.input_layout]
        return np.ascontiguousarray(images if perm is None else np.transpose(images, perm))

    def session_for(self, proto: onnx.ModelProto, arena: bool = True) -> ort.InferenceSession:
        """A session of ``proto`` with this engine's settings (optimization, provider, threads). ``arena=False``
        returns activation memory after each run instead of keeping it (memory and speed only, same arithmetic).

        Threads do not spin once a run is done: a fast campaign alternates between many sessions (suffixes,
        segments), and each session's spinning pool took the cores from the next one (ResNet20's faulty
        runs took 1.9x as long with two checks per batch, on 2 cores); the arithmetic is the same."""
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = arena
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = OPTIMIZATION_LEVELS[self.optimization]
        options.log_severity_level = _QUIET
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
        return ort.InferenceSession(proto.SerializeToString(), options, providers=list(PROVIDERS[self.device]))

    @cached_property
    def inferred(self) -> onnx.ModelProto:
        """:attr:`proto` with the shapes and types ONNX shape inference gives its values."""
        return onnx.shape_inference.infer_shapes(self.proto)

    cuts_kept = 8
    """Activation cuts kept built (two sessions and arenas each); one evicted is rebuilt and verified again."""

    def infer(self, images: Array, first_image: int = 0) -> Array:
        out = []
        for sl in batches(len(images), self.batch_size):
            feeds = {self._input: self.layout_images(images[sl]), **self._weights}
            got = (self.session.run(None, feeds)[0] if self._active is None
                   else self._run_cut(self._active, feeds, first_image + sl.start))
            out.append(np.asarray(got, dtype=np.float32))
        return np.concatenate(out)

    def activation_cut(self, layer: str, site: Site = Site.ACTIVATION) -> ActivationCut:
        """``layer``'s graph cut at its output tensor (``normalized``: at the output of the
        BatchNormalization node reading it), built on first use with this engine's settings."""
        self.table[layer]
        cut = self._cuts.pop((layer, site), None)
        if cut is None:
            tensor = _layer_tensors(self.proto, {layer: self.layer_name(layer)}, set(self._weights))[layer]
            cut = make_cut(self, layer, _normalized(self.proto, layer, tensor) if site is Site.NORMALIZED else tensor)
        self._cuts[layer, site] = cut  # most recently used last
        while len(self._cuts) > self.cuts_kept:
            self._cuts.pop(next(iter(self._cuts)))
        return cut

    def _run_cut(self, fault: Fault, feeds: dict[str, Array], first_image: int) -> Array:
        return self.faulty_from(fault, self.cut_values(fault.layer, feeds, fault.site), feeds, first_image)

    def cut_values(self, layer: str, feeds: dict[str, Array], site: Site = Site.ACTIVATION) -> dict[str, Any]:
        """The golden values at ``layer``'s activation cut for one batch's ``feeds`` (the prefix's run),
        the split checked against the whole graph once per batch size."""
        cut = self.activation_cut(layer, site)
        got = cut.prefix.run(cut.values, {n: feeds[n] for n in cut.prefix_inputs})
        values: dict[str, Any] = dict(zip(cut.values, got, strict=True))
        rows = len(values[cut.tensor])
        if rows not in cut.checked:
            shape = canonical_shape(np.shape(values[cut.tensor])[1:], cut.channels_last)
            if shape != (said := self.table.outputs.get(layer, shape)):
                raise ReadlxError(f"layer {layer!r}: output {cut.tensor!r} read as {shape}, the table has {said}")
            if self.session.run(None, feeds)[0].tobytes() != cut.finish(values, feeds).tobytes():
                raise ActivationNotExposed(f"layer {layer!r}: ONNX Runtime (optimization {self.optimization!r}) "
                                           f"fuses across the layer's output {cut.tensor!r}, so its activation is not "
                                           f"exposed; optimization levels: {', '.join(OPTIMIZATION_LEVELS)}")
            cut.checked.add(rows)
        return values

    def faulty_from(self, fault: Fault, values: Mapping[str, Any], feeds: dict[str, Array],
                    first_image: int = 0) -> Array:
        """The output of one batch with activation ``fault`` applied to the cut ``values`` (not changed);
        ``first_image``: the batch's first image in the campaign's image set (a transient fault's draws)."""
        cut = self.activation_cut(fault.layer, fault.site)
        layer_out = np.asarray(values[cut.tensor], np.float32)
        shape = canonical_shape(layer_out.shape[1:], cut.channels_last)
        if fault.is_transient:
            drawn = draws(fault, shape, np.arange(first_image, first_image + len(layer_out)))
            where = drawn.framework_index(cut.channels_last)
            corrupted = corrupt_rows(layer_out, where, drawn.masks, fault.kind)
            return cut.finish({**values, cut.tensor: corrupted}, feeds)
        index = fault.index
        if cut.channels_last and len(shape) == 3:
            index = (index[1], index[2], index[0])
        check_activation_index(shape, fault.index, fault)
        return cut.finish({**values, cut.tensor: corrupt_activation(layer_out, index, fault)}, feeds)

    def weight(self, layer: str) -> Array:
        self.table[layer]  # raises with the list of layers
        return self.table.binding(self.bindings, layer).to_canonical_array(self._weights[self._variables[layer]])

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
        if fault.is_activation:
            self.activation_cut(fault.layer, fault.site)
            previous, self._active = self._active, fault
            try:
                yield
            finally:
                self._active = previous
            return
        index = self.table.binding(self.bindings, fault.layer).to_framework_index(fault.index)
        bits = self._weights[self._variables[fault.layer]].view(np.uint32)
        stored = np.uint32(bits[index])
        bits[index] = fault.apply_bits(stored)
        try:
            yield
        finally:
            bits[index] = stored

    def layer_name(self, layer: str) -> str:
        self.table[layer]
        return self.table.binding(self.bindings, layer).name

    def describe(self) -> dict[str, Any]:
        return {
            "framework": self.framework, "version": ort.__version__, "device": self.device,
            "requested_providers": list(PROVIDERS[self.device]), "providers": self.session.get_providers(),
            "optimization": self.optimization,
            "intra_op_threads": self.threads if self.threads is not None else "default",
            "input_layout": self.input_layout, "bindings": self.bindings, "batch_size": self.batch_size,
        }


def _feed_weights(proto: onnx.ModelProto, names: set[str]) -> tuple[onnx.ModelProto, dict[str, Array]]:
    """A copy of ``proto`` whose initializers ``names`` are graph inputs, and their stored values."""
    fed = onnx.ModelProto()
    fed.CopyFrom(proto)
    inits = {t.name: t for t in fed.graph.initializer}
    if missing := sorted(names - set(inits)):
        raise ReadlxError(f"ONNX model has no initializers {missing}; it has {sorted(inits)}")
    declared = {i.name for i in fed.graph.input}
    weights: dict[str, Array] = {}
    for name in sorted(names):
        tensor = inits[name]
        weights[name] = np.array(numpy_helper.to_array(tensor), dtype=np.float32, copy=True)
        if name not in declared:
            fed.graph.input.append(onnx.helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims)))
    kept = [t for t in fed.graph.initializer if t.name not in names]
    del fed.graph.initializer[:]
    fed.graph.initializer.extend(kept)
    return fed, weights


def _free_batch_axis(proto: onnx.ModelProto, image_input: str) -> None:
    """Let the image input and the outputs take any batch size (an export with the default arguments
    fixes it to the example's); the engine runs its own fixed batch layout."""
    for value in [*(i for i in proto.graph.input if i.name == image_input), *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


def _image_input(proto: onnx.ModelProto) -> str:
    inits = {t.name for t in proto.graph.initializer}
    inputs: list[str] = [i.name for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ReadlxError(f"expected one image input in the ONNX graph, found {inputs}")
    return inputs[0]


def _choice(value: str, valid: dict[str, Any], what: str) -> str:
    if value not in valid:
        raise ReadlxError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def build(artifact: Artifact, *, batch_size: int = 256, **options: Any) -> OnnxRuntimeEngine:
    """ONNX Runtime on the ONNX export of the PyTorch model (options: optimization, device, threads)."""
    return _on_device(OnnxRuntimeEngine(artifact.file("onnxruntime"), artifact.table, batch_size, **options))


def build_keras_export(artifact: Artifact, *, batch_size: int = 256, **options: Any) -> OnnxRuntimeEngine:
    """ONNX Runtime on the ONNX export of the Keras model (NHWC input, ``"onnx-keras"`` bindings)."""
    return _on_device(OnnxRuntimeEngine(artifact.file("onnx-keras"), artifact.table, batch_size,
                                        bindings="onnx-keras", input_layout="NHWC", framework="onnxruntime-keras",
                                        **options))


def _on_device(engine: OnnxRuntimeEngine) -> OnnxRuntimeEngine:
    """The engine, unless it asked for CUDA and its session fell back to the CPU (ONNX Runtime does so
    quietly): a campaign asked to run on a GPU does not run on the CPU instead."""
    used = engine.session.get_providers()
    if engine.device == "cuda" and used[0] != PROVIDERS["cuda"][0]:
        raise ReadlxError(f"device 'cuda' asked for, but ONNX Runtime runs {used[0]} here (no usable CUDA device)")
    return engine


def activations(engine: OnnxRuntimeEngine, images: Array, batch_size: int) -> dict[str, Array]:
    """Outputs of the bound ONNX nodes (a bias ``Add`` after ``MatMul`` included), in a plain session
    of the engine's graph with its fed weights."""
    proto = onnx.ModelProto()
    proto.CopyFrom(engine.proto)
    names = engine.table.names
    tensors = _layer_tensors(proto, {n: engine.layer_name(n) for n in names}, set(engine.weight_feeds))
    declared = {o.name for o in proto.graph.output}
    proto.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in dict.fromkeys(tensors.values())
                              if t not in declared)
    options = ort.SessionOptions()
    options.graph_optimization_level = _LEVEL.ORT_DISABLE_ALL  # no fusion may swallow a probed tensor
    options.log_severity_level = _QUIET
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = [tensors[n] for n in names]
    parts: list[list[Array]] = [[] for _ in names]
    for sl in batches(len(images), batch_size):
        feeds = {engine.image_input: engine.layout_images(images[sl]), **engine.weight_feeds}
        for sink, out in zip(parts, session.run(wanted, feeds), strict=True):
            sink.append(np.asarray(out, dtype=np.float32))
    return {name: np.concatenate(p) for name, p in zip(names, parts, strict=True)}


def _normalized(proto: onnx.ModelProto, layer: str, tensor: str) -> str:
    """The output of the one BatchNormalization node reading ``tensor`` (``layer``'s output)."""
    found = [n for n in proto.graph.node if n.op_type == "BatchNormalization" and n.input and n.input[0] == tensor]
    if len(found) != 1:
        raise FaultListError(f"the output {tensor!r} of layer {layer!r} goes to {len(found)} BatchNormalization "
                             "nodes in the ONNX graph; a normalized fault needs one", field="site")
    return str(found[0].output[0])


def _layer_tensors(proto: onnx.ModelProto, node_names: Mapping[str, str], fed: set[str]) -> dict[str, str]:
    constants = {t.name for t in proto.graph.initializer} | fed
    consumers: dict[str, list[Any]] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {(node.name or node.output[0]): node for node in proto.graph.node}
    out = {}
    for layer, node_name in node_names.items():
        node = by_name[node_name]
        tensor = node.output[0]
        after = consumers.get(tensor, [])
        # A Keras Dense exports as MatMul + Add(bias); PyTorch's Linear output includes the bias.
        if node.op_type == "MatMul" and len(after) == 1 and after[0].op_type == "Add" and (
                set(after[0].input) - {tensor}) <= constants:
            tensor = after[0].output[0]
        out[layer] = tensor
    return out


def fast_runner(engine: Any, images: Array, golden: Array, options: Any, task: Any) -> Any:
    """The exact fast runner of this runtime (imported on first use: the runners import the engines)."""
    from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner

    return OrtFastRunner(engine, images, golden, options, task)


RUNTIMES.register(Runtime(
    "onnxruntime", build, "ONNX Runtime on the ONNX export of the PyTorch model", needs=("onnxruntime",),
    engine_type=OnnxRuntimeEngine, devices=("cpu", "cuda"), fast=fast_runner, activations=activations,
))
RUNTIMES.register(Runtime(
    "onnxruntime-keras", build_keras_export, "ONNX Runtime on the ONNX export of the Keras model (NHWC)",
    needs=("onnx-keras",), engine_type=OnnxRuntimeEngine, devices=("cpu", "cuda"), fast=fast_runner,
    activations=activations,
))

