"""What the figures draw: faults grouped by bit, bit field or layer, with estimates, intervals and n.

Every point of a figure is a group of faults (one bit position, one field of the float32 word, or
one layer). :func:`share_points` gives each runtime's pooled share with its Wilson interval,
:func:`difference_points` each runtime's mean per-fault difference from a baseline runtime with
the paired Student-t interval (see :mod:`readlx.comparisons.intervals`). Both carry the number of
faults behind every point, so a figure can show it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.breakdown import fault_sites, site_label
from readlx.comparisons.divergence import frameworks
from readlx.comparisons.intervals import LEVEL, paired_t_interval, wilson_interval
from readlx.errors import ReadlxError

GROUPINGS = ("bit", "field", "layer")
BANDS = (("mantissa", 0, 22), ("exponent", 23, 30), ("sign", 31, 31))
"""The fields of an IEEE-754 float32 word, ``(name, first bit, last bit)``; bit 0 is the mantissa LSB."""
FIELDS = (("mantissa 0-7", 0, 7), ("mantissa 8-15", 8, 15), ("mantissa 16-22", 16, 22),
          ("exponent 23-29", 23, 29), ("exponent MSB 30", 30, 30), ("sign 31", 31, 31))
"""Bit ranges pooled by the ``field`` grouping: more faults per point than one bit gives."""
DEFAULT_BASELINE = "torch"


@dataclass(frozen=True)
class Groups:
    """Faults grouped for a categorical axis: ``labels[g]`` names group ``g``, ``member[f]`` is the
    group of fault ``f``, ``bits[g]`` the (first) bit of the group (None for layers)."""

    by: str
    labels: tuple[str, ...]
    member: Array
    bits: tuple[int, ...] | None

    @property
    def n_faults(self) -> Array:
        """Faults per group."""
        return np.bincount(self.member, minlength=len(self.labels))


def fault_groups(ds: xr.Dataset, by: str) -> Groups:
    """Group the faults of ``ds`` by ``"bit"`` (ascending), ``"field"`` (:data:`FIELDS` present) or
    ``"layer"`` (network order).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> g = fault_groups(toy_dataset(), "field")
    >>> g.labels, g.member.tolist(), g.n_faults.tolist()
    (('mantissa 0-7', 'exponent MSB 30'), [1, 0], [1, 1])
    """
    if by not in GROUPINGS:
        raise ReadlxError(f"cannot group faults by {by!r}; valid: {', '.join(GROUPINGS)}")
    if by == "layer":  # weight and activation faults of one layer are groups of their own
        names = [site_label(str(v), str(site)) for v, site in zip(ds.layer.values, fault_sites(ds), strict=True)]
        labels = list(dict.fromkeys(names))
        return Groups(by, tuple(labels), np.array([labels.index(n) for n in names], np.int64), None)
    bits = ds.bit.values.astype(int)
    if by == "bit":
        present = sorted(set(bits.tolist()))
        return Groups(by, tuple(map(str, present)), np.searchsorted(present, bits).astype(np.int64), tuple(present))
    field = np.array([next(i for i, (_, lo, hi) in enumerate(FIELDS) if lo <= b <= hi) for b in bits], np.int64)
    used = sorted(set(field.tolist()))
    return Groups(by, tuple(FIELDS[i][0] for i in used), np.searchsorted(used, field).astype(np.int64),
                  tuple(FIELDS[i][1] for i in used))


@dataclass(frozen=True)
class Points:
    """Estimates and interval bounds per (runtime, group), in percent, and faults per group."""

    frameworks: tuple[str, ...]
    estimate: Array
    low: Array
    high: Array
    n_faults: Array


def per_fault_shares(ds: xr.Dataset, var: str, model: int = 0) -> Array:
    """Per-fault share of ``var`` in percent, shape (fault, framework)."""
    return 100.0 * ds[var].isel(model=model).values.astype(np.float64) / int(ds.attrs["n_images"])


def share_points(ds: xr.Dataset, groups: Groups, var: str, model: int = 0, level: float = LEVEL) -> Points:
    """Each runtime's share of ``var`` per group, pooled over its inferences, with the Wilson
    interval on the group's faults.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> ds = toy_dataset()
    >>> p = share_points(ds, fault_groups(ds, "layer"), "critical")
    >>> p.estimate.tolist(), np.round(p.high, 1).tolist()
    ([[50.0, 0.0], [0.0, 0.0]], [[94.5, 79.3], [79.3, 79.3]])
    """
    shares = per_fault_shares(ds, var, model)
    n = groups.n_faults
    estimate = np.stack([np.bincount(groups.member, shares[:, k], len(n)) / n for k in range(shares.shape[1])])
    low, high = wilson_interval(estimate / 100.0, n[None, :], level)
    return Points(tuple(frameworks(ds)), estimate, 100.0 * low, 100.0 * high, n)


def resolve_baseline(ds: xr.Dataset, baseline: str | None) -> str:
    """``baseline``, checked; by default :data:`DEFAULT_BASELINE` when present, else the first runtime."""
    names = frameworks(ds)
    if baseline is None:
        return DEFAULT_BASELINE if DEFAULT_BASELINE in names else names[0]
    if baseline not in names:
        raise ReadlxError(f"baseline {baseline!r} is not a framework of the result; valid: {', '.join(names)}")
    return baseline


def difference_points(ds: xr.Dataset, groups: Groups, var: str, baseline: str, model: int = 0,
                      level: float = LEVEL) -> Points:
    """Each other runtime's share of ``var`` minus the baseline's: per group, the mean of the
    per-fault paired differences (percentage points) and its paired Student-t interval.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> ds = toy_dataset()
    >>> p = difference_points(ds, fault_groups(ds, "bit"), "non_critical", "a")
    >>> p.frameworks, p.estimate.tolist(), p.n_faults.tolist()
    (('b',), [[0.0, 100.0]], [1, 1])
    """
    names = frameworks(ds)
    shares = per_fault_shares(ds, var, model)
    diffs = shares - shares[:, [names.index(baseline)]]
    others = [k for k, name in enumerate(names) if name != baseline]
    n = groups.n_faults
    out = np.full((3, len(others), len(n)), np.nan)
    for row, k in enumerate(others):
        for g in range(len(n)):
            out[:, row, g] = paired_t_interval(diffs[groups.member == g, k], level)
    low, high = np.clip(out[1], -100.0, 100.0), np.clip(out[2], -100.0, 100.0)
    return Points(tuple(names[k] for k in others), out[0], low, high, n)
