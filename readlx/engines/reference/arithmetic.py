"""The arithmetic of a convolution or linear layer: operand format and accumulation precision.

``float32`` and ``float64`` compute in that precision throughout. ``tf32``, ``bf16`` and ``fp16``
emulate tensor cores: the operands of the multiply stage are rounded (to nearest, ties to even) to
the narrow format and the products are accumulated in float32. The products of two such operands
are exact in float32 (at most 22 significant bits), so the emulation differs from the hardware only
in the order of the float32 additions, which the convolution algorithm fixes.

Examples
--------
>>> ARITHMETICS["tf32"].compute_dtype
torch.float32
>>> sorted(ARITHMETICS)
['bf16', 'float32', 'float64', 'fp16', 'tf32']
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch

from readlx.engines.reference.rounding import to_bf16, to_fp16, to_tf32
from readlx.errors import RegistryError

Rounding = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Arithmetic:
    """How one layer computes.

    ``compute_dtype`` is the accumulation precision; ``operand_rounding`` is applied to both operands
    of the multiply stage (None: operands are used as they are).
    """

    name: str
    compute_dtype: torch.dtype
    operand_rounding: Rounding | None
    description: str

    def round_operand(self, x: torch.Tensor) -> torch.Tensor:
        """The operand as the multiply stage sees it (complex operands: both parts rounded)."""
        if self.operand_rounding is None:
            return x
        if x.is_complex():
            return torch.complex(self.operand_rounding(x.real.contiguous()),
                                 self.operand_rounding(x.imag.contiguous()))
        return self.operand_rounding(x)


class _Arithmetics(Mapping[str, Arithmetic]):
    """Name -> :class:`Arithmetic`; an unknown name raises listing the valid ones."""

    def __init__(self, items: tuple[Arithmetic, ...]) -> None:
        self._items = {a.name: a for a in items}

    def __getitem__(self, name: str) -> Arithmetic:
        try:
            return self._items[name]
        except KeyError as e:
            raise RegistryError(
                f"unknown arithmetic {name!r}; valid: {', '.join(sorted(self._items))}"
            ) from e

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


ARITHMETICS: Mapping[str, Arithmetic] = _Arithmetics((
    Arithmetic("float32", torch.float32, None, "IEEE float32 operands and accumulation"),
    Arithmetic("float64", torch.float64, None, "IEEE float64 throughout (ground truth)"),
    Arithmetic("tf32", torch.float32, to_tf32, "operands rounded to TF32 (10 mantissa bits), float32 accumulation"),
    Arithmetic("bf16", torch.float32, to_bf16, "operands rounded to BF16 (7 mantissa bits), float32 accumulation"),
    Arithmetic("fp16", torch.float32, to_fp16, "operands rounded to IEEE FP16, float32 accumulation"),
))
"""The arithmetics a reference layer can use."""
