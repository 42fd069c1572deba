"""The fault model: corrupted bits of one float32 element of a weight or of a layer's output, addressed
canonically.

A fault corrupts one bit or a set of bits (multi-bit) of one element, by flipping them or by forcing
them to 0 or 1 (stuck-at). Its *site* says which tensor holds the element: a layer's stored weight, or
the output tensor of the layer (an activation), in canonical NCHW layout without the batch axis. An
activation fault is permanent (the same element of every image's output is corrupted, the
neuron-fault model of PyTorchFI) or, given a *seed*, transient: each image's inference corrupts one
element and one bit of its own, drawn from the seed and the image's index
(:mod:`readlx.fault_maps.transient`).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from readlx._typing import Array
from readlx.errors import FaultListError

FLOAT_BITS = 32


class FaultKind(str, enum.Enum):  # noqa: UP042 - a StrEnum would change str() and f-strings of a kind
    """How the addressed bit is corrupted."""

    BIT_FLIP = "bit-flip"
    STUCK_AT_0 = "stuck-at-0"
    STUCK_AT_1 = "stuck-at-1"

    @classmethod
    def parse(cls, value: str) -> FaultKind:
        return cast(FaultKind, _member(cls, value, "fault kind"))


class Site(str, enum.Enum):  # noqa: UP042 - as FaultKind
    """The tensor that holds a fault's element."""

    WEIGHT = "weight"
    ACTIVATION = "activation"
    NORMALIZED = "normalized"
    """The output of the BatchNorm that normalizes the layer's output (Conv -> BatchNorm)."""

    @classmethod
    def parse(cls, value: str) -> Site:
        return cast(Site, _member(cls, value, "fault site"))


def _member(enum_type: type[enum.Enum], value: str, what: str) -> enum.Enum:
    try:
        return enum_type(value)
    except ValueError as e:
        valid = ", ".join(str(m.value) for m in enum_type)
        raise FaultListError(f"unknown {what} {value!r}; valid: {valid}") from e


Bits = int | tuple[int, ...]
"""One bit position, or a set of two or more (a multi-bit fault), as :class:`Fault` holds it."""


def parse_bits(value: Any) -> Bits:
    """A bit or a set of bits, checked: an int in 0..31, or two or more distinct ones (sorted).

    >>> parse_bits(3), parse_bits((30, 29)), parse_bits([7])
    (3, (29, 30), 7)
    >>> parse_bits((29, 29))
    Traceback (most recent call last):
    ...
    readlx.errors.FaultListError: bit set (29, 29) has a bit more than once
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return _one_bit(value, value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FaultListError(f"bit must be an integer in 0..31 or a set of them, got {value!r}")
    bits = tuple(_one_bit(b, value) for b in value)
    if not bits:
        raise FaultListError(f"bit set {value!r} is empty")
    if len(set(bits)) != len(bits):
        raise FaultListError(f"bit set {tuple(value)!r} has a bit more than once")
    return bits[0] if len(bits) == 1 else tuple(sorted(bits))


def _one_bit(bit: Any, whole: Any) -> int:
    if isinstance(bit, bool) or not isinstance(bit, (int, np.integer)) or not 0 <= int(bit) < FLOAT_BITS:
        what = "bit" if bit is whole else f"bit {bit!r} of {whole!r}"
        raise FaultListError(f"{what} must be an integer in 0..31, got {bit!r}")
    return int(bit)


@dataclass(frozen=True, repr=False)
class Fault:
    """A single fault in canonical addressing (invariant 1 of docs/architecture.md).

    Parameters
    ----------
    layer
        Canonical layer name: the PyTorch qualified module name (``"layer1.0.conv1"``).
    index
        Element index in canonical layout. Weights: conv ``(O, I, kH, kW)``, linear ``(O, I)``.
        Activations (the layer's output, without the batch axis): conv ``(C, H, W)``, linear ``(F,)``.
    bit
        Bit position in the IEEE-754 float32 word (0 is the mantissa LSB, 31 the sign), or a set of
        two or more positions for a multi-bit fault (kept sorted).
    kind
        Bit flip (the paper's fault model) or stuck-at-0/1, applied to every bit of ``bit``.
    site
        The weight (default) or the layer's output tensor.
    seed
        Makes an activation fault transient: each image gets one element and one bit drawn from
        ``(seed, image index)`` (:func:`readlx.fault_maps.transient.draws`). ``index`` is then the
        leading part of the elements drawn from (``()``: the whole output; ``(c,)``: channel ``c``),
        ``bit`` the bits drawn from, and ``kind`` applies to the drawn bit. ``None``: permanent.

    Examples
    --------
    >>> f = Fault("conv1", (3, 0, 2, 1), 30)
    >>> f.apply(np.float32(1.0))
    inf
    >>> Fault("conv1", (0, 0, 0, 0), 30, FaultKind.STUCK_AT_1).is_noop(np.float32(2.0))
    True
    >>> g = Fault("conv1", (2, 5, 5), (31, 30), site=Site.ACTIVATION)
    >>> g.bits, g.top_bit, float(g.apply(np.float32(1.0)))
    ((30, 31), 31, -inf)
    >>> g.describe()
    'bit-flip activation conv1[2, 5, 5] bits 30+31'
    >>> Fault("conv1", (), tuple(range(32)), site=Site.ACTIVATION, seed=7).describe()
    'bit-flip transient activation conv1[*] bits 0-31 seed 7'
    """

    layer: str
    index: tuple[int, ...]
    bit: Bits
    kind: FaultKind = FaultKind.BIT_FLIP
    site: Site = Site.WEIGHT
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bit", parse_bits(self.bit))
        object.__setattr__(self, "index", tuple(int(i) for i in self.index))
        object.__setattr__(self, "kind", _parsed(FaultKind, self.kind))
        object.__setattr__(self, "site", _parsed(Site, self.site))
        if self.seed is not None:
            object.__setattr__(self, "seed", parse_seed(self.seed, self.site))

    def __repr__(self) -> str:
        site = "" if self.site is Site.WEIGHT else f", site={self.site!r}"
        seed = "" if self.seed is None else f", seed={self.seed!r}"
        return (f"Fault(layer={self.layer!r}, index={self.index!r}, bit={self.bit!r}, "
                f"kind={self.kind!r}{site}{seed})")

    @property
    def bits(self) -> tuple[int, ...]:
        """The corrupted bit positions, ascending."""
        return self.bit if isinstance(self.bit, tuple) else (self.bit,)

    @property
    def top_bit(self) -> int:
        """The most significant corrupted bit: the bit by which results are broken down."""
        return self.bits[-1]

    @property
    def mask(self) -> np.uint32:
        """The corrupted bits as a mask of the float32 word."""
        return np.uint32(sum(1 << b for b in self.bits))

    @property
    def is_activation(self) -> bool:
        """A fault of a layer's output tensor: the layer's own (``activation``) or its BatchNorm's
        (``normalized``), not of a stored weight."""
        return self.site is not Site.WEIGHT

    @property
    def is_transient(self) -> bool:
        """A transient activation fault: element and bit drawn per image from :attr:`seed`."""
        return self.seed is not None

    def sort_key(self) -> tuple[Any, ...]:
        """A total order of faults (site, transient seed, layer, index, bits, kind)."""
        return (self.site.value, -1 if self.seed is None else self.seed, self.layer, self.index, self.bits,
                self.kind.value)

    def apply_bits(self, word: Array | np.uint32) -> Array | np.uint32:
        """Corrupt raw float32 bit patterns (``uint32``). A transient fault's bit differs per image:
        :func:`readlx.fault_maps.transient.draws` gives it."""
        if self.seed is not None:
            raise FaultListError(f"{self.describe()!r} draws its bit per image; its draws corrupt the bits")
        corrupted: Array | np.uint32 = apply_kind(self.kind, word, self.mask)
        return corrupted

    def apply(self, value: np.float32 | float) -> np.float32:
        """Return the corrupted value of one float32 weight."""
        word = np.array(value, dtype=np.float32).view(np.uint32)
        return cast(np.float32, np.array(self.apply_bits(word), dtype=np.uint32).view(np.float32)[()])

    def is_noop(self, value: np.float32 | float) -> bool:
        """True for a stuck-at whose value equals the stored bits (the weight stays unchanged). An
        activation fault's value differs per image: it is never a no-op as a whole."""
        if self.kind is FaultKind.BIT_FLIP or self.is_activation:
            return False
        word = np.array(value, dtype=np.float32).view(np.uint32)
        return bool(np.array(self.apply_bits(word) == word))

    def describe(self) -> str:
        site = "" if self.site is Site.WEIGHT else f"{self.site.value} "
        bits = f"bits {format_bit_set(self.bits, '+')}" if len(self.bits) > 1 else f"bit {self.bit}"
        if self.seed is None:
            return f"{self.kind.value} {site}{self.layer}{list(self.index)} {bits}"
        where = ", ".join([*map(str, self.index), "*"])
        return f"{self.kind.value} transient {site}{self.layer}[{where}] {bits} seed {self.seed}"


def apply_kind(kind: FaultKind, word: Any, mask: Any) -> Any:
    """``word`` (uint32 bit patterns, NumPy or any array type with ``^ | & ~``) with the bits of
    ``mask`` flipped or forced by ``kind``; ``mask`` may hold one mask per element.

    >>> apply_kind(FaultKind.STUCK_AT_0, np.array([7, 7], np.uint32), np.array([1, 4], np.uint32)).tolist()
    [6, 3]
    """
    if kind is FaultKind.BIT_FLIP:
        return word ^ mask
    if kind is FaultKind.STUCK_AT_1:
        return word | mask
    return word & ~mask


SEED_LIMIT = 2**63
"""Seeds of transient faults are integers in ``0 .. SEED_LIMIT - 1``."""


def parse_seed(value: Any, site: Site) -> int:
    """A transient fault's seed, checked: an integer in ``0 .. 2**63 - 1`` of a fault of a layer output.

    >>> parse_seed(7, Site.ACTIVATION)
    7
    >>> parse_seed(7, Site.WEIGHT)
    Traceback (most recent call last):
    ...
    readlx.errors.FaultListError: field 'seed': only activation faults are transient; a weight fault has no seed, got 7
    """
    if site is Site.WEIGHT:
        raise FaultListError(f"only activation faults are transient; a weight fault has no seed, got {value!r}",
                             field="seed")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < SEED_LIMIT:
        raise FaultListError(f"seed must be an integer in 0..2**63-1, got {value!r}", field="seed")
    return int(value)


def check_prefix(fault: Fault, shape: tuple[int, ...]) -> None:
    """Raise :class:`FaultListError` unless a transient fault's ``index`` is a leading part of an
    element index of ``shape`` (the layer's per-image output)."""
    index = fault.index
    if len(index) > len(shape) or not all(0 <= i < n for i, n in zip(index, shape, strict=False)):
        raise FaultListError(f"transient fault index {index} is not a leading part of an index of the output "
                             f"of layer {fault.layer!r} of shape {shape}", field="index")


def format_bit_set(bits: tuple[int, ...], joiner: str) -> str:
    """Bits joined by ``joiner``, runs of four or more consecutive bits written ``first-last``.

    >>> format_bit_set((29, 30), "+"), format_bit_set((0, 1, 2, 3, 7), "+")
    ('29+30', '0-3+7')
    """
    parts: list[str] = []
    start = 0
    for k in range(1, len(bits) + 1):
        if k == len(bits) or bits[k] != bits[k - 1] + 1:
            run = bits[start:k]
            parts.extend([f"{run[0]}-{run[-1]}"] if len(run) >= 4 else map(str, run))
            start = k
    return joiner.join(parts)


def _parsed(enum_type: Any, value: Any) -> Any:
    """``value`` as a member of ``enum_type`` (:class:`FaultKind` or :class:`Site`), or a
    :class:`FaultListError` listing the valid values."""
    return value if isinstance(value, enum_type) else enum_type.parse(str(value))
