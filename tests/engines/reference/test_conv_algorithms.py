from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from readlx.comparisons.numerics.accuracy import conv_error, conv_error_table, format_conv_errors
from readlx.engines.reference.convolution import ALGORITHMS, conv2d, effective_algorithm, linear
from readlx.errors import ReadlxError

# (in, out, kernel, stride, padding, dilation, groups)
CASES = [
    (3, 5, 3, 1, 1, 1, 1),
    (8, 6, 3, 1, 0, 1, 1),
    (4, 6, 3, 2, 1, 1, 1),
    (4, 4, 3, 1, 1, 1, 4),  # depthwise
    (6, 4, 3, 1, 1, 1, 2),
    (3, 5, 1, 1, 0, 1, 1),
    (3, 4, 5, 2, 2, 2, 1),
]
TIGHT = 1e-10


def _data(case: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    c, o, k, s, p, d, g = case
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, 9, 11, generator=gen, dtype=dtype)
    w = torch.randn(o, c // g, k, k, generator=gen, dtype=dtype)
    return x, w, {"stride": (s, s), "padding": (p, p), "dilation": (d, d), "groups": g}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("algorithm", ["im2col", "winograd", "fft", "native"])
def test_algorithms_equal_direct_in_float64(case: tuple[int, ...], algorithm: str) -> None:
    x, w, conv = _data(case, torch.float64)
    direct = conv2d(x, w, algorithm="direct", **conv)
    y = conv2d(x, w, algorithm=algorithm, **conv)
    assert y.shape == direct.shape
    assert float((y - direct).abs().max() / direct.abs().max()) <= TIGHT


@pytest.mark.parametrize("case", CASES)
def test_direct_equals_pytorch_in_float64(case: tuple[int, ...]) -> None:
    x, w, conv = _data(case, torch.float64)
    ref = F.conv2d(x, w, **conv)
    assert float((conv2d(x, w, **conv) - ref).abs().max() / ref.abs().max()) <= TIGHT


def test_winograd_really_uses_tiles_on_odd_sizes() -> None:
    # 9x11 output is not a multiple of the 2x2 output tile: the padding and cropping must be exact
    x, w, conv = _data((2, 3, 3, 1, 0, 1, 1), torch.float64, seed=5)
    assert effective_algorithm("winograd", (3, 3), (1, 1), (1, 1)) == ("winograd", "")
    y = conv2d(x, w, algorithm="winograd", **conv)
    assert y.shape == (2, 3, 7, 9)
    assert float((y - F.conv2d(x, w)).abs().max()) <= 1e-12


@pytest.mark.parametrize(("kernel", "stride", "dilation"), [((3, 3), (2, 2), (1, 1)), ((5, 5), (1, 1), (1, 1)),
                                                           ((3, 3), (1, 1), (2, 2)), ((1, 1), (1, 1), (1, 1))])
def test_winograd_falls_back_to_direct_and_says_why(kernel: tuple, stride: tuple, dilation: tuple) -> None:
    algorithm, reason = effective_algorithm("winograd", kernel, stride, dilation)
    assert algorithm == "direct"
    assert f"kernel {kernel} stride {stride} dilation {dilation}" in reason


def test_float32_error_is_reported_small_and_not_zero() -> None:
    rows = conv_error_table(shape=(4, 32, 8, 8), out_channels=32)
    assert [r.algorithm for r in rows] == list(ALGORITHMS)
    for r in rows:
        assert 0 < r.max_rel < 1e-5, r
        assert 0 < r.rms_rel < 1e-6, r
        assert r.ulp_median < 16, r
    assert "winograd" in format_conv_errors(rows)


def test_reduced_precision_error_is_orders_larger() -> None:
    gen = torch.Generator().manual_seed(1)
    x, w = torch.randn(2, 16, 6, 6, generator=gen), torch.randn(16, 16, 3, 3, generator=gen)
    f32 = conv_error(x, w, "direct", "float32", padding=(1, 1))
    tf32 = conv_error(x, w, "direct", "tf32", padding=(1, 1))
    bf16 = conv_error(x, w, "direct", "bf16", padding=(1, 1))
    assert 100 * f32.rms_rel < tf32.rms_rel < bf16.rms_rel < 1e-2


def test_operand_rounding_hook_sees_the_multiply_operands() -> None:
    seen: list[tuple[int, ...]] = []

    def spy(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        return t

    x, w = torch.ones(1, 2, 4, 4, dtype=torch.float64), torch.ones(3, 2, 3, 3, dtype=torch.float64)
    conv2d(x, w, algorithm="winograd", round_operand=spy)
    assert seen == [(16, 1, 2), (16, 2, 3)]  # transformed tiles and filters, not x and w


def test_bad_inputs_are_refused() -> None:
    x = torch.ones(1, 2, 4, 4)
    with pytest.raises(ReadlxError, match="unknown convolution algorithm 'gemm'; valid: direct, im2col, winograd, fft"):
        conv2d(x, torch.ones(1, 2, 3, 3), algorithm="gemm")
    with pytest.raises(ReadlxError, match="dtype"):
        conv2d(x, torch.ones(1, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ReadlxError, match="groups=2"):
        conv2d(x, torch.ones(1, 2, 3, 3), groups=2)


def test_linear_rounds_both_operands() -> None:
    y = linear(torch.tensor([[1 + 2.0**-12]]), torch.tensor([[1 + 2.0**-12]]),
               lambda t: t.round())
    assert y.item() == 1.0
