"""The public entry point for scripts and notebooks: :func:`run`, with the defaults of ``readlx run``.

``model``, ``data`` and ``faults`` each accept the forms a researcher has at hand, resolved once here
into the pieces the campaign core takes (an :class:`~readlx.engines.artifact.Artifact`, an image set,
a fault list); every other module stays as it is.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn
import xarray as xr

from readlx._typing import Array
from readlx.campaign.loop import CampaignOptions, Progress, run_campaign
from readlx.data.arrays import from_arrays, read_npz
from readlx.data.loaders import DATASETS, load_dataset
from readlx.engines import RUNTIMES, Artifact, Engine
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
    """A model as :func:`run` resolved it: its name, the artifact the runtimes take, its zoo card."""

    name: str
    artifact: Artifact
    benchmark: Benchmark | None = None


def subject(model: str | Path | nn.Module, *, name: str | None = None) -> Subject:
    """Resolve ``model``: a zoo name, a bundle directory written by ``readlx convert``, or a
    ``torch.nn.Module`` (its injectable layers are its Conv2d and Linear weights; it is copied, never
    changed).

    Examples
    --------
    >>> s = subject("democnn-synthetic10")
    >>> s.name, s.artifact.table.names[:2]
    ('democnn-synthetic10', ['conv1', 'dwconv'])
    >>> subject("no-such-model")
    Traceback (most recent call last):
    ...
    readlx.errors.ArgumentError: argument 'model': 'no-such-model' is neither a zoo model
    (see `readlx zoo list`) nor a bundle directory
    """
    if isinstance(model, nn.Module):
        label = name or type(model).__name__
        return Subject(label, Artifact.of_module(model, LayerTable.from_torch(model, label)))
    if isinstance(model, str) and model in ZOO:
        bench = ZOO[model]
        return Subject(model, Artifact(bench.layer_table(), lambda: load_model(bench.name)), bench)
    path = Path(model)
    if (path / "bundle.json").is_file():
        from readlx.converters.bundle import load_bundle

        bundle = load_bundle(path)
        card = ZOO[bundle.benchmark] if bundle.benchmark is not None and bundle.benchmark in ZOO else None
        return Subject(name or bundle.benchmark or bundle.table.model, bundle.artifact(), card)
    raise ArgumentError(f"{str(model)!r} is neither a zoo model (see `readlx zoo list`) nor a bundle directory",
                        argument="model")


def image_data(data: str | Path | ImageData | tuple[Array, Array] | None, model: Subject,
               images: int | None = None) -> ImageData:
    """Resolve ``data``: None (the zoo model's test set), a dataset name, a dataset directory of the zoo
    model's dataset, an ``.npz`` file with ``images`` and ``labels``, a tuple ``(images, labels)`` of
    normalized float32 NCHW images and integer labels, or an image set; its first ``images`` images.
    """
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


def run(
    model: str | Path | nn.Module,
    data: str | Path | ImageData | tuple[Array, Array] | None = None,
    faults: str | Path | FaultList | None = None,
    *,
    frameworks: Sequence[str] = ("torch",),
    sample: int | None = None,
    seed: int = 0,
    images: int | None = None,
    mode: str = "fast",
    per_image: bool = False,
    batch_size: int = 256,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool | Progress = False,
) -> xr.Dataset:
    """Run a fault campaign and return its Dataset (model x fault x framework), as ``readlx run`` does.

    Parameters
    ----------
    model
        A zoo name, a bundle directory (``readlx convert``), or a ``torch.nn.Module``.
    data
        See :func:`image_data`; ``images`` keeps the first N.
    faults
        See :func:`fault_list`; ``sample`` runs a stratified subset drawn with ``seed``.
    frameworks
        Runtime names (:data:`readlx.engines.registry.RUNTIMES`); those other than the PyTorch module's
        (``torch``, ``torch-*``, ``reference-*``) need a bundle as ``model``.
    mode
        ``"fast"`` (exact fast runners where a runtime has one) or ``"reference"`` (one full inference
        per fault); the outcomes are the same.
    per_image, batch_size
        Keep every inference's outcome code; images per engine call.
    checkpoint, resume
        A directory the campaign checkpoints to, and whether to continue the campaign found there.
    progress
        True for a progress bar per framework on stderr, or a callback ``(framework, done, total)``.

    Examples
    --------
    >>> import numpy as np, readlx
    >>> rng = np.random.default_rng(0)
    >>> data = (rng.standard_normal((8, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 8))
    >>> ds = readlx.run("democnn-synthetic10", data, sample=5, frameworks=("torch", "reference-im2col-tf32"))
    >>> ds.sizes["fault"], list(ds.framework.values)
    (5, ['torch', 'reference-im2col-tf32'])
    """
    resolved = subject(model)
    inputs = image_data(data, resolved, images)
    fl = fault_list(faults, resolved, sample=sample, seed=seed)
    engines = _engines(resolved, frameworks, batch_size)
    opts = CampaignOptions(per_image=per_image, mode=mode, resume=resume, progress=_progress(progress),
                           checkpoint=None if checkpoint is None else Path(checkpoint),
                           attrs=resolved.benchmark.characterization() if resolved.benchmark else {})
    try:
        return run_campaign(engines, fl, inputs, model=resolved.name, options=opts)
    finally:
        if opts.progress is not None and hasattr(opts.progress, "close"):
            opts.progress.close()


def _engines(model: Subject, frameworks: Sequence[str], batch_size: int) -> list[Engine]:
    names = [frameworks] if isinstance(frameworks, str) else list(frameworks)
    for fw in names:
        RUNTIMES[fw]  # an unknown name fails before any work, listing the known ones
    return [RUNTIMES.build(fw, model.artifact, batch_size=batch_size) for fw in names]


class _Bars:
    """One tqdm bar per framework on stderr (closed by :func:`run`)."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, framework: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(framework)
        if bar is None:
            bar = self.bars[framework] = tqdm(total=total, initial=done - 1, desc=framework, unit="fault")
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _progress(progress: bool | Progress) -> Progress | None:
    if progress is True:
        return _Bars()
    if progress is False:
        return None
    if not callable(progress):
        raise ArgumentError(f"must be True, False or a callback, got {progress!r}", argument="progress")
    return progress
