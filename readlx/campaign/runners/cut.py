"""Fast runners that restart a faulty batch from the golden values live across its layer's cut.

The runtimes whose graphs are compiled whole (ONNX Runtime sessions, TensorFlow functions) get, per
group of layers, a *probe*: the whole graph with the values at those layers' cuts as extra outputs; and
per layer a *suffix* that runs from its cut's values to the output. The runtime optimizes each of those
graphs on its own, so every probe run checks that its output is golden, and a layer's suffix, built
when its first fault comes, is checked to reproduce golden from the probe's values bit for bit on the
first and the last (possibly shorter) batch of the engine's layout. A layer whose suffix does not runs
whole-graph inference instead (``stats.whole_graph_layers`` lists it). Batches keep the engine's fixed
layout and no run stops early, since neither runtime is verified batch invariant.

Layers are grouped so that a group's cut values for one batch fit ``cache_bytes``: a DenseNet121 on
CIFAR-10 holds about 30 MiB per image at all its cuts (7.6 GB per batch of 256), at most 1.75 MiB
at one layer's.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner, FastStats
from readlx.campaign.runners.options import FastOptions, FastPathError
from readlx.engines.base import Engine, infer_rows
from readlx.fault_maps.fault import Fault
from readlx.outcomes.tasks import Task

CutValues = dict[str, Any]
"""The golden values at some cuts of one batch, by tensor name."""
ChunkValues = list[tuple[slice, CutValues]]
PROBES_KEPT = 2
"""Probes (a whole graph each) kept for reuse by later blocks."""


class CutRunner(BlockRunner):
    """Base of the probe-and-suffix runners.

    Subclasses call ``super().__init__`` with :class:`BlockRunner`'s arguments, each layer's cut (tensor
    names, empty for a layer whose suffix would be the whole graph) and the bytes per image of each cut
    tensor (``None`` where unknown), and implement :meth:`_make_probe`, :meth:`_run_probe`,
    :meth:`_make_suffix` and :meth:`run_suffix`.
    """

    suffixes_kept: int | None = None
    """Suffixes kept built at once (``None``: all); the least recently used beyond it are rebuilt, and
    checked again, when their layer's faults come back."""

    def __init__(self, engine: Engine, images: Array, golden: Array, options: FastOptions | None,
                 task: Task, cuts: dict[str, list[str]], image_bytes: dict[str, int | None]) -> None:
        super().__init__(engine, images, golden, options, task)
        self.cuts = cuts
        self.image_bytes = image_bytes
        self.suffix: dict[str, Any] = {}
        self.whole = [layer for layer, names in cuts.items() if not names]
        self.stats = FastStats(whole_graph_layers=list(self.whole))
        self._probes: dict[tuple[str, ...], Any] = {}
        self._kept: tuple[tuple[str, ...], ChunkValues] | None = None

    @abstractmethod
    def _make_probe(self, names: tuple[str, ...]) -> Any:
        """The whole graph with the tensors ``names`` as extra outputs, compiled as the engine's."""

    @abstractmethod
    def _run_probe(self, probe: Any, rows: slice) -> tuple[Array, list[Any]]:
        """The probe's output (float32 on the host) and extra outputs for one batch."""

    @abstractmethod
    def _make_suffix(self, layer: str) -> Any:
        """``layer``'s suffix: from its cut's values to the output, compiled as the engine's graph."""

    @abstractmethod
    def run_suffix(self, layer: str, values: CutValues) -> Array:
        """The outputs of ``layer``'s suffix run from one batch's cut values (float32 on the host)."""

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: the same for every shard)."""
        return {
            "suffix": "per layer, built for its first fault and checked bit for bit against golden "
                      "on the first and last batch; whole-graph inference where it differs",
            "cache_bytes": self.options.cache_bytes,
            "block_faults": self.block_size(),
        }

    def golden_values(self, layers: list[str], rows: slice) -> CutValues | None:
        """Golden values at the cuts of ``layers`` for one batch; ``None`` when the probe's output is
        not the engine's golden output."""
        names = self._names(layers)
        if not names:
            return {}
        probe = self._probes.pop(names, None) or self._make_probe(names)
        self._probes[names] = probe  # most recently used last
        while len(self._probes) > PROBES_KEPT:
            self._probes.pop(next(iter(self._probes)))
        out, values = self._run_probe(probe, rows)
        return dict(zip(names, values, strict=True)) if same_bits(out, self.golden[rows]) else None

    def _names(self, layers: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for layer in layers if layer not in self.whole for n in self.cuts[layer]))

    def _batch_bytes(self, names: tuple[str, ...]) -> int:
        """Bytes of one batch's values at ``names``; a tensor of unknown size counts as the whole cache."""
        sizes = [size for n in names if (size := self.image_bytes.get(n)) is not None]
        if len(sizes) != len(names):
            return self.options.cache_bytes
        return sum(sizes) * self.engine.batch_size

    def _groups(self, layers: list[str]) -> list[list[str]]:
        """Consecutive layers whose cut values for one batch fit ``cache_bytes`` (a layer alone may not)."""
        groups: list[list[str]] = []
        for layer in layers:
            if groups and self._batch_bytes(self._names([*groups[-1], layer])) <= self.options.cache_bytes:
                groups[-1].append(layer)
            else:
                groups.append([layer])
        return groups

    def _chunk_batches(self, group: list[str]) -> int:
        return max(1, self.options.cache_bytes // max(1, self._batch_bytes(self._names(group))))

    def prepare(self, group: list[str]) -> None:
        """Build and check the suffixes of ``group``'s layers that are not yet; a layer whose suffix,
        or whose group's probe, misses golden goes whole-graph."""
        for layer in group:  # most recently used last
            if layer in self.suffix:
                self.suffix[layer] = self.suffix.pop(layer)
        new = [layer for layer in group if layer not in self.suffix and layer not in self.whole]
        for rows in self.layout[:1] + self.layout[1:][-1:] if new else []:  # the last may be shorter
            values = self.golden_values(group, rows)
            for layer in new:
                if layer in self.whole:
                    continue
                if values is not None and layer not in self.suffix:
                    self.suffix[layer] = self._make_suffix(layer)
                if values is None or not same_bits(self.run_suffix(layer, values), self.golden[rows]):
                    self.suffix.pop(layer, None)
                    self.whole.append(layer)
                    self.stats.whole_graph_layers.append(layer)
        old = [layer for layer in self.suffix if layer not in group]
        for layer in old[: max(0, len(self.suffix) - (self.suffixes_kept or len(self.suffix)))]:
            del self.suffix[layer]

    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> ChunkValues:
        self.prepare(group)
        names = self._names(group)
        if keep and self._kept is not None and self._kept[0] == names:
            return self._kept[1]
        values = []
        for rows in chunk:
            got = self.golden_values(group, rows)
            if got is None:  # checked on the first and last batch: the runtime is not deterministic
                raise FastPathError(f"the probe's golden outputs differ from the engine's for images "
                                    f"{rows.start}..{rows.stop - 1}")
            values.append((rows, got))
        self._kept = (names, values) if keep else None
        return values

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> Array:
        with self.engine.inject(fault):
            # An activation fault has no weight for the suffix to read: the engine's own path runs it.
            if fault.is_activation or fault.layer not in self.suffix:  # whole batches: the engine's split
                return infer_rows(self.engine, self.images, lo, hi, fault)
            return np.concatenate([self.run_suffix(fault.layer, values) for _, values in goldens])


def same_bits(a: Array, b: Array) -> bool:
    """Are two float32 arrays of one shape equal bit for bit (NaN payloads and signed zeros included)?

    >>> same_bits(np.array([0.0], np.float32), np.array([-0.0], np.float32))
    False
    """
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a, np.float32).view(np.uint32), np.ascontiguousarray(b, np.float32).view(np.uint32)
    )
