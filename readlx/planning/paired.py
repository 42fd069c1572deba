"""Sequential paired differences: do two runtimes give the same shares on the same faults?

The question is paired: both runtimes run the same faults on the same images, and on most faults
they agree, so the per-fault difference of a share (runtime B's minus runtime A's, in [-1, 1]) has
a far smaller spread than either share. An iterative campaign (:mod:`readlx.planning.iterative`)
looks at every share's difference after each round; a difference is decided when its interval at
the look's level excludes zero (*differ*) or lies within ``±delta`` of zero (*agree*), and the
campaign stops when every difference is decided.

The interval splits each difference into its positive and negative parts, ``d = d⁺ − d⁻`` with
``d⁺ = max(d, 0)`` and ``d⁻ = max(−d, 0)``, both in [0, 1] and mostly 0; each part's mean gets the
bounded-mean interval of :func:`readlx.planning.bounds.bounded_mean_interval` at level
``1 − α / (2K)``, and the difference's interval is ``[low⁺ − high⁻, high⁺ − low⁻]``: by Bonferroni
over the two parts and the ``K`` looks, the reported interval covers with at least ``1 − α``. When
the runtimes disagree on a few faults only, both parts have small means and their intervals shrink
like ``ln(1/α) / n``, not like ``1/√n``: a paired question is answered with few faults. Like the
shares' interval it holds for any distribution of the differences, however skewed (a t-interval
would stop early when the rare faults on which the runtimes disagree were not drawn yet); the
empirical Bernstein bound (Maurer & Pontil, COLT 2009), also valid, needs about five times more faults
for the same width on such data (its range term is ``7 ln(2/δ) / 3n`` for a range of 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.errors import ArgumentError
from readlx.planning.bounds import bounded_mean_interval

DIFF_SHARES = ("masked", "non_critical", "critical", "nan_or_inf")
METHOD = ("bounded-mean intervals of the positive and negative parts of the per-fault differences, each at level "
          "1 - alpha/(2K), Bonferroni over the parts and K pre-set looks")


def difference_interval(diffs: Array, level: float) -> tuple[float, float, float]:
    """Mean of ``diffs`` (each in [-1, 1]) and its interval at ``level`` from the bounded-mean
    intervals of the positive and negative parts (each at ``1 − (1 − level) / 2``).

    >>> mean, low, high = difference_interval(np.zeros(1000), 0.99)
    >>> mean, round(low, 4), round(high, 4)  # no disagreement in 1,000 faults: within 0.6 points
    (0.0, -0.006, 0.006)
    >>> difference_interval(np.full(200, 0.5), 0.99)[1] > 0  # B above A on every fault: differ
    True
    """
    d = np.clip(np.asarray(diffs, np.float64), -1.0, 1.0)
    low, high = parts_interval(float(np.maximum(d, 0).sum()), float(np.maximum(-d, 0).sum()), len(d), level)
    return float(d.mean()), low, high


def parts_interval(up: float, down: float, n: int, level: float) -> tuple[float, float]:
    """The interval at ``level`` of a mean difference over ``n`` faults whose positive parts sum to
    ``up`` and negative parts to ``down`` (see the module docstring)."""
    part_level = 1 - (1 - level) / 2
    up_low, up_high = bounded_mean_interval(up, n, part_level)
    down_low, down_high = bounded_mean_interval(down, n, part_level)
    return up_low - down_high, up_high - down_low


def paired_faults(diffs: Array, margin: float, level: float, population: int) -> int:
    """The faults a paired campaign needs for its interval of the mean difference to lie within
    ``±margin`` of its mean, when the differences are spread like ``diffs`` (a pilot's): the
    smallest ``n`` whose interval, at the pilot's mean positive and negative parts, is that narrow
    (``population``, the whole list, when none is).

    >>> paired_faults(np.zeros(50), 0.01, 0.99, 16627)  # no disagreement: 1 point needs ~600 faults
    597
    >>> paired_faults(np.r_[np.zeros(45), np.full(5, 0.3)], 0.01, 0.99, 16627)  # B above A on a tenth
    2960
    """
    d = np.clip(np.asarray(diffs, np.float64), -1.0, 1.0)
    up, down = float(np.maximum(d, 0).mean()), float(np.maximum(-d, 0).mean())

    def narrow(n: int) -> bool:
        low, high = parts_interval(up * n, down * n, n, level)
        return (high - low) / 2 <= margin

    if not narrow(population):
        return population
    low_n, high_n = 0, population  # narrow(high_n) holds; the width shrinks as n grows
    while high_n - low_n > 1:
        mid = (low_n + high_n) // 2
        low_n, high_n = (low_n, mid) if narrow(mid) else (mid, high_n)
    return high_n


@dataclass(frozen=True)
class Difference:
    """One share's difference ``b − a`` (fraction of images): mean, interval, verdict."""

    outcome: str
    mean: float
    low: float
    high: float
    verdict: str | None

    def as_list(self) -> list[Any]:
        return [self.mean, self.low, self.high, self.verdict]


@dataclass(frozen=True)
class PairTarget:
    """Decide every share's difference between runtimes ``a`` and ``b``: it differs (its interval
    excludes 0) or agrees within ``delta`` (a fraction of images, 0.01 = one point)."""

    a: str
    b: str
    delta: float = 0.01
    confidence: float = 0.99
    looks: int = 8
    outcomes: tuple[str, ...] = DIFF_SHARES

    def __post_init__(self) -> None:
        if not (0 < self.delta < 1 and 0 < self.confidence < 1 and 1 <= self.looks <= 20) or self.a == self.b:
            raise ArgumentError(f"a pair of two runtimes, delta and confidence in (0, 1) and looks in 1..20, got "
                                f"{self}", argument="delta")

    def differences(self, ds: xr.Dataset) -> list[Difference]:
        """Each share's difference over the faults of ``ds`` at a look's level ``1 − α / looks``."""
        level = 1 - (1 - self.confidence) / self.looks
        n_images = int(ds.attrs["n_images"])
        sel = ds.isel(model=0)
        out = []
        for o in self.outcomes:
            d = (sel[o].sel(framework=self.b).values - sel[o].sel(framework=self.a).values) / n_images
            mean, lo, hi = difference_interval(d, level)
            verdict = "differ" if lo > 0 or hi < 0 else "agree" if max(-lo, hi) <= self.delta else None
            out.append(Difference(o, mean, lo, hi, verdict))
        return out

    def look_dataset(self, ds: xr.Dataset, population: int | None) -> tuple[bool, dict[str, Any]]:
        found = self.differences(ds)
        return all(d.verdict is not None for d in found), {
            "until_delta": self.delta, "until_confidence": self.confidence, "until_pair": f"{self.a},{self.b}",
            "until_method": METHOD, "until_differences": json.dumps({d.outcome: d.as_list() for d in found})}


def format_differences(ds: xr.Dataset, full_faults: int) -> str:
    """The verdict of a paired campaign: per share the difference, its interval and verdict, and the
    inferences used against both runtimes' full campaigns."""
    a, b = ds.attrs["until_pair"].split(",")
    used, n_images = int(ds.attrs["until_faults_used"]), int(ds.attrs["n_images"])
    lines = [f"{b} - {a}: {ds.attrs['until_stopped']} after {used:,} of {int(ds.attrs['until_faults_listed']):,} "
             f"faults; {2 * used * n_images:,} inferences against {2 * full_faults * n_images:,} for both full "
             f"campaigns ({full_faults / max(used, 1):.1f}x fewer)",
             f"{'share':14s} {'difference (pp)':>16s} {'interval (pp)':>22s}  "
             f"verdict (delta {100 * ds.attrs['until_delta']:g} pp)"]
    for o, (mean, low, high, verdict) in json.loads(ds.attrs["until_differences"]).items():
        lines.append(f"{o:14s} {100 * mean:+16.3f} {f'[{100 * low:+.3f}, {100 * high:+.3f}]':>22s}  "
                     f"{verdict or 'undecided'}")
    return "\n".join(lines)
