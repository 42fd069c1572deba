"""The fast campaign runner of the PyTorch engine: outcomes of the reference loop, less work.

Work is ordered block of faults -> chunk of images -> fault -> batch. For each chunk (whole batches of
the engine's fixed layout, as many as fit in ``cache_bytes``) the golden values at the cuts are
computed once; every fault of the block then restarts each batch from its layer's cut
(:mod:`readlx.fast.suffix`). Holding golden activations for all images at once would need about
0.8 MB per CIFAR-10 image for ResNet20 (8 GB for the test set); a chunk of a block needs a bounded
part of it, and the block's golden pass costs one plain inference per block. Results of a block are
handed over together, in fault order, when the block is done: a campaign checkpoints whole blocks
and reports progress per fault.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from readlx.engines.base import batches
from readlx.engines.torch import TorchEngine
from readlx.fast.golden import GoldenBatch, as_numpy, batch_tensor, golden_batch
from readlx.fast.options import FastOptions, FastPathError, FastUnsupported
from readlx.fast.suffix import run_fault_batch
from readlx.fast.trace import CutGraph
from readlx.fault_maps.fault import Fault
from readlx.tasks import CLASSIFICATION, Task

FaultResult = tuple[np.ndarray, np.ndarray, bool]
"""Per-image outcome codes, faulty top-1 classes and the no-op flag of one fault."""


@dataclass
class FastStats:
    """Where the time went: start-up checks, golden passes, and each fault's own runs (in order)."""

    startup_seconds: float = 0.0
    golden_seconds: float = 0.0
    fault_seconds: list[float] = field(default_factory=list)


class TorchFastRunner:
    """Runs faults on a :class:`TorchEngine` with the outcomes of :func:`readlx.campaign.run_fault`.

    Construction traces the model and checks, on the first and last batch, that the traced run gives
    the engine's golden outputs bit for bit.

    Parameters
    ----------
    engine
        The engine; its model is only changed inside ``engine.inject``.
    images
        The campaign's images, split into the engine's batch layout.
    golden
        The engine's golden outputs for ``images`` (``engine.infer(images)``).
    options
        Speed and memory knobs.

    Raises
    ------
    FastUnsupported
        When the model cannot be traced or the traced run does not reproduce ``golden``.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> data = synthetic(20)
    >>> runner = TorchFastRunner(eng, data.images, eng.infer(data.images))
    >>> codes, faulty_top1, noop = next(runner.run([Fault("conv2", (0, 0, 0, 0), 2)]))
    >>> codes.shape, noop
    ((20,), False)
    """

    def __init__(self, engine: TorchEngine, images: np.ndarray, golden: np.ndarray,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        start = time.perf_counter()
        self.engine, self.images, self.golden, self.task = engine, images, golden, task
        self.options = options or FastOptions()
        self.graph = CutGraph(engine.model, engine.table.names)
        self.layout = batches(len(images), engine.batch_size)
        probe = self._golden(self.layout[0], FastUnsupported)
        if len(self.layout) > 1:  # the last batch may be shorter: another shape, other kernels
            self._golden(self.layout[-1], FastUnsupported)
        self.chunk_batches = max(1, self.options.cache_bytes // max(1, probe.nbytes()))
        self._weights: dict[str, np.ndarray] = {}
        self._kept: list[GoldenBatch] | None = None
        self.stats = FastStats(startup_seconds=time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: no timings)."""
        return {
            "cuts": [self.graph.name(c) for c in self.graph.cuts],
            "chunk_images": self.chunk_batches * self.engine.batch_size,
            "block_faults": self.block_size(),
            "checks": self.options.checks,
        }

    def run(self, faults: Sequence[Fault], skip_noop: bool = True) -> Iterator[FaultResult]:
        """Results of ``faults`` in order, as ``run_fault`` gives them (see :meth:`blocks`)."""
        for block in self.blocks(faults, skip_noop):
            yield from block

    def blocks(self, faults: Sequence[Fault], skip_noop: bool = True) -> Iterator[list[FaultResult]]:
        """Results of ``faults`` in order, one list per block of ``options.block_faults`` faults.

        No context (injection, inference mode) stays open while the generator is suspended.
        """
        size = self.block_size()
        for lo in range(0, len(faults), size):
            yield self._block(faults[lo : lo + size], skip_noop)

    def block_size(self) -> int:
        """Faults per block: ``options.block_faults``, fewer where a block's predictions would exceed
        ``options.cache_bytes`` (label maps of a segmentation network are large)."""
        per_fault = self.task.predict(self.golden[:1]).nbytes * len(self.images)
        return max(1, min(self.options.block_faults, self.options.cache_bytes // max(1, per_fault)))

    def _block(self, faults: Sequence[Fault], skip_noop: bool) -> list[FaultResult]:
        n = len(self.images)
        codes = np.zeros((len(faults), n), np.int8)
        g_pred = self.task.predict(self.golden[:1])
        tops = np.zeros((len(faults), n, *g_pred.shape[1:]), g_pred.dtype)
        seconds = np.zeros(len(faults))
        noop = [f.is_noop(self._stored(f)) for f in faults]
        todo = []
        for k, fault in enumerate(faults):
            if not noop[k]:
                todo.append(k)
                continue
            t0 = time.perf_counter()
            faulty = self.golden
            if not skip_noop:  # the control of invariant 5 goes through the plain inference path
                with self.engine.inject(fault):
                    faulty = self.engine.infer(self.images)
            codes[k], tops[k] = self.task.classify(self.golden, faulty), self.task.predict(faulty)
            seconds[k] = time.perf_counter() - t0
        chunks = _chunks(self.layout, self.chunk_batches)
        for chunk in chunks if todo else []:
            goldens = self._chunk_golden(chunk, keep=len(chunks) == 1)
            lo, hi = chunk[0].start, chunk[-1].stop
            for k in todo:
                t0 = time.perf_counter()
                faulty = self._fault_chunk(faults[k], goldens, lo, hi)
                codes[k, lo:hi] = self.task.classify(self.golden[lo:hi], faulty)
                tops[k, lo:hi] = self.task.predict(faulty)
                seconds[k] += time.perf_counter() - t0
        self.stats.fault_seconds.extend(seconds.tolist())
        return [(codes[k], tops[k], noop[k]) for k in range(len(faults))]

    def _fault_chunk(self, fault: Fault, goldens: list[GoldenBatch], lo: int, hi: int) -> np.ndarray:
        faulty = self.golden[lo:hi].copy()
        span = self.graph.spans[fault.layer]
        with self.engine.inject(fault), torch.inference_mode():
            for gb in goldens:
                out = run_fault_batch(self.graph, span, gb, self.options.checks)
                if out is not None:
                    faulty[gb.start - lo : gb.start - lo + len(gb)] = as_numpy(out)
        return faulty

    def _chunk_golden(self, chunk: list[slice], keep: bool) -> list[GoldenBatch]:
        """Golden values of a chunk; when one chunk holds every image they serve every block."""
        if keep and self._kept is not None:
            return self._kept
        t0 = time.perf_counter()
        goldens = [self._golden(sl, FastPathError) for sl in chunk]
        self.stats.golden_seconds += time.perf_counter() - t0
        self._kept = goldens if keep else None
        return goldens

    def _golden(self, rows: slice, error: type[FastPathError]) -> GoldenBatch:
        with torch.inference_mode():
            gb = golden_batch(self.graph, batch_tensor(self.images, rows, self.engine.device), rows.start)
            out = as_numpy(gb.output)
        expect = self.golden[rows]
        if out.shape != expect.shape or not np.array_equal(out.view(np.uint32), expect.view(np.uint32)):
            raise error(f"the traced model's golden outputs differ from the engine's for images "
                        f"{rows.start}..{rows.stop - 1}")
        return gb

    def _stored(self, fault: Fault) -> np.float32:
        if fault.layer not in self._weights:
            self._weights[fault.layer] = self.engine.weight(fault.layer)
        return self._weights[fault.layer][fault.index]


def _chunks(layout: list[slice], size: int) -> list[list[slice]]:
    return [layout[i : i + size] for i in range(0, len(layout), size)]
