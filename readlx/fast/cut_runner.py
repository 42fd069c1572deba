"""Fast runners that restart a faulty batch from the golden values live across its layer's cut.

The runtimes whose graphs are compiled whole (ONNX Runtime sessions, TensorFlow functions) get one
*probe* that gives the golden values at every cut, and per layer a *suffix* that runs from its cut's
values to the output. The runtime optimizes each of those graphs on its own, so start-up checks, on the
first and the last (possibly shorter) batch of the engine's layout, that the probe's output is golden
and that each suffix reproduces golden from the probe's values, bit for bit. A layer whose suffix does
not runs whole-graph inference instead, and :meth:`CutRunner.describe` lists it. Batches keep the
engine's fixed layout and no run stops early, since neither runtime is verified batch invariant.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from readlx.fast.blocks import BlockRunner
from readlx.fault_maps.fault import Fault

CutValues = dict[str, Any]
"""The golden values at every cut of one batch, by tensor name."""
ChunkValues = list[tuple[slice, CutValues]]


class CutRunner(BlockRunner):
    """Base of the probe-and-suffix runners.

    Subclasses set what :class:`BlockRunner` needs except ``chunk_batches``, plus ``suffix`` (the
    layers that have one) and ``whole`` (those that run the whole graph), then call
    :meth:`_self_check`; they implement :meth:`probe`, :meth:`run_suffix` and :meth:`_nbytes`.
    """

    suffix: dict[str, Any]
    whole: list[str]

    def __init__(self) -> None:
        super().__init__()
        self._kept: ChunkValues | None = None

    @abstractmethod
    def probe(self, rows: slice) -> CutValues:
        """Golden values at every cut for one batch; raises ``FastUnsupported`` when the probe's
        output is not the engine's golden output."""

    @abstractmethod
    def run_suffix(self, layer: str, values: CutValues) -> np.ndarray:
        """The outputs of ``layer``'s suffix run from one batch's cut values (float32 on the host)."""

    @abstractmethod
    def _nbytes(self, values: CutValues) -> int:
        """Bytes held by one batch's cut values."""

    def _self_check(self) -> int:
        """Drop the suffixes that do not reproduce golden; return the batches per chunk."""
        per_batch = 1
        for rows in self.layout[:1] + self.layout[1:][-1:]:  # the last batch may be shorter
            values = self.probe(rows)
            per_batch = max(per_batch, self._nbytes(values))
            for layer in list(self.suffix):
                if not same_bits(self.run_suffix(layer, values), self.golden[rows]):
                    del self.suffix[layer]
                    self.whole.append(layer)
        return max(1, self.options.cache_bytes // per_batch)

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: no timings)."""
        return {
            "suffix_layers": sorted(self.suffix),
            "whole_graph_layers": sorted(self.whole),
            "chunk_images": self.chunk_batches * self.engine.batch_size,
            "block_faults": self.block_size(),
        }

    def _chunk_golden(self, chunk: list[slice], keep: bool) -> ChunkValues:
        if keep and self._kept is not None:
            return self._kept
        values = [(rows, self.probe(rows)) for rows in chunk]
        self._kept = values if keep else None
        return values

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> np.ndarray:
        with self.engine.inject(fault):
            if fault.layer not in self.suffix:  # whole batches of the layout: the engine's own split
                return self.engine.infer(self.images[lo:hi])
            return np.concatenate([self.run_suffix(fault.layer, values) for _, values in goldens])


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Are two float32 arrays of one shape equal bit for bit (NaN payloads and signed zeros included)?

    >>> same_bits(np.array([0.0], np.float32), np.array([-0.0], np.float32))
    False
    """
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a, np.float32).view(np.uint32), np.ascontiguousarray(b, np.float32).view(np.uint32)
    )
