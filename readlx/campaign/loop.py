"""Fault campaigns: golden pass, faulty passes, one classifier, one Dataset.

The loop here is the plain reference path of DESIGN.md invariant 7: one full inference of the whole
image set per fault, on the engine's fixed batch layout, compared with that engine's own golden
outputs (invariant 5).
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import xarray as xr

from readlx import __version__
from readlx.campaign.checkpoint import CheckpointDir, Chunk, fingerprint_faults
from readlx.outcomes.classification import Counts
from readlx.engines.base import Engine
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.results import make_dataset
from readlx.outcomes.tasks import CLASSIFICATION, ImageData, Task, tally, task_for

if TYPE_CHECKING:
    from readlx.campaign.runners.options import FastOptions

Progress = Callable[[str, int, int], None]
"""Called as ``progress(framework, faults_done, faults_total)`` after each fault."""

MODES = ("reference", "fast")
FaultResult = tuple[np.ndarray, np.ndarray, bool]


@dataclass
class CampaignOptions:
    """Knobs of a campaign that do not change its outcomes.

    ``skip_noop=False`` forces no-op stuck-at faults through the full inference path (the control of
    invariant 5). ``checkpoint`` is a directory; ``flush_seconds`` bounds the work a kill can lose.
    ``mode="fast"`` runs engines that have a fast path (:mod:`readlx.campaign.runners`) with the same outcomes;
    the others use the reference loop, and the attrs ``mode_<framework>`` record which ran. A
    checkpoint written in one mode can be resumed in the other. ``fast`` tunes the fast path's
    speed and memory (:class:`readlx.campaign.runners.FastOptions`).
    """

    per_image: bool = False
    skip_noop: bool = True
    checkpoint: Path | None = None
    resume: bool = False
    flush_seconds: float = 20.0
    progress: Progress | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    mode: str = "reference"
    fast: FastOptions | None = None


@dataclass
class _EngineRun:
    counts: np.ndarray
    noop: np.ndarray
    outcome: np.ndarray | None
    quality: np.ndarray
    golden_correct: int
    golden_quality: np.ndarray
    golden_prediction: np.ndarray
    mode: str
    mode_detail: dict[str, Any]


def run_fault(engine: Engine, fault: Fault, images: np.ndarray, golden: np.ndarray, stored: np.float32,
              skip_noop: bool, task: Task = CLASSIFICATION) -> FaultResult:
    """Per-image codes, the faulty prediction (top-1 or label map) and the no-op flag of one fault."""
    noop = fault.is_noop(stored)
    if noop and skip_noop:
        return task.classify(golden, golden), task.predict(golden), True
    with engine.inject(fault):
        faulty = engine.infer(images)
    return task.classify(golden, faulty), task.predict(faulty), noop


def _reference_results(engine: Engine, faults: Sequence[Fault], images: np.ndarray, golden: np.ndarray,
                       skip_noop: bool, task: Task) -> Iterator[list[FaultResult]]:
    weights: dict[str, np.ndarray] = {}
    for fault in faults:
        if fault.layer not in weights:
            weights[fault.layer] = engine.weight(fault.layer)
        yield [run_fault(engine, fault, images, golden, weights[fault.layer][fault.index], skip_noop, task)]


def _fault_results(engine: Engine, faults: Sequence[Fault], images: np.ndarray, golden: np.ndarray,
                   opts: CampaignOptions, task: Task) -> tuple[Iterator[list[FaultResult]], str, dict[str, Any]]:
    """The results of ``faults`` in order and in parts as they complete, the mode and how it runs."""
    reference = _reference_results(engine, faults, images, golden, opts.skip_noop, task)
    if opts.mode == "fast":
        from readlx.campaign.runners import FastUnsupported, fast_runner

        try:
            runner = fast_runner(engine, images, golden, opts.fast, task)
        except FastUnsupported as e:
            return reference, "reference", {"fallback": str(e)}
        return runner.blocks(faults, opts.skip_noop), "fast", runner.describe()
    return reference, "reference", {}


def _run_engine(engine: Engine, faults: FaultList, data: ImageData, task: Task, opts: CampaignOptions,
                ckpt: CheckpointDir | None) -> _EngineRun:
    n_faults, n_images = len(faults), len(data)
    golden = engine.infer(data.images)
    if ckpt is not None:
        ckpt.check_golden(engine.framework, golden)
    g_pred = task.predict(golden)
    counts = np.zeros((n_faults, len(Counts.FIELDS)), np.int64)
    quality = np.full((n_faults, len(task.quality_vars)), np.nan)
    noop = np.zeros(n_faults, bool)
    outcome = np.zeros((n_faults, n_images), np.int8) if opts.per_image else None
    start = 0
    for chunk in ckpt.read_chunks(engine.framework) if ckpt is not None else []:
        counts[chunk.start : chunk.end], noop[chunk.start : chunk.end] = chunk.counts, chunk.noop
        if chunk.quality is not None:
            quality[chunk.start : chunk.end] = chunk.quality
        if outcome is not None and chunk.outcome is not None:
            outcome[chunk.start : chunk.end] = chunk.outcome
        start = chunk.end
    results, mode, detail = _fault_results(engine, faults.faults[start:], data.images, golden, opts, task)
    flushed, last_flush, done = start, time.monotonic(), start
    for results_part in results:
        for i, (codes, prediction, is_noop) in enumerate(results_part, done):
            noop[i] = is_noop
            counts[i] = tally(task, codes, prediction, data.labels)
            quality[i] = task.quality(prediction, data.labels)
            if outcome is not None:
                outcome[i] = codes
        first, done = done, done + len(results_part)
        if ckpt is not None and (time.monotonic() - last_flush >= opts.flush_seconds or done == n_faults):
            part = None if outcome is None else outcome[flushed:done]
            ckpt.write_chunk(engine.framework, Chunk(flushed, done, counts[flushed:done], noop[flushed:done], part,
                                                     quality[flushed:done] if task.quality_vars else None))
            flushed, last_flush = done, time.monotonic()
        for i in range(first, done) if opts.progress is not None else []:
            opts.progress(engine.framework, i + 1, n_faults)
    return _EngineRun(counts, noop, outcome, quality, task.correct(g_pred, data.labels),
                      task.quality(g_pred, data.labels), g_pred, mode, detail)


def _fingerprint(model: str, engines: Sequence[Engine], faults: FaultList, data: ImageData, task: Task,
                 opts: CampaignOptions) -> dict[str, Any]:
    return {
        "model": model,
        "frameworks": [e.framework for e in engines],
        "batch_sizes": [e.batch_size for e in engines],
        "faults": fingerprint_faults(faults.ids, faults.faults),
        "n_faults": len(faults),
        "inputs": data.digest(),
        "n_images": len(data),
        "task": task.name,
        "per_image": opts.per_image,
        "skip_noop": opts.skip_noop,
        "readlx": __version__,
    }


def run_campaign(engines: Sequence[Engine], faults: FaultList, data: ImageData, *, model: str,
                 options: CampaignOptions | None = None) -> xr.Dataset:
    """Run every fault of ``faults`` on every engine over ``data``; return the campaign Dataset.

    ``data`` decides the classifier (:func:`readlx.outcomes.tasks.task_for`): an :class:`~readlx.data.imageset.ImageSet` is
    classified masked / non-critical / critical on logits, a :class:`~readlx.data.voc.SegmentationSet` masked /
    tolerable / critical on label maps, with pixel accuracy and mIoU per fault.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> bench = ZOO["democnn-synthetic10"]
    >>> eng = TorchEngine(load_model(bench.name), bench.layer_table())
    >>> fl = FaultList(bench.name, (Fault("conv1", (0, 0, 0, 0), 30),))
    >>> ds = run_campaign([eng], fl, synthetic(16), model=bench.name)
    >>> int(ds.masked.sum() + ds.non_critical.sum() + ds.critical.sum())
    16
    """
    opts = options or CampaignOptions()
    if not engines:
        raise ReadlxError("a campaign needs at least one engine")
    names = [e.framework for e in engines]
    if len(set(names)) != len(names):
        raise ReadlxError(f"each framework may appear once, got {names}")
    if opts.mode not in MODES:
        raise ReadlxError(f"campaign mode must be one of {MODES}, got {opts.mode!r}")
    for fault in faults:
        engines[0].table.check_fault(fault)
    task = task_for(data)
    ckpt = None
    if opts.checkpoint is not None:
        ckpt = CheckpointDir(opts.checkpoint)
        ckpt.open(_fingerprint(model, engines, faults, data, task, opts), opts.resume)
    runs = [_run_engine(e, faults, data, task, opts, ckpt) for e in engines]
    attrs: dict[str, Any] = {
        "model_name": model,
        "dataset": data.name,
        "dataset_source": data.source,
        "dataset_sha256": data.digest(),
        "fault_list_source": faults.source or "memory",
        "engines": {e.framework: e.describe() for e in engines},
        "readlx_version": __version__,
        "python_version": platform.python_version(),
        "machine": platform.machine(),
        "skip_noop": int(opts.skip_noop),
        "mode": opts.mode,
    }
    for e, r in zip(engines, runs):
        attrs[f"mode_{e.framework}"] = r.mode
        if r.mode_detail:
            attrs[f"mode_{e.framework}_detail"] = r.mode_detail
    if faults.sampling is not None:
        attrs.update(faults.sampling.to_attrs())
    attrs.update(opts.attrs)
    classification = task.name == CLASSIFICATION.name
    return make_dataset(
        model=model,
        faults=faults,
        frameworks=names,
        layer_names={e.framework: [e.layer_name(f.layer) for f in faults] for e in engines},
        counts=np.stack([r.counts for r in runs], axis=1),
        noop=np.stack([r.noop for r in runs], axis=1),
        golden_correct=[r.golden_correct for r in runs],
        labels=data.labels,
        outcome=None if not opts.per_image else np.stack([r.outcome for r in runs], axis=1),
        golden_top1=None if not (opts.per_image and classification) else np.stack(
            [r.golden_prediction for r in runs]),
        task=task,
        quality=np.stack([r.quality for r in runs], axis=1),
        golden_quality=np.stack([r.golden_quality for r in runs]),
        attrs=attrs,
    )


def noop_control(engine: Engine, layer: str | None = None) -> Fault:
    """A stuck-at fault equal to the stored bit of a weight: it must come out 100 % masked.

    It picks the first weight of ``layer`` (default: the first layer) and its highest set bit.
    """
    name = layer or engine.table.layers[0].name
    w = engine.weight(name)
    index = (0,) * w.ndim
    word = int(np.asarray(w[index], np.float32).view(np.uint32))
    bit = word.bit_length() - 1 if word else 0
    kind = FaultKind.STUCK_AT_1 if word else FaultKind.STUCK_AT_0
    return Fault(name, index, bit, kind)
