"""Confidence intervals for the figures: Wilson for shares, paired Student-t for per-fault differences.

The fault is the sampled unit throughout: every fault ran on the same images under every runtime,
so the images of one fault are not independent draws, and a group of ``n`` faults gives ``n``
observations. For a share, each fault contributes its share of images in ``[0, 1]``; a variable in
``[0, 1]`` with mean ``p`` has variance at most ``p(1 - p)``, so the Wilson score interval with ``n``
faults is the interval of a Bernoulli sample of that size and errs on the wide side when faults are
partly masked. For the difference between two runtimes, each fault gives one paired difference
(runtime minus baseline, same fault, same images) and the interval is the paired Student-t interval
of their mean. Both use only NumPy and the standard library.
"""
from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError

LEVEL = 0.95


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ReadlxError(f"confidence level must be in (0, 1), got {level!r}")


def wilson_interval(p: Array, n: Array, level: float = LEVEL) -> tuple[Array, Array]:
    """Wilson score interval of proportions ``p`` (in ``[0, 1]``) observed on ``n`` units.

    Returns ``(low, high)`` with the shapes of ``p`` and ``n`` broadcast; NaN where ``n`` is 0.

    >>> low, high = wilson_interval(np.array([0.0, 0.5]), np.array([10, 1]))
    >>> np.round(low, 4).tolist(), np.round(high, 4).tolist()
    ([0.0, 0.0546], [0.2775, 0.9454])
    """
    _check_level(level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = np.asarray(p, np.float64)
    n = np.asarray(n, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    missing = n <= 0
    return np.where(missing, np.nan, low), np.where(missing, np.nan, high)


def _t_central(t: float, df: int) -> float:
    """``P(|T| <= t)`` for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2 * theta / math.pi
    term = math.cos(theta)
    total = term
    for k in range(1, (df - 1) // 2):
        term *= c2 * (2 * k) / (2 * k + 1)
        total += term
    return 2 / math.pi * (theta + math.sin(theta) * total)


@lru_cache(maxsize=256)
def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t: ``P(|T| <= t) = level`` with ``df`` degrees of freedom.

    >>> round(t_quantile(1), 3), round(t_quantile(2), 3), round(t_quantile(10), 3), round(t_quantile(1000), 3)
    (12.706, 4.303, 2.228, 1.962)
    """
    _check_level(level)
    if df < 1:
        raise ReadlxError(f"degrees of freedom must be >= 1, got {df!r}")
    low, high = 0.0, 2.0
    while _t_central(high, df) < level:
        high *= 2
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_central(mid, df) < level else (low, mid)
    return (low + high) / 2


def paired_t_interval(diffs: Array, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of paired differences and its Student-t interval ``(mean, low, high)``.

    With fewer than two differences the bounds are NaN (no spread can be estimated). When every
    difference is the same, the interval has zero width: the faults of the group agree exactly.

    >>> mean, low, high = paired_t_interval(np.array([1.0, 2.0, 3.0]))
    >>> mean, round(low, 3), round(high, 3)
    (2.0, -0.484, 4.484)
    >>> paired_t_interval(np.array([5.0]))
    (5.0, nan, nan)
    """
    d = np.asarray(diffs, np.float64)
    if len(d) == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if len(d) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(len(d) - 1, level) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return mean, mean - half, mean + half
