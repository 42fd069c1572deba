"""Transient activation faults: one element and one bit of a layer's output drawn per image.

A transient fault (:class:`~readlx.fault_maps.fault.Fault` with a ``seed``) corrupts, in the inference
of image ``i``, one element of its layer's output and one of its bits, both drawn from the pair
``(seed, i)`` alone, the transient (single-event upset) model of TensorFI2 and PyTorchFI's per-image
injection. The draw is a pure function of the fault and the image's index in the campaign's image
set, never of the batch that holds the image, the batch size or the order of the work, so outcomes
do not depend on the batch layout (invariant 6 of docs/architecture.md) and a campaign can be re-run,
resumed or sharded with identical draws.

How an image's draw is made
---------------------------
Two 64-bit words come from SplitMix64 (Steele, Lea & Flood, OOPSLA 2014), the counter-based mixer
NumPy's own seeding uses: word ``k`` of image ``i`` is ``mix(seed + (2 i + k + 1) γ)`` with the golden
ratio increment ``γ = 0x9E3779B97F4A7C15``, arithmetic modulo 2**64. The element is word 0 modulo the
number of elements drawn from (row-major over the layer's output, within the part ``fault.index``
names), the bit is ``fault.bits[word 1 modulo len(fault.bits)]``. The modulo bias is below
``n / 2**64``, far under any sampling error.

Each fault of a generated list has its own seed, drawn from the list's seed
(:func:`transient_faults`), so the list's seed and the fault's place in it determine every draw.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from readlx.errors import FaultListError, InputError
from readlx.fault_maps.fault import SEED_LIMIT, Fault, FaultKind, Site, apply_kind, check_prefix, parse_bits
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.sites import site_table
from readlx.graph import LayerTable

GAMMA = np.uint64(0x9E3779B97F4A7C15)
TRANSIENT_MODES = ("network-wise", "layer-wise")


@dataclass(frozen=True)
class Draws:
    """The corrupted element and bit of each image (row) of a batch.

    ``index`` holds one canonical element index per row (``(n, rank)``), ``bit`` one bit position
    per row.
    """

    index: npt.NDArray[np.int64]
    bit: npt.NDArray[np.int64]

    @property
    def masks(self) -> npt.NDArray[np.uint32]:
        """Each row's bit as a mask of the float32 word."""
        return (np.uint32(1) << self.bit.astype(np.uint32)).astype(np.uint32)

    def framework_index(self, channels_last: bool) -> npt.NDArray[np.int64]:
        """``index`` in a runtime's layout: ``(H, W, C)`` for a channels-last runtime's conv output."""
        if channels_last and self.index.shape[1] == 3:
            return self.index[:, [1, 2, 0]]
        return self.index


def draws(fault: Fault, shape: Sequence[int], images: npt.ArrayLike) -> Draws:
    """The element and bit that transient ``fault`` corrupts in each of ``images`` (indices in the
    campaign's image set), in its layer's output of canonical per-image ``shape``.

    Examples
    --------
    >>> f = Fault("conv1", (), tuple(range(32)), site="activation", seed=7)
    >>> d = draws(f, (4, 8, 8), [0, 1, 2])
    >>> d.index.tolist(), d.bit.tolist()
    ([[3, 2, 7], [0, 0, 2], [3, 3, 2]], [28, 11, 17])
    >>> draws(f, (4, 8, 8), [2]).index.tolist()  # image 2's draw, whatever batch holds it
    [[3, 3, 2]]
    """
    if fault.seed is None:
        raise FaultListError(f"{fault.describe()!r} is permanent: it corrupts the same element of every image")
    shape = tuple(int(n) for n in shape)
    check_prefix(fault, shape)
    rows = np.asarray(images, dtype=np.uint64).reshape(-1)
    inner = shape[len(fault.index):]
    size = int(np.prod(inner, dtype=np.int64)) if inner else 1
    flat = (_word(fault.seed, rows, 0) % np.uint64(size)).astype(np.int64)
    index = np.empty((len(rows), len(shape)), np.int64)
    index[:, : len(fault.index)] = fault.index
    if inner:
        index[:, len(fault.index):] = np.stack(np.unravel_index(flat, inner), axis=1)
    bits = np.asarray(fault.bits, np.int64)
    return Draws(index, bits[(_word(fault.seed, rows, 1) % np.uint64(len(bits))).astype(np.int64)])


def _word(seed: int, rows: npt.NDArray[np.uint64], k: int) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = np.uint64(seed) + (rows * np.uint64(2) + np.uint64(k + 1)) * GAMMA
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), np.uint64)


def corrupt_rows(array: npt.NDArray[np.float32], where: npt.NDArray[np.int64], masks: npt.NDArray[np.uint32],
                 kind: FaultKind) -> npt.NDArray[np.float32]:
    """A copy of ``array`` (one batch, batch axis first) with element ``where[r]`` of each row ``r``
    corrupted by ``kind`` on the bits of ``masks[r]``.

    >>> out = corrupt_rows(np.ones((2, 3), np.float32), np.array([[0], [2]]), np.array([1 << 31] * 2, np.uint32),
    ...                    FaultKind.BIT_FLIP)
    >>> out.tolist()
    [[-1.0, 1.0, 1.0], [1.0, 1.0, -1.0]]
    """
    if len(where) != len(array):
        raise FaultListError(f"{len(where)} draws for a batch of {len(array)} images")
    out = np.array(array, dtype=np.float32, copy=True)
    bits = out.view(np.uint32)
    at = (np.arange(len(out)), *where.T)
    bits[at] = apply_kind(kind, bits[at], masks)
    return out


def transient_faults(table: LayerTable, repeats: int, *, seed: int = 42, mode: str = "network-wise",
                     kinds: Sequence[FaultKind | str] = (FaultKind.BIT_FLIP,),
                     bits: Sequence[int] = tuple(range(32)), site: Site | str = Site.ACTIVATION) -> FaultList:
    """A list of transient faults of the layers' outputs (``site``: ``"activation"``, or
    ``"normalized"`` for those of their BatchNorms): ``repeats`` for the network (``"network-wise"``:
    each fault's layer drawn in proportion to its output elements) or for each layer
    (``"layer-wise"``); each fault's kind is drawn uniformly among ``kinds``, its seed from ``seed``.

    A campaign of ``F`` such faults over ``N`` images makes ``F × N`` independent draws, so a share's
    margin at confidence with quantile ``t`` is ``t √(p (1 − p) / (F N))``.

    Examples
    --------
    >>> from readlx.graph import Layer
    >>> t = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))),
    ...                outputs={"conv1": (4, 8, 8), "fc": (10,)})
    >>> fl = transient_faults(t, 3, mode="layer-wise", seed=1)
    >>> [f.layer for f in fl.faults], fl.faults[0].describe()[:40]
    (['conv1', 'conv1', 'conv1', 'fc', 'fc', 'fc'], 'bit-flip transient activation conv1[*] b')
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"transient faults need a positive number of repeats, got {repeats!r}", field="repeats")
    if mode not in TRANSIENT_MODES:
        raise InputError(f"unknown mode {mode!r} for transient faults; valid: {', '.join(TRANSIENT_MODES)}",
                         field="mode")
    kind_list = [k if isinstance(k, FaultKind) else FaultKind.parse(str(k)) for k in kinds]
    bit_set = parse_bits(tuple(bits))
    where = site if isinstance(site, Site) else Site.parse(str(site))
    if where is Site.WEIGHT:
        raise InputError("transient faults are faults of layer outputs, not of weights; sites: activation, "
                         "normalized", field="site")
    rng = np.random.default_rng(seed)
    layers = _layers(site_table(table, where), repeats, mode, rng)
    chosen = rng.integers(0, len(kind_list), len(layers)) if len(kind_list) > 1 else np.zeros(len(layers), int)
    seeds = rng.integers(0, SEED_LIMIT, len(layers), dtype=np.int64)
    faults = tuple(Fault(layer, (), bit_set, kind_list[int(k)], where, int(s))
                   for layer, k, s in zip(layers, chosen, seeds, strict=True))
    meta: dict[str, Any] = {"site": where.value, "transient": {
        "repeats": repeats, "mode": mode, "seed": int(seed), "kinds": [k.value for k in kind_list]}}
    return replace(FaultList.from_faults(table.model, faults, meta=meta), checked_against=table.digest())


def _layers(table: LayerTable, repeats: int, mode: str, rng: np.random.Generator) -> list[str]:
    if mode == "layer-wise":
        return [name for name in table.names for _ in range(repeats)]
    sizes = np.array([np.prod(table.output_shape(name), dtype=np.int64) for name in table.names], np.float64)
    picked = rng.choice(len(sizes), size=repeats, p=sizes / sizes.sum())
    return [table.names[int(i)] for i in picked]
