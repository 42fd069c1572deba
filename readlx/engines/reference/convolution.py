"""Convolution algorithms with a fixed, documented order of float operations.

All algorithms compute the PyTorch ``Conv2d`` cross-correlation on torch tensors of one dtype
(float32 or float64) and differ only in how they round:

* ``direct``: one product stage per kernel offset ``(p, q)``, in row-major order; each stage contracts
  the input channels with one matrix product, and the stages are summed in that fixed order;
* ``im2col``: the input patches are unfolded into a matrix and the whole reduction over
  ``C * kH * kW`` is one matrix product (the classic CPU lowering);
* ``winograd``: F(2×2, 3×3) (Lavin and Gray 2016): 4×4 input tiles and the filter are transformed,
  multiplied element-wise over channels and transformed back; only 3×3 kernels with stride 1 and
  dilation 1 (others fall back to ``direct``, see :func:`effective_algorithm`);
* ``fft``: circular cross-correlation in the frequency domain (``rfft2``), products summed over
  channels per frequency;
* ``native``: PyTorch's own ``conv2d`` kernel of the running platform (on the CPU oneDNN, or
  PyTorch's im2col kernels when oneDNN is off): the platform's order of operations, with the
  operand rounding of the chosen arithmetic (a fast way to emulate reduced precision).

The ``round_operand`` hook receives the operands of the multiply stage: input and weight for
``direct``, ``im2col`` and ``native``, the transformed tiles for ``winograd``, the spectra for ``fft``. This is
where reduced-precision arithmetic rounds on real hardware.

Examples
--------
>>> x = torch.ones(1, 1, 4, 4, dtype=torch.float64)
>>> w = torch.ones(1, 1, 3, 3, dtype=torch.float64)
>>> conv2d(x, w, algorithm="winograd").flatten().tolist()
[9.0, 9.0, 9.0, 9.0]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F

from readlx.errors import ReadlxError

ALGORITHMS = ("direct", "im2col", "winograd", "fft", "native")
Pair = tuple[int, int]
Rounding = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _out_size(size: int, k: int, stride: int, dilation: int) -> int:
    return (size - dilation * (k - 1) - 1) // stride + 1


def winograd_applicable(kernel: Pair, stride: Pair, dilation: Pair) -> bool:
    """Whether F(2×2, 3×3) applies: 3×3 kernel, stride 1, dilation 1."""
    return tuple(kernel) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)


def effective_algorithm(algorithm: str, kernel: Pair, stride: Pair, dilation: Pair) -> tuple[str, str]:
    """The algorithm that actually runs and, for a fallback, why.

    >>> algorithm, why = effective_algorithm("winograd", (3, 3), (2, 2), (1, 1))
    >>> algorithm, why.endswith("got kernel (3, 3) stride (2, 2) dilation (1, 1)")
    ('direct', True)
    """
    if algorithm not in ALGORITHMS:
        raise ReadlxError(f"unknown convolution algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")
    if algorithm == "winograd" and not winograd_applicable(kernel, stride, dilation):
        return "direct", (
            "winograd F(2x2,3x3) needs a 3x3 kernel with stride 1 and dilation 1, got kernel "
            f"{tuple(kernel)} stride {tuple(stride)} dilation {tuple(dilation)}"
        )
    return algorithm, ""


def _shifted(x: torch.Tensor, p: int, q: int, size: Pair, stride: Pair, dilation: Pair) -> torch.Tensor:
    """The input values that kernel offset (p, q) meets, for every output position (a view)."""
    r0, c0 = p * dilation[0], q * dilation[1]
    rows = slice(r0, r0 + stride[0] * (size[0] - 1) + 1, stride[0])
    cols = slice(c0, c0 + stride[1] * (size[1] - 1) + 1, stride[1])
    return x[..., rows, cols]


def _direct(x: torch.Tensor, w: torch.Tensor, stride: Pair, dilation: Pair, rnd: Rounding) -> torch.Tensor:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    size = (_out_size(h, kh, stride[0], dilation[0]), _out_size(wd, kw, stride[1], dilation[1]))
    x, w = rnd(x), rnd(w)
    out: torch.Tensor | None = None
    for p in range(kh):
        for q in range(kw):
            # channels last and contiguous: one plain matrix product per offset (strided inputs to
            # matmul are an order of magnitude slower)
            patch = _shifted(x, p, q, size, stride, dilation).permute(0, 2, 3, 1).reshape(-1, c)
            term = torch.mm(patch, w[:, :, p, q].t())
            out = term if out is None else out + term
    assert out is not None  # a kernel has at least one offset
    return out.reshape(n, size[0], size[1], o).permute(0, 3, 1, 2).contiguous()


def _im2col(x: torch.Tensor, w: torch.Tensor, stride: Pair, dilation: Pair, rnd: Rounding) -> torch.Tensor:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    size = (_out_size(h, kh, stride[0], dilation[0]), _out_size(wd, kw, stride[1], dilation[1]))
    x = rnd(x)
    # rows ordered (channel, kernel row, kernel column), the layout of w.reshape(o, -1)
    cols = torch.stack([_shifted(x, p, q, size, stride, dilation) for p in range(kh) for q in range(kw)], dim=2)
    out = torch.matmul(rnd(w).reshape(o, -1), cols.reshape(n, c * kh * kw, -1))
    return out.reshape(n, o, size[0], size[1])


def _input_transform(d: torch.Tensor, axis: int) -> torch.Tensor:
    """B^T d along ``axis`` (size 4), B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]."""
    d0, d1, d2, d3 = d.unbind(axis)
    return torch.stack((d0 - d2, d1 + d2, d2 - d1, d1 - d3), axis)


def _filter_transform(g: torch.Tensor, axis: int) -> torch.Tensor:
    """G g along ``axis`` (size 3), G = [[1,0,0],[1/2,1/2,1/2],[1/2,-1/2,1/2],[0,0,1]]."""
    g0, g1, g2 = g.unbind(axis)
    return torch.stack((g0, (g0 + g1 + g2) * 0.5, (g0 - g1 + g2) * 0.5, g2), axis)


def _output_transform(m: torch.Tensor, axis: int) -> torch.Tensor:
    """A^T m along ``axis`` (size 4), A^T = [[1,1,1,0],[0,1,-1,-1]]."""
    m0, m1, m2, m3 = m.unbind(axis)
    return torch.stack((m0 + m1 + m2, m1 - m2 - m3), axis)


def _winograd(x: torch.Tensor, w: torch.Tensor, rnd: Rounding) -> torch.Tensor:
    n, c, h, wd = x.shape
    o = w.shape[0]
    ho, wo = h - 2, wd - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    x = F.pad(x, (0, 2 * tw + 2 - wd, 0, 2 * th + 2 - h))  # whole tiles; the extra outputs are cut
    # overlapping 4x4 tiles with step 2, laid out tile-element first so that each transform step
    # works on contiguous slices
    tiles = x.unfold(2, 4, 2).unfold(3, 4, 2).permute(4, 5, 0, 2, 3, 1).contiguous()  # 4, 4, n, th, tw, c
    v = rnd(_input_transform(_input_transform(tiles, 0), 1).reshape(16, n * th * tw, c))
    g = w.permute(2, 3, 1, 0).contiguous()  # 3, 3, c, o
    u = rnd(_filter_transform(_filter_transform(g, 0), 1).reshape(16, c, o))
    m = torch.bmm(v, u).reshape(4, 4, n, th, tw, o)  # one channel reduction per tile element
    y = _output_transform(_output_transform(m, 0), 1)  # 2, 2, n, th, tw, o
    y = y.permute(2, 5, 3, 0, 4, 1).reshape(n, o, 2 * th, 2 * tw)
    return y[:, :, :ho, :wo].contiguous()


def _fft(x: torch.Tensor, w: torch.Tensor, stride: Pair, dilation: Pair, rnd: Rounding) -> torch.Tensor:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    if dilation != (1, 1):
        dilated = w.new_zeros(o, c, dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        dilated[:, :, :: dilation[0], :: dilation[1]] = w
        w, (kh, kw) = dilated, dilated.shape[2:]
    xf = rnd(torch.fft.rfft2(x, s=(h, wd)).permute(2, 3, 0, 1).contiguous())  # h, wr, n, c
    # conjugate spectrum: cross-correlation, not convolution
    wf = rnd(torch.fft.rfft2(w, s=(h, wd)).conj().permute(2, 3, 1, 0).contiguous())  # h, wr, c, o
    y: torch.Tensor = torch.fft.irfft2(torch.matmul(xf, wf).permute(2, 3, 0, 1), s=(h, wd))
    # outputs that need no wrap-around are exactly the valid ones
    return y[:, :, : h - kh + 1 : stride[0], : wd - kw + 1 : stride[1]].contiguous()


def _ungrouped(x: torch.Tensor, w: torch.Tensor, algorithm: str, stride: Pair, dilation: Pair,
               rnd: Rounding) -> torch.Tensor:
    if algorithm == "direct":
        return _direct(x, w, stride, dilation, rnd)
    if algorithm == "im2col":
        return _im2col(x, w, stride, dilation, rnd)
    if algorithm == "winograd":
        return _winograd(x, w, rnd)
    return _fft(x, w, stride, dilation, rnd)


def conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    groups: int = 1,
    algorithm: str = "direct",
    round_operand: Rounding | None = None,
) -> torch.Tensor:
    """PyTorch ``conv2d`` (zero padding, no bias) computed with ``algorithm``.

    Parameters
    ----------
    x, w
        Input ``(N, C, H, W)`` and weight ``(O, C/groups, kH, kW)`` of the same floating dtype; the
        computation runs in that dtype.
    algorithm
        One of :data:`ALGORITHMS`; ``winograd`` on a layer it does not apply to runs ``direct``
        (see :func:`effective_algorithm`).
    round_operand
        Applied to both operands of the multiply stage (reduced-precision emulation).

    Examples
    --------
    >>> x = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    >>> w = torch.ones(2, 1, 2, 2, dtype=torch.float64)
    >>> bool(torch.equal(conv2d(x, w, algorithm="im2col"), F.conv2d(x, w)))
    True
    """
    if x.dtype != w.dtype:
        raise ReadlxError(f"input is {x.dtype} but weight is {w.dtype}; convert both to one dtype")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ReadlxError(f"input {tuple(x.shape)} and weight {tuple(w.shape)} do not match groups={groups}")
    stride, padding, dilation = (cast(Pair, tuple(int(v) for v in p)) for p in (stride, padding, dilation))
    algorithm, _ = effective_algorithm(algorithm, cast(Pair, tuple(w.shape[2:])), stride, dilation)
    rnd = round_operand or _identity
    if algorithm == "native":
        return F.conv2d(rnd(x), rnd(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    if groups == 1:
        return _ungrouped(x, w, algorithm, stride, dilation, rnd)
    xs, ws = x.chunk(groups, dim=1), w.chunk(groups, dim=0)
    return torch.cat([_ungrouped(a, b, algorithm, stride, dilation, rnd) for a, b in zip(xs, ws, strict=True)], dim=1)


def linear(x: torch.Tensor, w: torch.Tensor, round_operand: Rounding | None = None) -> torch.Tensor:
    """``x @ w.T`` (no bias) with both operands passed through ``round_operand``.

    >>> linear(torch.ones(1, 3), torch.ones(2, 3)).tolist()
    [[3.0, 3.0]]
    """
    rnd = round_operand or _identity
    return torch.matmul(rnd(x), rnd(w).t())
