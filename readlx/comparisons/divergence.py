"""Per-fault divergence between runtimes: count differences, image-level contingency tables.

For each pair ``(a, b)`` of frameworks of a campaign Dataset, in the Dataset's framework order:

* from counts alone: ``b − a`` of every outcome count, and ``moved``, the least number of images whose
  class must differ to turn a's counts into b's (half the L1 distance of the count triples);
* from per-image outcomes (``outcome`` variable): the 3×3 contingency table of outcome classes
  (rows a, columns b) and ``disagree``, the images classified differently (its off-diagonal sum).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.breakdown import bits_label, fault_bits, fault_sites, site_label
from readlx.comparisons.cf import annotate
from readlx.comparisons.text import table
from readlx.errors import ReadlxError
from readlx.outcomes.classification import NONFINITE, OUTCOME_NAMES

Pair = tuple[str, str]
_DIFF_VARS = ("masked", "non_critical", "critical", "nan_or_inf")
_FAULT_COORDS = ("layer", "tensor_index", "bit", "bit_mask", "kind", "site", "seed")
_META = {
    **{f"d_{v}": (f"{v.replace('_', ' ')} difference", "images",
                  f"{v.replace('_', ' ')} count of framework_b minus that of framework_a") for v in _DIFF_VARS},
    "moved": ("images moved between classes (lower bound)", "images",
              "half the L1 distance between the (masked, non-critical, critical) counts of the two frameworks"),
    "contingency": ("outcome contingency table", "images",
                    "images per (class under framework_a, class under framework_b)"),
    "disagree": ("images classified differently", "images",
                 "images whose outcome class differs between framework_a and framework_b"),
}


def frameworks(ds: xr.Dataset) -> list[str]:
    """The framework names of a Dataset, in order."""
    return [str(f) for f in ds.framework.values]


def framework_pairs(ds: xr.Dataset, pairs: Sequence[Pair] | None = None) -> list[Pair]:
    """All pairs in framework order (``a`` before ``b``), or ``pairs`` after checking the names.

    >>> import xarray as xr
    >>> framework_pairs(xr.Dataset(coords={"framework": ["torch", "keras", "onnx"]}))
    [('torch', 'keras'), ('torch', 'onnx'), ('keras', 'onnx')]
    """
    names = frameworks(ds)
    if pairs is None:
        return list(combinations(names, 2))
    for a, b in pairs:
        for name in (a, b):
            if name not in names:
                raise ReadlxError(f"framework {name!r} is not in the result; valid: {', '.join(names)}")
        if a == b:
            raise ReadlxError(f"a pair needs two different frameworks, got {a!r} twice")
    return [(str(a), str(b)) for a, b in pairs]


def pair_label(pair: Pair) -> str:
    """``"a vs b"``."""
    return f"{pair[0]} vs {pair[1]}"


def contingency_counts(codes_a: Array, codes_b: Array) -> Array:
    """3×3 counts over the last axis of two per-image outcome code arrays (NaN/Inf flag ignored).

    >>> contingency_counts(np.array([0, 1, 2, 6]), np.array([0, 2, 2, 1])).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    a = np.asarray(codes_a) & ~NONFINITE
    b = np.asarray(codes_b) & ~NONFINITE
    cell = (3 * a + b).astype(np.int64)
    lead = cell.shape[:-1]
    flat = cell.reshape(-1, cell.shape[-1]) + 9 * np.arange(int(np.prod(lead, dtype=np.int64)))[:, None]
    counts = np.bincount(flat.ravel(), minlength=9 * flat.shape[0])
    return counts.reshape(*lead, 3, 3)


def _fault_coords(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    return {name: ds[name] for name in _FAULT_COORDS if name in ds.coords}


def divergence(ds: xr.Dataset, pairs: Sequence[Pair] | None = None) -> xr.Dataset:
    """Per (model, pair, fault) divergence of two frameworks; see the module docstring.

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> ds = toy_dataset()
    >>> dv = divergence(ds)
    >>> dv.d_critical.sel(pair="a vs b").values[0].tolist(), int(dv.disagree.sum())
    ([-1, 0], 2)
    """
    pairs = framework_pairs(ds, pairs)
    if not pairs:
        raise ReadlxError(f"divergence needs two frameworks, the result has {frameworks(ds)}")
    names = frameworks(ds)
    ia = [names.index(a) for a, _ in pairs]
    ib = [names.index(b) for _, b in pairs]
    dims = ("model", "pair", "fault")
    data: dict[str, tuple[Any, ...]] = {}
    for var in _DIFF_VARS:
        values = ds[var].values
        data[f"d_{var}"] = (dims, values[:, :, ib].transpose(0, 2, 1) - values[:, :, ia].transpose(0, 2, 1))
    triple = np.stack([data[f"d_{v}"][1] for v in OUTCOME_NAMES])
    data["moved"] = (dims, np.abs(triple).sum(axis=0) // 2)
    if "outcome" in ds:
        codes = ds["outcome"].values  # model, fault, framework, image
        table3 = contingency_counts(codes[:, :, ia].transpose(0, 2, 1, 3), codes[:, :, ib].transpose(0, 2, 1, 3))
        data["contingency"] = (dims + ("class_a", "class_b"), table3)
        data["disagree"] = (dims, table3.sum(axis=(-1, -2)) - np.trace(table3, axis1=-2, axis2=-1))
    coords = {
        "model": ds.model.values, "fault": ds.fault.values, **_fault_coords(ds),
        "pair": np.array([pair_label(p) for p in pairs], dtype=object),
        "framework_a": ("pair", np.array([a for a, _ in pairs], dtype=object)),
        "framework_b": ("pair", np.array([b for _, b in pairs], dtype=object)),
    }
    if "outcome" in ds:
        coords.update(class_a=np.array(OUTCOME_NAMES, dtype=object), class_b=np.array(OUTCOME_NAMES, dtype=object))
    out = xr.Dataset(data, coords=coords)
    out.attrs.update(n_images=int(ds.attrs["n_images"]), derived_from="readlx campaign", quantity="divergence")
    return annotate(out, _META)


def sdc1_differences(ds: xr.Dataset, a: str, b: str, model: int = 0) -> xr.Dataset:
    """Faults whose SDC-1 (critical) count differs between ``a`` and ``b``, largest first.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> d = sdc1_differences(toy_dataset(), "a", "b")
    >>> d.fault.values.tolist(), d.difference.values.tolist()
    ([10], [-1])
    """
    framework_pairs(ds, [(a, b)])
    sel = ds.isel(model=model)
    ca, cb = sel.critical.sel(framework=a).values, sel.critical.sel(framework=b).values
    diff = cb - ca
    order = [int(i) for i in np.argsort(-np.abs(diff), kind="stable") if diff[i] != 0]
    out = xr.Dataset(
        {"critical_a": ("fault", ca[order]), "critical_b": ("fault", cb[order]), "difference": ("fault", diff[order])},
        coords={"fault": sel.fault.values[order], **{k: v.isel(fault=order) for k, v in _fault_coords(sel).items()}},
    )
    out.attrs.update(framework_a=a, framework_b=b, n_images=int(ds.attrs["n_images"]))
    return annotate(out, {
        "critical_a": ("SDC-1 count of framework_a", "images", "images with a changed top-1 class under framework_a"),
        "critical_b": ("SDC-1 count of framework_b", "images", "images with a changed top-1 class under framework_b"),
        "difference": ("SDC-1 difference", "images", "critical_b minus critical_a"),
    })


@dataclass(frozen=True)
class DivergentFault:
    """One fault on one framework pair, with its divergence score.

    ``bit`` is the most significant of the fault's ``bits``; ``site`` is ``"weight"`` or ``"activation"``.
    """

    fault: int
    layer: str
    index: tuple[int, ...]
    bit: int
    kind: str
    framework_a: str
    framework_b: str
    counts_a: tuple[int, int, int]
    counts_b: tuple[int, int, int]
    score: int
    score_name: str
    site: str = "weight"
    bits: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        """The layer, with the site for a fault outside the weights: ``"conv1 (activation)"``."""
        return site_label(self.layer, self.site)

    @property
    def bits_text(self) -> str:
        """The corrupted bits: ``"30"``, ``"29+30"``."""
        return bits_label(self.bits or (self.bit,))


def most_divergent(ds: xr.Dataset, top: int = 10, pairs: Sequence[Pair] | None = None,
                   model: int = 0) -> list[DivergentFault]:
    """The ``top`` (fault, pair) combinations with the most images classified differently.

    The score is ``disagree`` when per-image outcomes exist, else ``moved`` (a lower bound of it).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> [(d.fault, d.score, d.score_name) for d in most_divergent(toy_dataset(), top=1)]
    [(10, 2, 'disagree')]
    """
    dv = divergence(ds, pairs).isel(model=model)
    score_name = "disagree" if "disagree" in dv else "moved"
    score = dv[score_name].values  # pair, fault
    flat = np.argsort(-score, axis=None, kind="stable")[: max(top, 0)]
    sel = ds.isel(model=model)
    sites, bits = fault_sites(sel), fault_bits(sel)
    rows = []
    for p, f in zip(*np.unravel_index(flat, score.shape), strict=True):
        if score[p, f] <= 0:
            break
        a, b = str(dv.framework_a.values[p]), str(dv.framework_b.values[p])
        rows.append(DivergentFault(
            int(sel.fault.values[f]), str(sel.layer.values[f]),
            tuple(int(i) for i in sel.tensor_index.values[f] if i >= 0), int(sel.bit.values[f]),
            str(sel.kind.values[f]), a, b, _triple(sel, a, f), _triple(sel, b, f), int(score[p, f]), score_name,
            str(sites[f]), bits[f],
        ))
    return rows


def _triple(sel: xr.Dataset, framework: str, f: int) -> tuple[int, int, int]:
    fw = sel.sel(framework=framework)
    return tuple(int(fw[v].values[f]) for v in OUTCOME_NAMES)  # type: ignore[return-value]  # OUTCOME_NAMES has three names


def format_most_divergent(rows: list[DivergentFault]) -> str:
    """Plain-text table of :func:`most_divergent`."""
    if not rows:
        return "no fault is classified differently by any pair of frameworks"
    head = ("fault", "layer", "index", "bit", "pair", "a: m/nc/c", "b: m/nc/c", rows[0].score_name)
    body = [(str(r.fault), r.where, str(r.index), r.bits_text, f"{r.framework_a} vs {r.framework_b}",
             "/".join(map(str, r.counts_a)), "/".join(map(str, r.counts_b)), str(r.score)) for r in rows]
    return table(head, body)

