"""How many faults a margin needs: the paper's formula, and stratified samples with proportional
and Neyman allocation (Cochran, *Sampling Techniques*, 3rd ed., §5.5 and §5.9).

With strata of sizes ``N_h`` (weights ``W_h = N_h / N``) and share variances ``S_h²``, the stratified
mean has variance ``Σ W_h² S_h² / n_h − Σ W_h S_h² / N``. A margin ``e`` at cut-off ``t`` needs that
variance at most ``V = (e / t)²``:

- proportional allocation (``n_h = n W_h``): ``n = Σ W_h S_h² / (V + Σ W_h S_h² / N)``;
- Neyman allocation (``n_h ∝ N_h S_h``, the smallest ``n`` for the margin):
  ``n = (Σ W_h S_h)² / (V + Σ W_h S_h² / N)``.

Every ``S_h² = 1/4`` gives back the paper's formula for ``p = 0.5``; the gain comes from strata that
a pilot shows to vary less. Allocations are rounded up and capped at ``N_h``; every stratum gets at
least ``minimum`` faults, so that each is estimated at all.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from readlx.errors import InputError
from readlx.planning.strata import Stratum

ALLOCATIONS = ("proportional", "neyman")


@dataclass(frozen=True)
class Allocation:
    """A stratified sample: ``sizes[k]`` faults from stratum ``k``; ``n`` their sum."""

    method: str
    outcome: str
    sizes: tuple[int, ...]

    @property
    def n(self) -> int:
        return sum(self.sizes)


def allocate(strata: Sequence[Stratum], outcome: str, margin: float, t: float, method: str = "neyman",
             minimum: int = 2) -> Allocation:
    """The sample of ``strata`` whose estimate of ``outcome``'s share has margin ``margin`` at ``t``.

    Examples
    --------
    >>> from readlx.planning.strata import Stratum
    >>> worst = [Stratum("a", "b", 10**6, {"critical": 0.25}), Stratum("c", "b", 10**6, {"critical": 0.25})]
    >>> allocate(worst, "critical", 0.01, 2.58).n  # the paper's formula gives 16,504 for N = 2,000,000
    16504
    >>> calm = [Stratum("a", "b", 10**6, {"critical": 0.25}), Stratum("c", "b", 10**6, {"critical": 0.0025})]
    >>> allocate(calm, "critical", 0.01, 2.58).sizes, allocate(calm, "critical", 0.01, 2.58, "proportional").sizes
    ((4558, 456), (4185, 4185))
    """
    if method not in ALLOCATIONS:
        raise InputError(f"unknown allocation {method!r}; valid: {', '.join(ALLOCATIONS)}", field="allocation")
    if not 0 < margin < 1:
        raise InputError(f"margin must be in (0, 1), got {margin!r}", field="margin")
    total = sum(s.size for s in strata)
    weights = [s.size / total for s in strata]
    sd = [math.sqrt(s.variance[outcome]) for s in strata]
    within = sum(w * d * d for w, d in zip(weights, sd, strict=True))
    target = (margin / t) ** 2 + within / total
    if method == "proportional":
        n = within / target
        shares = weights
    else:
        spread = sum(w * d for w, d in zip(weights, sd, strict=True))
        n = spread * spread / target
        shares = [w * d / spread if spread else w for w, d in zip(weights, sd, strict=True)]
    sizes = tuple(min(s.size, max(minimum, math.ceil(n * share))) for s, share in zip(strata, shares, strict=True))
    return Allocation(method, outcome, sizes)


def stratified_margin(strata: Sequence[Stratum], sizes: Sequence[int], outcome: str, t: float) -> float:
    """The margin at ``t`` of a stratified estimate of ``outcome`` with ``sizes`` faults per stratum.

    >>> from readlx.planning.strata import Stratum
    >>> round(stratified_margin([Stratum("a", "b", 10**6, {"critical": 0.25})], [16_369], "critical", 2.58), 4)
    0.01
    """
    total = sum(s.size for s in strata)
    variance = sum((s.size / total) ** 2 * s.variance[outcome] * (1 / n - 1 / s.size)
                   for s, n in zip(strata, sizes, strict=True) if n)
    return t * math.sqrt(max(variance, 0.0))
