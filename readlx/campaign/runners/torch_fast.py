"""The fast campaign runner of the PyTorch engine: outcomes of the reference loop, less work.

The block loop is :class:`readlx.campaign.runners.blocks.BlockRunner`'s. Here a cut is a node of the traced graph
(:mod:`readlx.engines.fxgraph`) and a faulty batch restarts from the golden values live across its layer's
cut, stopping early when the batch is back to golden (:mod:`readlx.campaign.runners.suffix`). Holding golden
activations for all images at once would need about 0.8 MB per CIFAR-10 image for ResNet20 (8 GB for
the test set); a chunk needs a bounded part of it, and a block's golden pass costs one plain inference.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner, FastStats, Settled
from readlx.campaign.runners.channel import ChannelLayers
from readlx.campaign.runners.golden_batch import GoldenBatch, as_numpy, batch_tensor, golden_batch
from readlx.campaign.runners.options import FastOptions, FastPathError, FastUnsupported
from readlx.campaign.runners.refill import Refill, RowDependence, golden_rows
from readlx.campaign.runners.suffix import (
    ChannelStep,
    check_cuts,
    finish_fault_batch,
    run_fault_batch,
    start_fault_batch,
)
from readlx.engines.base import Engine
from readlx.engines.fxgraph import CutGraph, LayerSpan
from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault, Site
from readlx.outcomes.tasks import CLASSIFICATION, Task


class TorchModelEngine(Engine, Protocol):
    """What the PyTorch fast path needs of an engine (:class:`readlx.engines.torch.TorchEngine`)."""

    model: torch.nn.Module
    device: torch.device
    first_image: int


@dataclass
class _Held:
    """A chunk whose pooled rows are not all back: its faulty outputs so far, and seconds per fault."""

    lo: int
    hi: int
    chunk: list[slice]
    outs: list[Array]
    seconds: list[float]


class TorchFastRunner(BlockRunner):
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
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> data = synthetic(20)
    >>> runner = TorchFastRunner(eng, data.images, eng.infer(data.images))
    >>> codes, faulty_top1, noop = next(runner.run([Fault("conv2", (0, 0, 0, 0), 2)]))
    >>> codes.shape, noop
    ((20,), False)
    """

    engine: TorchModelEngine

    def __init__(self, engine: TorchModelEngine, images: Array, golden: Array,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        start = time.perf_counter()
        super().__init__(engine, images, golden, options, task)
        self.graph = CutGraph(engine.model, engine.table.names)
        self.channels = ChannelLayers.of(self.graph)
        if not self.options.channel_only_or(True):
            self.channels.whole.update({layer: "channel-only runs are off" for layer in self.channels.node})
            self.channels.node.clear()
        self._keep = frozenset(self.channels.node.values())
        probe = self._golden(self.layout[0], FastUnsupported)
        if len(self.layout) > 1:  # the last batch may be shorter: another shape, other kernels
            self._golden(self.layout[-1], FastUnsupported)
        self.chunk_batches = max(1, self.options.cache_bytes // max(1, probe.nbytes()))
        self._kept: list[GoldenBatch] | None = None
        default_stack = self.default_stack(engine.device)
        self.refill = Refill(self.graph, engine.batch_size, self.options.stack_or(default_stack))
        self.pooling = self.options.pools(default_stack)
        self._held: list[_Held] = []
        if not self.pooling:
            self.refill.off = "refill is off"
        self.stats = FastStats(startup_seconds=time.perf_counter() - start)

    @staticmethod
    def default_stack(device: torch.device) -> int:
        """Reference batches pooled rows run at once unless asked (:attr:`FastOptions.stack`).

        >>> TorchFastRunner.default_stack(torch.device("cpu")), TorchFastRunner.default_stack(torch.device("cuda"))
        (1, 8)
        """
        return 8 if device.type == "cuda" else 1

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: no timings)."""
        return {
            "cuts": [self.graph.name(c) for c in self.graph.cuts],
            "chunk_images": self.chunk_batches * self.engine.batch_size,
            "block_faults": self.block_size(),
            "checks": self.options.checks,
            "channel_only": "a weight fault of a Conv2d (one group) or Linear computes its output channel "
                            "alone where its first, middle and last channels alone are bitwise the layer's on "
                            "each batch shape" if self.options.channel_only_or(True) else "off",
            "refill": "rows of a whole batch back to golden at the first check are retired, and pending rows "
                      f"of a block's faults run together in batches of {self._run_size()}, from cuts followed only "
                      "by operations that keep rows apart and where golden rows packed reversed and shifted give "
                      "their golden outputs" if self.pooling else "off",
        }

    def _run_size(self) -> str:
        if self.refill.stack == 1:
            return "the reference size"
        return f"{self.refill.stack} times the reference size ({self.refill.run} rows)"

    def ran(self) -> dict[str, Any]:
        """Refill's summary (:meth:`Refill.summary`) where rows are pooled."""
        return {"refill_ran": self.refill.summary()} if self.pooling else {}

    def _chunk_faults(self, faults: list[Fault], goldens: list[GoldenBatch], chunk: list[slice],
                      last: bool) -> list[Settled]:
        if self.refill.off is not None:
            return super()._chunk_faults(faults, goldens, chunk, last)
        try:
            return self._refilled(faults, goldens, chunk, last)
        except RowDependence as e:  # recompute the held chunks the plain way, and never refill again
            self.refill.disable(str(e))
            held, self._held = self._held, []
            settled = []
            for h in held:
                again = goldens if h.lo == chunk[0].start else [self._golden(sl, FastPathError) for sl in h.chunk]
                settled += super()._chunk_faults(faults, again, h.chunk, last)
            return settled

    def _refilled(self, faults: list[Fault], goldens: list[GoldenBatch], chunk: list[slice],
                  last: bool) -> list[Settled]:
        """:meth:`_chunk_faults` with the pending rows of every fault pooled (:mod:`.refill`). Pools
        carry over to the next chunk; chunks are handed over once no row of theirs is pending."""
        lo, hi = chunk[0].start, chunk[-1].stop
        held = _Held(lo, hi, chunk, [self.golden[lo:hi].copy() for _ in faults], [0.0] * len(faults))
        self._held.append(held)
        filler = next((gb for gb in goldens if len(gb) == self.engine.batch_size), None)
        for j, fault in enumerate(faults):
            t0 = time.perf_counter()
            self._refill_fault(j, fault, goldens, held.outs[j], lo)
            held.seconds[j] += time.perf_counter() - t0
            with torch.inference_mode():  # pending rows bounded as golden values are: filled up past it
                self.refill.drain(self._sink, filler if self.refill.pending_bytes() > self._pool_bytes() else None)
        room = sum(h.hi - h.lo for h in self._held) * len(faults) * self.golden[:1].nbytes
        final = last or hi + self.engine.batch_size > len(self.images)  # no whole batch after this chunk
        if self.refill.pending() and not final and room <= self.options.cache_bytes // 4:
            self.refill.held_over += 1
            return []
        with torch.inference_mode():
            self.refill.drain(self._sink, filler)
        settled, self._held = self._held, []
        return [(h.lo, h.hi, list(zip(h.outs, h.seconds, strict=True))) for h in settled]

    def _pool_bytes(self) -> int:
        """Bound on the pending rows' values: half the golden values' (``FastOptions.cache_bytes``)."""
        return self.options.cache_bytes // 2

    def _sink(self, keys: list[tuple[int, int]], out: torch.Tensor, spent: float) -> None:
        """Write pooled rows' outputs into their held chunks; their batch's seconds shared by rows."""
        rows = as_numpy(out)
        member = np.array([k[0] for k in keys])
        image = np.array([k[1] for k in keys])
        for h in self._held:
            inside = (image >= h.lo) & (image < h.hi)
            for j in np.unique(member[inside]).tolist():
                sel = inside & (member == j)
                h.outs[j][image[sel] - h.lo] = rows[sel]
                h.seconds[j] += spent * float(sel.sum()) / len(keys)

    def _refill_fault(self, j: int, fault: Fault, goldens: list[GoldenBatch], faulty: Array, lo: int) -> None:
        """Run ``fault`` on each batch of a chunk into ``faulty``, pooling the rows still pending at
        its first check (their outputs arrive when the pool runs)."""
        span = self._span(fault)
        channel = self._channel_ready(fault, goldens)
        cuts = check_cuts(self.graph, span, self.options.checks)
        with torch.inference_mode():  # checked with the golden weights, before the fault is in
            pooled = bool(cuts) and self.refill.usable(cuts[0], goldens)
        with self.engine.inject(fault), torch.inference_mode():
            step = (self.channels.node[fault.layer], self.channels.step(fault)) if channel else None
            for gb in goldens:
                self.engine.first_image = gb.start  # what a transient fault's hook draws from
                pool = pooled and len(gb) == self.engine.batch_size
                out, worth = self._refill_batch(j, span, gb, cuts, step, pool)
                pooled = pooled and worth  # a fault whose rows do not come back: not compared again
                if out is not None:
                    faulty[gb.start - lo : gb.start - lo + len(gb)] = as_numpy(out)

    def _refill_batch(self, j: int, span: LayerSpan, gb: GoldenBatch, cuts: list[int], step: ChannelStep | None,
                      pool: bool) -> tuple[torch.Tensor | None, bool]:
        """One batch of a fault: its outputs (``None`` when they are golden or pooled), and whether
        comparing its rows paid (at least one row in 16 came back; always, when batches are stacked)."""
        started = start_fault_batch(self.graph, span, gb, step)
        if started is None:
            return None, True
        env, pos = started
        if not pool:
            return finish_fault_batch(self.graph, gb, cuts, span.first, env, pos), True
        self.graph.run(env, pos, cuts[0])
        same = golden_rows(self.graph, env, gb, cuts[0], span.first)
        retired = int(same.sum())
        if retired == len(gb):
            return None, True
        if retired < len(gb) // 16 and self.refill.stack == 1:  # too few to pay for copying the rest
            return finish_fault_batch(self.graph, gb, cuts[1:], span.first, env, cuts[0]), False
        self.refill.add(cuts[0], j, env, gb, (~same).nonzero().flatten())
        return None, True

    def _fault_chunk(self, fault: Fault, goldens: list[GoldenBatch], lo: int, hi: int) -> Array:
        faulty = self.golden[lo:hi].copy()
        span = self._span(fault)
        channel = self._channel_ready(fault, goldens)
        with self.engine.inject(fault), torch.inference_mode():
            step = (self.channels.node[fault.layer], self.channels.step(fault)) if channel else None
            for gb in goldens:
                self.engine.first_image = gb.start  # what a transient fault's hook draws from
                out = run_fault_batch(self.graph, span, gb, self.options.checks, step)
                if out is not None:
                    faulty[gb.start - lo : gb.start - lo + len(gb)] = as_numpy(out)
        return faulty

    def _channel_ready(self, fault: Fault, goldens: list[GoldenBatch]) -> bool:
        """Does ``fault`` compute its channel alone on these batches? Its layer is checked on each batch
        shape first, with the golden weights (see :mod:`readlx.campaign.runners.channel`)."""
        if not self.channels.applies(fault):
            return False
        node = self.channels.node[fault.layer]
        source = self.graph.inputs(node)[0]
        with torch.inference_mode():
            return all(self.channels.check(fault.layer, gb.values[source], gb.values[node]) for gb in goldens)

    def _span(self, fault: Fault) -> LayerSpan:
        """Where ``fault`` changes values: its layer's span, for a normalized fault up to the BatchNorm
        whose output it corrupts (checks come after it)."""
        span = self.graph.spans[fault.layer]
        if fault.site is not Site.NORMALIZED:
            return span
        node = self.graph.normalizer(fault.layer)
        if node is None:
            raise FaultListError(f"the output of layer {fault.layer!r} goes to no single BatchNorm module in the "
                                 f"traced model, so {fault.describe()!r} has no tensor to corrupt", field="site")
        return LayerSpan(span.first, max(span.last, node))

    def _chunk_batches(self, group: list[str]) -> int:
        return self.chunk_batches

    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> list[GoldenBatch]:
        """Golden values of a chunk; when one chunk holds every image they serve every block."""
        if keep and self._kept is not None:
            return self._kept
        goldens = [self._golden(sl, FastPathError) for sl in chunk]
        self._kept = goldens if keep else None
        return goldens

    def _golden(self, rows: slice, error: type[FastPathError]) -> GoldenBatch:
        with torch.inference_mode():
            gb = golden_batch(self.graph, batch_tensor(self.images, rows, self.engine.device), rows.start,
                              self._keep)
            out = as_numpy(gb.output)
        expect = self.golden[rows]
        if out.shape != expect.shape or not np.array_equal(out.view(np.uint32), expect.view(np.uint32)):
            raise error(f"the traced model's golden outputs differ from the engine's for images "
                        f"{rows.start}..{rows.stop - 1}")
        return gb
