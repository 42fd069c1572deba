from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from readlx.engines.reference.arithmetic import ARITHMETICS
from readlx.engines.reference.rounding import round_mantissa, to_bf16, to_fp16, to_tf32
from readlx.errors import ReadlxError, RegistryError


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def bits(x: np.ndarray) -> list[int]:
    return np.asarray(x, np.float32).view(np.uint32).tolist()


def test_tf32_ties_round_to_even() -> None:
    ulp = 2.0**-10
    halfway = f32(1 + ulp / 2, 1 + 3 * ulp / 2, -(1 + ulp / 2), 1 + 5 * ulp / 2)
    assert to_tf32(halfway).tolist() == [1.0, 1 + 2 * ulp, -1.0, 1 + 2 * ulp]


def test_tf32_rounds_to_nearest_off_ties() -> None:
    ulp = 2.0**-10
    values = f32(1 + ulp / 2 + 2.0**-20, 1 + ulp / 2 - 2.0**-20, 1 + ulp, 1.0 + 2.0**-23)
    assert to_tf32(values).tolist() == [1 + ulp, 1.0, 1 + ulp, 1.0]


def test_tf32_keeps_ten_mantissa_bits_on_hand_made_patterns() -> None:
    # 0x3F801000: exactly half of a TF32 ulp above 1.0 (bit 12 set): tie -> even (1.0)
    # 0x3F803000: kept LSB (bit 13) is 1 and the rest is a tie -> rounds up to 0x3F804000
    # 0x3F801001: just above the tie -> up
    patterns = np.array([0x3F801000, 0x3F803000, 0x3F801001, 0x3F800FFF], np.uint32).view(np.float32)
    assert [hex(b) for b in bits(to_tf32(patterns))] == ["0x3f800000", "0x3f804000", "0x3f802000", "0x3f800000"]


def test_special_values() -> None:
    special = f32(0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(np.float32).max)
    for fn in (to_tf32, to_bf16):
        out = fn(special)
        assert bits(out[:4]) == bits(special[:4])
        assert np.isnan(out[4])
        assert out[5] == np.inf  # above the largest narrow value's halfway point
    fp16 = to_fp16(f32(65504.0, 65519.0, 65520.0, 2.0**-24, 2.0**-25, 3 * 2.0**-26))
    assert fp16.tolist() == [65504.0, 65504.0, np.inf, 2.0**-24, 0.0, 2.0**-24]


def test_subnormals_round_to_even() -> None:
    patterns = np.array([0x00001000, 0x00003000, 0x00001001, 0x80003000], np.uint32).view(np.float32)
    assert [hex(b) for b in bits(to_tf32(patterns))] == ["0x0", "0x4000", "0x2000", "0x80004000"]


def test_bf16_ties_and_agreement_with_ml_dtypes() -> None:
    assert to_bf16(f32(1 + 2.0**-8, 1 + 3 * 2.0**-8)).tolist() == [1.0, 1 + 2.0**-6]
    words = np.random.default_rng(0).integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    x = words.view(np.float32)
    finite = np.isfinite(x)
    expected = x[finite].astype(ml_dtypes.bfloat16).astype(np.float32)
    assert bits(to_bf16(x)[finite]) == bits(expected)
    assert np.isnan(to_bf16(x)[np.isnan(x)]).all()


def test_fp16_matches_numpy_half() -> None:
    x = np.random.default_rng(1).normal(0, 1000, 10_000).astype(np.float32)
    assert bits(to_fp16(x)) == bits(x.astype(np.float16).astype(np.float32))


def test_tensor_and_array_inputs_agree() -> None:
    x = np.random.default_rng(2).normal(size=100).astype(np.float32)
    assert bits(to_tf32(torch.from_numpy(x)).numpy()) == bits(to_tf32(x))


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False), st.integers(1, 22))
def test_rounding_is_nearest_and_idempotent(value: float, mantissa_bits: int) -> None:
    x = f32(value)
    r = round_mantissa(x, mantissa_bits)
    assert bits(round_mantissa(r, mantissa_bits)) == bits(r)
    assert bits(r)[0] & ((1 << (23 - mantissa_bits)) - 1) == 0
    if np.isfinite(r[0]):
        _, exp = np.frexp(np.float64(value))
        half_ulp = 2.0 ** (max(int(exp), -125) - 1 - mantissa_bits - 1)
        assert abs(float(r[0]) - float(x[0])) <= half_ulp


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ReadlxError, match="0..23, got 24"):
        round_mantissa(f32(1.0), 24)
    with pytest.raises(ReadlxError, match="float32"):
        to_tf32(torch.ones(2, dtype=torch.float64))
    with pytest.raises(RegistryError, match="unknown arithmetic 'fp8'; valid: bf16, float32, float64, fp16, tf32"):
        ARITHMETICS["fp8"]


def test_arithmetics_round_complex_operands_per_part() -> None:
    z = torch.complex(torch.tensor([1 + 2.0**-11]), torch.tensor([1 + 3 * 2.0**-11]))
    out = ARITHMETICS["tf32"].round_operand(z)
    assert out.real.item() == 1.0 and out.imag.item() == 1 + 2.0**-9
    assert ARITHMETICS["float32"].round_operand(z) is z
