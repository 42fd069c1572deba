"""The provenance of a campaign Dataset as labeled rows for a reader (the attrs come from
:mod:`readlx.provenance` and the campaign): what ran, where, on which faults and data.

Known attributes get a human label and a readable value, grouped by topic; any other attribute is
shown under "other attributes" with its name spelled out (underscores as spaces), so attributes added
by newer versions are never hidden. Machine-facing detail (JSON blobs of a runner's configuration,
``*_detail`` attributes) goes to a separate list the HTML page folds away.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

Row = tuple[str, str]
Section = tuple[str, list[Row]]

_SAMPLING = (("sampling_population", "fault population"), ("sampling_sample_size", "faults in the list"),
             ("sampling_margin", "error margin of the list"), ("sampling_confidence", "confidence of the list"),
             ("sampling_p", "assumed probability"), ("sampling_t", "t of the error margins"),
             ("sampling_seed", "sampling seed"), ("sampling_mode", "sampling"))
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Model and data", (
        ("model_name", "model"), ("title", "title"), ("task", "task"), ("dataset", "data set"),
        ("dataset_source", "data set read from"), ("dataset_sha256", "data set SHA-256 (inputs as run)"),
        ("n_images", "images per fault"), ("classifier", "outcome classifier"),
    )),
    ("Faults", (
        ("fault_list_source", "fault list"), ("fault_list_size", "faults in the whole list"),
        ("subset_size", "faults in the subset"), ("subset_seed", "subset seed"), ("subset_method", "subset drawn"),
        ("subset_source", "subset drawn from"), *_SAMPLING,
        *((f"fault_list_{key}", f"whole list: {label}") for key, label in _SAMPLING),
        ("skip_noop", "no-op stuck-at faults"), ("shard_index", "shard"), ("shard_count", "shards"),
    )),
    ("Runtimes", (("runtimes", "versions, devices, threads"), ("mode", "campaign mode"))),
    ("Where and when it ran", (
        ("date_created", "created"), ("command_line", "command"), ("host_cpu", "CPU"),
        ("host_cpu_count", "CPU cores"), ("host_gpus", "GPUs"), ("host_os", "operating system"),
        ("machine", "machine architecture"), ("readlx_version", "readlx version"),
        ("python_version", "Python version"), ("source", "written by"), ("history", "history"),
        ("Conventions", "conventions"),
    )),
    ("Benchmark card (the published model, not this run)", (
        ("framework", "framework of the published model"), ("hardware_platform", "platform of the published campaign"),
        ("training_process", "training"), ("data_representation", "data representation"),
    )),
)
HIDDEN = ("schema", "outcome_names", "engines")
"""Attributes shown another way (the runtimes' rows) or of no use to a reader."""
_PERCENT = ("sampling_margin", "sampling_confidence", "sampling_p")
_LONG = 200


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


def _value(key: str, value: Any) -> str:
    key = key.removeprefix("fault_list_")
    if key in _PERCENT:
        return f"{100 * float(value):g} %"
    if key == "sampling_seed" and int(value) < 0:
        return "none (not drawn at random)"
    if key == "skip_noop":
        return "masked without inference" if int(value) else "run through inference"
    if key == "n_images":
        return str(int(value))
    return _text(value)


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _mapping_text(mapping: dict[str, Any]) -> str:
    return "; ".join(f"{str(k).replace('_', ' ')}: {_text(v) if not isinstance(v, dict) else json.dumps(v)}"
                     for k, v in mapping.items())


def _runtime_rows(ds: xr.Dataset) -> list[Row]:
    engines = _parsed(ds.attrs.get("engines", "{}"))
    engines = engines if isinstance(engines, dict) else {}
    rows = []
    for fw in (str(f) for f in ds.framework.values):
        described = engines.get(fw)
        text = _mapping_text({k: v for k, v in described.items() if k != "framework"}) \
            if isinstance(described, dict) else ""
        mode = ds.attrs.get(f"mode_{fw}")
        rows.append((f"runtime {fw}", "; ".join(t for t in (f"mode: {mode}" if mode else "", text) if t)))
    return rows


def _consumed(ds: xr.Dataset) -> set[str]:
    used = {key for _, entries in SECTIONS for key, _ in entries} | set(HIDDEN)
    return used | {f"mode_{f}" for f in ds.framework.values}


def provenance(ds: xr.Dataset) -> tuple[list[Section], list[Row]]:
    """Labeled provenance of ``ds``: sections of ``(label, value)`` rows, and the machine-facing details.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> ds = toy_dataset()
    >>> ds.attrs.update(readlx_version="1.0", sampling_seed=-1, my_new_attr="x")
    >>> sections, details = provenance(ds)
    >>> [title for title, _ in sections]
    ['Model and data', 'Faults', 'Runtimes', 'Where and when it ran', 'Other attributes']
    >>> dict(sections[3][1])["readlx version"], dict(sections[1][1])["sampling seed"], sections[-1][1]
    ('1.0', 'none (not drawn at random)', [('my new attr', 'x')])
    """
    attrs = ds.attrs
    out: list[Section] = []
    for title, entries in SECTIONS:
        rows = [(label, _value(key, attrs[key])) for key, label in entries if key in attrs]
        if title == "Runtimes":
            rows = _runtime_rows(ds) + rows
        if title == "Faults":
            kinds = ", ".join(sorted({str(k).replace("_", "-") for k in ds.kind.values})) if "kind" in ds else ""
            rows.insert(0, ("faults run", f"{ds.sizes['fault']}" + (f" ({kinds})" if kinds else "")))
        if rows:
            out.append((title, rows))
    other: list[Row] = []
    details: list[Row] = []
    for key in sorted(set(attrs) - _consumed(ds)):
        value = _parsed(attrs[key])
        label = key.replace("_", " ")
        if key.startswith("_"):
            continue
        if key.endswith("_detail") or isinstance(value, dict) or len(_text(value)) > _LONG:
            details.append((label, _mapping_text(value) if isinstance(value, dict) else _text(value)))
        else:
            other.append((label, _text(value)))
    if other:
        out.append(("Other attributes", other))
    return out, details
