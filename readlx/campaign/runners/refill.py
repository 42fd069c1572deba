"""Fixed-shape refill: rows back to golden leave a faulty batch, pending rows of any fault fill it.

Why it is exact
---------------
A faulty run of one whole batch reaches the first cut after its faulty layer
(:mod:`readlx.campaign.runners.suffix`). A row whose every value live across that cut equals golden
bit for bit ends with its golden output, *provided* the rest of the network computes each row from
that row alone. Such rows are retired there. The other rows wait at the cut in a pool, beside the
pending rows of other batches and of other faults: after the cut no node reads a faulty weight, so
the rest of the run is the same function for every fault. The pool runs its rows in batches of
exactly the reference batch size, so every kernel sees the shape it sees in the reference run; the
last, partial batch of a chunk is filled up with golden rows. Only batches of the reference size
take part: a shorter last batch runs other kernels, and keeps its own layout (it runs as in
:mod:`.suffix`).

What it rests on, and how that is checked
-----------------------------------------
First, that every node after the cut is an operation that computes rows separately by what it is
(:mod:`.rowwise`; a batch mean is not, and would show it only on faulty rows). Then, that from the
cut on, a row's outputs at this batch size depend on that row's values alone, not on its position in
the batch nor on the other rows: a property of the kernels a runtime picks, so not assumed either.
Before a cut is first used, :meth:`Refill.usable` runs the rest of the network on golden rows of two
batches, reversed and shifted, packed exactly as pools pack them, and compares every row's output
with its golden output bit for bit. A cut that fails either is not used, and :attr:`Refill.refused`
says why; its faults run whole batches as before. The golden rows that fill a partial batch check
the same again on the way: one whose output is not its golden output raises :class:`RowDependence`,
and the runner recomputes the chunk without refill, and stops refilling.

The cost is a bitwise comparison per row at the cut and a copy of the pending rows' live values; what
it saves is the rest of the network for the retired rows.

Several faults in one batch
---------------------------
With ``stack`` above 1, a pool runs its rows ``stack`` reference batches at a time: the suffixes of
several faults (a pool holds the rows of every fault of a block) in one batch. That is another batch
shape, whose kernels may sum otherwise than the reference size's, so the check packs ``stack`` copies
of the reversed and shifted golden rows, each copy rolled by its position, into one batch of
``stack`` times the reference size, and compares every row with its golden output from a batch of the
reference size; filling rows repeat the filler's golden rows and are checked the same way. On a GPU
this is where the speed is: a CIFAR-10 batch of 256 leaves most of the device idle.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from readlx.campaign.runners.compare import bits
from readlx.campaign.runners.golden_batch import GoldenBatch
from readlx.campaign.runners.rowwise import why_not
from readlx.engines.fxgraph import CutGraph
from readlx.errors import FastPathError

Sink = Callable[[list[tuple[int, int]], torch.Tensor, float], None]
"""Receives the outputs of pending rows: their (member, image) keys, one output row each, and the
seconds their batch took."""


class RowDependence(FastPathError):
    """A golden row's output changed with the rows packed beside it: rows are not independent."""


@dataclass
class Piece:
    """Rows waiting at one cut: their (member, image) keys and their live values, row for row."""

    keys: list[tuple[int, int]]
    values: dict[int, torch.Tensor]


@dataclass
class Pool:
    """The pending rows of one cut, in arrival order."""

    pieces: list[Piece] = field(default_factory=list)
    rows: int = 0

    def add(self, piece: Piece) -> None:
        self.pieces.append(piece)
        self.rows += len(piece.keys)

    def nbytes(self) -> int:
        """Bytes of the pending rows' values."""
        return sum(v.element_size() * v.numel() for p in self.pieces for v in p.values.values())

    def take(self, n: int) -> list[Piece]:
        """The first ``n`` rows (or all there are), split off the last piece they reach into."""
        taken: list[Piece] = []
        while n > 0 and self.pieces:
            piece = self.pieces[0]
            if len(piece.keys) <= n:
                taken.append(self.pieces.pop(0))
            else:
                taken.append(Piece(piece.keys[:n], {i: v[:n] for i, v in piece.values.items()}))
                self.pieces[0] = Piece(piece.keys[n:], {i: v[n:] for i, v in piece.values.items()})
            n -= len(taken[-1].keys)
        self.rows -= sum(len(p.keys) for p in taken)
        return taken


def rows_of(values: dict[int, Any], nodes: tuple[int, ...], rows: torch.Tensor) -> dict[int, torch.Tensor]:
    """The values of ``nodes`` restricted to ``rows`` (indices), as new tensors."""
    return {i: values[i].index_select(0, rows) for i in nodes}


def pack(pieces: list[Piece], nodes: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """One batch of the pieces' rows, in order: the one way pools build batches (and the check)."""
    return {i: torch.cat([p.values[i] for p in pieces]) for i in nodes}


def golden_rows(graph: CutGraph, env: dict[int, Any], golden: GoldenBatch, cut: int, first: int) -> torch.Tensor:
    """Which rows of a faulty batch have every value live across ``cut`` bitwise golden (values made
    before ``first``, the faulty layer's cut, are golden by construction)."""
    same = torch.ones(len(golden), dtype=torch.bool, device=golden.output.device)
    for i in graph.live[cut]:
        if i >= first:
            same &= (bits(env[i]) == bits(golden.values[i])).flatten(1).all(1)
    return same


class Refill:
    """The pools of one runner, and which cuts pass the row-independence check.

    Parameters
    ----------
    graph
        The traced model.
    batch
        The reference batch size.
    stack
        Reference batches a pool runs at once: every batch it runs has ``stack * batch`` rows.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.campaign.runners.golden_batch import golden_batch
    >>> g = CutGraph(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table().names)
    >>> with torch.inference_mode():
    ...     goldens = [golden_batch(g, torch.from_numpy(synthetic(16).images[s:s + 8]), s) for s in (0, 8)]
    >>> refill = Refill(g, 8)
    >>> with torch.inference_mode():
    ...     ok = refill.usable(g.spans["conv3"].first, goldens)
    >>> ok, refill.refused
    (True, {})
    """

    def __init__(self, graph: CutGraph, batch: int, stack: int = 1) -> None:
        self.graph, self.batch, self.stack = graph, batch, stack
        self.run = stack * batch
        """Rows of every batch a pool runs."""
        self.verified: set[int] = set()
        self.refused: dict[str, str] = {}
        """Cut (the name of its first node) -> why rows are not refilled there."""
        self.pools: dict[int, Pool] = {}
        self.rows_run = 0
        self.rows_retired = 0
        self.peak_bytes = 0
        """The most bytes of pending rows' values held at once."""
        self.held_over = 0
        """Chunks whose outputs waited for a later chunk's pooled batches."""
        self.off: str | None = None
        """Why refill stopped for the whole run (a filling row's output changed), or ``None``."""
        self.idle: str | None = None
        """Why no cut was checked yet although a chunk asked (no full batch), or ``None``."""

    def usable(self, cut: int, goldens: list[GoldenBatch]) -> bool:
        """May faulty rows at ``cut`` be retired and pooled? Checked once per cut, on full batches
        of ``goldens`` (see the module docstring)."""
        if self.off is not None:
            return False
        if cut in self.verified:
            return True
        name = self.graph.name(cut)
        if name in self.refused:
            return False
        full = [gb for gb in goldens if len(gb) == self.batch]
        if not full:
            self.idle = (f"no batch of {self.batch} images: rows are checked, retired and refilled in full "
                         "batches only")
            return False
        why = self._independent(cut, full[0], full[-1])
        if why is None:
            self.verified.add(cut)
            return True
        self.refused[name] = why
        return False

    def add(self, cut: int, member: int, env: dict[int, Any], golden: GoldenBatch, rows: torch.Tensor) -> None:
        """Put ``rows`` of a faulty batch at ``cut`` (its live values in ``env``) in the cut's pool."""
        keys = [(member, golden.start + int(r)) for r in rows.tolist()]
        values = {i: env[i] if i in env else golden.values[i] for i in self.graph.live[cut]}
        self.pools.setdefault(cut, Pool()).add(Piece(keys, rows_of(values, self.graph.live[cut], rows)))
        self.rows_retired += len(golden) - len(keys)
        self.peak_bytes = max(self.peak_bytes, self.pending_bytes())

    def drain(self, sink: Sink, filler: GoldenBatch | None = None) -> None:
        """Run every pool's whole batches; with ``filler``, also each last partial batch, filled up
        with ``filler``'s golden rows, whose outputs are checked.

        Raises
        ------
        RowDependence
            When a filling row's output is not its golden output.
        """
        for cut, pool in self.pools.items():
            while pool.rows >= self.run or (filler is not None and pool.rows):
                t0 = time.perf_counter()
                pieces = pool.take(self.run)
                n = sum(len(p.keys) for p in pieces)
                pad = self.run - n
                if pad:
                    assert filler is not None
                    rows = torch.arange(pad, device=filler.output.device) % self.batch
                    pieces.append(Piece([], rows_of(filler.values, self.graph.live[cut], rows)))
                out = self._suffix(cut, pack(pieces, self.graph.live[cut]))
                if pad and filler is not None and not torch.equal(bits(out[n:]),
                                                                  bits(filler.output.index_select(0, rows))):
                    raise RowDependence(f"golden rows filling a batch at {self.graph.name(cut)!r} gave outputs "
                                        f"other than their golden ones")
                self.rows_run += n
                sink([k for p in pieces for k in p.keys], out[:n], time.perf_counter() - t0)

    def summary(self) -> dict[str, Any]:
        """What refill did so far, for the campaign's attrs: rows retired and rows run pooled, the cuts
        refused and why, why it stopped for the whole run (``None`` while on), and why it never started
        (``None`` once a cut was checked, or while no chunk has asked)."""
        return {"rows_retired": self.rows_retired, "rows_run_pooled": self.rows_run, "rows_per_batch": self.run,
                "cuts_refused": dict(self.refused), "off": self.off,
                "idle": None if self.verified or self.refused else self.idle}

    def pending(self) -> int:
        """Rows waiting in the pools."""
        return sum(pool.rows for pool in self.pools.values())

    def pending_bytes(self) -> int:
        """Bytes of the values of the rows waiting in the pools."""
        return sum(pool.nbytes() for pool in self.pools.values())

    def disable(self, why: str) -> None:
        """Stop refilling for good (after a :class:`RowDependence`), dropping every pending row."""
        self.pools.clear()
        self.off = why

    def _rowwise(self, cut: int, values: dict[int, torch.Tensor]) -> tuple[torch.Tensor | None, str | None]:
        """:meth:`_suffix` node by node, stopping at the first node not known to keep rows apart
        (:mod:`.rowwise`): the outputs, or why not."""
        env: dict[int, Any] = dict(values)
        for i in range(cut, len(self.graph.nodes)):
            target = self.graph.target(i)
            env[i] = self.graph.call(i, env)
            if target is not None:
                args, kwargs = self.graph.arguments(i, env)
                why = why_not(target, args, kwargs, env[i])
                if why is not None:
                    return None, f"node {self.graph.name(i)!r}: {why}"
            elif self.graph.nodes[i].op != "get_attr":
                return None, f"node {self.graph.name(i)!r} has op {self.graph.nodes[i].op!r}"
            self.graph.release(env, i)
        result: torch.Tensor = env[self.graph.result]
        return result, None

    def _suffix(self, cut: int, values: dict[int, torch.Tensor]) -> torch.Tensor:
        env: dict[int, Any] = dict(values)
        self.graph.run(env, cut, len(self.graph.nodes))
        result: torch.Tensor = env[self.graph.result]
        return result

    def _independent(self, cut: int, a: GoldenBatch, b: GoldenBatch) -> str | None:
        """``None`` when golden rows of ``a`` and ``b`` packed reversed and shifted give their golden
        outputs from ``cut`` on, else why not."""
        for i in self.graph.live[cut]:
            value = a.values[i]
            if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != self.batch:
                return f"value {self.graph.name(i)!r} live across the cut is not a tensor of {self.batch} rows"
        half = self.batch // 2
        nodes = self.graph.live[cut]
        pieces, expect = [], []
        for k in range(self.stack):  # copy k rolled by k: every row at other positions in a stacked batch
            from_a = torch.roll(torch.arange(self.batch - 1, half - 1, -1, device=a.output.device), k)
            from_b = torch.roll(torch.arange(half, device=a.output.device), 1 + k)
            pieces += [Piece([], rows_of(a.values, nodes, from_a)), Piece([], rows_of(b.values, nodes, from_b))]
            expect += [a.output.index_select(0, from_a), b.output.index_select(0, from_b)]
        out, why = self._rowwise(cut, pack(pieces, nodes))
        if out is None:
            return why
        if not torch.equal(bits(out), bits(torch.cat(expect))):
            at_once = f", {self.run} rows at once," if self.stack > 1 else ""
            return (f"rows {a.start}.. and {b.start}.. packed reversed and shifted{at_once} gave other outputs than "
                    f"in their own batches")
        return None
