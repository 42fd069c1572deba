"""Float32 error of each convolution algorithm, measured against direct convolution in float64."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from readlx.comparisons.numerics.ulp import ulp_distance
from readlx.comparisons.text import table
from readlx.engines.reference.arithmetic import ARITHMETICS
from readlx.engines.reference.convolution import ALGORITHMS, conv2d


@dataclass(frozen=True)
class ConvError:
    """Error of one algorithm/arithmetic on one convolution, versus float64 direct convolution.

    ``max_rel`` is the largest absolute error over the largest absolute output; ``rms_rel`` the
    root-mean-square error over the root-mean-square output. ULP distances are given as median and
    90th percentile: near-zero outputs (cancellation) make the maximum meaningless.
    """

    algorithm: str
    arithmetic: str
    max_abs: float
    max_rel: float
    rms_rel: float
    ulp_median: float
    ulp_p90: float


def conv_error(x: torch.Tensor, w: torch.Tensor, algorithm: str, arithmetic: str = "float32",
               **conv: object) -> ConvError:
    """Compute ``conv2d`` with ``algorithm`` in ``arithmetic`` and measure it against float64 direct.

    ``x`` and ``w`` are float32; ``conv`` holds ``stride``, ``padding``, ``dilation``, ``groups``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x, w = torch.randn(2, 8, 6, 6, generator=g), torch.randn(8, 8, 3, 3, generator=g)
    >>> e = conv_error(x, w, "winograd", padding=(1, 1))
    >>> 0 < e.max_rel < 1e-5
    True
    """
    truth = conv2d(x.double(), w.double(), algorithm="direct", **conv)  # type: ignore[arg-type]  # conv2d's keywords, passed through
    arith = ARITHMETICS[arithmetic]
    y = conv2d(x.to(arith.compute_dtype), w.to(arith.compute_dtype), algorithm=algorithm,
               round_operand=arith.round_operand, **conv).double()  # type: ignore[arg-type]  # conv2d's keywords, passed through
    err = (y - truth).abs()
    dist = ulp_distance(y.float().numpy(), truth.numpy())
    return ConvError(algorithm, arithmetic, float(err.max()), float(err.max() / truth.abs().max()),
                     float(err.pow(2).mean().sqrt() / truth.pow(2).mean().sqrt()),
                     float(np.median(dist)), float(np.percentile(dist, 90)))


def conv_error_table(algorithms: Sequence[str] = ALGORITHMS, arithmetics: Sequence[str] = ("float32",),
                     shape: tuple[int, int, int, int] = (16, 64, 8, 8), out_channels: int = 64,
                     seed: int = 0) -> list[ConvError]:
    """Errors of 3×3, stride-1, padded convolutions on random He-initialised data (a ResNet stage-3
    layer by default: 64 → 64 channels on 8×8 maps).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(*shape, generator=g))
    w = torch.randn(out_channels, shape[1], 3, 3, generator=g) * (2.0 / (9 * shape[1])) ** 0.5
    return [conv_error(x, w, alg, arith, padding=(1, 1)) for arith in arithmetics for alg in algorithms]


def format_conv_errors(rows: list[ConvError]) -> str:
    """Plain-text table of :func:`conv_error_table`."""
    head = ("algorithm", "arithmetic", "max |err|", "max rel", "rms rel", "ULP median", "ULP p90")
    body = [(r.algorithm, r.arithmetic, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}", f"{r.rms_rel:.3g}",
             f"{r.ulp_median:.0f}", f"{r.ulp_p90:.0f}") for r in rows]
    return table(head, body)
