"""Per-fault agreement of a campaign with published per-fault outcome counts.

The published lists hold single-bit weight faults: a result with activation faults has nothing to
compare with them, and each fault of the result must match its published entry in layer, index and
every corrupted bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.breakdown import bits_label, fault_bits, fault_sites
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.faultlist import FaultList


@dataclass(frozen=True)
class FaultDifference:
    fault: int
    layer: str
    index: tuple[int, ...]
    bit: int
    ours: tuple[int, int, int]
    published: tuple[int, int, int]
    bits: tuple[int, ...] = ()
    """All corrupted bits (``bit`` is the most significant)."""

    @property
    def bits_text(self) -> str:
        """``"bit 30"``, ``"bits 29+30"``."""
        bits = self.bits or (self.bit,)
        return f"{'bits' if len(bits) > 1 else 'bit'} {bits_label(bits)}"


@dataclass(frozen=True)
class Agreement:
    """How a framework's per-fault (masked, non-critical, critical) counts match the published ones."""

    framework: str
    n_faults: int
    sdc1_exact: float
    triple_exact: float
    mean_abs_diff: tuple[float, float, float]
    largest: tuple[FaultDifference, ...]

    def format(self) -> str:
        lines = [
            f"{self.framework}: {self.n_faults} faults compared with the published counts",
            f"  SDC-1 count exact match: {100 * self.sdc1_exact:.1f} %",
            f"  (masked, non-critical, critical) exact match: {100 * self.triple_exact:.1f} %",
            "  mean |difference| masked / non-critical / critical: "
            + " / ".join(f"{d:.2f}" for d in self.mean_abs_diff),
        ]
        if self.largest:
            lines.append("  largest differences (fault, layer, index, bit: ours vs published):")
            for d in self.largest:
                lines.append(
                    f"    {d.fault:>6} {d.layer} {d.index} {d.bits_text}: {d.ours} vs {d.published}"
                )
        return "\n".join(lines)


def check_weight_faults(ds: xr.Dataset) -> None:
    """Raise unless every fault of ``ds`` is a weight fault, as in the published lists.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> check_weight_faults(toy_dataset())
    >>> check_weight_faults(toy_dataset().assign_coords(site=("fault", ["weight", "activation"])))
    Traceback (most recent call last):
    ...
    readlx.errors.ReadlxError: 1 of the result's 2 faults (ids [11]) are activation faults; the published ...
    """
    activation = np.flatnonzero(fault_sites(ds) != "weight")
    if activation.size:
        ids = ds.fault.values[activation]
        raise ReadlxError(
            f"{activation.size} of the result's {ds.sizes['fault']} faults (ids {ids[:5].tolist()}"
            f"{' ...' if ids.size > 5 else ''}) are activation faults; the published fault lists hold weight "
            "faults only, so their counts do not describe these: compare a campaign of weight faults")


def published_by_fault(ds: xr.Dataset, published: FaultList) -> Array:
    """The published (masked, non-critical, critical) counts of each fault of ``ds``, ``(F, 3)``, found
    by fault id and checked to be the same fault (layer, index, bits)."""
    check_weight_faults(ds)
    if published.published is None:
        raise ReadlxError(f"fault list {published.source!r} holds no published outcome counts")
    out = np.zeros((ds.sizes["fault"], 3), np.int64)
    bits = fault_bits(ds)
    for pos, fid in enumerate(ds.fault.values):
        try:
            entry = published.by_id(int(fid))
        except FaultListError as e:
            raise ReadlxError(f"fault {int(fid)} of the result is not in the published list "
                              f"{published.source!r}") from e
        ref, counts = entry.fault, entry.published
        assert counts is not None  # a list carries counts for all its faults or none
        idx = tuple(int(i) for i in ds.tensor_index.values[pos] if i >= 0)
        ours = (str(ds.layer.values[pos]), idx, bits[pos])
        if ref.is_activation or (ref.layer, ref.index, ref.bits) != ours:
            raise ReadlxError(
                f"fault {int(fid)} differs between result ({_describe(*ours)}) and published list "
                f"({_describe(ref.layer, ref.index, ref.bits, ref.site.value)})"
            )
        n_ref = counts.n_injections
        if n_ref != int(ds.attrs["n_images"]):
            raise ReadlxError(
                f"fault {int(fid)}: the published counts are of {n_ref} images, the result {ds.attrs['n_images']}; "
                "compare campaigns over the same images"
            )
        out[pos] = (counts.masked, counts.non_critical, counts.critical)
    return out


def _describe(layer: str, index: tuple[int, ...], bits: tuple[int, ...], site: str = "weight") -> str:
    where = layer if site == "weight" else f"{site} {layer}"
    return f"{where} {index} {'bits' if len(bits) > 1 else 'bit'} {bits_label(bits)}"


def agreement(ds: xr.Dataset, published: FaultList, top: int = 10) -> list[Agreement]:
    """Per framework of the (single-model) result: exact-match rates and largest differences."""
    counts = published_by_fault(ds, published)
    bits = fault_bits(ds)
    result = []
    for fw in ds.framework.values:
        sel = ds.isel(model=0).sel(framework=fw)
        ours = np.stack([sel.masked.values, sel.non_critical.values, sel.critical.values], axis=1)
        diff = np.abs(ours - counts)
        order = np.lexsort((-diff[:, 0], -diff[:, 2]))[: min(top, len(diff))]
        largest = tuple(
            FaultDifference(
                int(ds.fault.values[p]), str(ds.layer.values[p]),
                tuple(int(i) for i in ds.tensor_index.values[p] if i >= 0), int(ds.bit.values[p]),
                # both have the three columns masked, non-critical, critical
                cast(tuple[int, int, int], tuple(int(v) for v in ours[p])),
                cast(tuple[int, int, int], tuple(int(v) for v in counts[p])), bits[p],
            )
            for p in order if diff[p].any()
        )
        result.append(
            Agreement(
                str(fw), len(ours), float((diff[:, 2] == 0).mean()), float((diff == 0).all(axis=1).mean()),
                cast(tuple[float, float, float], tuple(float(v) for v in diff.mean(axis=0))), largest,
            )
        )
    return result
