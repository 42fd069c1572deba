"""The fast campaign runner of the PyTorch engine: outcomes of the reference loop, less work.

The block loop is :class:`readlx.campaign.runners.blocks.BlockRunner`'s. Here a cut is a node of the traced graph
(:mod:`readlx.engines.fxgraph`) and a faulty batch restarts from the golden values live across its layer's
cut, stopping early when the batch is back to golden (:mod:`readlx.campaign.runners.suffix`). Holding golden
activations for all images at once would need about 0.8 MB per CIFAR-10 image for ResNet20 (8 GB for
the test set); a chunk needs a bounded part of it, and a block's golden pass costs one plain inference.
"""
from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner, FastStats
from readlx.campaign.runners.channel import ChannelLayers
from readlx.campaign.runners.golden_batch import GoldenBatch, as_numpy, batch_tensor, golden_batch
from readlx.campaign.runners.options import FastOptions, FastPathError, FastUnsupported
from readlx.campaign.runners.suffix import run_fault_batch
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
        if not self.options.channel_only:
            self.channels.whole.update({layer: "channel-only runs are off" for layer in self.channels.node})
            self.channels.node.clear()
        self._keep = frozenset(self.channels.node.values())
        probe = self._golden(self.layout[0], FastUnsupported)
        if len(self.layout) > 1:  # the last batch may be shorter: another shape, other kernels
            self._golden(self.layout[-1], FastUnsupported)
        self.chunk_batches = max(1, self.options.cache_bytes // max(1, probe.nbytes()))
        self._kept: list[GoldenBatch] | None = None
        self.stats = FastStats(startup_seconds=time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: no timings)."""
        return {
            "cuts": [self.graph.name(c) for c in self.graph.cuts],
            "chunk_images": self.chunk_batches * self.engine.batch_size,
            "block_faults": self.block_size(),
            "checks": self.options.checks,
            "channel_only": "a weight fault of a Conv2d (one group) or Linear computes its output channel "
                            "alone where its first, middle and last channels alone are bitwise the layer's on "
                            "each batch shape" if self.options.channel_only else "off",
        }

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
