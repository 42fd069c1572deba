"""A converted model on disk: every artifact an engine needs, plus the proof that they agree.

Layout of a bundle directory::

    bundle.json            model, benchmark, input shape, timings, versions
    torch_state_dict.npz   the PyTorch weights (tensors only)
    keras_savedmodel/      Keras SavedModel taking NHWC input (nobuco)
    model_torch.onnx       ONNX export of the PyTorch model
    model_keras.onnx       ONNX export of the Keras model (tf2onnx)
    graph.json             canonical layer table with keras / onnxruntime / onnx-keras bindings
    equivalence.json       per-layer and output differences of every runtime against PyTorch
    conversion.log         output of the conversion process

A bundle is written into ``<name>.partial`` beside its destination and renamed when complete, so an
interrupted conversion leaves no half bundle under the final name.
"""
from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.converters.equivalence import DEFAULT_TOLERANCE, EquivalenceReport, check_equivalence
from readlx.converters.namemaps import (
    KERAS,
    ONNX_KERAS,
    ONNX_TORCH,
    derive_bindings,
    executed_modules,
    torch_execution_order,
    torch_weights,
)
from readlx.converters.to_keras import DEFAULT_TIMEOUT_S, torch_to_keras
from readlx.converters.to_onnx import count_ops, torch_to_onnx
from readlx.engines import RUNTIMES, Artifact, Engine
from readlx.engines.keras import load_keras_model
from readlx.errors import ConversionError, InputError, ReadlxError
from readlx.graph import LayerTable

SCHEMA_VERSION = 1
META = "bundle.json"
STATE = "torch_state_dict.npz"
KERAS_DIR = "keras_savedmodel"
ONNX_FILES = {ONNX_TORCH: "model_torch.onnx", ONNX_KERAS: "model_keras.onnx"}
GRAPH = "graph.json"
EQUIVALENCE = "equivalence.json"
LOG = "conversion.log"
REQUIRED_BINDINGS = (KERAS, ONNX_TORCH, ONNX_KERAS)
_RANDOM_IMAGES = 16


@dataclass(frozen=True)
class Bundle:
    """A converted model read from disk; :meth:`engine` builds any runtime's engine on it.

    Examples
    --------
    >>> b = load_bundle("bundles/resnet20-cifar10")  # doctest: +SKIP
    >>> b.engine("keras", batch_size=128).infer(images)  # doctest: +SKIP
    """

    path: Path
    table: LayerTable
    meta: dict[str, Any]
    report: EquivalenceReport | None

    @property
    def benchmark(self) -> str | None:
        """Zoo name of the model, or None for a model from outside the zoo."""
        return self.meta.get("benchmark")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.meta["input_shape"])

    @property
    def keras_dir(self) -> Path:
        return self.path / KERAS_DIR

    def onnx_path(self, bindings: str = ONNX_TORCH) -> Path:
        """The ONNX file whose initializers the table's ``bindings`` name."""
        if bindings not in ONNX_FILES:
            raise ReadlxError(f"no ONNX file for bindings {bindings!r}; valid: {', '.join(ONNX_FILES)}")
        return self.path / ONNX_FILES[bindings]

    def state_dict(self) -> dict[str, Array]:
        with np.load(self.path / STATE, allow_pickle=False) as z:
            return {k: np.array(z[k]) for k in z.files}

    def torch_model(self, model: nn.Module | None = None) -> nn.Module:
        """The PyTorch model with the bundle's weights.

        Zoo models are rebuilt from the zoo; for others pass the architecture as ``model`` (a copy is
        made and the bundle's weights are loaded into it).
        """
        from readlx.zoo import ZOO
        from readlx.zoo.checkpoints import read_npz

        if model is None:
            if self.benchmark is None:
                raise ReadlxError(
                    f"bundle {str(self.path)!r} holds {self.table.model!r}, which is not in the zoo; "
                    "pass its architecture as model="
                )
            model = ZOO[self.benchmark].build()
        else:
            model = copy.deepcopy(model)
        return read_npz(model, self.path / STATE)

    def artifact(self, model: nn.Module | None = None) -> Artifact:
        """The bundle as the runtimes take it (``model``: the architecture of a model outside the zoo)."""
        files = {KERAS: self.keras_dir, **{key: self.path / name for key, name in ONNX_FILES.items()}}
        return Artifact(self.table, lambda: self.torch_model(model), files)

    def engine(self, framework: str, *, batch_size: int = 256, model: nn.Module | None = None,
               **options: Any) -> Engine:
        """Engine ``framework`` (any runtime of :data:`readlx.engines.registry.RUNTIMES`) on this bundle."""
        return RUNTIMES.build(framework, self.artifact(model), batch_size=batch_size, **options)


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle written by :func:`convert_bundle`."""
    path = Path(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise InputError("not a readlx bundle (bundle.json missing)", path=path)
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=meta_path, line=e.lineno) from e
    if meta.get("schema") != SCHEMA_VERSION:
        raise InputError(f"bundle schema {meta.get('schema')!r}, expected {SCHEMA_VERSION}", path=meta_path)
    table = LayerTable.load(path / GRAPH)
    missing = [b for b in REQUIRED_BINDINGS if b not in table.bindings]
    if missing:
        raise InputError(f"layer table lacks bindings {missing}", path=path / GRAPH)
    report_path = path / EQUIVALENCE
    report = None
    if report_path.is_file():
        report = EquivalenceReport.from_dict(json.loads(report_path.read_text()), str(report_path))
    return Bundle(path, table, meta, report)


# -- conversion ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    model: nn.Module
    table: LayerTable
    input_shape: tuple[int, ...]
    benchmark: str | None


def convert_bundle(
    model: str | nn.Module,
    out_dir: str | Path,
    *,
    table: LayerTable | None = None,
    checkpoint: str | Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    images: Array | None = None,
    labels: Array | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    require_equivalent: bool = True,
    overwrite: bool = False,
    batch_size: int = 256,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    inputs: str | None = None,
) -> Bundle:
    """Convert a PyTorch model to Keras and ONNX, bind the names, check equivalence, write a bundle.

    Parameters
    ----------
    model
        A zoo name (``"resnet20-cifar10"``) or a PyTorch model (copied, never changed).
    out_dir
        The bundle directory to create.
    table
        Canonical layers of a model given as a module (default: all its Conv2d/Linear weights).
    checkpoint
        Weights for a zoo model (default: the published checkpoint; the shipped ones for the demo).
    input_shape
        ``(C, H, W)`` of a model given as a module, when no ``images`` are given.
    images, labels
        Inputs of the equivalence check (default: 16 standard-normal images, seed 0), and optional
        labels for top-1.
    tolerance
        Largest max-abs difference that passes, times ``max(1, largest |value|)`` of PyTorch's tensor.
    require_equivalent
        Raise :class:`ConversionError` (and write nothing) when a runtime fails the check.
    overwrite
        Replace an existing bundle at ``out_dir``.
    batch_size
        Batch size of the equivalence check.
    timeout_s
        Limit for the Keras conversion process.
    inputs
        How the report describes ``images`` (default: their sha256).

    Examples
    --------
    >>> convert_bundle("democnn-synthetic10", "bundles/demo").report.ok  # doctest: +SKIP
    True
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise ConversionError(f"bundle directory {str(out)!r} exists; pass overwrite=True to replace it")
    source = _resolve(model, table, checkpoint, input_shape, images)
    if images is None:
        images, inputs = _random_images(source.input_shape)
    _write_bundle(source, out, timeout_s, require_equivalent,
                  lambda where: _check(source, where, images, labels, tolerance, batch_size, inputs))
    return load_bundle(out)


def _random_images(input_shape: tuple[int, ...]) -> tuple[Array, str]:
    images = np.random.default_rng(0).standard_normal((_RANDOM_IMAGES, *input_shape)).astype(np.float32)
    return images, f"{_RANDOM_IMAGES} standard-normal images (seed 0)"


def _write_bundle(source: _Source, out: Path, timeout_s: float, require_equivalent: bool,
                  check: Callable[[Path], EquivalenceReport]) -> None:
    """Write the artifacts into ``<out>.partial``, check them, and rename the directory to ``out``."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by a conversion that was killed
    partial.mkdir(parents=True)
    try:
        _write_artifacts(source, partial, timeout_s)
        report = check(partial)
        if require_equivalent and not report.ok:
            raise ConversionError(
                "the converted models are not equivalent (a looser bound: --tolerance on the command line, "
                "tolerance= in Python):\n"
                + report.format()
            )
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _check(
    source: _Source,
    where: Path,
    images: Array,
    labels: Array | None,
    tolerance: float,
    batch_size: int,
    inputs: str | None,
) -> EquivalenceReport:
    start = time.perf_counter()
    report = check_equivalence(load_bundle(where).artifact(source.model), images, labels=labels,
                               tolerance=tolerance, batch_size=batch_size, inputs=inputs)
    _record_seconds(where, "equivalence", time.perf_counter() - start)
    (where / EQUIVALENCE).write_text(json.dumps(report.to_dict(), indent=1))
    return report


def _resolve(
    model: str | nn.Module,
    table: LayerTable | None,
    checkpoint: str | Path | None,
    input_shape: tuple[int, ...] | None,
    images: Array | None,
) -> _Source:
    if isinstance(model, str):
        from readlx.zoo import ZOO, load_model

        bench = ZOO[model]
        net = load_model(model, checkpoint)
        return _Source(net.eval(), table or bench.layer_table(), bench.input_shape, model)
    if not isinstance(model, nn.Module):
        raise ConversionError(f"model must be a zoo name or a torch.nn.Module, got {type(model).__name__}")
    if checkpoint is not None:
        raise ConversionError("checkpoint= applies to zoo models; load the weights into the module instead")
    shape = input_shape or (None if images is None else tuple(images.shape[1:]))
    if shape is None:
        raise ConversionError("a model given as a module needs input_shape=(C, H, W) or images=")
    # The conversion process and the ONNX exporter trace on the CPU.
    net = copy.deepcopy(model).eval().cpu()
    return _Source(net, table or LayerTable.from_torch(net, type(model).__name__), tuple(shape), None)


def _write_artifacts(source: _Source, where: Path, timeout_s: float) -> None:
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    state = {k: v.detach().cpu().numpy() for k, v in source.model.state_dict().items()}
    np.savez(where / STATE, **state)
    torch_to_onnx(source.model, where / ONNX_FILES[ONNX_TORCH], source.input_shape)
    seconds["onnx_torch"] = time.perf_counter() - start
    keras = torch_to_keras(
        source.model, where / KERAS_DIR, where / ONNX_FILES[ONNX_KERAS], source.input_shape,
        timeout_s=timeout_s,
    )
    (where / LOG).write_text(keras.log)
    seconds.update(keras.seconds)
    start = time.perf_counter()
    table = _bind(source, where)
    table.save(where / GRAPH)
    seconds["bindings"] = time.perf_counter() - start
    meta = {
        "schema": SCHEMA_VERSION,
        "model": source.table.model,
        "benchmark": source.benchmark,
        "input_shape": list(source.input_shape),
        "files": {"state": STATE, "keras": KERAS_DIR, "onnx": ONNX_FILES, "graph": GRAPH},
        "seconds": seconds,
        "versions": {**keras.versions, **_versions()},
    }
    (where / META).write_text(json.dumps(meta, indent=1))


def _bind(source: _Source, where: Path) -> LayerTable:
    import onnx

    keras_model = load_keras_model(where / KERAS_DIR)
    protos = {key: onnx.load(str(where / name)) for key, name in ONNX_FILES.items()}
    example = torch.from_numpy(np.zeros((1, *source.input_shape), dtype=np.float32))
    _check_batchnorm_kept(source.model, keras_model, protos, example)
    return derive_bindings(
        source.table,
        torch_weights(source.model, source.table),
        order=torch_execution_order(source.model, source.table, example),
        keras_model=keras_model,
        onnx_torch=protos[ONNX_TORCH],
        onnx_keras=protos[ONNX_KERAS],
    )


def _check_batchnorm_kept(model: nn.Module, keras_model: Any, protos: Mapping[str, Any],
                          example: torch.Tensor) -> None:
    """Every artifact must keep each BatchNorm the forward pass runs separate, or the injected tensor
    is not the weight. BatchNorms the pass never calls (an auxiliary head) are in no artifact."""
    import tensorflow as tf

    norms = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    expected = len(executed_modules(model, norms, example))
    found = {
        KERAS: sum(isinstance(m, tf.keras.layers.BatchNormalization) for m in keras_model.submodules),
        **{key: count_ops(proto, "BatchNormalization") for key, proto in protos.items()},
    }
    wrong = {key: n for key, n in found.items() if n != expected}
    if wrong:
        raise ConversionError(
            f"the PyTorch model has {expected} BatchNorm layers but the converted artifacts have "
            f"{wrong}: a BatchNorm was folded into a weight"
        )


def _record_seconds(where: Path, step: str, seconds: float) -> None:
    meta_path = where / META
    meta = json.loads(meta_path.read_text())
    meta["seconds"][step] = seconds
    meta_path.write_text(json.dumps(meta, indent=1))


def _versions() -> dict[str, str]:
    import onnxruntime
    from onnx.version import version as onnx_version  # what onnx.__version__ is

    return {"torch": torch.__version__, "onnx": onnx_version, "onnxruntime": onnxruntime.__version__}


__all__ = ["Bundle", "convert_bundle", "load_bundle"]
