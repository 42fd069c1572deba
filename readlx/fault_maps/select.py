"""Subsets of a fault list: stratified, for quick campaigns that still cover every layer and bit, or at
random, for samples with the list's own mix of layers and bits."""
from __future__ import annotations

import numpy as np

from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList


def stratified_subset(faults: FaultList, n: int, seed: int | np.random.Generator = 0) -> FaultList:
    """``n`` faults spread evenly over layers, and within each layer evenly over bit positions.

    Layers get equal shares (round robin, so small layers are not drowned by large ones); inside a
    layer the faults are ordered by bit and picked at evenly spaced positions from a random offset.
    The result keeps the list's order, ids, sampling record and published counts.

    Examples
    --------
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault(l, (0, 0), b) for l in ("a", "b") for b in range(32)))
    >>> sub = stratified_subset(fl, 4)
    >>> sorted({f.layer for f in sub.faults}), len(sub)
    (['a', 'b'], 4)
    """
    if n < 1:
        raise ReadlxError(f"subset size must be >= 1, got {n!r}")
    if n >= len(faults):
        return faults
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    by_layer: dict[str, list[int]] = {}
    for pos, entry in enumerate(faults):
        by_layer.setdefault(entry.fault.layer, []).append(pos)
    quota = dict.fromkeys(by_layer, 0)
    left = n
    while left:
        for layer, positions in by_layer.items():
            if left and quota[layer] < len(positions):
                quota[layer] += 1
                left -= 1
    chosen: list[int] = []
    for layer, positions in by_layer.items():
        ordered = sorted(positions, key=lambda p: (faults[p].fault.bit, p))
        step = len(ordered) / quota[layer] if quota[layer] else 0
        offset = rng.uniform(0, step) if step else 0
        chosen += [ordered[int(offset + k * step)] for k in range(quota[layer])]
    return faults.subset(sorted(chosen))


def random_subset(faults: FaultList, n: int, seed: int) -> FaultList:
    """``n`` faults drawn at random without replacement (``numpy.random.default_rng(seed)``), in the
    list's order: a sample with the list's own mix, where most faults sit in the large layers.

    Examples
    --------
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault("a", (0, 0), b) for b in range(32)))
    >>> sub = random_subset(fl, 3, seed=1)
    >>> len(sub), sub == random_subset(fl, 3, seed=1)
    (3, True)
    """
    if n < 1:
        raise ReadlxError(f"subset size must be >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    return faults.subset(sorted(rng.choice(len(faults), min(n, len(faults)), replace=False)))
