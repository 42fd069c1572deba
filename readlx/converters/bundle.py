"""A converted model on disk: every artifact an engine needs, plus the proof that they agree.

Layout of a bundle directory::

    bundle.json            model, benchmark, origin, input shape, timings, versions
    torch_state_dict.npz   the PyTorch weights (tensors only)
    keras_savedmodel/      Keras SavedModel taking NHWC input (nobuco; a Keras model's own)
    model_torch.onnx       ONNX export of the PyTorch model (an ONNX model's own file)
    model_keras.onnx       ONNX export of the Keras model (tf2onnx)
    graph.json             canonical layer table with keras / onnxruntime / onnx-keras bindings
    equivalence.json       per-layer and output differences of every runtime against PyTorch
    conversion.log         output of the conversion process

The ``origin`` says what the model arrived as. A PyTorch model (``"torch"``) is converted to Keras
and to ONNX. An ONNX model (``"onnx"``) keeps its file as ``model_torch.onnx``, and its PyTorch module
is rebuilt from that file. A Keras model (``"keras"``) keeps its SavedModel, and its PyTorch module
is rebuilt from its ONNX export. The runtime of the origin always runs the model as given.

A bundle is written into ``<name>.partial`` beside its destination and renamed when complete, so an
interrupted conversion leaves no half bundle under the final name. ``manifest.json`` holds the sha256
of every file; :func:`load_bundle` refuses a bundle that differs from it.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn as nn

from readlx._typing import Array
from readlx.converters.equivalence import EquivalenceReport
from readlx.converters.manifest import verify_manifest
from readlx.converters.namemaps import KERAS, ONNX_KERAS, ONNX_TORCH
from readlx.engines import RUNTIMES, Artifact, Engine
from readlx.errors import InputError, ReadlxError
from readlx.graph import LayerTable

SCHEMA_VERSION = 1
META = "bundle.json"
STATE = "torch_state_dict.npz"
KERAS_DIR = "keras_savedmodel"
ONNX_FILES = {ONNX_TORCH: "model_torch.onnx", ONNX_KERAS: "model_keras.onnx"}
GRAPH = "graph.json"
EQUIVALENCE = "equivalence.json"
LOG = "conversion.log"
KEPT_FAILING = "failed, kept by request"
"""``bundle.json``'s ``equivalence`` of a bundle written although a runtime failed its check."""
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
    def origin(self) -> str:
        """What the model arrived as: ``"torch"``, ``"onnx"`` or ``"keras"``
        (:data:`readlx.converters.sources.ORIGINS`)."""
        return str(self.meta.get("origin", "torch"))

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

        Zoo models are rebuilt from the zoo, models that arrived as ONNX or Keras from the bundle's
        ONNX file (:mod:`readlx.converters.onnx_torch`); for other modules pass the architecture as
        ``model`` (a copy is made). The bundle's weights are loaded into it either way.
        """
        from readlx.zoo import ZOO
        from readlx.zoo.checkpoints import read_npz

        if model is None and self.origin != "torch":
            model = self._from_onnx()
        elif model is None:
            if self.benchmark is None:
                raise ReadlxError(
                    f"bundle {str(self.path)!r} holds {self.table.model!r}, which is not in the zoo; "
                    "pass its architecture as model="
                )
            model = ZOO[self.benchmark].build()
        else:
            model = copy.deepcopy(model)
        return read_npz(model, self.path / STATE)

    def _from_onnx(self) -> nn.Module:
        import onnx

        from readlx.converters.from_keras import nchw_input
        from readlx.converters.onnx_torch import onnx_to_torch, onnx_weights

        if self.origin == "onnx":
            return onnx_to_torch(onnx.load(str(self.onnx_path(ONNX_TORCH))), self.table)
        proto = onnx.load(str(self.onnx_path(ONNX_KERAS)))
        return onnx_to_torch(nchw_input(proto), self.table, onnx_weights(proto, self.table, ONNX_KERAS))

    def artifact(self, model: nn.Module | None = None) -> Artifact:
        """The bundle as the runtimes take it (``model``: the architecture of a model outside the zoo)."""
        files = {KERAS: self.keras_dir, **{key: self.path / name for key, name in ONNX_FILES.items()}}
        return Artifact(self.table, lambda: self.torch_model(model), files)

    def engine(self, framework: str, *, batch_size: int = 256, model: nn.Module | None = None,
               **options: Any) -> Engine:
        """Engine ``framework`` (any runtime of :data:`readlx.engines.registry.RUNTIMES`) on this bundle."""
        return RUNTIMES.build(framework, self.artifact(model), batch_size=batch_size, **options)


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read a bundle written by :func:`convert_bundle`.

    With ``verify`` (always, but for the conversion's own check of a bundle being written), every file
    must match the bundle's manifest (:mod:`readlx.converters.manifest`) and the bundle must have passed
    its equivalence check, unless it was written with that failure kept (``--keep-failing``).
    """
    path = Path(path)
    if verify:
        verify_manifest(path)
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
        report = EquivalenceReport.from_dict(_json(report_path), str(report_path))
    if verify and (report is None or (not report.ok and meta.get("equivalence") != KEPT_FAILING)):
        raise InputError("the bundle did not pass its equivalence check" if report else "no equivalence report",
                         path=report_path)
    return Bundle(path, table, meta, report)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"invalid JSON: {e}", path=path) from e


__all__ = ["Bundle", "load_bundle"]
