"""Golden divergence: how far each numerical variant's fault-free outputs are from float64."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.cf import annotate
from readlx.comparisons.numerics.ulp import ulp_bin_labels, ulp_distance, ulp_histogram
from readlx.comparisons.text import table
from readlx.engines.base import Engine
from readlx.errors import ReadlxError
from readlx.outcomes.classification import top1

_META = {
    "top1_correct": ("golden top-1 correct", "images", "images whose top-1 class equals the label"),
    "argmax_flips": ("top-1 flips versus float64", "images",
                     "images whose top-1 class differs from the float64 ground truth's"),
    "max_abs_diff": ("maximum absolute difference", "1", "largest |output - float64 output| over all logits"),
    "mean_abs_diff": ("mean absolute difference", "1", "mean |output - float64 output| over all logits"),
    "ulp_median": ("median ULP distance", "ulp", "median float32 ULP distance to the rounded float64 output"),
    "ulp_p99": ("99th percentile ULP distance", "ulp", "99th percentile of the float32 ULP distances"),
    "ulp_max": ("maximum ULP distance", "ulp", "largest float32 ULP distance to the rounded float64 output"),
    "correctly_rounded": ("correctly rounded share", "percent",
                          "logits equal to the float64 output rounded to float32"),
    "ulp_histogram": ("ULP distance histogram", "logits", "logits per ULP-distance bin"),
}


def golden_outputs(engines: Sequence[Engine], images: Array) -> dict[str, Array]:
    """Fault-free outputs of each engine, by framework name."""
    return {engine.framework: engine.infer(images) for engine in engines}


def _row(out: Array, truth: Array, labels: Array | None) -> dict[str, Any]:
    dist = ulp_distance(np.asarray(out, np.float32), truth)
    valid = dist[dist >= 0]
    diff = np.abs(out.astype(np.float64) - truth)
    return {
        "top1_correct": -1 if labels is None else int((top1(out) == labels).sum()),
        "argmax_flips": int((top1(out) != np.argmax(truth.reshape(len(truth), -1), axis=1)).sum()),
        "max_abs_diff": float(np.nanmax(diff)),
        "mean_abs_diff": float(np.nanmean(diff)),
        "ulp_median": float(np.median(valid)),
        "ulp_p99": float(np.percentile(valid, 99)),
        "ulp_max": int(valid.max()),
        "correctly_rounded": 100.0 * float((valid == 0).mean()),
        "ulp_histogram": ulp_histogram(dist),
    }


def golden_divergence(outputs: Mapping[str, Array], truth: Array,
                      labels: Array | None = None) -> xr.Dataset:
    """Per variant: accuracy, top-1 flips, absolute and ULP differences versus the float64 ``truth``.

    Parameters
    ----------
    outputs
        Variant name -> float32 outputs ``(N, classes)``.
    truth
        float64 outputs of the same images (e.g. ``ReferenceEngine(..., arithmetic="float64").forward``).
    labels
        Ground-truth labels (``top1_correct`` is -1 without them).

    Examples
    --------
    >>> truth = np.array([[0.1, 0.2], [0.3, 0.0]])
    >>> ds = golden_divergence({"f32": truth.astype(np.float32)}, truth, np.array([1, 0]))
    >>> int(ds.top1_correct.sel(variant="f32")), float(ds.ulp_max.sel(variant="f32"))
    (2, 0.0)
    """
    if not outputs:
        raise ReadlxError("golden divergence needs at least one variant's outputs")
    truth = np.asarray(truth, dtype=np.float64)
    rows = {name: _row(out, truth, labels) for name, out in outputs.items()}
    names = list(rows)
    data: dict[str, tuple[tuple[str, ...], Array]] = {
        key: (("variant",), np.array([rows[n][key] for n in names])) for key in _META if key != "ulp_histogram"
    }
    data["ulp_histogram"] = (("variant", "ulp_bin"), np.stack([rows[n]["ulp_histogram"] for n in names]))
    ds = xr.Dataset(data, coords={"variant": np.array(names, dtype=object),
                                  "ulp_bin": np.array(ulp_bin_labels(), dtype=object)})
    ds.attrs.update(n_images=int(len(truth)), n_logits=int(truth.size), ground_truth="float64",
                    truth_top1_correct=-1 if labels is None else int((np.argmax(truth, 1) == labels).sum()))
    return annotate(ds, _META)


def format_golden(ds: xr.Dataset) -> str:
    """A plain-text table of :func:`golden_divergence`."""
    n = int(ds.attrs["n_images"])
    head = ("variant", "top-1 %", "flips vs f64", "max |diff|", "mean |diff|", "ULP median", "ULP p99",
            "ULP max", "exact %")
    body = []
    for v in ds.variant.values:
        r = ds.sel(variant=v)
        acc = "-" if int(r.top1_correct) < 0 else f"{100 * int(r.top1_correct) / n:.2f}"
        body.append((str(v), acc, str(int(r.argmax_flips)), f"{float(r.max_abs_diff):.3g}",
                     f"{float(r.mean_abs_diff):.3g}", f"{float(r.ulp_median):.0f}", f"{float(r.ulp_p99):.0f}",
                     str(int(r.ulp_max)), f"{float(r.correctly_rounded):.1f}"))
    truth = int(ds.attrs.get("truth_top1_correct", -1))
    text = table(head, body)
    if truth >= 0:
        text += f"\nfloat64 ground truth: top-1 {100 * truth / n:.2f} % on {n} images"
    return text

