"""The fault model: one corrupted bit of one float32 weight, addressed canonically."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import cast

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
        try:
            return cls(value)
        except ValueError as e:
            valid = ", ".join(k.value for k in cls)
            raise FaultListError(f"unknown fault kind {value!r}; valid: {valid}") from e


@dataclass(frozen=True, order=True)
class Fault:
    """A single weight fault in canonical addressing (invariant 1 of docs/architecture.md).

    Parameters
    ----------
    layer
        Canonical layer name: the PyTorch qualified module name (``"layer1.0.conv1"``).
    index
        Element index in canonical layout: conv ``(O, I, kH, kW)``, linear ``(O, I)``.
    bit
        Bit position in the IEEE-754 float32 word: 0 is the mantissa LSB, 31 the sign.
    kind
        Bit flip (the paper's fault model) or stuck-at-0/1.

    Examples
    --------
    >>> f = Fault("conv1", (3, 0, 2, 1), 30)
    >>> f.apply(np.float32(1.0))
    inf
    >>> Fault("conv1", (0, 0, 0, 0), 30, FaultKind.STUCK_AT_1).is_noop(np.float32(2.0))
    True
    """

    layer: str
    index: tuple[int, ...]
    bit: int
    kind: FaultKind = FaultKind.BIT_FLIP

    def __post_init__(self) -> None:
        if not isinstance(self.bit, (int, np.integer)) or not 0 <= int(self.bit) < FLOAT_BITS:
            raise FaultListError(f"bit must be an integer in 0..31, got {self.bit!r}")
        object.__setattr__(self, "bit", int(self.bit))
        object.__setattr__(self, "index", tuple(int(i) for i in self.index))
        object.__setattr__(self, "kind", FaultKind(self.kind))

    @property
    def mask(self) -> np.uint32:
        return np.uint32(1 << self.bit)

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
        """True for a stuck-at whose value equals the stored bit (the weight stays unchanged)."""
        if self.kind is FaultKind.BIT_FLIP:
            return False
        word = np.array(value, dtype=np.float32).view(np.uint32)
        return bool(np.array(self.apply_bits(word) == word))

    def describe(self) -> str:
        return f"{self.kind.value} {self.layer}{list(self.index)} bit {self.bit}"
