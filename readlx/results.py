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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.errors import ResultFileError
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.records import COUNT_FIELDS, FaultRecords, GoldenRecord
from readlx.outcomes.tasks import CLASSIFICATION, Task

COUNT_VARS = COUNT_FIELDS
MAX_RANK = 4
SCHEMA = "readlx-campaign-1"
def _padded_indices(faults: FaultList) -> Array:
    out = np.full((len(faults), MAX_RANK), -1, dtype=np.int32)
    for row, fault in enumerate(faults.faults):
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
    layer_names: Mapping[str, Sequence[str]],
    records: Mapping[str, FaultRecords],
    golden: Mapping[str, GoldenRecord],
    labels: Array,
    task: Task = CLASSIFICATION,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a campaign Dataset for one model.

    Parameters
    ----------
    model
        The model's name (the ``model`` coordinate).
    faults
        The fault list, in the order of every framework's records.
    layer_names
        framework -> per-fault layer name in that runtime.
    records
        framework -> the per-fault results of every fault of ``faults`` (frameworks in axis order);
        per-image outcomes are stored when the records hold them.
    golden
        framework -> what the engine answers without a fault.
    labels
        Per-image labels ``(N,)``; label maps ``(N, H, W)`` for segmentation (not stored).
    task
        The task whose classifier made the codes (:mod:`readlx.outcomes.tasks`).
    attrs
        Sampling parameters, dataset, versions, device, characterization axes...
    """
    fw = list(records)
    runs = [records[k] for k in fw]
    if any(len(r) != len(faults) for r in runs):
        raise ResultFileError(f"records of {[len(r) for r in runs]} faults for a list of {len(faults)}")
    dims3 = ("model", "fault", "framework")
    data: dict[str, Any] = {
        name: (dims3, np.stack([getattr(r, name) for r in runs], axis=1)[None].astype(np.int64))
        for name in COUNT_VARS
    }
    data["noop"] = (dims3, np.stack([r.noop for r in runs], axis=1)[None].astype(bool))
    data["golden_correct"] = (("model", "framework"), np.asarray([golden[k].correct for k in fw], np.int64)[None])
    if labels.ndim == 1:
        data["label"] = (("image",), labels.astype(np.int64))
    data.update(_quality(runs, [golden[k] for k in fw], task))
    data.update(_per_image(runs, [golden[k] for k in fw], task))
    ds = xr.Dataset(data, coords=_coords(model, faults, fw, layer_names))
    ds.attrs = {"schema": SCHEMA, "n_images": int(len(labels)), **task.attrs()}
    ds.attrs.update({k: _attr_value(v) for k, v in (attrs or {}).items()})
    _describe(ds, task)
    return ds


def _quality(runs: list[FaultRecords], golden: list[GoldenRecord], task: Task) -> dict[str, Any]:
    """The task's quality variables per fault (``faulty_*``) and per framework (``golden_*``)."""
    quality = np.stack([r.quality for r in runs], axis=1)
    data: dict[str, Any] = {}
    for m, name in enumerate(task.quality_vars):
        data[f"faulty_{name}"] = (("model", "fault", "framework"), quality[None, :, :, m].astype(np.float64))
        data[f"golden_{name}"] = (("model", "framework"), np.asarray([g.quality[m] for g in golden], np.float64)[None])
    return data


def _per_image(runs: list[FaultRecords], golden: list[GoldenRecord], task: Task) -> dict[str, Any]:
    """Per-image outcome codes and, for classification, the golden top-1, when the records hold codes."""
    codes = [r.outcome for r in runs if r.outcome is not None]
    if len(codes) != len(runs):
        return {}
    data: dict[str, Any] = {
        "outcome": (("model", "fault", "framework", "image"), np.stack(codes, axis=1)[None].astype(np.int8))}
    if task.name == CLASSIFICATION.name:
        top1 = np.stack([g.prediction for g in golden])
        data["golden_top1"] = (("model", "framework", "image"), top1[None].astype(np.int16))
    return data


def _coords(model: str, faults: FaultList, fw: list[str], layer_names: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    return {
        "model": np.array([model], dtype=object),
        "fault": np.asarray(faults.ids, dtype=np.int64),
        "framework": np.array(fw, dtype=object),
        "layer": ("fault", np.array([f.layer for f in faults.faults], dtype=object)),
        "tensor_index": (("fault", "axis"), _padded_indices(faults)),
        "bit": ("fault", np.array([f.bit for f in faults.faults], dtype=np.int8)),
        "kind": ("fault", np.array([f.kind.value for f in faults.faults], dtype=object)),
        "framework_layer": (
            ("fault", "framework"),
            np.array([[layer_names[k][i] for k in fw] for i in range(len(faults))], dtype=object).reshape(
                len(faults), len(fw)
            ),
        ),
    }


def _describe(ds: xr.Dataset, task: Task) -> None:
    """CF-style attributes of every variable, in the words of ``task``."""
    for name, (text, units) in task.variables().items():
        if name in ds:
            ds[name].attrs.update({"long_name": name.replace("_", " "), "description": text, "units": units})
    if "outcome" in ds:
        ds["outcome"].attrs.update(
            {"flag_values": [0, 1, 2, 4, 5, 6], "flag_meanings": " ".join(
                [*task.outcome_names, *(f"{n}_nonfinite" for n in task.outcome_names)])}
        )


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
    """Read a campaign Dataset, checking that it is one.

    Examples
    --------
    >>> import tempfile, os
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_netcdf(toy_dataset(), os.path.join(d, "toy.nc"))
    ...     int(read_netcdf(path).critical.sum())
    1
    """
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
