"""One faulty run on one batch: start at the faulty layer's cut, stop once the batch is back to golden.

Why stopping early is exact
---------------------------
Every node after a cut is a deterministic function of the values live across that cut: same values,
shapes and strides in, same bits out (the assumption behind golden = same path, docs/architecture.md
invariant 5). So when, at some check cut, *every* value live across it equals its golden value bit for
bit, the rest of the run would repeat the golden run exactly and every image of the batch is masked.
Nothing else is assumed: the batch keeps its shape, and the images it holds are those of the
reference run.

Checks start only after the last node that reads the faulty weight (a layer called twice applies its
fault again after its first call) or uses a value made from the weight alone (a parameter fetched as a
value, or a view of it, is the injected tensor itself, equal to "golden" whatever it holds). Values
computed before the faulty layer are golden by construction, so only the values computed by the faulty
run itself are compared, each once: a value that differs keeps the batch running for as long as it is
live. Which cuts are checked changes speed only, never outcomes.

Why single images are not dropped here
--------------------------------------
Dropping the masked images of a batch would run the others as a smaller batch, whose rows match the
full batch only if every kernel is batch-size invariant. That is false in general (PyTorch's batch-1
convolution differs from batch-256, and a small ``Linear`` differed between 2 and 8 rows). Refill
(:mod:`readlx.campaign.runners.refill`) retires single rows without that assumption: it keeps every
batch at the reference size, filled with other faults' pending rows, and only after cuts where the
operations and a numeric check show rows independent.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch

from readlx.campaign.runners.compare import equal_whole
from readlx.campaign.runners.golden_batch import GoldenBatch
from readlx.engines.fxgraph import CutGraph, LayerSpan

ChannelStep = tuple[int, Callable[[dict[int, Any], Any], Any | None]]
"""A faulty layer's node and the step computing its faulty output (see :func:`run_fault_batch`)."""


def run_fault_batch(graph: CutGraph, span: LayerSpan, golden: GoldenBatch, checks: int,
                    channel: ChannelStep | None = None) -> torch.Tensor | None:
    """The batch's outputs with the faulty weight in place, or ``None`` when they are the golden ones.

    Parameters
    ----------
    graph, span
        The traced model and the span of the faulty layer.
    golden
        The batch's golden values at the cuts.
    checks
        At most this many cuts after the faulty layer are checked (any number is exact).
    channel
        For a fault whose layer's output changes in one channel only (:mod:`.channel`): the layer's
        node, the golden output of which ``golden`` holds, and the step that gives its faulty output
        from the node's inputs and that golden output (``None``: golden).
    """
    started = start_fault_batch(graph, span, golden, channel)
    if started is None:
        return None
    env, pos = started
    return finish_fault_batch(graph, golden, check_cuts(graph, span, checks), span.first, env, pos)


def check_cuts(graph: CutGraph, span: LayerSpan, checks: int) -> list[int]:
    """The cuts at which a faulty batch of this span is compared with golden: the first ``checks``
    after the last node that reads the faulty weight."""
    return [c for c in graph.cuts if c > span.last][:checks]


def start_fault_batch(graph: CutGraph, span: LayerSpan, golden: GoldenBatch,
                      channel: ChannelStep | None = None) -> tuple[dict[int, Any], int] | None:
    """The values of a faulty run restarted at the faulty layer's cut, and the node to run next; past
    the faulty layer itself when it computes one channel. ``None``: that channel is golden."""
    env = {i: golden.values[i] for i in graph.live[span.first]}
    if channel is None:
        return env, span.first
    node, step = channel
    graph.run(env, span.first, node)
    value = step(env, golden.values[node])
    if value is None:
        return None
    env[node] = value
    graph.release(env, node)
    return env, node + 1


def finish_fault_batch(graph: CutGraph, golden: GoldenBatch, cuts: list[int], first: int,
                       env: dict[int, Any], pos: int) -> torch.Tensor | None:
    """Run a faulty batch from node ``pos`` to the end, comparing it with golden at ``cuts``: its
    outputs, or ``None`` once it is back to golden (values made before ``first`` are golden)."""
    golden_now: dict[int, bool] = {}  # whether each value computed by this run equals golden
    for cut in cuts:
        graph.run(env, pos, cut)
        pos = cut
        if _back_to_golden(graph, env, golden, cut, first, golden_now):
            return None
    graph.run(env, pos, len(graph.nodes))
    return cast(torch.Tensor, env[graph.result])


def _back_to_golden(graph: CutGraph, env: dict[int, Any], golden: GoldenBatch, cut: int, first: int,
                    golden_now: dict[int, bool]) -> bool:
    """Are all values live across ``cut`` golden? Each value is compared once, when first needed."""
    fresh = [i for i in graph.live[cut] if i >= first]
    if any(golden_now.get(i) is False for i in fresh):
        return False
    for i in fresh:
        if i not in golden_now:
            golden_now[i] = equal_whole(env[i], golden.values[i])
        if not golden_now[i]:
            return False
    return True
