"""Plausibility tests of published outcome counts: do the outcomes behave like those of the faults
they are attached to?

A float32 bit flip changes a weight ``w = ±1.m × 2^e`` by ``2^(k−23+e)`` for mantissa bit ``k``
(at most ``2^(k−23) |w|``), and by a factor ``2^(±2^(k−23))`` for exponent bit ``k``; for ``|w| < 2``
(all weights of these networks) bit 30 is 0, and flipping it multiplies ``w`` by ``2^128``. So in a
correct file the outcomes depend strongly on the bit, the SDC-1 share of bit-30 flips is far above
that of low mantissa bits, and a flip of bits 0-15 (a change below ``2^-8 |w|``) is not SDC-1 on a
sizeable share of the images. Each test states its statistic:

- **bit dependence** (:func:`bit_dependence`): per outcome, the between-bit sum of squares of the
  per-fault shares within each layer, summed over layers, against ``permutations`` shuffles of the
  bits within each layer (a permutation test; p = (1 + #{shuffled ≥ observed}) / (1 + permutations)).
  Suspicious when no outcome depends on the bit (every p above ``alpha``).
- **exponent effect** (:func:`exponent_effect`): mean SDC-1 share of bit-30 flips minus that of bits
  0-15, one-sided permutation test over the two groups. Suspicious when the difference is not
  positive at ``alpha``.
- **low bits** (:func:`low_bits_critical`): faults in bits 0-15 that are SDC-1 on more than
  :data:`LOW_BIT_LIMIT` of the images. Suspicious when there is any, with the examples.
- **weight dependence** (:func:`weight_dependence`, with the model's weights): Spearman's rank
  correlation of ``|Δw|`` (the change the flip makes) with the SDC-1 share, which must be positive
  (a normal test of ``r √(n−1)``). Suspicious when it is not positive at ``alpha``.

Examples
--------
>>> from readlx.fault_maps.fault import Fault
>>> faults = [Fault("fc", (i % 8, i // 8), bit) for i, bit in enumerate([30, 3, 30, 5, 30, 2] * 10)]
>>> sdc = [[100, 0, 10, 90] if f.bit == 30 else [100, 100, 0, 0] for f in faults]
>>> fl = FaultList.from_faults("m", faults, published=sdc)
>>> exponent_effect(fl, np.random.default_rng(0)).status, low_bits_critical(fl).status
('ok', 'ok')
>>> shuffled = FaultList.from_faults("m", faults, published=sdc[1:] + sdc[:1])  # counts one row off
>>> exponent_effect(shuffled, np.random.default_rng(0)).status, low_bits_critical(shuffled).status
('suspicious', 'suspicious')
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.audit.findings import OK, SKIPPED, SUSPICIOUS, Finding
from readlx.errors import InputError
from readlx.fault_maps.faultlist import FaultList

OUTCOMES = {"masked": 1, "non-critical": 2, "SDC-1": 3}
"""The outcome shares tested, by their column in the published counts."""

LOW_BITS = range(16)
"""Mantissa bits whose flip changes a weight by at most ``2^-8`` of its value."""

LOW_BIT_LIMIT = 0.01
"""The SDC-1 share above which a low-bit flip is implausible."""

MIN_GROUP = 20
"""Faults each group of a test needs; fewer and the test is skipped."""

ALPHA = 0.001
"""The level below which a test's p-value counts as evidence (one in a thousand)."""


def shares(fl: FaultList, column: int) -> Array:
    """Per-fault share of the outcome in published ``column`` over ``n_injections``."""
    counts = fl.published
    assert counts is not None, "the audit reads only lists with counts"
    out: Array = counts[:, column] / np.maximum(counts[:, 0], 1)
    return out


def _single_bits(fl: FaultList) -> Array:
    """Each fault's bit, or -1 for multi-bit and transient faults (not tested)."""
    return np.array([f.bit if isinstance(f.bit, int) and f.seed is None else -1 for f in fl.faults])


def _between_bits(values: Array, cells: Array, n_cells: int) -> float:
    """Σ over (layer, bit) cells of n × (cell mean)², the part of the between-bit sum of squares that
    changes when bits are shuffled within layers."""
    sums = np.bincount(cells, weights=values, minlength=n_cells)
    sizes = np.maximum(np.bincount(cells, minlength=n_cells), 1)
    return float((sums * sums / sizes).sum())


def bit_dependence(fl: FaultList, rng: np.random.Generator, permutations: int = 999,
                   alpha: float = ALPHA) -> Finding:
    """Does any outcome depend on the bit within the layers? See the module docstring."""
    if (permutations + 1) * alpha < 1:
        raise InputError(f"{permutations} permutations cannot give p <= {alpha:g}; use at least "
                         f"{round(1 / alpha) - 1}", field="permutations")
    bits = _single_bits(fl)
    keep = bits >= 0
    layers = np.unique([f.layer for f in fl.faults], return_inverse=True)[1][keep]
    bits = bits[keep]
    if keep.sum() < MIN_GROUP or len(np.unique(bits)) < 2:
        return Finding("bit dependence", "plausibility", SKIPPED, f"{int(keep.sum())} single-bit faults: too few")
    n_cells = int(layers.max() + 1) * 32
    order = np.argsort(layers, kind="stable")  # by layer: a shuffle within layers keeps these blocks
    layers, bits = layers[order], bits[order]
    values = {name: shares(fl, column)[keep][order] for name, column in OUTCOMES.items()}
    observed = {name: _between_bits(v, layers * 32 + bits, n_cells) for name, v in values.items()}
    above = dict.fromkeys(OUTCOMES, 0)
    for _ in range(permutations):
        cells = layers * 32 + bits[np.lexsort((rng.random(len(bits)), layers))]
        for name, v in values.items():
            above[name] += _between_bits(v, cells, n_cells) >= observed[name] * (1 - 1e-12)
    p_values = {name: (1 + a) / (1 + permutations) for name, a in above.items()}
    depends = min(p_values.values()) <= alpha
    text = ("permutation test of the between-bit sum of squares within layers, p per outcome: "
            + ", ".join(f"{k} {v:.3g}" for k, v in p_values.items()))
    if not depends:
        text += f"; no outcome depends on the bit (every p > {alpha:g})"
    return Finding("bit dependence", "plausibility", OK if depends else SUSPICIOUS, text,
                   {"p": p_values, "permutations": permutations, "alpha": alpha, "faults": int(keep.sum())})


def exponent_effect(fl: FaultList, rng: np.random.Generator, permutations: int = 9999,
                    alpha: float = ALPHA) -> Finding:
    """Is the SDC-1 share of bit-30 flips above that of bits 0-15? See the module docstring."""
    bits, sdc = _single_bits(fl), shares(fl, OUTCOMES["SDC-1"])
    if (permutations + 1) * alpha < 1:
        raise InputError(f"{permutations} permutations cannot give p <= {alpha:g}", field="permutations")
    top, low = sdc[bits == 30], sdc[np.isin(bits, LOW_BITS)]
    if min(len(top), len(low)) < MIN_GROUP:
        return Finding("exponent effect", "plausibility", SKIPPED,
                       f"{len(top)} bit-30 and {len(low)} bit-0..15 faults: too few")
    observed = top.mean() - low.mean()
    pooled = np.concatenate([top, low])
    above = 0
    for _ in range(permutations):
        mixed = rng.permutation(pooled)
        above += mixed[:len(top)].mean() - mixed[len(top):].mean() >= observed - 1e-12
    p = (1 + above) / (1 + permutations)
    evidence = {"bit30_mean_sdc1": float(top.mean()), "low_bits_mean_sdc1": float(low.mean()),
                "bit30_faults": len(top), "low_bit_faults": len(low), "p": p, "alpha": alpha}
    text = (f"mean SDC-1 share of bit-30 flips {top.mean():.2%} against {low.mean():.2%} for bits 0-15 "
            f"(one-sided permutation p = {p:.3g})")
    return Finding("exponent effect", "plausibility", OK if observed > 0 and p <= alpha else SUSPICIOUS, text,
                   evidence)


def low_bits_critical(fl: FaultList) -> Finding:
    """Faults in bits 0-15 that are SDC-1 on more than :data:`LOW_BIT_LIMIT` of the images."""
    bits, sdc = _single_bits(fl), shares(fl, OUTCOMES["SDC-1"])
    low = np.flatnonzero(np.isin(bits, LOW_BITS))
    if not len(low):
        return Finding("low bits", "plausibility", SKIPPED, "no faults in bits 0-15")
    bad = low[sdc[low] > LOW_BIT_LIMIT]
    worst = bad[np.argsort(-sdc[bad], kind="stable")][:5]
    evidence: dict[str, Any] = {"faults": len(low), "implausible": len(bad), "limit": LOW_BIT_LIMIT, "examples": [
        {"id": fl.ids[i], "fault": fl.faults[i].describe(), "sdc1_share": float(sdc[i])} for i in worst]}
    text = (f"faults in bits 0-15 (a change below 2^-8 of the weight) that are SDC-1 on more than "
            f"{LOW_BIT_LIMIT:.0%} of the images: {len(bad)} of {len(low)}")
    if len(bad):
        text += f" (up to {sdc[bad].max():.1%})"
    return Finding("low bits", "plausibility", SUSPICIOUS if len(bad) else OK, text, evidence)


def weight_dependence(fl: FaultList, weights: dict[str, Array] | None, alpha: float = ALPHA) -> Finding:
    """Spearman's correlation of the change a flip makes, ``|Δw|``, with the SDC-1 share."""
    if weights is None:
        return Finding("weight dependence", "plausibility", SKIPPED, "no weights: give a model whose weights load")
    from readlx.audit.weights import changes

    delta = changes(fl, weights)
    keep = ~np.isnan(delta)  # NaN: not a single-bit weight flip
    if keep.sum() < MIN_GROUP:
        return Finding("weight dependence", "plausibility", SKIPPED, f"{int(keep.sum())} single-bit weight faults")
    r = _spearman(delta[keep], shares(fl, OUTCOMES["SDC-1"])[keep])
    z = r * np.sqrt(keep.sum() - 1)
    p = 0.5 * math.erfc(float(z) / math.sqrt(2))  # one-sided: r > 0
    text = f"Spearman correlation of |Δw| with the SDC-1 share r = {r:.3f} over {int(keep.sum())} faults (p = {p:.3g})"
    return Finding("weight dependence", "plausibility", OK if r > 0 and p <= alpha else SUSPICIOUS, text,
                   {"spearman_r": r, "p": p, "faults": int(keep.sum()), "alpha": alpha})


def _spearman(x: Array, y: Array) -> float:
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0


def _ranks(values: Array) -> Array:
    """Ranks with ties at their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    inverse = np.unique(values, return_inverse=True)[1]
    return (np.bincount(inverse, weights=ranks) / np.bincount(inverse))[inverse]

