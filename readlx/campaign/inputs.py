"""What a campaign runs on, from the forms a researcher has at hand: a model (:func:`subject`), images
(:func:`image_data`) and faults (:func:`fault_list`), each resolved once into what the campaign core
takes. :func:`readlx.run`, the command line and :class:`~readlx.campaign.spec.CampaignSpec` resolve
their arguments here, so all three accept the same forms with the same defaults.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch.nn as nn

from readlx._typing import Array
from readlx.data.arrays import from_arrays, read_npz
from readlx.data.loaders import DATASETS, load_dataset
from readlx.engines import RUNTIMES, Artifact
from readlx.errors import ArgumentError
from readlx.fault_maps import generate, load_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.select import stratified_subset
from readlx.graph import LayerTable
from readlx.outcomes.tasks import ImageData
from readlx.zoo import ZOO, load_model
from readlx.zoo.registry import Benchmark

DEFAULT_MARGIN = 0.05
"""Error margin of the network-wise list drawn when a model has no published list (as ``readlx run``)."""


@dataclass(frozen=True)
class Subject:
    """A model as resolved: its name, the artifact the runtimes take, its zoo card, and the shape
    ``(C, H, W)`` of one input where the model states it."""

    name: str
    artifact: Artifact
    benchmark: Benchmark | None = None
    input_shape: tuple[int, ...] | None = None
    weights: str | Path | None = None
    """The checkpoint of a zoo model, when not its own."""


def subject(model: str | Path | nn.Module, *, name: str | None = None, weights: str | Path | None = None) -> Subject:
    """Resolve ``model``: a zoo name (with ``weights``: another checkpoint), a bundle directory written
    by ``readlx convert``, an ``.onnx`` file (its stored Conv and Gemm/MatMul weights are the layers; it
    runs on ``onnxruntime``), or a ``torch.nn.Module`` (its injectable layers are its Conv2d and Linear
    weights; it is copied, never changed).

    Examples
    --------
    >>> s = subject("democnn-synthetic10")
    >>> s.name, s.artifact.table.names[:2]
    ('democnn-synthetic10', ['conv1', 'dwconv'])
    >>> subject("no-such-model")
    Traceback (most recent call last):
    ...
    readlx.errors.ArgumentError: argument 'model': 'no-such-model' is no zoo model
    (see `readlx zoo list`), bundle directory or .onnx file
    """
    if isinstance(model, nn.Module):
        label = name or type(model).__name__
        return Subject(label, Artifact.of_module(model, LayerTable.from_torch(model, label)))
    if isinstance(model, str) and model in ZOO:
        bench = ZOO[model]
        return Subject(model, Artifact(bench.layer_table(), lambda: load_model(bench.name, weights)), bench,
                       weights=weights)
    path = Path(model)
    if path.suffix == ".onnx":
        return _onnx_subject(path, name)
    if (path / "bundle.json").is_file():
        from readlx.converters.bundle import load_bundle

        bundle = load_bundle(path)
        card = ZOO[bundle.benchmark] if bundle.benchmark is not None and bundle.benchmark in ZOO else None
        return Subject(name or bundle.benchmark or bundle.table.model, bundle.artifact(), card)
    raise ArgumentError(f"{str(model)!r} is no zoo model (see `readlx zoo list`), bundle directory or .onnx "
                        "file", argument="model")


def _onnx_subject(path: Path, name: str | None) -> Subject:
    from readlx.converters.from_onnx import BINDINGS, load_onnx, onnx_table

    proto = load_onnx(path)
    label = name or path.stem
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in inputs[0].type.tensor_type.shape.dim
            ] if inputs else []
    shape = tuple(dims[1:]) if len(dims) == 4 and all(dims[1:]) else None
    return Subject(label, Artifact(onnx_table(proto, label), files={BINDINGS: path}), input_shape=shape)


def converted(model: Subject, frameworks: Sequence[str], input_shape: tuple[int, ...]) -> Subject:
    """``model`` with converted files when a runtime of ``frameworks`` needs them: a module (or zoo
    model) is converted once per content and kept (:func:`readlx.converters.cache.cached_bundle`)."""
    needs = any(key != "torch" for fw in frameworks for key in RUNTIMES[fw].needs)
    if not needs or model.artifact.files or model.artifact.module is None:
        return model
    from readlx.converters.cache import cached_bundle, cached_zoo_bundle

    if model.benchmark is not None:
        return replace(model, artifact=cached_zoo_bundle(model.benchmark.name, model.weights).artifact())
    module = model.artifact.torch_module()
    bundle = cached_bundle(module, model.artifact.table, input_shape)
    return replace(model, artifact=bundle.artifact(module), input_shape=input_shape)


def image_data(data: str | Path | ImageData | tuple[Array, Array] | None, model: Subject,
               images: int | None = None) -> ImageData:
    """Resolve ``data``: None (the zoo model's test set), a dataset name, a dataset directory of the zoo
    model's dataset, an ``.npz`` file with ``images`` and ``labels``, a tuple ``(images, labels)`` of
    normalized float32 NCHW images and integer labels, or an image set; its first ``images`` images.
    """
    found = _images(data, model, images)
    want, have = model.input_shape, tuple(found.images.shape[1:])
    if want is not None and want != have:
        raise ArgumentError(f"the images are {have} (C, H, W) each, the model takes {want}", argument="data")
    return found


def _images(data: str | Path | ImageData | tuple[Array, Array] | None, model: Subject,
            images: int | None) -> ImageData:
    if isinstance(data, tuple):
        return from_arrays(*data).subset(images)
    if data is None or (isinstance(data, (str, Path)) and Path(data).is_dir()):
        if model.benchmark is None:
            raise ArgumentError("a model from outside the zoo needs its data: an .npz file, (images, labels) "
                                "arrays or a dataset name", argument="data")
        return model.benchmark.load_data(data, images)
    if isinstance(data, str) and data in DATASETS:
        return load_dataset(data, limit=images)
    if isinstance(data, (str, Path)):
        if Path(data).suffix != ".npz":
            raise ArgumentError(f"{str(data)!r} is no dataset name ({', '.join(DATASETS)}), directory or "
                                ".npz file", argument="data")
        return read_npz(data).subset(images)
    return data.subset(images)


def fault_list(faults: str | Path | FaultList | None, model: Subject, *, sample: int | None = None,
               seed: int = 0) -> FaultList:
    """Resolve ``faults``: None (the zoo model's published list, else a network-wise list drawn with
    ``seed``), a fault-list file in any format, or a fault list; then a stratified subset of ``sample``
    faults, drawn with ``seed``. The defaults of ``readlx run``.
    """
    table = model.artifact.table
    if faults is None and model.benchmark is not None and model.benchmark.fault_list:
        faults = model.benchmark.resolve(model.benchmark.fault_list, "fault list")
    if faults is None:
        fl = generate(table, margin=DEFAULT_MARGIN, seed=seed, mode="network-wise")
    elif isinstance(faults, FaultList):
        fl = faults
    else:  # the results name the file the faults were read from
        fl = load_fault_list(faults, table).with_source(str(faults))
    return stratified_subset(fl, sample, seed) if sample else fl
