"""Fault campaigns: golden pass, faulty passes through one runner, one classifier, one Dataset.

Every engine's faults run through a runner with the block interface of
:class:`~readlx.campaign.runners.blocks.BlockRunner`: the reference loop
(:class:`~readlx.campaign.runners.reference.ReferenceRunner`, one full inference per fault) or, in fast
mode, the runtime's exact fast runner (invariant 7 of docs/architecture.md). Faulty outputs are compared with that
engine's own golden outputs (invariant 5); per-fault results are :class:`~readlx.outcomes.records.FaultRecords`,
checkpointed and handed to the one Dataset constructor.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx._version import __version__
from readlx.campaign.checkpoint import CheckpointDir
from readlx.campaign.fingerprint import campaign_fingerprint
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.choice import ChoosingRunner, chosen_mode
from readlx.campaign.runners.costs import layer_shares
from readlx.campaign.runners.dispatch import fast_factory
from readlx.campaign.runners.options import FastOptions
from readlx.campaign.runners.reference import ReferenceRunner
from readlx.engines.base import Engine
from readlx.errors import FastUnsupported, ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.records import FaultRecords, GoldenRecord
from readlx.outcomes.tasks import ImageData, Task, task_for
from readlx.results import make_dataset

__all__ = ["MODES", "CampaignOptions", "Progress", "ProgressWeights", "fault_weights", "noop_control", "run_campaign"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(framework, faults_done, faults_total)`` when a framework starts (before its
golden pass and set-up; ``faults_done`` counts the faults a resumed checkpoint holds) and after each
fault."""

ProgressWeights = Callable[[str, list[float]], None]
"""Called as ``progress_weights(framework, weights)`` when a framework starts, before its first
``progress`` call: each fault's expected cost relative to the others (:func:`fault_weights`)."""

MODES = ("reference", "fast", "fast-always")


@dataclass
class CampaignOptions:
    """Knobs of a campaign that do not change its outcomes.

    ``skip_noop=False`` forces no-op stuck-at faults through the full inference path (the control of
    invariant 5). ``checkpoint`` is a directory; ``flush_seconds`` bounds the work a kill can lose.
    ``mode`` is one of :data:`MODES`, all with the same outcomes: ``"reference"`` runs every fault
    on the reference loop (one whole inference per fault); ``"fast"`` runs, per layer and block of
    faults, whichever of the reference loop and the engine's exact fast runner the costs measured so
    far say is cheaper (:mod:`readlx.campaign.runners.choice`): on runtimes that build each layer's
    suffix (ONNX Runtime, Keras), a few faults per layer stay on the reference loop, many go fast;
    ``"fast-always"`` runs every fault the fast runner can on it (for tests and benchmarks of the
    fast runners). Engines without a fast path use the reference loop. The attrs
    ``mode_<framework>`` (``"fast"``, ``"reference"`` or ``"mixed"``) and ``mode_<framework>_detail``
    (the measured costs and the choice per layer, or why there is no fast path) record what ran. A
    checkpoint written in one mode can be resumed in another. ``fast`` tunes the fast path's speed
    and memory (:class:`readlx.campaign.runners.FastOptions`). ``progress_weights``, with
    ``progress``, receives each fault's expected cost, so that a progress bar's remaining time
    weighs the faults left by it.
    """

    per_image: bool = False
    skip_noop: bool = True
    checkpoint: Path | None = None
    resume: bool = False
    flush_seconds: float = 20.0
    progress: Progress | None = None
    progress_weights: ProgressWeights | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    mode: str = "reference"
    fast: FastOptions | None = None


@dataclass(frozen=True)
class _EngineRun:
    records: FaultRecords
    golden: GoldenRecord
    mode: str
    mode_detail: dict[str, Any]


def _runner(engine: Engine, images: Array, golden: Array, opts: CampaignOptions,
            task: Task) -> tuple[BlockRunner, str, dict[str, Any]]:
    """The runner of ``engine``, the mode it runs and how (the attrs ``mode_<framework>[_detail]``;
    a :class:`ChoosingRunner` says once its faults are done, :func:`chosen_mode`)."""
    if opts.mode == "reference":
        return ReferenceRunner(engine, images, golden, opts.fast, task), "reference", {}
    try:
        build = fast_factory(engine, images, golden, opts.fast, task)
        if opts.mode == "fast":
            record = None if opts.checkpoint is None else Path(opts.checkpoint) / f"{engine.framework}.mode.json"
            chooser = ChoosingRunner(engine, images, golden, opts.fast, task, make_fast=build, record=record)
            return chooser, "fast", chooser.detail
        runner = build()
    except FastUnsupported as e:
        return ReferenceRunner(engine, images, golden, opts.fast, task), "reference", {"fallback": str(e)}
    return runner, "fast", runner.describe()


def _resume(records: FaultRecords, ckpt: CheckpointDir | None, framework: str) -> int:
    """Fill ``records`` from the checkpoint's chunks; the first fault still to run."""
    start = 0
    for chunk in ckpt.read_chunks(framework) if ckpt is not None else []:
        records.fill(chunk)
        start = chunk.end
    return start


def _run_engine(engine: Engine, faults: FaultList, data: ImageData, task: Task, opts: CampaignOptions,
                ckpt: CheckpointDir | None) -> _EngineRun:
    records = FaultRecords.empty(0, len(faults), task, len(data) if opts.per_image else None)
    start = _resume(records, ckpt, engine.framework)
    if opts.progress is not None:  # the framework starts: its golden pass and set-up come first
        if opts.progress_weights is not None:
            opts.progress_weights(engine.framework, fault_weights(engine, faults, opts.mode, opts.skip_noop))
        opts.progress(engine.framework, start, len(faults))
    golden = engine.infer(data.images)
    if ckpt is not None:
        ckpt.check_golden(engine.framework, golden)
    runner, mode, detail = _runner(engine, data.images, golden, opts, task)
    flushed, last_flush, done = start, time.monotonic(), start
    try:
        for block in runner.blocks(faults.faults[start:], opts.skip_noop):
            for i, result in enumerate(block, done):
                records.record(i, result, task, data.labels)
            first, done = done, done + len(block)
            if ckpt is not None and (time.monotonic() - last_flush >= opts.flush_seconds or done == len(faults)):
                ckpt.write_chunk(engine.framework, records.part(flushed, done))
                flushed, last_flush = done, time.monotonic()
            if opts.progress is not None:
                for i in range(first, done):
                    opts.progress(engine.framework, i + 1, len(faults))
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM made one by the CLI): keep every fault done
        if ckpt is not None and done > flushed:
            ckpt.write_chunk(engine.framework, records.part(flushed, done))
        raise
    return _EngineRun(records, GoldenRecord.of(task, golden, data.labels), *chosen_mode(runner, mode, detail))


def fault_weights(engine: Engine, faults: FaultList, mode: str, skip_noop: bool = True) -> list[float]:
    """Each fault's expected cost relative to the others', in units of one whole inference: none for
    a no-op classified without inference; else one in reference mode and, in the fast modes, the part
    of the network from the fault's layer on, the prior of the cost model
    (:func:`~readlx.campaign.runners.costs.layer_shares`: early layers cost most).

    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
    >>> first, last = eng.table.names[0], eng.table.names[-1]
    >>> fl = FaultList.from_faults("m", (Fault(first, (0, 0, 0, 0), 30), Fault(last, (0, 0), 30),
    ...                                  noop_control(eng, last)))
    >>> fault_weights(eng, fl, "reference"), fault_weights(eng, fl, "fast")
    ([1.0, 1.0, 0.0], [1.0, 0.2, 0.0])
    """
    shares = {} if mode == "reference" else layer_shares(engine.table.names)
    stored: dict[str, Array] = {}
    out = []
    for f in faults.faults:
        if skip_noop and f.kind is not FaultKind.BIT_FLIP and not f.is_activation:
            if f.layer not in stored:
                stored[f.layer] = engine.weight(f.layer)
            if f.is_noop(stored[f.layer][f.index]):
                out.append(0.0)
                continue
        out.append(shares.get(f.layer, 1.0))
    return out


def _fingerprint(model: str, engines: Sequence[Engine], faults: FaultList, data: ImageData, task: Task,
                 opts: CampaignOptions) -> dict[str, Any]:
    return campaign_fingerprint(
        faults, model=model, frameworks=[e.framework for e in engines], batch_sizes=[e.batch_size for e in engines],
        inputs=data.digest(), n_images=len(data), task=task.name, per_image=opts.per_image, skip_noop=opts.skip_noop,
    )


def _check(engines: Sequence[Engine], faults: FaultList, opts: CampaignOptions) -> None:
    if not engines:
        raise ReadlxError("a campaign needs at least one engine")
    names = [e.framework for e in engines]
    if len(set(names)) != len(names):
        raise ReadlxError(f"each framework may appear once, got {names}")
    if opts.mode not in MODES:
        raise ReadlxError(f"campaign mode must be one of {MODES}, got {opts.mode!r}")
    table = engines[0].table
    if faults.checked_against != table.digest():  # a list read or drawn for this table was checked then
        for fault in faults.faults:
            table.check_fault(fault)


def _attrs(model: str, engines: Sequence[Engine], runs: Sequence[_EngineRun], faults: FaultList, data: ImageData,
           opts: CampaignOptions) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "model_name": model, "dataset": data.name, "dataset_source": data.source, "dataset_sha256": data.digest(),
        "fault_list_source": faults.source or "memory",
        "engines": {e.framework: e.describe() for e in engines},
        "readlx_version": __version__, "python_version": platform.python_version(),
        "machine": platform.machine(), "skip_noop": int(opts.skip_noop), "mode": opts.mode,
    }
    for e, r in zip(engines, runs, strict=True):
        attrs[f"mode_{e.framework}"] = r.mode
        if r.mode_detail:
            attrs[f"mode_{e.framework}_detail"] = r.mode_detail
    if faults.sampling is not None:
        attrs.update(faults.sampling.to_attrs())
    attrs.update(opts.attrs)
    return attrs


def run_campaign(engines: Sequence[Engine], faults: FaultList, data: ImageData, *, model: str,
                 options: CampaignOptions | None = None) -> xr.Dataset:
    """Run every fault of ``faults`` on every engine over ``data``; return the campaign Dataset.

    ``data`` decides the classifier (:func:`readlx.outcomes.tasks.task_for`): an
    :class:`~readlx.data.imageset.ImageSet` is classified masked / non-critical / critical on logits, a
    :class:`~readlx.data.voc.SegmentationSet` masked / tolerable / critical on label maps, with pixel
    accuracy and mIoU per fault.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> bench = ZOO["democnn-synthetic10"]
    >>> eng = TorchEngine(load_model(bench.name), bench.layer_table())
    >>> fl = FaultList.from_faults(bench.name, (Fault("conv1", (0, 0, 0, 0), 30),))
    >>> ds = run_campaign([eng], fl, synthetic(16), model=bench.name)
    >>> int(ds.masked.sum() + ds.non_critical.sum() + ds.critical.sum())
    16
    """
    opts = options or CampaignOptions()
    _check(engines, faults, opts)
    task = task_for(data)
    ckpt = None
    if opts.checkpoint is not None:
        ckpt = CheckpointDir(opts.checkpoint)
        ckpt.open(_fingerprint(model, engines, faults, data, task, opts), opts.resume)
    runs = [_run_engine(e, faults, data, task, opts, ckpt) for e in engines]
    return make_dataset(
        model=model,
        faults=faults,
        layer_names={e.framework: [e.layer_name(f.layer) for f in faults.faults] for e in engines},
        records={e.framework: r.records for e, r in zip(engines, runs, strict=True)},
        golden={e.framework: r.golden for e, r in zip(engines, runs, strict=True)},
        labels=data.labels,
        task=task,
        attrs=_attrs(model, engines, runs, faults, data, opts),
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
