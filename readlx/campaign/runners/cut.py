"""Fast runners that restart a faulty batch from the golden values live across its layer's cut.

The runtimes whose graphs are compiled whole (ONNX Runtime sessions, TensorFlow functions) get, per
group of layers, a *probe*: the whole graph with the values at those layers' cuts as extra outputs; and
per layer a *suffix* that runs from its cut's values to the output. The runtime optimizes each of those
graphs on its own, so every probe run checks that its output is golden, and a layer's suffix, built
when its first fault comes, is checked to reproduce golden from the probe's values bit for bit on the
first and the last (possibly shorter) batch of the engine's layout. A layer whose suffix does not runs
whole-graph inference instead (``stats.whole_graph_layers`` lists it). Batches keep the engine's fixed
layout, since neither runtime is verified batch invariant.

A faulty batch stops early once it is back to golden: the layer's *checks* (:func:`plan_checks`) are
the cuts of up to ``options.checks`` later layers, after the last node that reads the faulty weight. A
*segment* runs from one cut's values to the next check's; when every value it makes equals the
golden one bit for bit, the rest of the run would repeat the golden run and the batch's outputs are
the golden outputs (the argument of :mod:`readlx.campaign.runners.suffix`); otherwise the batch goes
on from there, through the next segment or the check layer's own suffix. Each segment is checked, when
built, to make the golden values at its check from the golden values at its start, on the first and
last batch; a check whose segment does not is dropped (``stats.unchecked`` names it), and so is one
whose layer's suffix runs whole-graph. No stop needs batch invariance: the batch keeps its shape and
its images.

Layers are grouped so that a group's cut values for one batch fit ``cache_bytes``: a DenseNet121 on
CIFAR-10 holds about 30 MiB per image at all its cuts (7.6 GB per batch of 256), at most 1.75 MiB
at one layer's.
"""
from __future__ import annotations

import itertools
import time
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
    """Suffixes kept built at once beyond those a group's layers and checks need (``None``: all), and as
    many segments; the least recently used beyond it are rebuilt, and checked again, when their
    layer's faults come back."""

    def __init__(self, engine: Engine, images: Array, golden: Array, options: FastOptions | None,
                 task: Task, cuts: dict[str, list[str]], image_bytes: dict[str, int | None],
                 spans: dict[str, tuple[int, int]] | None = None) -> None:
        super().__init__(engine, images, golden, options, task)
        self.cuts = cuts
        self.image_bytes = image_bytes
        self.suffix: dict[str, Any] = {}
        self.whole = [layer for layer, names in cuts.items() if not names]
        self.stats = FastStats(whole_graph_layers=list(self.whole))
        self.planned = plan_checks(cuts, spans or {}, self.options.checks)
        self.segment: dict[tuple[str, str], Any] = {}
        self._unchecked: set[tuple[str, str]] = set()
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

    @abstractmethod
    def _make_segment(self, start: str, check: str, made: list[str]) -> Any:
        """The graph from ``start``'s cut values to the values ``made`` at ``check``'s cut, compiled as
        the engine's graph."""

    @abstractmethod
    def _run_segment(self, segment: Any, start: str, values: CutValues) -> list[Any]:
        """A segment's outputs (in the order of its ``made``) from one batch's values at ``start``'s cut."""

    def run_segment(self, start: str, check: str, values: CutValues) -> CutValues:
        """The values the segment from ``start`` to ``check`` makes at ``check``'s cut, by name, from one
        batch's values at ``start``'s."""
        made = self.made(start, check)
        if not made:  # every value there passes through: nothing to run
            return {}
        return dict(zip(made, self._run_segment(self.segment[(start, check)], start, values), strict=True))

    def made(self, start: str, check: str) -> list[str]:
        """The values at ``check``'s cut that a segment from ``start``'s cut computes (the others pass
        through unchanged)."""
        return [n for n in self.cuts[check] if n not in self.cuts[start]]

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: the same for every shard)."""
        return {
            "suffix": "per layer, built for its first fault and checked bit for bit against golden "
                      "on the first and last batch; whole-graph inference where it differs",
            "checks": f"a faulty batch stops once every value at one of up to {self.options.checks} later "
                      "layers' cuts is golden, through segments checked bit for bit like the suffixes",
            "cache_bytes": self.options.cache_bytes,
            "block_faults": self.block_size(),
        }

    def golden_values(self, layers: list[str], rows: slice) -> CutValues | None:
        """Golden values at the cuts of ``layers`` for one batch; ``None`` when the probe's output is
        not the engine's golden output."""
        return self._probe_values(self._names(layers), rows)

    def _probe_values(self, names: tuple[str, ...], rows: slice) -> CutValues | None:
        if not names:
            return {}
        probe = self._probes.pop(names, None) or self._make_probe(names)
        self._probes[names] = probe  # most recently used last
        while len(self._probes) > PROBES_KEPT:
            self._probes.pop(next(iter(self._probes)))
        out, values = self._run_probe(probe, rows)
        return dict(zip(names, values, strict=True)) if same_bits(out, self.golden[rows]) else None

    def _names(self, layers: list[str]) -> tuple[str, ...]:
        every = self._with_checks(layers)
        return tuple(dict.fromkeys(n for layer in every if layer not in self.whole for n in self.cuts[layer]))

    def _with_checks(self, layers: list[str]) -> list[str]:
        """``layers`` and the layers of their planned checks, in order, once each."""
        checks = (c for layer in layers if layer not in self.whole for c in self.planned.get(layer, []))
        return list(dict.fromkeys([*layers, *checks]))

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
        """Build and check the suffixes of ``group``'s layers and of their checks' layers, and the
        segments to those checks, that are not yet; a layer whose suffix, or whose group's probe,
        misses golden goes whole-graph, and a segment that misses golden is not used."""
        layers = self._with_checks(group)
        for layer in layers:  # most recently used last
            if layer in self.suffix:
                self.suffix[layer] = self.suffix.pop(layer)
        new = [layer for layer in layers if layer not in self.suffix and layer not in self.whole]
        pairs = [p for layer in group for p in self._pairs(layer)
                 if p not in self.segment and p not in self._unchecked]
        names = self._names(group)  # before any layer goes whole-graph: the same values for both batches
        for rows in self.layout[:1] + self.layout[1:][-1:] if new or pairs else []:  # the last may be shorter
            values = self._probe_values(names, rows)
            for layer in new:
                if layer in self.whole:
                    continue
                if values is not None and layer not in self.suffix:
                    self.suffix[layer] = self._make_suffix(layer)
                if values is None or not same_bits(self.run_suffix(layer, values), self.golden[rows]):
                    self.suffix.pop(layer, None)
                    self.whole.append(layer)
                    self.stats.whole_graph_layers.append(layer)
            for pair in pairs:
                self._check_segment(pair, values)
        self._evict(layers, {p for layer in group for p in self._pairs(layer)})

    def _pairs(self, layer: str) -> list[tuple[str, str]]:
        """The segments of ``layer``'s planned checks: from its cut to the first, and so on, up to the first
        check whose layer runs whole-graph (its values are not probed)."""
        if layer in self.whole:
            return []
        starts = [layer, *itertools.takewhile(lambda c: c not in self.whole, self.planned.get(layer, []))]
        return list(itertools.pairwise(starts))

    def _check_segment(self, pair: tuple[str, str], values: CutValues | None) -> None:
        """Build ``pair``'s segment where absent, and drop it unless it makes the golden values at its
        check from those at its start (one batch's)."""
        if pair in self._unchecked:
            return
        start, check = pair
        made = self.made(start, check)
        if values is not None and pair not in self.segment:
            self.segment[pair] = self._make_segment(start, check, made) if made else None
        if values is None or not _golden_at(self.run_segment(start, check, values), values):
            self.segment.pop(pair, None)
            self._unchecked.add(pair)
            self.stats.unchecked.append(f"{start}->{check}")

    def _evict(self, layers: list[str], pairs: set[tuple[str, str]]) -> None:
        """Keep at most ``suffixes_kept`` suffixes and as many segments, the least recently used out."""
        bound = self.suffixes_kept or len(self.suffix)
        old = [layer for layer in self.suffix if layer not in layers]
        for layer in old[: max(0, len(self.suffix) - bound)]:
            del self.suffix[layer]
        stale = [p for p in self.segment if p not in pairs]
        for pair in stale[: max(0, len(self.segment) - (self.suffixes_kept or len(self.segment)))]:
            del self.segment[pair]

    def checks_of(self, layer: str) -> list[str]:
        """The checks of ``layer`` in use: its planned ones up to the first whose segment or suffix is
        not (checked, or kept)."""
        chain, start = [], layer
        for check in self.planned.get(layer, []):
            if check in self.whole or check not in self.suffix or (start, check) not in self.segment:
                break
            chain.append(check)
            start = check
        return chain

    def run_checked(self, layer: str, values: CutValues, rows: slice, faulty: CutValues | None = None) -> Array:
        """One faulty batch from ``layer``'s cut values, stopped at the first check where every value is
        golden again: ``values`` are golden, and ``faulty`` (when given) the batch's own values there.

        A value that passes through a segment unchanged is golden unless it came in faulty (a value of
        ``faulty`` that is not the golden object); a check that carries one such value never stops."""
        start, current = layer, values if faulty is None else faulty
        for check in self.checks_of(layer):
            made = self.run_segment(start, check, current)
            carried = any(current[n] is not values.get(n) for n in self.cuts[check] if n not in made)
            if not carried and _golden_at(made, values):
                self.stats.stopped_batches += 1
                return self.golden[rows]
            current, start = {**current, **made}, check
        return self.run_suffix(start, current)

    def _chunk_golden(self, chunk: list[slice], group: list[str], keep: bool) -> ChunkValues:
        t0 = time.perf_counter()
        self.prepare(group)
        self.stats.build_seconds += time.perf_counter() - t0
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
            return np.concatenate([self.run_checked(fault.layer, values, rows) for rows, values in goldens])


def same_bits(a: Array, b: Array) -> bool:
    """Are two float32 arrays of one shape equal bit for bit (NaN payloads and signed zeros included)?

    >>> same_bits(np.array([0.0], np.float32), np.array([-0.0], np.float32))
    False
    """
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a, np.float32).view(np.uint32), np.ascontiguousarray(b, np.float32).view(np.uint32)
    )


def _golden_at(made: CutValues, golden: CutValues) -> bool:
    """Is every value of ``made`` its golden one, bit for bit?

    A faulty batch's value almost always differs in its first image already, so the first images
    are compared before the whole values: a full comparison costs up to 3 ms a batch on ResNet20.
    """
    pairs = [(np.asarray(value), np.asarray(golden[name])) for name, value in made.items()]
    return all(same_bits(a[:1], b[:1]) for a, b in pairs if a.ndim) and all(same_bits(a, b) for a, b in pairs)


def plan_checks(cuts: dict[str, list[str]], spans: dict[str, tuple[int, int]],
                checks: int) -> dict[str, list[str]]:
    """Each layer's checks: the first ``checks`` layers whose cuts come after the last node that reads
    its weight, skipping cuts equal to one already taken (and layers without a cut or a span).

    ``spans`` gives each layer's cut position (its first node in the graph's topological order) and
    the position of the last node that reads its weight. A later cut holds every value live across it,
    parallel branches included, so its values determine the output.

    Examples
    --------
    >>> cuts = {"a": ["x"], "b": ["h", "x"], "c": ["y"], "d": ["z"]}
    >>> spans = {"a": (1, 1), "b": (3, 3), "c": (6, 6), "d": (8, 8)}
    >>> plan_checks(cuts, spans, 2)
    {'a': ['b', 'c'], 'b': ['c', 'd'], 'c': ['d'], 'd': []}
    >>> plan_checks(cuts, {**spans, "a": (1, 7)}, 2)["a"]  # its weight is read again after c's cut
    ['d']
    """
    ranked = sorted((spans[layer][0], layer) for layer in cuts if cuts[layer] and layer in spans)
    out: dict[str, list[str]] = {}
    for layer in cuts:
        chain: list[str] = []
        seen = {tuple(cuts[layer])}
        if cuts[layer] and layer in spans:
            for position, other in ranked:
                if len(chain) < checks and position > spans[layer][1] and tuple(cuts[other]) not in seen:
                    chain.append(other)
                    seen.add(tuple(cuts[other]))
        out[layer] = chain
    return out
