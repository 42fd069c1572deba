"""The loop every fast runner shares: blocks of faults, groups of layers, chunks of images, faults.

Work is ordered block of faults -> group of layers -> chunk of images -> fault -> batch. A runner splits
the layers of a block's faults into groups whose golden values at their cuts fit in ``cache_bytes`` for
at least one batch (one group, unless the network's activations are large). For each chunk (whole
batches of the engine's fixed layout, as many as fit) it computes the group's golden values once;
every fault of the group then restarts each batch from its layer's cut. Results of a block are handed
over together, in fault order, when the block is done: a campaign checkpoints whole blocks and reports
progress per fault. No-op stuck-at faults are classified without inference, or forced through the
engine's plain inference path as the reference loop does.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from readlx._typing import Array
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine, batches
from readlx.fault_maps.fault import Fault
from readlx.outcomes.records import FaultOutcome
from readlx.outcomes.tasks import Task

Settled = tuple[int, int, list[tuple[Array, float]]]
"""A chunk's first image, its end, and per fault its faulty outputs and the seconds they took."""


@dataclass
class FastStats:
    """Where the time went: start-up checks, golden passes, and each fault's own runs (in order)."""

    startup_seconds: float = 0.0
    golden_seconds: float = 0.0
    """Golden values of chunks at the cuts of their layers: once per block of faults."""
    build_seconds: float = 0.0
    """Suffixes and segments built (traced, compiled) and checked against golden: once per layer, or again
    where one was evicted (probe-and-suffix runners); not part of ``golden_seconds``."""
    fault_seconds: list[float] = field(default_factory=list)
    whole_graph_layers: list[str] = field(default_factory=list)
    """Layers whose faults run whole-graph inference, in the order the runner found out."""
    stopped_batches: int = 0
    """Faulty batches that stopped early, back to golden at a check (probe-and-suffix runners)."""
    unchecked: list[str] = field(default_factory=list)
    """Checks not used, as ``start->check``: their segment missed golden (probe-and-suffix runners)."""
    channel_batches: int = 0
    """Faulty batches whose faulty layer computed only the fault's output channel (ONNX Runtime's runner)."""


class BlockRunner(ABC):
    """Base of every runner (the reference loop and the fast runners): subclasses provide the golden
    values of a chunk and a fault's outputs; no-op handling and the stored weights live here, once.

    Subclasses call ``super().__init__`` with the campaign's engine, images, golden outputs, options and
    task, and implement :meth:`_chunk_batches`, :meth:`_chunk_golden` and :meth:`_fault_chunk`; those
    with more cut values than fit at once also override :meth:`_groups`.
    """

    engine: Engine
    images: Array
    golden: Array
    task: Task
    options: FastOptions
    layout: list[slice]
    stats: FastStats

    def __init__(self, engine: Engine, images: Array, golden: Array, options: FastOptions | None,
                 task: Task) -> None:
        self.engine, self.images, self.golden, self.task = engine, images, golden, task
        self.options = options or FastOptions()
        self.layout = batches(len(images), engine.batch_size)
        self._stored_weights: dict[str, Array] = {}

    def run(self, faults: Sequence[Fault], skip_noop: bool = True) -> Iterator[FaultOutcome]:
        """Results of ``faults`` in order, as :func:`readlx.campaign.runners.reference.run_fault` gives
        them (see :meth:`blocks`)."""
        for block in self.blocks(faults, skip_noop):
            yield from block

    def blocks(self, faults: Sequence[Fault], skip_noop: bool = True) -> Iterator[list[FaultOutcome]]:
        """Results of ``faults`` in order, one list per block of :meth:`block_size` faults.

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

    def _block(self, faults: Sequence[Fault], skip_noop: bool) -> list[FaultOutcome]:
        n = len(self.images)
        codes = np.zeros((len(faults), n), np.int8)
        g_pred = self.task.predict(self.golden[:1])
        preds = np.zeros((len(faults), n, *g_pred.shape[1:]), g_pred.dtype)
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
            codes[k], preds[k] = self.task.classify(self.golden, faulty), self.task.predict(faulty)
            seconds[k] = time.perf_counter() - t0
        for group in self._groups(list(dict.fromkeys(faults[k].layer for k in todo))):
            members = [k for k in todo if faults[k].layer in group]
            per = self._chunk_batches(group)
            chunks = [self.layout[i : i + per] for i in range(0, len(self.layout), per)]
            for chunk in chunks:
                t0, built = time.perf_counter(), self.stats.build_seconds
                goldens = self._chunk_golden(chunk, group, keep=len(chunks) == 1)
                self.stats.golden_seconds += time.perf_counter() - t0 - (self.stats.build_seconds - built)
                settled = self._chunk_faults([faults[k] for k in members], goldens, chunk, chunk is chunks[-1])
                for lo, hi, done in settled:
                    for k, (faulty, spent) in zip(members, done, strict=True):
                        t0 = time.perf_counter()
                        codes[k, lo:hi] = self.task.classify(self.golden[lo:hi], faulty)
                        preds[k, lo:hi] = self.task.predict(faulty)
                        seconds[k] += spent + time.perf_counter() - t0
        self.stats.fault_seconds.extend(seconds.tolist())
        return [FaultOutcome(codes[k], preds[k], noop[k]) for k in range(len(faults))]

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: the same for every shard)."""

    def ran(self) -> dict[str, Any]:
        """What the runner did, once its faults are run, for the campaign's attrs beside
        :meth:`describe` (may depend on which faults it was given; none by default)."""
        return {}

    def _groups(self, layers: list[str]) -> list[list[str]]:
        """``layers`` (those of a block's faults, in order) split into groups run one after the other."""
        return [layers]

    @abstractmethod
    def _chunk_batches(self, group: list[str]) -> int:
        """Batches per chunk whose golden values at the cuts of ``group``'s layers fit the cache."""

    @abstractmethod
    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> Any:
        """The golden values at the cuts of ``group``'s layers for the batches of ``chunk``; ``keep``:
        the chunk is every image."""

    def _chunk_faults(self, faults: list[Fault], goldens: Any, chunk: list[slice],
                      last: bool) -> list[Settled]:
        """Run ``faults`` (one layer group) on one chunk: the chunks whose faulty outputs are now
        complete, each as its first and last image and, per fault, the outputs and the seconds taken.

        Here that is this chunk, one fault after the other. A runner that shares work between faults
        and chunks may hold a chunk back until a later one, and must hand over every chunk by the
        group's ``last`` chunk.
        """
        lo, hi = chunk[0].start, chunk[-1].stop
        done = []
        for fault in faults:
            t0 = time.perf_counter()
            faulty = self._fault_chunk(fault, goldens, lo, hi)
            done.append((faulty, time.perf_counter() - t0))
        return [(lo, hi, done)]

    @abstractmethod
    def _fault_chunk(self, fault: Fault, goldens: Any, lo: int, hi: int) -> Array:
        """The faulty outputs of images ``lo..hi-1`` (one chunk), from the chunk's golden values."""

    def _stored(self, fault: Fault) -> np.float32:
        if fault.is_activation:  # its value differs per image: never a no-op as a whole
            return np.float32(0.0)
        if fault.layer not in self._stored_weights:
            self._stored_weights[fault.layer] = self.engine.weight(fault.layer)
        return cast(np.float32, self._stored_weights[fault.layer][fault.index])
