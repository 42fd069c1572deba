"""Rounding of float32 values to the operand formats of reduced-precision GPU arithmetic.

Tensor cores read their operands in a narrower format and accumulate in float32. The formats here
keep float32's 8-bit exponent (TF32, BF16) or use IEEE half precision (FP16); every conversion
rounds to nearest, ties to even, as the hardware's float32 conversion does. The results are float32
values that are exactly representable in the narrow format.

Examples
--------
>>> import numpy as np
>>> x = np.array([1 + 2**-11, 1 + 3 * 2**-11], np.float32)  # both halfway between TF32 values
>>> (to_tf32(x) - 1).tolist()  # ties go to the even neighbour
[0.0, 0.001953125]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

from readlx._typing import Array
from readlx.errors import ReadlxError

FLOAT32_MANTISSA_BITS = 23
TF32_MANTISSA_BITS = 10
BF16_MANTISSA_BITS = 7

ArrayT = TypeVar("ArrayT", Array, torch.Tensor)


def _on_tensor(fn: Callable[[torch.Tensor], torch.Tensor], x: ArrayT) -> ArrayT:
    """Apply a tensor function to a NumPy array or a tensor, returning the same kind."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    arr = np.ascontiguousarray(x, dtype=np.float32)
    return fn(torch.from_numpy(arr)).numpy()


def _round_tensor(x: torch.Tensor, mantissa_bits: int) -> torch.Tensor:
    if x.dtype != torch.float32:
        raise ReadlxError(f"mantissa rounding works on float32 values, got {x.dtype}")
    drop = FLOAT32_MANTISSA_BITS - mantissa_bits
    if drop == 0:
        return x
    # rounding works on the magnitude bits (non-negative int32); the carry of a round-up may run into
    # the exponent (that is the correct result, up to Inf) but never past it: NaN is set aside first
    word = x.contiguous().view(torch.int32)
    nan = torch.isnan(x)
    magnitude = torch.where(nan, 0, word & 0x7FFFFFFF)
    lsb = (magnitude >> drop) & 1
    magnitude = (magnitude + ((1 << (drop - 1)) - 1) + lsb) & ~((1 << drop) - 1)
    rounded = (magnitude | (word & torch.iinfo(torch.int32).min)).view(torch.float32)
    return torch.where(nan, x, rounded)


def round_mantissa(x: ArrayT, mantissa_bits: int) -> ArrayT:
    """Round float32 values to ``mantissa_bits`` explicit mantissa bits, to nearest, ties to even.

    The exponent range stays that of float32 (values too large round to Inf, NaN stays NaN).

    Examples
    --------
    >>> round_mantissa(np.array([1.25, 1.75], np.float32), 1).tolist()
    [1.0, 2.0]
    """
    if not 0 <= mantissa_bits <= FLOAT32_MANTISSA_BITS:
        raise ReadlxError(f"mantissa bits must be in 0..{FLOAT32_MANTISSA_BITS}, got {mantissa_bits!r}")
    return _on_tensor(lambda t: _round_tensor(t, mantissa_bits), x)


def to_tf32(x: ArrayT) -> ArrayT:
    """TF32 operand rounding: 10 mantissa bits, float32 exponent range.

    >>> to_tf32(np.array([1 + 2**-10 + 2**-12], np.float32)).tolist() == [1 + 2**-10]
    True
    """
    return round_mantissa(x, TF32_MANTISSA_BITS)


def to_bf16(x: ArrayT) -> ArrayT:
    """BF16 operand rounding: 7 mantissa bits, float32 exponent range.

    >>> to_bf16(np.array([1 + 2**-8], np.float32)).tolist()  # a tie: stays at the even value
    [1.0]
    """
    return round_mantissa(x, BF16_MANTISSA_BITS)


def to_fp16(x: ArrayT) -> ArrayT:
    """FP16 operand rounding: IEEE binary16 (overflow to Inf, gradual underflow), as float32.

    >>> to_fp16(np.array([65520.0, 1e-8], np.float32)).tolist()
    [inf, 0.0]
    """

    def fn(t: torch.Tensor) -> torch.Tensor:
        if t.dtype != torch.float32:
            raise ReadlxError(f"FP16 rounding works on float32 values, got {t.dtype}")
        return t.to(torch.float16).to(torch.float32)

    return _on_tensor(fn, x)
