"""The fast campaign runner of the emulated-arithmetic runtimes (``reference-ALGORITHM-ARITHMETIC``).

The reference executor (:class:`readlx.engines.reference.executor.GraphExecutor`) runs the traced graph
node by node in plain Python over PyTorch operations, so a faulty batch may restart at its layer's cut
from the golden values live there (:meth:`~readlx.engines.reference.executor.GraphExecutor.run_prefix`),
and run only the rest of the graph (:meth:`~readlx.engines.reference.executor.GraphExecutor.run_suffix`):
the same operations on the same values, so the outputs are bitwise those of a whole run. A fault
that leaves its layer's multiply operands bitwise unchanged (a flip that TF32, BF16 or FP16 rounding
of the operand undoes) gives the golden outputs without any run
(:meth:`~readlx.engines.reference.engine.ReferenceEngine.operands_unchanged`).

Both facts are checked, not assumed: for each layer and batch shape, the suffix run from the golden
cut values must give the golden outputs bit for bit before a fault of that layer uses it; a layer
that does not runs its faults through the whole executor and ``stats.whole_graph_layers`` names it.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> from readlx.data.synthetic import synthetic
>>> from readlx.engines.reference.engine import ReferenceEngine
>>> from readlx.fault_maps.fault import Fault
>>> bench = ZOO["democnn-synthetic10"]
>>> eng = ReferenceEngine(load_model(bench.name), bench.layer_table(), algorithm="im2col", arithmetic="tf32",
...                       batch_size=4)
>>> images = synthetic(10).images
>>> runner = ReferenceFastRunner(eng, images, eng.infer(images))
>>> fault = Fault("conv3", (0, 0, 0, 0), 30)
>>> fast = next(iter(runner.run([fault])))
>>> with eng.inject(fault):
...     whole = eng.infer(images)
>>> bool((fast.codes == CLASSIFICATION.classify(eng.infer(images), whole)).all())
True
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner, FastStats
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine
from readlx.engines.reference.executor import GraphExecutor
from readlx.fault_maps.fault import Fault
from readlx.outcomes.tasks import CLASSIFICATION, Task

Live = dict[int, Any]
"""The golden values live across one layer's cut, for one batch."""


class ExecutorEngine(Engine, Protocol):
    """What this runner needs of an engine (:class:`readlx.engines.reference.engine.ReferenceEngine`; the
    runtime registry hands it only those)."""

    executor: GraphExecutor

    def plain_forward(self, images: Array) -> Array: ...

    def operands_unchanged(self, fault: Fault) -> bool: ...


class ReferenceFastRunner(BlockRunner):
    """Runs faults on a :class:`~readlx.engines.reference.engine.ReferenceEngine` with the outcomes of
    the reference loop."""

    engine: ExecutorEngine

    def __init__(self, engine: ExecutorEngine, images: Array, golden: Array, options: FastOptions | None = None,
                 task: Task = CLASSIFICATION) -> None:
        super().__init__(engine, images, golden, options, task)
        self.stats = FastStats()
        self._checked: dict[tuple[str, int], bool] = {}
        self._bytes: dict[str, int] = {}

    def describe(self) -> dict[str, Any]:
        return {"suffix": "the executor's graph from the faulty layer's cut, on the golden values live there, "
                          "checked bit for bit against golden per layer and batch shape; golden outputs where "
                          "the fault leaves the layer's multiply operands unchanged",
                "cache_bytes": self.options.cache_bytes, "block_faults": self.block_size()}

    def _groups(self, layers: list[str]) -> list[list[str]]:
        return [[layer] for layer in layers]  # one layer's live values at a time

    def _chunk_batches(self, group: list[str]) -> int:
        layer = group[0]
        if layer not in self._bytes:  # measured on one image, scaled to a batch
            live = self.engine.executor.run_prefix(torch.from_numpy(self.images[:1].copy()), layer)
            per_image = sum(v.element_size() * v.numel() for v in live.values() if isinstance(v, torch.Tensor))
            self._bytes[layer] = max(1, per_image * self.engine.batch_size)
        return max(1, self.options.cache_bytes // self._bytes[layer])

    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> list[tuple[slice, Live]]:
        layer = group[0]
        values = [(rows, self.engine.executor.run_prefix(torch.from_numpy(np.ascontiguousarray(self.images[rows])),
                                                         layer)) for rows in chunk]
        for rows, live in values:
            self._check(layer, rows, live)
        return values

    def _check(self, layer: str, rows: slice, live: Live) -> None:
        """Does the suffix from golden values give the golden outputs, for this layer and batch shape?"""
        key = (layer, rows.stop - rows.start)
        if key in self._checked:
            return
        out = self.engine.executor.run_suffix(layer, live).numpy().astype(np.float32, copy=False)
        self._checked[key] = bool(np.array_equal(out.view(np.uint32), self.golden[rows].view(np.uint32)))
        if not self._checked[key] and layer not in self.stats.whole_graph_layers:
            self.stats.whole_graph_layers.append(layer)

    def _fault_chunk(self, fault: Fault, goldens: list[tuple[slice, Live]], lo: int, hi: int) -> Array:
        with self.engine.inject(fault):  # refuses activation faults, as in the reference loop
            if self.engine.operands_unchanged(fault):
                return self.golden[lo:hi].copy()
            outs = []
            for rows, live in goldens:
                if self._checked[(fault.layer, rows.stop - rows.start)]:
                    out = self.engine.executor.run_suffix(fault.layer, live).numpy()
                else:
                    out = self.engine.plain_forward(self.images[rows])
                outs.append(out.astype(np.float32, copy=False))
        return np.concatenate(outs)
