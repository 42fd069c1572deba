"""The public entry point for scripts and notebooks: :func:`run`, with the defaults of ``readlx run``.

``model``, ``data`` and ``faults`` accept the forms of :mod:`readlx.campaign.inputs`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn
import xarray as xr

from readlx._typing import Array
from readlx.campaign.inputs import Subject, check_forward, converted, fault_list, image_data, subject
from readlx.campaign.loop import CampaignOptions, Progress, run_campaign
from readlx.engines import RUNTIMES, Engine
from readlx.errors import ArgumentError
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import ImageData
from readlx.progress import ProgressBars

__all__ = ["Subject", "fault_list", "image_data", "run", "subject"]


def run(model: str | Path | nn.Module | Any, data: str | Path | ImageData | tuple[Array, Array] | None = None,
        faults: str | Path | FaultList | None = None, *, frameworks: Sequence[str] = ("torch",),
        sample: int | None = None, seed: int = 0, images: int | None = None, mode: str = "fast",
        device: str = "cpu", per_image: bool = False, force_noop: bool = False, batch_size: int = 256,
        checkpoint: str | Path | None = None, resume: bool = False, progress: bool | Progress = True,
        input_shape: tuple[int, ...] | None = None, name: str | None = None) -> xr.Dataset:
    """Run a fault campaign and return its Dataset (model x fault x framework), as ``readlx run`` does.

    Parameters
    ----------
    model
        A zoo name, bundle directory, ``.onnx`` file, Keras model (or SavedModel directory, ``.keras`` or
        ``.h5`` file), or ``torch.nn.Module`` (:func:`~readlx.campaign.inputs.subject`).
    data
        See :func:`~readlx.campaign.inputs.image_data`; ``images`` keeps the first N.
    faults
        See :func:`~readlx.campaign.inputs.fault_list`; ``sample`` runs a stratified subset drawn with ``seed``.
    frameworks
        Runtime names (:data:`readlx.engines.registry.RUNTIMES`). Where a runtime needs what the model
        is not (a module on ``keras``, an ONNX file on ``torch``), it is converted on first use through
        ONNX (equivalence checked) and kept under ``$READLX_CACHE`` (``~/.cache/readlx``) by content.
    mode
        Same outcomes in each: ``"fast"``, per layer the exact fast runner where it measures cheaper than the
        reference loop; ``"reference"``, one full inference per fault; ``"fast-always"``, the fast runner where it can.
    device
        ``"cpu"`` or ``"cuda"`` (PyTorch, ONNX Runtime's CUDA provider, TensorFlow's first GPU); a
        device that is not usable here is an error before any work, never a quiet fallback.
    per_image, force_noop, batch_size
        Keep every inference's outcome code; run stuck-at faults that leave their weight unchanged
        through inference too (the control: 100 % masked); images per engine call.
    checkpoint, resume
        A directory to checkpoint to; continue the campaign found there.
    progress
        A progress bar per framework on stderr (True), none, or a callback ``(framework, done, total)``.
    input_shape, name
        ``(C, H, W)`` a module takes (checked against the data); the name of a model from outside the
        zoo in the results (default: its class, file or Keras name).

    Examples
    --------
    >>> import numpy as np, readlx
    >>> rng = np.random.default_rng(0)
    >>> data = (rng.standard_normal((8, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 8))
    >>> ds = readlx.run("democnn-synthetic10", data, sample=5, frameworks=("torch", "reference-im2col-tf32"),
    ...                 progress=False)
    >>> ds.sizes["fault"], list(ds.framework.values)
    (5, ['torch', 'reference-im2col-tf32'])
    """
    resolved = subject(model, name=name, input_shape=input_shape)
    inputs = image_data(data, resolved, images)
    check_forward(resolved, inputs)
    resolved = converted(resolved, _names(frameworks), tuple(inputs.images.shape[1:]))
    fl = fault_list(faults, resolved, sample=sample, seed=seed)
    engines = _engines(resolved, frameworks, batch_size, device)
    opts = _options(resolved, per_image, force_noop, mode, resume, progress, checkpoint)
    try:
        return run_campaign(engines, fl, inputs, model=resolved.name, options=opts)
    finally:
        if opts.progress is not None and hasattr(opts.progress, "close"):
            opts.progress.close()


def _options(model: Subject, per_image: bool, force_noop: bool, mode: str, resume: bool,
             progress: bool | Progress, checkpoint: str | Path | None) -> CampaignOptions:
    bars = _progress(progress)
    return CampaignOptions(per_image=per_image, skip_noop=not force_noop, mode=mode, resume=resume,
                           progress=bars, progress_weights=bars.weights if isinstance(bars, ProgressBars) else None,
                           checkpoint=None if checkpoint is None else Path(checkpoint),
                           attrs=model.benchmark.characterization() if model.benchmark else {})


def _names(frameworks: Sequence[str]) -> list[str]:
    names = [frameworks] if isinstance(frameworks, str) else list(frameworks)
    for fw in names:
        RUNTIMES[fw]  # an unknown name fails before any work, listing the known ones
    return names


def _engines(model: Subject, frameworks: Sequence[str], batch_size: int, device: str) -> list[Engine]:
    names = _names(frameworks)
    return [RUNTIMES.build(fw, model.artifact, batch_size=batch_size, device=device) for fw in names]


def _progress(progress: bool | Progress) -> Progress | None:
    """One tqdm bar per framework on stderr whose remaining time weighs each fault's expected cost
    (closed by :func:`run`), none, or the caller's callback."""
    if progress is True:
        return ProgressBars()
    if progress is False:
        return None
    if not callable(progress):
        raise ArgumentError(f"must be True, False or a callback, got {progress!r}", argument="progress")
    return progress
