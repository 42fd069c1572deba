"""Strata of a fault population: layer × bit group, each with its size and, from a pilot, the
variance of its faults' outcome shares.

A fault's outcome share (masked, non-critical, SDC-1, NaN/Inf) is the fraction of the images it
gives that outcome; a campaign estimates the mean share over the population of faults. Sampling
faults, the variance that matters is the spread of the per-fault shares within a stratum, which a
pilot (a result file, or the published per-fault counts) measures. Shares depend strongly on the bit
(a low mantissa bit is masked almost always, bit 30 almost never) and on the layer, so strata of
layer × bit group have small variances and a Neyman allocation needs far fewer faults than a
network-wise draw (:mod:`readlx.planning.allocation`).

Without a pilot a stratum's variance is the worst case, 1/4. With one, it is the sample variance of
the pilot's shares in the stratum with one pseudo-fault of variance 1/4 added, so that a stratum the
pilot saw as constant (or barely saw) still gets faults.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from readlx._typing import Array
from readlx.fault_maps.fault import FLOAT_BITS, Fault
from readlx.graph import LayerTable

BIT_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("mantissa 0-22", tuple(range(0, 23))),
    ("exponent 23-29", tuple(range(23, 30))),
    ("exponent 30", (30,)),
    ("sign 31", (31,)),
)
"""The bit groups of a stratum: bits whose faults behave alike (bit 30 is the exponent's top bit,
whose flip of a value below 2 makes it huge)."""
WORST_VARIANCE = 0.25
"""The variance of a share in [0, 1] at most (half the faults 0, half 1)."""


@dataclass(frozen=True)
class Stratum:
    """One layer × bit group: ``size`` faults in the population, ``variance`` of their shares per
    outcome (the worst case without a pilot), ``pilot`` faults of the pilot in it."""

    layer: str
    bits: str
    size: int
    variance: Mapping[str, float]
    pilot: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.layer, self.bits)


def bit_group(bit: int) -> str:
    """The name of the group of ``bit`` (a multi-bit fault's most significant bit).

    >>> bit_group(3), bit_group(30), bit_group(31)
    ('mantissa 0-22', 'exponent 30', 'sign 31')
    """
    for name, bits in BIT_GROUPS:
        if bit in bits:
            return name
    raise ValueError(f"bit {bit!r} is not in 0..31")


def population_strata(table: LayerTable, outcomes: Sequence[str], kinds: int = 2, positions: int = FLOAT_BITS,
                      pilot: Mapping[tuple[str, str], Sequence[Mapping[str, float]]] | None = None) -> list[Stratum]:
    """The strata of ``table``'s population (its layers' shapes: weights, or the output elements of
    an activation table) × ``kinds`` per bit, with the variances of ``pilot``'s per-fault shares.

    Examples
    --------
    >>> from readlx.graph import Layer
    >>> t = LayerTable("m", (Layer("fc", "linear", (10, 16)),))
    >>> [(s.bits, s.size, s.variance["critical"]) for s in population_strata(t, ["critical"])]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('mantissa 0-22', 7360, 0.25), ('exponent 23-29', 2240, 0.25), ('exponent 30', 320, 0.25),
     ('sign 31', 320, 0.25)]
    """
    out = []
    for layer in table:
        for name, bits in BIT_GROUPS:
            width = sum(1 for b in bits if b < positions)
            if not width:
                continue
            shares = list((pilot or {}).get((layer.name, name), ()))
            out.append(Stratum(layer.name, name, layer.numel * width * kinds,
                               {o: smoothed_variance([s[o] for s in shares]) for o in outcomes}, len(shares)))
    return out


def smoothed_variance(shares: Sequence[float] | Array) -> float:
    """The sample variance of ``shares`` with one pseudo-observation of variance 1/4 added: the
    worst case with no share, close to the sample variance with many.

    >>> smoothed_variance([]), smoothed_variance([1.0] * 9)
    (0.25, 0.025)
    """
    values = np.asarray(shares, np.float64)
    squares = float(((values - values.mean()) ** 2).sum()) if len(values) else 0.0
    return (squares + WORST_VARIANCE) / (len(values) + 1)


def pilot_shares(faults: Iterable[Fault], shares: Mapping[str, Sequence[float] | Array]
                 ) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per stratum key, the per-fault shares of a pilot: ``shares[outcome][k]`` is fault ``k``'s.

    >>> from readlx.fault_maps.fault import Fault
    >>> pilot_shares([Fault("fc", (0, 0), 30), Fault("fc", (1, 0), 2)], {"critical": [1.0, 0.0]})
    {('fc', 'exponent 30'): [{'critical': 1.0}], ('fc', 'mantissa 0-22'): [{'critical': 0.0}]}
    """
    out: dict[tuple[str, str], list[dict[str, float]]] = {}
    for k, fault in enumerate(faults):
        out.setdefault((fault.layer, bit_group(fault.top_bit)), []).append(
            {o: float(values[k]) for o, values in shares.items()})
    return out
