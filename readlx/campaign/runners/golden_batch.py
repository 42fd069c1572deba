"""Golden activations at the cuts of one batch, and the batch tensors exactly as the engine builds them."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from readlx._typing import Array
from readlx.engines.fxgraph import CutGraph


@dataclass
class GoldenBatch:
    """One batch's golden values of every node live across some cut, and its golden output.

    ``start`` is the batch's first image in the whole image set. The values are the very tensors of
    the golden run (views included), so a faulty run restarted from them sees the same shapes and
    strides as a full forward pass.
    """

    start: int
    values: dict[int, Any]
    output: torch.Tensor

    def __len__(self) -> int:
        return int(self.output.shape[0])

    def nbytes(self) -> int:
        """Bytes held by the cached tensors (shared storages counted once)."""
        seen: dict[int, int] = {}
        for value in self.values.values():
            if isinstance(value, torch.Tensor):
                storage = value.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
        return sum(seen.values())


def batch_tensor(images: Array, rows: slice, device: torch.device) -> torch.Tensor:
    """The input tensor of one batch, built as :meth:`TorchEngine.infer` builds it.

    >>> batch_tensor(np.zeros((5, 3, 2, 2), np.float32), slice(4, 5), torch.device("cpu")).shape
    torch.Size([1, 3, 2, 2])
    """
    return torch.from_numpy(np.ascontiguousarray(images[rows])).to(device)


def golden_batch(graph: CutGraph, x: torch.Tensor, start: int, keep: Collection[int] = ()) -> GoldenBatch:
    """Run ``graph`` on batch ``x`` and keep the values live across its cuts, and those of the nodes
    ``keep`` (layers whose faults splice one channel into their golden output).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> g = CutGraph(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table().names)
    >>> with torch.inference_mode():
    ...     gb = golden_batch(g, torch.from_numpy(synthetic(4).images), 0)
    >>> len(gb), sorted(g.name(i) for i in gb.values)[:3]
    (4, ['flatten', 'relu', 'relu_1'])
    """
    env: dict[int, Any] = {graph.input: x}
    values: dict[int, Any] = {}
    pos = 0
    for stop in sorted({*graph.cuts, *(i + 1 for i in keep)}):
        graph.run(env, pos, stop)
        values.update({i: env[i] for i in graph.live.get(stop, ())})
        if stop - 1 in keep:
            values[stop - 1] = env[stop - 1]
        pos = stop
    graph.run(env, pos, len(graph.nodes))
    return GoldenBatch(start, values, env[graph.result])


def as_numpy(output: torch.Tensor) -> Array:
    """Model outputs as the engine returns them (float32 on the host).

    >>> as_numpy(torch.ones(2, 3, dtype=torch.float64)).dtype
    dtype('float32')
    """
    return output.float().cpu().numpy()
