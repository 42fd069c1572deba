"""Conversion: a model of any origin to a bundle (:mod:`readlx.converters.bundle`), names bound from
the weights, equivalence checked.

A PyTorch model goes to ONNX (torch.onnx) and to Keras (nobuco, in a process of its own), and the Keras
model to ONNX (tf2onnx). An ONNX model's own file is the ONNX Runtime model and its PyTorch module comes
from onnx2torch; a Keras model's own SavedModel is the Keras model, and its PyTorch module comes from its
tf2onnx export (:mod:`readlx.converters.sources`). Only the PyTorch model needs the conversion process.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.converters.bundle import (
    EQUIVALENCE,
    GRAPH,
    KEPT_FAILING,
    KERAS_DIR,
    LOG,
    META,
    ONNX_FILES,
    SCHEMA_VERSION,
    STATE,
    Bundle,
    load_bundle,
)
from readlx.converters.equivalence import DEFAULT_TOLERANCE, EquivalenceReport, check_equivalence
from readlx.converters.manifest import write_manifest
from readlx.converters.namemaps import (
    KERAS,
    ONNX_KERAS,
    ONNX_TORCH,
    derive_bindings,
    executed_modules,
    torch_execution_order,
    torch_weights,
)
from readlx.converters.sources import Source, resolve
from readlx.converters.to_keras import DEFAULT_TIMEOUT_S, KerasConversion, torch_to_keras
from readlx.converters.to_onnx import count_ops, torch_to_onnx
from readlx.engines.keras_files import load_keras_model
from readlx.errors import ConversionError, OutputError
from readlx.graph import LayerTable
from readlx.outputs import claim, owned, remove_dir, replace_dir

_RANDOM_IMAGES = 16


def convert_bundle(
    model: str | nn.Module | Any,
    out_dir: str | Path,
    *,
    table: LayerTable | None = None,
    checkpoint: str | Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    images: Array | None = None,
    labels: Array | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    require_equivalent: bool = True,
    force: bool = False,
    batch_size: int = 256,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    inputs: str | None = None,
) -> Bundle:
    """Convert a model to every runtime, bind the names, check equivalence, write a bundle.

    Parameters
    ----------
    model
        A zoo name (``"resnet20-cifar10"``), a PyTorch model (copied, never changed), an
        ``onnx.ModelProto`` or a ``tf.keras.Model`` taking one NHWC image input.
    out_dir
        The bundle directory to create.
    table
        Canonical layers of a model given as a module (default: all its Conv2d/Linear weights); for an
        ONNX or Keras model, only its ``model`` name is used.
    checkpoint
        Weights for a zoo model (default: the published checkpoint; the shipped ones for the demo).
    input_shape
        ``(C, H, W)`` of a model given as a module (or an ONNX graph that leaves it open), when no
        ``images`` are given.
    images, labels
        Inputs of the equivalence check (default: 16 standard-normal images, seed 0); labels for top-1.
    tolerance
        Largest max-abs difference that passes, times ``max(1, largest |value|)`` of PyTorch's tensor.
    require_equivalent, force
        Raise :class:`ConversionError` (and write nothing) when a runtime fails the check; replace an
        existing bundle at ``out_dir`` that readlx wrote (:mod:`readlx.outputs`).
    batch_size, timeout_s, inputs
        Batch size of the equivalence check; limit for the Keras conversion process; how the report
        describes ``images`` (default: their sha256).

    Examples
    --------
    >>> convert_bundle("democnn-synthetic10", "bundles/demo").report.ok  # doctest: +SKIP
    True
    """
    out = claim(out_dir, force=force, kind="dir",
                inputs=[p for p in (model, checkpoint) if isinstance(p, str | Path)])
    shape = input_shape or (None if images is None else tuple(images.shape[1:]))
    source = resolve(model, table, checkpoint, shape)
    return convert_source(source, out, images=images, labels=labels, tolerance=tolerance,
                          require_equivalent=require_equivalent, batch_size=batch_size, timeout_s=timeout_s,
                          inputs=inputs)


def convert_source(source: Source, out_dir: str | Path, *, images: Array | None = None, labels: Array | None = None,
                   tolerance: float = DEFAULT_TOLERANCE, require_equivalent: bool = True, batch_size: int = 256,
                   timeout_s: float = DEFAULT_TIMEOUT_S, inputs: str | None = None) -> Bundle:
    """Write the bundle of a resolved :class:`~readlx.converters.sources.Source` (arguments as
    :func:`convert_bundle`); an existing bundle at ``out_dir`` is replaced only once the new one is
    complete and equivalent."""
    out = Path(out_dir)
    if images is None:
        images, inputs = _random_images(source.input_shape)
    _write_bundle(source, out, timeout_s, require_equivalent,
                  lambda where: _check(source, where, images, labels, tolerance, batch_size, inputs))
    return load_bundle(out)


def _random_images(input_shape: tuple[int, ...]) -> tuple[Array, str]:
    images = np.random.default_rng(0).standard_normal((_RANDOM_IMAGES, *input_shape)).astype(np.float32)
    return images, f"{_RANDOM_IMAGES} standard-normal images (seed 0)"


def _write_bundle(source: Source, out: Path, timeout_s: float, require_equivalent: bool,
                  check: Callable[[Path], EquivalenceReport]) -> None:
    """Write the artifacts into ``<out>.partial``, check them, and rename the directory to ``out``."""
    partial = replace_dir(out.with_name(out.name + ".partial"), force=True)  # left by a killed conversion
    if out.exists() and not owned(out):
        raise OutputError("exists and was not made by readlx, which never deletes it; name a new directory", path=out)
    try:
        _write_artifacts(source, partial, timeout_s)
        report = check(partial)
        if not report.ok and not require_equivalent:
            meta = json.loads((partial / META).read_text())
            (partial / META).write_text(json.dumps({**meta, "equivalence": KEPT_FAILING}, indent=1))
        if require_equivalent and not report.ok:
            raise ConversionError(
                "the converted models are not equivalent (a looser bound: --tolerance on the command line, "
                "tolerance= in Python):\n"
                + report.format()
            )
        write_manifest(partial)
        remove_dir(out)
        partial.rename(out)
    except BaseException:
        remove_dir(partial)
        raise


def _check(
    source: Source,
    where: Path,
    images: Array,
    labels: Array | None,
    tolerance: float,
    batch_size: int,
    inputs: str | None,
) -> EquivalenceReport:
    start = time.perf_counter()
    report = check_equivalence(load_bundle(where, verify=False).artifact(source.model), images, labels=labels,
                               tolerance=tolerance, batch_size=batch_size, inputs=inputs)
    _record_seconds(where, "equivalence", time.perf_counter() - start)
    (where / EQUIVALENCE).write_text(json.dumps(report.to_dict(), indent=1))
    return report


def _write_artifacts(source: Source, where: Path, timeout_s: float) -> None:
    start = time.perf_counter()
    state = {k: v.detach().cpu().numpy() for k, v in source.model.state_dict().items()}
    np.savez(where / STATE, **state)
    if source.onnx_graph is not None:  # the model's own file, as given
        _save_onnx(source.onnx_graph, where / ONNX_FILES[ONNX_TORCH])
    else:
        torch_to_onnx(source.model, where / ONNX_FILES[ONNX_TORCH], source.input_shape)
    seconds = {"onnx_torch": time.perf_counter() - start}
    keras = _keras_files(source, where, timeout_s)
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
        "origin": source.origin,
        "input_shape": list(source.input_shape),
        "files": {"state": STATE, "keras": KERAS_DIR, "onnx": ONNX_FILES, "graph": GRAPH},
        "seconds": seconds,
        "versions": {**keras.versions, **_versions()},
    }
    (where / META).write_text(json.dumps(meta, indent=1))


def _keras_files(source: Source, where: Path, timeout_s: float) -> KerasConversion:
    """The Keras SavedModel and its ONNX export: the model's own for a Keras model, else nobuco's."""
    if source.keras_model is None:
        return torch_to_keras(source.model, where / KERAS_DIR, where / ONNX_FILES[ONNX_KERAS],
                              source.input_shape, timeout_s=timeout_s)
    from importlib.metadata import version

    if source.keras_onnx is None:
        raise ConversionError(f"Keras model {source.table.model!r} has no ONNX export in its source")
    start = time.perf_counter()
    source.keras_model.save(str(where / KERAS_DIR), save_format="tf")
    _save_onnx(source.keras_onnx, where / ONNX_FILES[ONNX_KERAS])
    versions = {name: version(name) for name in ("tensorflow", "tf2onnx")}
    return KerasConversion(where / KERAS_DIR, where / ONNX_FILES[ONNX_KERAS],
                           {"keras": time.perf_counter() - start}, versions, "")


def _save_onnx(proto: Any, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))


def _bind(source: Source, where: Path) -> LayerTable:
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
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()

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


__all__ = ["convert_bundle", "convert_source"]
