"""The ONNX Runtime engine: one session per campaign, injectable weights fed as graph inputs.

Every canonical layer's weight initializer becomes a graph input, fed on every run: with the stored
values for the golden pass and with one element corrupted for a faulty pass, so golden and faulty runs
share one session and one feeds path (invariant 5 of docs/architecture.md). Fed tensors are never constant-folded,
so graph optimizations cannot fold the injected weight into another tensor.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.base import batches
from readlx.engines.registry import RUNTIMES, Runtime
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault
from readlx.graph import LayerTable

OPTIMIZATION_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
PROVIDERS = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
}
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
    """

    def __init__(
        self,
        model: str | Path | onnx.ModelProto,
        table: LayerTable,
        batch_size: int = 256,
        *,
        optimization: str = "all",
        device: str = "cpu",
        threads: int | None = None,
        bindings: str = "onnxruntime",
        input_layout: str = "NCHW",
        framework: str = "onnxruntime",
    ) -> None:
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
        """A session of ``proto`` with this engine's settings (optimization, provider, threads).

        ``arena=False`` returns activation memory after each run instead of keeping it for the next
        (memory and speed only: the arithmetic is the same).
        """
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = arena
        options.graph_optimization_level = OPTIMIZATION_LEVELS[self.optimization]
        options.log_severity_level = _QUIET
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
        return ort.InferenceSession(
            proto.SerializeToString(), options, providers=list(PROVIDERS[self.device])
        )

    def infer(self, images: Array) -> Array:
        out = []
        for sl in batches(len(images), self.batch_size):
            feeds = {self._input: self.layout_images(images[sl]), **self._weights}
            out.append(np.asarray(self.session.run(None, feeds)[0], dtype=np.float32))
        return np.concatenate(out)

    def weight(self, layer: str) -> Array:
        self.table[layer]  # raises with the list of layers
        stored = self._weights[self._variables[layer]]
        return self.table.binding(self.bindings, layer).to_canonical_array(stored)

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
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
            "framework": self.framework,
            "version": ort.__version__,
            "device": self.device,
            "requested_providers": list(PROVIDERS[self.device]),
            "providers": self.session.get_providers(),
            "optimization": self.optimization,
            "intra_op_threads": self.threads if self.threads is not None else "default",
            "input_layout": self.input_layout,
            "bindings": self.bindings,
            "batch_size": self.batch_size,
        }


def _feed_weights(
    proto: onnx.ModelProto, names: set[str]
) -> tuple[onnx.ModelProto, dict[str, Array]]:
    """A copy of ``proto`` whose initializers ``names`` are graph inputs, and their stored values."""
    fed = onnx.ModelProto()
    fed.CopyFrom(proto)
    inits = {t.name: t for t in fed.graph.initializer}
    missing = sorted(names - set(inits))
    if missing:
        raise ReadlxError(f"ONNX model has no initializers {missing}; it has {sorted(inits)}")
    declared = {i.name for i in fed.graph.input}
    weights: dict[str, Array] = {}
    for name in sorted(names):
        tensor = inits[name]
        weights[name] = np.array(numpy_helper.to_array(tensor), dtype=np.float32, copy=True)
        if name not in declared:
            fed.graph.input.append(
                onnx.helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims))
            )
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
    for tensor in dict.fromkeys(tensors.values()):
        if tensor not in declared:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    options = ort.SessionOptions()
    # No fusion may swallow a probed tensor.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = _QUIET
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = [tensors[n] for n in names]
    parts: list[list[Array]] = [[] for _ in names]
    for sl in batches(len(images), batch_size):
        feeds = {engine.image_input: engine.layout_images(images[sl]), **engine.weight_feeds}
        for sink, out in zip(parts, session.run(wanted, feeds), strict=True):
            sink.append(np.asarray(out, dtype=np.float32))
    return {name: np.concatenate(p) for name, p in zip(names, parts, strict=True)}


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
            set(after[0].input) - {tensor}
        ) <= constants:
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
