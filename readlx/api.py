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
from readlx.campaign.inputs import Subject, converted, fault_list, image_data, subject
from readlx.campaign.loop import CampaignOptions, Progress, run_campaign
from readlx.engines import RUNTIMES, Engine
from readlx.errors import ArgumentError
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import ImageData

__all__ = ["Subject", "fault_list", "image_data", "run", "subject"]


def run(model: str | Path | nn.Module, data: str | Path | ImageData | tuple[Array, Array] | None = None,
        faults: str | Path | FaultList | None = None, *, frameworks: Sequence[str] = ("torch",),
        sample: int | None = None, seed: int = 0, images: int | None = None, mode: str = "fast",
        device: str = "cpu", per_image: bool = False, force_noop: bool = False, batch_size: int = 256,
        checkpoint: str | Path | None = None, resume: bool = False, progress: bool | Progress = False) -> xr.Dataset:
    """Run a fault campaign and return its Dataset (model x fault x framework), as ``readlx run`` does.

    Parameters
    ----------
    model
        A zoo name, a bundle directory (``readlx convert``), an ``.onnx`` file, or a ``torch.nn.Module``.
    data
        See :func:`~readlx.campaign.inputs.image_data`; ``images`` keeps the first N.
    faults
        See :func:`~readlx.campaign.inputs.fault_list`; ``sample`` runs a stratified subset drawn with ``seed``.
    frameworks
        Runtime names (:data:`readlx.engines.registry.RUNTIMES`). For ``keras``, ``onnxruntime`` and
        ``onnxruntime-keras`` a module or zoo model is converted on first use (equivalence checked) and
        kept under ``$READLX_CACHE`` (default ``~/.cache/readlx``) by content.
    mode
        ``"fast"`` (exact fast runners where a runtime has one) or ``"reference"`` (one full inference
        per fault); the outcomes are the same.
    device
        ``"cpu"`` or ``"cuda"`` (PyTorch, ONNX Runtime's CUDA provider, TensorFlow's first GPU); a
        device that is not usable here is an error before any work, never a quiet fallback.
    per_image, force_noop, batch_size
        Keep every inference's outcome code; run stuck-at faults that leave their weight unchanged
        through inference too (the control: 100 % masked); images per engine call.
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
    resolved = converted(resolved, _names(frameworks), tuple(inputs.images.shape[1:]))
    fl = fault_list(faults, resolved, sample=sample, seed=seed)
    engines = _engines(resolved, frameworks, batch_size, device)
    opts = CampaignOptions(per_image=per_image, skip_noop=not force_noop, mode=mode, resume=resume,
                           progress=_progress(progress), checkpoint=None if checkpoint is None else Path(checkpoint),
                           attrs=resolved.benchmark.characterization() if resolved.benchmark else {})
    try:
        return run_campaign(engines, fl, inputs, model=resolved.name, options=opts)
    finally:
        if opts.progress is not None and hasattr(opts.progress, "close"):
            opts.progress.close()


def _names(frameworks: Sequence[str]) -> list[str]:
    names = [frameworks] if isinstance(frameworks, str) else list(frameworks)
    for fw in names:
        RUNTIMES[fw]  # an unknown name fails before any work, listing the known ones
    return names


def _engines(model: Subject, frameworks: Sequence[str], batch_size: int, device: str) -> list[Engine]:
    names = _names(frameworks)
    return [RUNTIMES.build(fw, model.artifact, batch_size=batch_size, device=device) for fw in names]


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
