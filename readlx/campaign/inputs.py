"""What a campaign runs on, from the forms a researcher has at hand: a model (:func:`subject`), images
(:func:`image_data`) and faults (:func:`fault_list`), each resolved once into what the campaign core
takes. :func:`readlx.run`, the command line and :class:`~readlx.campaign.spec.CampaignSpec` resolve
their arguments here, so all three accept the same forms with the same defaults.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch.nn as nn

from readlx._typing import Array
from readlx.data.arrays import from_arrays, read_npz
from readlx.data.loaders import DATASETS, load_dataset
from readlx.engines import RUNTIMES, Artifact
from readlx.engines.keras_files import FORMATS as KERAS_FORMATS
from readlx.errors import ArgumentError, FaultListError, InputError
from readlx.fault_maps import generate, load_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.outcomes.tasks import ImageData
from readlx.provenance import recorded_subset
from readlx.zoo import ZOO, load_model
from readlx.zoo.registry import Benchmark

if TYPE_CHECKING:  # pragma: no cover
    from readlx.converters.bundle import Bundle

DEFAULT_MARGIN = 0.05
"""Error margin of the network-wise list drawn when a model has no published list (as ``readlx run``)."""
GENERATION_SEED = 42
"""Seed of that list, the default of ``readlx faults generate``: the list is the model's, whatever
subset a campaign then draws from it."""


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
    original: Any = None
    """The ONNX graph or Keras model a conversion starts from, for a model that arrived as one."""


def subject(model: str | Path | nn.Module | Any, *, name: str | None = None, weights: str | Path | None = None,
            input_shape: tuple[int, ...] | None = None) -> Subject:
    """Resolve ``model``: a zoo name (with ``weights``: another checkpoint), a bundle directory written
    by ``readlx convert``, an ``.onnx`` file (its stored Conv and Gemm/MatMul weights are the layers),
    a Keras model, SavedModel directory, ``.keras`` or ``.h5`` file (its Conv2D, DepthwiseConv2D and
    Dense kernels are the layers, named as Keras names them), or a ``torch.nn.Module`` (its Conv2d and
    Linear weights; it is copied, never changed) taking images of ``input_shape`` ``(C, H, W)``, which
    the data are checked against.

    Examples
    --------
    >>> s = subject("democnn-synthetic10")
    >>> s.name, s.artifact.table.names[:2]
    ('democnn-synthetic10', ['conv1', 'dwconv'])
    >>> subject("no-such-model")
    Traceback (most recent call last):
    ...
    readlx.errors.ArgumentError: argument 'model': 'no-such-model' is no zoo model
    (see `readlx zoo list`), bundle directory, .onnx file or Keras model
    (a SavedModel directory, a .keras file or an .h5 file)
    """
    from readlx.converters.from_keras import is_keras_model

    if isinstance(model, nn.Module):
        label = name or type(model).__name__
        shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        return Subject(label, Artifact.of_module(model, LayerTable.from_torch(model, label)), input_shape=shape)
    if is_keras_model(model):
        return _keras_subject(model, name)
    if isinstance(model, str) and model in ZOO:
        bench = ZOO[model]
        return Subject(model, Artifact(bench.layer_table(), lambda: load_model(bench.name, weights)), bench,
                       weights=weights)
    path = Path(model)
    if path.suffix == ".onnx":
        return _onnx_subject(path, name)
    if path.suffix in (".keras", ".h5") or (path / "saved_model.pb").is_file():
        from readlx.engines.keras_files import load_keras_model

        return _keras_subject(load_keras_model(path), name or path.stem)
    if (path / "bundle.json").is_file():
        from readlx.converters.bundle import load_bundle

        bundle = load_bundle(path)
        card = ZOO[bundle.benchmark] if bundle.benchmark is not None and bundle.benchmark in ZOO else None
        return Subject(name or bundle.benchmark or bundle.table.model, bundle.artifact(), card)
    raise ArgumentError(f"{str(model)!r} is no zoo model (see `readlx zoo list`), bundle directory, .onnx file "
                        f"or Keras model ({KERAS_FORMATS})", argument="model")


def _onnx_subject(path: Path, name: str | None) -> Subject:
    from readlx.converters.from_onnx import BINDINGS, load_onnx, onnx_input_shape, onnx_table

    proto = load_onnx(path)
    label = name or path.stem
    artifact = Artifact(onnx_table(proto, label), files={BINDINGS: path})  # no injectable layer: the first error
    return Subject(label, artifact, input_shape=onnx_input_shape(proto, label), original=proto)


def _keras_subject(model: Any, name: str | None) -> Subject:
    from readlx.converters.from_keras import keras_input_shape, keras_table

    label = name or str(model.name)
    return Subject(label, Artifact(keras_table(model, label)), input_shape=keras_input_shape(model), original=model)


def converted(model: Subject, frameworks: Sequence[str], input_shape: tuple[int, ...]) -> Subject:
    """``model`` with converted files when a runtime of ``frameworks`` needs what its artifact lacks: a
    zoo model, module, ONNX graph or Keras model is converted once per content, its equivalence checked,
    and kept (:mod:`readlx.converters.cache`)."""
    bundle = converted_bundle(model, frameworks, input_shape)
    if bundle is None:
        return model
    module = None if model.benchmark is not None or model.original is not None else model.artifact.torch_module()
    return replace(model, artifact=bundle.artifact(module), input_shape=input_shape)


def converted_bundle(model: Subject, frameworks: Sequence[str], input_shape: tuple[int, ...]) -> Bundle | None:
    """The cached bundle :func:`converted` uses, or None when the artifact has all ``frameworks`` need."""
    missing = [key for fw in frameworks for key in RUNTIMES[fw].needs if not model.artifact.has(key)]
    if not missing:
        return None
    from readlx.converters.cache import cached_bundle, cached_model_bundle, cached_zoo_bundle

    if model.benchmark is not None:
        return cached_zoo_bundle(model.benchmark.name, model.weights)
    if model.original is not None:
        return cached_model_bundle(model.original, model.name, input_shape)
    return cached_bundle(model.artifact.torch_module(), model.artifact.table, input_shape)


def check_forward(model: Subject, images: ImageData) -> None:
    """Run a module of one's own on two of the images before any work, so that a forward pass that
    fails at this input shape is an :class:`ArgumentError` naming the shape, not a traceback mid-campaign."""
    import torch

    if model.original is not None or model.benchmark is not None or model.artifact.module is None:
        return
    batch = torch.from_numpy(np.ascontiguousarray(images.images[:2]))
    try:
        with torch.no_grad():
            model.artifact.torch_module().eval()(batch)
    except Exception as e:  # whatever the caller's forward raises
        raise ArgumentError(f"{model.name}'s forward pass fails on images of shape {tuple(batch.shape)} "
                            f"(N, C, H, W): {type(e).__name__}: {e}", argument="model") from e


def image_data(data: str | Path | ImageData | tuple[Array, Array] | None, model: Subject,
               images: int | None = None) -> ImageData:
    """Resolve ``data``: None (the zoo model's test set), a dataset name, a dataset directory of the zoo
    model's dataset, an ``.npz`` file with ``images`` and ``labels``, a tuple ``(images, labels)`` of
    normalized float32 NCHW images and integer labels, or an image set; its first ``images`` images.
    """
    found = _images(data, model, images)
    if images is not None and len(found) < images:  # running fewer than asked would be reported as asked
        raise ArgumentError(f"{images} images asked for, the data hold {len(found)}", argument="images")
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
    """Resolve ``faults``: None (the zoo model's published list, else its network-wise list, the paper's
    formula at margin :data:`DEFAULT_MARGIN`, drawn with seed :data:`GENERATION_SEED`), a fault-list
    file in any format, or a fault list; then a stratified subset of ``sample`` faults, drawn with
    ``seed`` and recorded as one (:func:`readlx.provenance.recorded_subset`). The defaults of ``readlx run``.
    """
    table = model.artifact.table
    if faults is None and model.benchmark is not None and model.benchmark.fault_list:
        faults = model.benchmark.resolve(model.benchmark.fault_list, "fault list")
    if faults is None:
        fl = generate(table, margin=DEFAULT_MARGIN, seed=GENERATION_SEED, mode="network-wise")
    elif isinstance(faults, FaultList):
        fl = faults
    else:  # the results name the file the faults were read from
        fl = load_fault_list(faults, table).with_source(str(faults))
    if any(f.is_activation for f in fl.faults):
        check_activations(fl, model)
    return recorded_subset(fl, sample, seed) if sample else fl


def table_with_outputs(model: Subject) -> LayerTable:
    """The model's layer table with the layers' output shapes (:func:`readlx.fault_maps.sites.with_outputs`),
    found by one forward pass of its PyTorch module on a zero image."""
    from readlx.fault_maps.sites import with_outputs

    table = model.artifact.table
    shape = model.input_shape or (model.benchmark.input_shape if model.benchmark else None)
    if shape is None:
        raise InputError(f"model {model.name!r} states no input shape: activation faults need one to find "
                         "the layers' output shapes (give input_shape)")
    return with_outputs(table, model.artifact.torch_module(), tuple(shape))


def check_activations(fl: FaultList, model: Subject) -> None:
    """Check every activation fault of ``fl`` against the layers' output shapes, before any work. A
    model that has no PyTorch module before its conversion (an ONNX file, a Keras model) is checked
    by each engine when it injects."""
    if model.artifact.module is None:
        return
    table = table_with_outputs(model)
    for entry in fl:
        if entry.fault.is_activation:
            try:
                table.check_fault(entry.fault)
            except FaultListError as e:
                raise FaultListError(f"fault {entry.id}: {e.message}", path=fl.source, field=e.field) from e
