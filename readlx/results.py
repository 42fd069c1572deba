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

Coordinates: ``model``, ``fault`` (the fault's id in its list), ``layer``, ``bit``, ``kind``,
``tensor_index``, ``framework``, ``framework_layer`` and the positions ``axis`` and ``image``, each
with ``long_name`` and ``comment`` (:data:`COORDINATE_ATTRS`). Attrs: the task's, the sampling and
subset, the data set, where and when it ran (:mod:`readlx.provenance`) and the caller's.

In the NetCDF file (CF-1.10) a dimension coordinate that CF does not allow as one (strings, or ids
out of order) is stored as the auxiliary coordinate ``<dim>_label``; :func:`read_netcdf` restores it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx._version import __version__
from readlx.errors import ResultFileError
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.records import COUNT_FIELDS, FaultRecords, GoldenRecord
from readlx.outcomes.tasks import CLASSIFICATION, Task
from readlx.outputs import library_failure, write_atomic
from readlx.provenance import run_facts, subset_attrs

COUNT_VARS = COUNT_FIELDS
MAX_RANK = 4
SCHEMA = "readlx-campaign-1"
CONVENTIONS = "CF-1.10"
LABEL_SUFFIX = "_label"
COUNT_UNITS = {"images": "count", "pixels": "count"}
"""Units of the tasks' counts as UDUNITS spells them: what is counted is in each ``description``."""
COORDINATE_ATTRS: dict[str, dict[str, Any]] = {
    "model": {"long_name": "model", "comment": "name of the model: its zoo card, file or class"},
    "fault": {"long_name": "fault id", "comment": "id of the fault in its fault list (the Injection column of "
              "the published lists)"},
    "layer": {"long_name": "canonical layer of the fault", "comment": "name of the weight's layer in the "
              "canonical layer table (the PyTorch module path)"},
    "bit": {"long_name": "faulty bit of the float32 value", "units": "1",
            "valid_range": np.array([0, 31], np.int8),
            "comment": "IEEE-754 binary32 bit position: 0-22 mantissa (0 = least significant), 23-30 exponent, "
                       "31 sign; of a multi-bit fault, its most significant bit (all its bits: bit_mask); -1, "
                       "outside valid_range: a transient fault, whose bit is drawn per image"},
    "bit_mask": {"long_name": "faulty bits of the float32 value", "units": "1",
                 "comment": "the corrupted bits as a mask of the binary32 word (bit k = 2**k); one bit set for a "
                            "single-bit fault; of a transient fault, the bits its draws choose from"},
    "site": {"long_name": "tensor of the fault", "comment": "weight: an element of the layer's stored weight; "
             "activation: an element of the layer's output tensor, corrupted in every image (a permanent "
             "neuron fault) or, where seed is set, one element and bit drawn per image (a transient fault); "
             "normalized: as activation, in the output of the BatchNorm applied to the layer's output"},
    "seed": {"long_name": "seed of a transient fault", "valid_min": np.int64(0),
             "comment": "a transient activation fault draws each image's element and bit from (seed, image); "
                        "-1, below valid_min: a permanent fault (readlx.fault_maps.transient)"},
    "kind": {"long_name": "fault model", "comment": "bit-flip: the bit is inverted; stuck-at-0 / stuck-at-1: "
             "the bit is forced to 0 / 1 (a no-op when it already holds that value)"},
    "tensor_index": {"long_name": "index of the faulty element in canonical layout", "valid_min": np.int32(0),
                     "comment": "weights: axes (O, I, kH, kW) for a convolution, (O, I) for a linear layer; "
                                "activations (site): (C, H, W) of a convolution's output, (F,) of a linear "
                                "layer's, without the batch axis; indices of rank below 4 are padded with -1, "
                                "below valid_min: read as missing (no such axis)"},
    "axis": {"long_name": "axis of tensor_index", "units": "1", "comment": "0 = output channel O, 1 = input "
             "channel I, 2 = kernel row kH, 3 = kernel column kW (weights); 0 = channel C, 1 = row H, 2 = column "
             "W (activations)"},
    "framework": {"long_name": "runtime", "comment": "runtime name as readlx's registry knows it "
                  "(readlx.engines.registry.RUNTIMES); its version, device and threads are in the runtimes attr"},
    "framework_layer": {"long_name": "layer of the fault as the runtime names it", "comment": "PyTorch module, "
                        "Keras variable or ONNX initializer the canonical layer maps to (by weight equality)"},
    "image": {"long_name": "position of the image in the data set", "units": "1",
              "comment": "0-based, in the order the images were read (the first N with --images)"},
}
"""CF attributes of every campaign coordinate."""


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
        Sampling parameters, dataset, engines, the card's characterization...; they override what is
        recorded here: where and when the Dataset was made (:func:`readlx.provenance.run_facts`, with
        ``command_line`` as the first ``history`` step when given) and the subset ``faults`` records
        (:func:`readlx.provenance.subset_attrs`).
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
    if "image" in ds.dims:
        ds = ds.assign_coords(image=np.arange(ds.sizes["image"], dtype=np.int64))
    ds.attrs = _global_attrs(f"{model} on {', '.join(fw)}", int(len(labels)), task, faults, dict(attrs or {}))
    _describe(ds, task)
    return ds


def _global_attrs(what: str, n_images: int, task: Task, faults: FaultList, given: dict[str, Any]) -> dict[str, Any]:
    """CF's global attributes, the schema, the task's, where and when it ran, the subset, then ``given``."""
    engines = given.get("engines")
    out = {"Conventions": CONVENTIONS, "title": f"readlx fault campaign: {what}", "source": f"readlx {__version__}",
           "schema": SCHEMA, "n_images": n_images, **task.attrs(),
           **run_facts(engines if isinstance(engines, Mapping) else None, given.get("command_line")),
           **subset_attrs(faults)}
    out.update({k: _attr_value(v) for k, v in given.items()})
    return out


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
        "axis": np.arange(MAX_RANK, dtype=np.int8),
        "bit": ("fault", np.array([-1 if f.is_transient else f.top_bit for f in faults.faults], dtype=np.int8)),
        "bit_mask": ("fault", np.array([f.mask for f in faults.faults], dtype=np.uint32)),
        "kind": ("fault", np.array([f.kind.value for f in faults.faults], dtype=object)),
        "site": ("fault", np.array([f.site.value for f in faults.faults], dtype=object)),
        "seed": ("fault", np.array([-1 if f.seed is None else f.seed for f in faults.faults], dtype=np.int64)),
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
            ds[name].attrs.update({"long_name": name.replace("_", " "), "description": text,
                                   "units": COUNT_UNITS.get(units, units)})
    if "outcome" in ds:
        ds["outcome"].attrs.update(
            {"flag_values": np.array([0, 1, 2, 4, 5, 6], np.int8), "flag_meanings": " ".join(
                [*task.outcome_names, *(f"{n}_nonfinite" for n in task.outcome_names)])}
        )
    for name, meta in COORDINATE_ATTRS.items():
        if name in ds.coords:
            ds[name].attrs.update(meta)


def _cf_coordinate(var: xr.DataArray) -> bool:
    """Whether CF allows ``var`` as a coordinate variable: numeric, strictly monotonic, no missing value."""
    values = np.asarray(var.values)
    if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and np.isnan(values).any()):
        return False
    steps = np.diff(values.astype(np.float64))
    return bool((steps > 0).all() or (steps < 0).all())


def cf_encoded(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` as a CF file holds it: each dimension coordinate that is no CF coordinate variable
    (strings, ids out of order) becomes the auxiliary coordinate ``<dim>_label``.

    >>> cf_encoded(xr.Dataset(coords={"framework": ["torch", "keras"], "bit": [0, 1]})).framework_label.dims
    ('framework',)
    """
    moved = {str(d): ds[d].variable for d in ds.dims if d in ds.coords and not _cf_coordinate(ds[d])}
    if not moved:
        return ds
    out = ds.drop_vars(list(moved))
    return out.assign_coords({f"{d}{LABEL_SUFFIX}": xr.Variable((d,), v.values, v.attrs) for d, v in moved.items()})


def cf_decoded(ds: xr.Dataset) -> xr.Dataset:
    """The inverse of :func:`cf_encoded`: ``<dim>_label`` back as the dimension coordinate ``dim``."""
    labels = {str(n)[: -len(LABEL_SUFFIX)]: ds[n].variable for n in ds.coords
              if str(n).endswith(LABEL_SUFFIX) and ds[n].dims == (str(n)[: -len(LABEL_SUFFIX)],)
              and str(n)[: -len(LABEL_SUFFIX)] not in ds.coords}
    if not labels:
        return ds
    out = ds.drop_vars([f"{d}{LABEL_SUFFIX}" for d in labels])
    return out.assign_coords({d: xr.Variable((d,), v.values, v.attrs) for d, v in labels.items()})


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write NetCDF4 atomically (:func:`readlx.outputs.write_atomic`), CF-encoded (:func:`cf_encoded`);
    per-image outcomes zlib-compressed."""
    path = Path(path)
    encoding: dict[str, dict[str, Any]] = {}
    for name in ("outcome", "golden_top1"):
        if name in ds:
            encoding[name] = {"zlib": True, "complevel": 4}
    encoded = cf_encoded(ds)

    def write(tmp: Path) -> None:
        try:
            encoded.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        except RuntimeError as e:  # netCDF4's own errors carry no errno
            raise library_failure(e, path) from e

    write_atomic(path, write)
    return path


REQUIRED_COORDS = ("model", "fault", "framework", "layer", "bit", "kind")
"""Coordinates every campaign Dataset has."""


def _check_schema(ds: xr.Dataset, path: Path) -> None:
    """Refuse a file that would be analysed as something it is not: variables, coordinates and counts."""
    missing = [v for v in (*COUNT_VARS, *REQUIRED_COORDS) if v not in ds.variables]
    if missing:
        raise ResultFileError(f"missing variable or coordinate {missing[0]!r}", path=path, field=missing[0])
    n = ds.attrs.get("n_images")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ResultFileError(f"n_images must be a whole number >= 1, got {n!r}", path=path, field="n_images")
    for name in COUNT_VARS:  # faulty_correct counts pixels in a segmentation campaign: no upper bound
        values = ds[name].values
        top = None if name == "faulty_correct" else n
        if values.dtype.kind not in "iu" or (values.size and (values.min() < 0 or (top and values.max() > top))):
            bound = f" and at most n_images ({n})" if top else ""
            raise ResultFileError(f"counts must be whole numbers >= 0{bound}", path=path, field=name)
    total = ds["masked"] + ds["non_critical"] + ds["critical"]
    if bool((total != n).any()):
        raise ResultFileError(f"masked + non_critical + critical must be n_images ({n}) for every fault",
                              path=path, field="masked")


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
            loaded = cf_decoded(ds.load())
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # netCDF4 raises all of them on damaged files
        raise ResultFileError(f"not a NetCDF file readable by xarray: {e}", path=path) from e
    if loaded.attrs.get("schema") != SCHEMA:
        raise ResultFileError(
            f"schema attribute is {loaded.attrs.get('schema')!r}, expected {SCHEMA!r}", path=path, field="schema"
        )
    _check_schema(loaded, path)
    for name in ("layer", "kind", "site", "framework", "model", "framework_layer"):
        if name in loaded.coords and loaded[name].dtype.kind in "SU":
            loaded[name] = loaded[name].astype(object)
    return loaded
