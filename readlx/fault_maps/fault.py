"""The fault model: corrupted bits of one float32 element of a weight or of a layer's output, addressed
canonically.

A fault corrupts one bit or a set of bits (multi-bit) of one element, by flipping them or by forcing
them to 0 or 1 (stuck-at). Its *site* says which tensor holds the element: a layer's stored weight, or
the output tensor of the layer (an activation), in canonical NCHW layout without the batch axis. An
activation fault is permanent: the same element of every image's output is corrupted, the
neuron-fault model of PyTorchFI.
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
    """

    layer: str
    index: tuple[int, ...]
    bit: Bits
    kind: FaultKind = FaultKind.BIT_FLIP
    site: Site = Site.WEIGHT

    def __post_init__(self) -> None:
        object.__setattr__(self, "bit", parse_bits(self.bit))
        object.__setattr__(self, "index", tuple(int(i) for i in self.index))
        object.__setattr__(self, "kind", _parsed(FaultKind, self.kind))
        object.__setattr__(self, "site", _parsed(Site, self.site))

    def __repr__(self) -> str:
        site = "" if self.site is Site.WEIGHT else f", site={self.site!r}"
        return (f"Fault(layer={self.layer!r}, index={self.index!r}, bit={self.bit!r}, "
                f"kind={self.kind!r}{site})")

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
        return self.site is Site.ACTIVATION

    def sort_key(self) -> tuple[Any, ...]:
        """A total order of faults (site, layer, index, bits, kind)."""
        return (self.site.value, self.layer, self.index, self.bits, self.kind.value)

    def apply_bits(self, word: Array | np.uint32) -> Array | np.uint32:
        """Corrupt raw float32 bit patterns (``uint32``)."""
        if self.kind is FaultKind.BIT_FLIP:
            return word ^ self.mask
        if self.kind is FaultKind.STUCK_AT_1:
            return word | self.mask
        return word & ~self.mask

    def apply(self, value: np.float32 | float) -> np.float32:
        """Return the corrupted value of one float32 weight."""
        word = np.array(value, dtype=np.float32).view(np.uint32)
        return cast(np.float32, np.array(self.apply_bits(word), dtype=np.uint32).view(np.float32)[()])

    def is_noop(self, value: np.float32 | float) -> bool:
        """True for a stuck-at whose value equals the stored bits (the weight stays unchanged). An
        activation fault's value differs per image: it is never a no-op as a whole."""
        if self.kind is FaultKind.BIT_FLIP or self.site is Site.ACTIVATION:
            return False
        word = np.array(value, dtype=np.float32).view(np.uint32)
        return bool(np.array(self.apply_bits(word) == word))

    def describe(self) -> str:
        site = "activation " if self.site is Site.ACTIVATION else ""
        bits = f"bits {'+'.join(map(str, self.bits))}" if len(self.bits) > 1 else f"bit {self.bit}"
        return f"{self.kind.value} {site}{self.layer}{list(self.index)} {bits}"


def _parsed(enum_type: Any, value: Any) -> Any:
    """``value`` as a member of ``enum_type`` (:class:`FaultKind` or :class:`Site`), or a
    :class:`FaultListError` listing the valid values."""
    return value if isinstance(value, enum_type) else enum_type.parse(str(value))
