"""The reference loop (invariant 7 of docs/architecture.md): one whole inference of the image set per fault.

:func:`run_fault` is the loop's body for one fault, written out plainly: it is the slow, obviously
correct definition the fast runners are tested against. :class:`ReferenceRunner` runs the same thing
through the block interface every runner shares, so a campaign has one execution path whatever mode
it runs in.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner, FastStats
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine, infer_rows
from readlx.fault_maps.fault import Fault
from readlx.outcomes.records import FaultOutcome
from readlx.outcomes.tasks import CLASSIFICATION, Task


def run_fault(engine: Engine, fault: Fault, images: Array, golden: Array, stored: np.float32,
              skip_noop: bool, task: Task = CLASSIFICATION) -> FaultOutcome:
    """The outcome of one fault: inject it, infer every image, classify against ``golden``.

    ``stored`` is the faulty weight's stored value; a no-op stuck-at is classified masked without
    inference unless ``skip_noop`` is false (the control of invariant 5).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> images = synthetic(8).images
    >>> fault = Fault("conv1", (0, 0, 0, 0), 30)
    >>> result = run_fault(eng, fault, images, eng.infer(images), eng.weight("conv1")[0, 0, 0, 0], True)
    >>> result.codes.shape, result.noop
    ((8,), False)
    """
    noop = fault.is_noop(stored)
    if noop and skip_noop:
        return FaultOutcome(task.classify(golden, golden), task.predict(golden), True)
    with engine.inject(fault):
        faulty = engine.infer(images)
    return FaultOutcome(task.classify(golden, faulty), task.predict(faulty), noop)


class ReferenceRunner(BlockRunner):
    """The reference loop as a runner: blocks of one fault, each a whole inference of every image on
    the engine's own batch layout, compared with the engine's golden outputs.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> images = synthetic(8).images
    >>> runner = ReferenceRunner(eng, images, eng.infer(images))
    >>> [len(block) for block in runner.blocks([Fault("conv1", (0, 0, 0, 0), b) for b in (3, 30)])]
    [1, 1]
    """

    def __init__(self, engine: Engine, images: Array, golden: Array,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        super().__init__(engine, images, golden, options, task)
        self.stats = FastStats()

    def describe(self) -> dict[str, Any]:
        return {}

    def block_size(self) -> int:
        """One fault per block: each result reaches the caller (and a checkpoint) when it is done."""
        return 1

    def _chunk_batches(self, group: list[str]) -> int:
        return len(self.layout)  # one chunk holding every image: the engine splits it as it always does

    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> None:
        return None

    def _fault_chunk(self, fault: Fault, goldens: Any, lo: int, hi: int) -> Array:
        with self.engine.inject(fault):
            return infer_rows(self.engine, self.images, lo, hi, fault)
