"""Statistical fault lists: draw faults over a model's canonical layer table.

Three modes:

``"paper"``
    The published generator, draw for draw: Python's Mersenne Twister seeded once, layers in table
    order, each layer gets ``round(W_layer × n / W)`` faults; per fault one ``randint(0, d − 1)``
    per index dimension in canonical (PyTorch) order, then ``randint(0, 31)`` for the bit. A draw
    that repeats an earlier fault of the same layer is redrawn. With the default arguments this
    reproduces the published PyTorch lists row for row.
``"network-wise"``
    The same per-layer allocation, drawn with a seeded :class:`numpy.random.Generator` without
    replacement.
``"layer-wise"``
    Every layer is a population of its own and gets its own sample size.
``"bit-wise"``
    Every bit position is a population of its own (``W × kinds``) and gets its own sample size,
    allocated over the layers as network-wise; its faults are drawn with that bit.

Sites: faults of the layers' weights (``site="weight"``) or of their output tensors
(``site="activation"``): the population is then the output elements (per image, no batch axis)
× bits × kinds, drawn over :func:`readlx.fault_maps.sites.activation_table`, so the formula, the
allocation and the draws are the same. Multi-bit faults (``bits=K``) corrupt ``K`` adjacent bits; the
drawn position is the lowest, one of ``33 − K``, and the population counts positions, not bits.

Several fault kinds: the kind is drawn too, uniformly among ``kinds`` in the given order (in paper
mode by one more ``randint(0, len(kinds) − 1)`` after the bit, made only when there is more than
one kind, so that a single kind keeps the published sequence). Two faults differing only in their
kind are distinct.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from readlx.errors import InputError
from readlx.fault_maps import sampling
from readlx.fault_maps.fault import FLOAT_BITS, Fault, FaultKind, Site
from readlx.fault_maps.faultlist import FaultList, Sampling
from readlx.fault_maps.sites import site_table
from readlx.graph import Layer, LayerTable

MODES = ("paper", "network-wise", "layer-wise", "bit-wise")
# The published generator gave up on a fault after this many draws.
MAX_DRAWS = 1000


def generate(
    table: LayerTable,
    *,
    margin: float = 0.01,
    confidence: float = 0.99,
    p: float = 0.5,
    t: float | None = None,
    seed: int | np.random.Generator = 42,
    mode: str = "paper",
    kinds: Sequence[FaultKind | str] = (FaultKind.BIT_FLIP,),
    population_kinds: int = sampling.PAPER_KINDS,
    site: Site | str = Site.WEIGHT,
    bits: int = 1,
) -> FaultList:
    """Draw a statistical fault list for the model described by ``table``.

    Parameters
    ----------
    table
        Canonical layer table; faults are drawn layer by layer in its order.
    margin, confidence, p, t
        Sample-size parameters, see :func:`readlx.fault_maps.sampling.sample_size`.
    seed
        Seed of the draw; the numpy modes also take a :class:`numpy.random.Generator`.
    mode
        One of :data:`MODES` (see the module notes).
    kinds, population_kinds
        Fault kinds to draw from; kinds counted per bit in the population ``W × 32 × population_kinds``
        (2 is what the published lists used).
    site, bits
        ``"weight"`` or ``"activation"`` (needs ``table.outputs``, :func:`readlx.fault_maps.sites.with_outputs`);
        adjacent bits corrupted per fault (1 to 32).

    Returns
    -------
    FaultList
        Faults numbered from 0, with a :class:`Sampling` record whose ``sample_size`` is the
        formula's ``n`` (the list may be a few faults longer or shorter because of per-layer
        rounding) and, in layer-wise mode, the sum of the per-layer sizes.

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> conv, fc = Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))
    >>> table = LayerTable("m", (conv, fc))
    >>> fl = generate(table, margin=0.05)
    >>> len(fl), fl.sampling.sample_size
    (641, 641)
    >>> fl.faults[0].describe(), len(generate(table, margin=0.05, mode="layer-wise", seed=1))
    ('bit-flip conv1[0, 0, 2, 1] bit 15', 1232)
    >>> two = generate(table, margin=0.05, mode="network-wise", bits=2, kinds=("bit-flip", "stuck-at-1"))
    >>> two.faults[0].bits, dict(two.meta)
    ((23, 24), {'site': 'weight', 'bits': 2, 'kinds': ['bit-flip', 'stuck-at-1']})
    """
    where = Site.parse(site) if isinstance(site, str) and not isinstance(site, Site) else Site(site)
    draw = Draw(_check_width(bits, mode), where)
    t_used = sampling.t_value(confidence) if t is None else t
    return _generated(table, _check_mode(mode), _check_kinds(kinds), draw, (margin, confidence, p, t_used), seed,
                      population_kinds)


def _generated(table: LayerTable, mode: str, kind_list: list[FaultKind], draw: Draw,
               size: tuple[float, float, float, float], seed: Any, population_kinds: int) -> FaultList:
    margin, confidence, p, t_used = size
    sites = site_table(table, draw.site)
    n_pop = sampling.population(sites, bits=draw.positions, kinds=population_kinds)
    n, counts = _sizes(sites, mode, n_pop, margin, confidence, p, t_used, population_kinds, draw.positions)
    _check_capacity(sites, counts, len(kind_list), draw.positions if mode != "bit-wise" else 1)
    faults = _draw(sites, counts, mode, seed, kind_list, draw)
    record = Sampling(n_pop, n, margin, confidence, p, t_used, _seed_of(seed), mode)
    meta = {} if draw.plain and kind_list == [FaultKind.BIT_FLIP] else {
        "site": draw.site.value, "bits": draw.width, "kinds": [k.value for k in kind_list]}
    fl = FaultList.from_faults(table.model, faults, sampling=record, meta=meta)
    return replace(fl, checked_against=table.digest())


@dataclass(frozen=True)
class Draw:
    """What each drawn fault is besides its element: ``width`` adjacent bits from the drawn lowest
    one, at ``site``."""

    width: int = 1
    site: Site = Site.WEIGHT

    @property
    def positions(self) -> int:
        return FLOAT_BITS - self.width + 1

    @property
    def plain(self) -> bool:
        return self.width == 1 and self.site is Site.WEIGHT

    def fault(self, layer: str, index: tuple[int, ...], bit: int, kind: FaultKind) -> Fault:
        bits: int | tuple[int, ...] = bit if self.width == 1 else tuple(range(bit, bit + self.width))
        return Fault(layer, index, bits, kind, self.site)


# -- paper mode ------------------------------------------------------------------------------------
def _draw_paper(
    table: LayerTable, counts: dict[str, int], rng: random.Random, kinds: list[FaultKind], draw: Draw
) -> list[Fault]:
    faults: list[Fault] = []
    for layer in table:
        used: set[tuple[tuple[int, ...], int, int]] = set()
        faults.extend(_draw_unique(layer, rng, kinds, used, draw) for _ in range(counts[layer.name]))
    return faults


def _draw_unique(
    layer: Layer,
    rng: random.Random,
    kinds: list[FaultKind],
    used: set[tuple[tuple[int, ...], int, int]],
    draw: Draw,
) -> Fault:
    for _ in range(MAX_DRAWS):
        index = tuple(rng.randint(0, d - 1) for d in layer.shape)
        bit = rng.randint(0, draw.positions - 1)
        kind = rng.randint(0, len(kinds) - 1) if len(kinds) > 1 else 0
        if (index, bit, kind) not in used:
            used.add((index, bit, kind))
            return draw.fault(layer.name, index, bit, kinds[kind])
    raise InputError(
        f"layer {layer.name!r}: no new fault found in {MAX_DRAWS} draws; its "
        f"{layer.numel * FLOAT_BITS * len(kinds)} possible faults are nearly all taken, "
        f"use a larger margin or the 'network-wise' mode"
    )


# -- numpy modes -----------------------------------------------------------------------------------
def _draw_numpy(
    table: LayerTable, counts: dict[str, int], rng: np.random.Generator, kinds: list[FaultKind], draw: Draw
) -> list[Fault]:
    faults: list[Fault] = []
    for layer in table:
        faults.extend(_draw_layer_numpy(layer, counts[layer.name], rng, kinds, draw, range(draw.positions)))
    return faults


def _draw_bit_wise(
    table: LayerTable, counts: dict[str, int], rng: np.random.Generator, kinds: list[FaultKind], draw: Draw
) -> list[Fault]:
    """Bit by bit, each bit's sample allocated over the layers (``counts`` is keyed ``"<bit>/<layer>"``)."""
    faults: list[Fault] = []
    for bit in range(draw.positions):
        for layer in table:
            faults.extend(_draw_layer_numpy(layer, counts[f"{bit}/{layer.name}"], rng, kinds, draw, (bit,)))
    return faults


def _draw_layer_numpy(
    layer: Layer, count: int, rng: np.random.Generator, kinds: list[FaultKind], draw: Draw,
    bits: Sequence[int],
) -> list[Fault]:
    # One flat slot per (element, bit, kind): drawing slots without replacement rules out
    # duplicates without any redraw.
    dims = layer.shape + (len(bits), len(kinds))
    flat = rng.choice(layer.numel * len(bits) * len(kinds), size=count, replace=False)
    coords = np.stack(np.unravel_index(flat, dims), axis=1).tolist()
    return [draw.fault(layer.name, tuple(c[:-2]), bits[c[-2]], kinds[c[-1]]) for c in coords]


# -- argument checks -------------------------------------------------------------------------------
def _draw(table: LayerTable, counts: dict[str, int], mode: str, seed: Any, kinds: list[FaultKind],
          draw: Draw) -> list[Fault]:
    """The paper's draw (Python's ``random``) or readlx's (a NumPy generator)."""
    if mode == "paper":
        return _draw_paper(table, counts, random.Random(_check_python_seed(seed)), kinds, draw)
    if mode == "bit-wise":
        return _draw_bit_wise(table, counts, _numpy_rng(seed), kinds, draw)
    return _draw_numpy(table, counts, _numpy_rng(seed), kinds, draw)


def _sizes(table: LayerTable, mode: str, n_pop: int, margin: float, confidence: float, p: float, t: float,
           population_kinds: int, positions: int = FLOAT_BITS) -> tuple[int, dict[str, int]]:
    """The sample size and the faults per layer (bit-wise: per ``"<bit>/<layer>"``) of ``mode``."""
    if mode == "layer-wise":
        counts = sampling.layer_wise_sizes(table, margin, confidence, p, t=t, bits=positions, kinds=population_kinds)
        return sum(counts.values()), counts
    if mode == "bit-wise":
        per_bit = sampling.sample_size(sampling.population(table, bits=1, kinds=population_kinds), margin,
                                       confidence, p, t=t)
        split = sampling.allocate(table, per_bit)
        counts = {f"{bit}/{name}": n for bit in range(positions) for name, n in split.items()}
        return sum(counts.values()), counts
    n = sampling.sample_size(n_pop, margin, confidence, p, t=t)
    return n, sampling.allocate(table, n)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown sampling mode {mode!r}; valid: {', '.join(MODES)}")
    return mode


def _check_kinds(kinds: Iterable[FaultKind | str]) -> list[FaultKind]:
    if isinstance(kinds, (str, FaultKind)):
        kinds = (kinds,)
    parsed = [k if isinstance(k, FaultKind) else FaultKind.parse(str(k)) for k in kinds]
    if not parsed or len(set(parsed)) != len(parsed):
        valid = ", ".join(k.value for k in FaultKind)
        raise InputError(f"kinds must be distinct fault kinds among {valid}, got {kinds!r}")
    return parsed


def _check_capacity(table: LayerTable, counts: dict[str, int], n_kinds: int, positions: int) -> None:
    for key, count in counts.items():
        layer = table[key.rpartition("/")[2]]
        room = layer.numel * positions * n_kinds
        if count > room:
            raise InputError(
                f"layer {layer.name!r} has {room} distinct faults but the sample asks for "
                f"{count}; use a larger margin"
            )


def _check_width(bits: int, mode: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= FLOAT_BITS:
        raise InputError(f"bits must be an integer in 1..{FLOAT_BITS} (adjacent bits per fault), got {bits!r}")
    return int(bits)


def _check_python_seed(seed: int | np.random.Generator) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"mode 'paper' needs a non-negative integer seed, got {seed!r}")
    return int(seed)


def _numpy_rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _seed_of(seed: int | np.random.Generator) -> int | None:
    return None if isinstance(seed, np.random.Generator) else int(seed)
