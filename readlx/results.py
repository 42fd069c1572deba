"""The campaign result schema: one documented xarray Dataset constructor and its NetCDF IO.

Dimensions: ``model``, ``fault``, ``framework`` and, with per-image outcomes, ``image``;
``axis`` indexes the canonical tensor index (padded with -1 to rank 4).

Data variables (model, fault, framework), int64: ``masked``, ``non_critical``, ``critical`` (SDC-1),
``nan_or_inf`` (outputs with NaN/Inf, counted as well as their class), ``faulty_correct`` (faulty
top-1 equals the label); bool ``noop`` (a stuck-at equal to the stored bit: classified masked
without inference). (model, framework): ``golden_correct``. With per-image outcomes: ``outcome``
(model, fault, framework, image) int8 codes of :mod:`readlx.outcomes.classification` (zlib-compressed in NetCDF),
``golden_top1`` (model, framework, image) and ``label`` (image).

Segmentation campaigns (attr ``classifier = "segmentation"``, :mod:`readlx.outcomes.tasks`) use the same variables:
``non_critical`` holds the *tolerable* images, ``faulty_correct`` / ``golden_correct`` count correctly
labelled pixels, and float64 ``faulty_pixel_accuracy``, ``faulty_miou`` (model, fault, framework) and
``golden_pixel_accuracy``, ``golden_miou`` (model, framework) are added. Label maps and golden label
maps are not stored.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from readlx.outcomes.classification import Counts
from readlx.errors import ResultFileError
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import CLASSIFICATION, Task

COUNT_VARS = Counts.FIELDS
MAX_RANK = 4
SCHEMA = "readlx-campaign-1"
_DESCRIPTIONS = {
    "masked": ("images whose faulty output is bitwise equal to golden", "images"),
    "non_critical": ("images with changed output but unchanged top-1 class", "images"),
    "critical": ("images whose top-1 class changed (SDC-1)", "images"),
    "nan_or_inf": ("images whose faulty output holds NaN or Inf (also counted in their class)", "images"),
    "faulty_correct": ("images whose faulty top-1 class equals the label", "images"),
    "noop": ("stuck-at fault equal to the stored bit: masked without inference", "1"),
    "golden_correct": ("images whose golden top-1 class equals the label", "images"),
    "outcome": ("per-inference outcome: 0 masked, 1 non-critical, 2 critical, +4 NaN/Inf", "1"),
    "golden_top1": ("golden top-1 class per image", "1"),
    "label": ("ground-truth label per image", "1"),
}
_SEGMENTATION = {
    "non_critical": ("tolerable images: label map changed in < 1 % of pixels, same set of predicted "
                     "classes", "images"),
    "critical": ("images whose label map changed in >= 1 % of pixels or in its set of classes", "images"),
    "masked": ("images whose predicted label map is identical to golden", "images"),
    "faulty_correct": ("correctly labelled pixels of the faulty label maps (ignore label left out)", "pixels"),
    "golden_correct": ("correctly labelled pixels of the golden label maps (ignore label left out)", "pixels"),
    "outcome": ("per-inference outcome: 0 masked, 1 tolerable, 2 critical, +4 NaN/Inf", "1"),
    "faulty_pixel_accuracy": ("pixel accuracy of the faulty label maps over all images", "1"),
    "faulty_miou": ("mean intersection over union of the faulty label maps over all images", "1"),
    "golden_pixel_accuracy": ("pixel accuracy of the golden label maps over all images", "1"),
    "golden_miou": ("mean intersection over union of the golden label maps over all images", "1"),
}


def _padded_indices(faults: FaultList) -> np.ndarray:
    out = np.full((len(faults), MAX_RANK), -1, dtype=np.int32)
    for row, fault in enumerate(faults):
        out[row, : len(fault.index)] = fault.index
    return out


def _attr_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (dict, list, tuple)) and not (
        isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
    ):
        return json.dumps(value, sort_keys=True)
    return value


def make_dataset(
    *,
    model: str,
    faults: FaultList,
    frameworks: Sequence[str],
    layer_names: Mapping[str, Sequence[str]],
    counts: np.ndarray,
    noop: np.ndarray,
    golden_correct: Sequence[int],
    labels: np.ndarray,
    outcome: np.ndarray | None = None,
    golden_top1: np.ndarray | None = None,
    task: Task = CLASSIFICATION,
    quality: np.ndarray | None = None,
    golden_quality: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a campaign Dataset for one model.

    Parameters
    ----------
    counts
        ``(F, K, 5)`` int64 in the order of :data:`COUNT_VARS` for F faults and K frameworks.
    noop
        ``(F, K)`` bool.
    layer_names
        framework -> per-fault layer name in that runtime.
    labels
        Per-image labels ``(N,)``; label maps ``(N, H, W)`` for segmentation (not stored).
    outcome, golden_top1
        Per-image codes ``(F, K, N)`` and golden top-1 ``(K, N)``, or None.
    task
        The task whose classifier made the codes (:mod:`readlx.outcomes.tasks`).
    quality, golden_quality
        ``task.quality_vars`` per fault ``(F, K, M)`` and of the golden outputs ``(K, M)``.
    attrs
        Sampling parameters, dataset, versions, device, characterization axes...
    """
    fw = list(frameworks)
    dims3 = ("model", "fault", "framework")
    data: dict[str, Any] = {
        name: (dims3, counts[None, :, :, k].astype(np.int64)) for k, name in enumerate(COUNT_VARS)
    }
    data["noop"] = (dims3, noop[None].astype(bool))
    data["golden_correct"] = (("model", "framework"), np.asarray(golden_correct, np.int64)[None])
    if labels.ndim == 1:
        data["label"] = (("image",), labels.astype(np.int64))
    for m, name in enumerate(task.quality_vars):
        data[f"faulty_{name}"] = (dims3, np.asarray(quality, np.float64)[None, :, :, m])
        data[f"golden_{name}"] = (("model", "framework"), np.asarray(golden_quality, np.float64)[None, :, m])
    if outcome is not None:
        data["outcome"] = (dims3 + ("image",), outcome[None].astype(np.int8))
    if golden_top1 is not None:
        data["golden_top1"] = (("model", "framework", "image"), np.asarray(golden_top1)[None].astype(np.int16))
    coords = {
        "model": np.array([model], dtype=object),
        "fault": np.asarray(faults.ids, dtype=np.int64),
        "framework": np.array(fw, dtype=object),
        "layer": ("fault", np.array([f.layer for f in faults], dtype=object)),
        "tensor_index": (("fault", "axis"), _padded_indices(faults)),
        "bit": ("fault", np.array([f.bit for f in faults], dtype=np.int8)),
        "kind": ("fault", np.array([f.kind.value for f in faults], dtype=object)),
        "framework_layer": (
            ("fault", "framework"),
            np.array([[layer_names[k][i] for k in fw] for i in range(len(faults))], dtype=object).reshape(
                len(faults), len(fw)
            ),
        ),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {"schema": SCHEMA, "n_images": int(len(labels)), **task.attrs()}
    ds.attrs.update({k: _attr_value(v) for k, v in (attrs or {}).items()})
    described = {**_DESCRIPTIONS, **(_SEGMENTATION if task.quality_vars else {})}
    for name, (text, units) in described.items():
        if name in ds:
            ds[name].attrs.update({"long_name": name.replace("_", " "), "description": text, "units": units})
    if "outcome" in ds:
        ds["outcome"].attrs.update(
            {"flag_values": [0, 1, 2, 4, 5, 6], "flag_meanings": " ".join(
                [*task.outcome_names, *(f"{n}_nonfinite" for n in task.outcome_names)])}
        )
    return ds


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write NetCDF4 atomically (temp file + rename); per-image outcomes zlib-compressed."""
    path = Path(path)
    encoding: dict[str, dict[str, Any]] = {}
    for name in ("outcome", "golden_top1"):
        if name in ds:
            encoding[name] = {"zlib": True, "complevel": 4}
    tmp = path.with_name(path.name + ".tmp")
    ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    tmp.replace(path)
    return path


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Read a campaign Dataset, checking that it is one."""
    path = Path(path)
    if not path.exists():
        raise ResultFileError("result file not found", path=path)
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            loaded = ds.load()
    except (OSError, ValueError) as e:
        raise ResultFileError(f"not a NetCDF file readable by xarray: {e}", path=path) from e
    if loaded.attrs.get("schema") != SCHEMA:
        raise ResultFileError(
            f"schema attribute is {loaded.attrs.get('schema')!r}, expected {SCHEMA!r}", path=path, field="schema"
        )
    missing = [v for v in COUNT_VARS if v not in loaded]
    if missing:
        raise ResultFileError(f"missing variables {missing}", path=path, field=missing[0])
    for name in ("layer", "kind", "framework", "model", "framework_layer"):
        if name in loaded.coords and loaded[name].dtype.kind in "SU":
            loaded[name] = loaded[name].astype(object)
    return loaded
