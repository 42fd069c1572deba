"""CF metadata of derived Datasets, and their NetCDF export.

Every data variable of a Dataset that readlx derives carries ``long_name``, ``units`` and
``description``, and every coordinate a ``long_name``, so the NetCDF file explains itself to any reader;
the file follows CF-1.10 (:func:`readlx.results.cf_encoded`) and its ``history`` ends with the export.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from readlx._version import __version__
from readlx.errors import ReadlxError
from readlx.outputs import write_atomic
from readlx.provenance import appended_history, iso_time
from readlx.results import CONVENTIONS, COORDINATE_ATTRS, COUNT_UNITS, cf_encoded

CF_KEYS = ("long_name", "units", "description")
VALUED_ATTRS = frozenset({"valid_min", "valid_max", "valid_range", "flag_values", "actual_range"})
"""Attributes whose values are data values: CF wants them in the variable's type."""
DERIVED_COORDINATE_ATTRS: dict[str, dict[str, Any]] = {
    "pair": {"long_name": "pair of runtimes", "comment": "'A vs B': framework_a compared with framework_b"},
    "framework_a": {"long_name": "first runtime of the pair"},
    "framework_b": {"long_name": "second runtime of the pair"},
    "class_a": {"long_name": "outcome class on the first runtime of the pair"},
    "class_b": {"long_name": "outcome class on the second runtime of the pair"},
}
"""CF attributes of the coordinates that derivations add to a campaign's (:data:`~readlx.results.COORDINATE_ATTRS`)."""


def annotate(ds: xr.Dataset, meta: dict[str, tuple[str, str, str]]) -> xr.Dataset:
    """Set ``long_name``, ``units``, ``description`` of the named variables (in place; returns ds).

    >>> ds = annotate(xr.Dataset({"n": ("x", [1])}), {"n": ("count", "1", "how many")})
    >>> ds.n.attrs["units"]
    '1'
    """
    for name, (long_name, units, description) in meta.items():
        if name in ds:
            ds[name].attrs.update(long_name=long_name, units=units, description=description)
    return ds


def missing_cf(ds: xr.Dataset) -> list[str]:
    """Data variables lacking one of :data:`CF_KEYS`."""
    return [str(name) for name, var in ds.data_vars.items() if any(k not in var.attrs for k in CF_KEYS)]


def _netcdf_attr(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return repr(value)
    return value


def _quantity(ds: xr.Dataset) -> str:
    if "quantity" in ds.attrs:
        return str(ds.attrs["quantity"])
    if "grouping" in ds.attrs:
        return f"outcome shares by {ds.attrs['grouping']}"
    return "derived data"


def _variable_attrs(name: str, var: xr.Variable, coordinate: bool) -> dict[Any, Any]:
    """CF attributes of ``var`` as written: a coordinate's completed from the tables (its long name
    from its name at least), counts of images or pixels in UDUNITS' ``count``, and the attributes
    that hold data values in the variable's type."""
    attrs = {k: _netcdf_attr(v) for k, v in var.attrs.items()}
    if coordinate:
        known = COORDINATE_ATTRS.get(name) or DERIVED_COORDINATE_ATTRS.get(name) or {}
        attrs = {"long_name": name.replace("_", " "), **known, **attrs}
    if isinstance(attrs.get("units"), str):
        attrs["units"] = COUNT_UNITS.get(attrs["units"], attrs["units"])
    if var.dtype.kind in "iuf":
        for key in VALUED_ATTRS & set(attrs):
            attrs[key] = np.asarray(attrs[key]).astype(var.dtype)
    return attrs


def write_derived(ds: xr.Dataset, path: str | Path, *, source: xr.Dataset | None = None,
                  what: str | None = None) -> Path:
    """Write a derived Dataset as CF-1.10 NetCDF4 (temp file + rename) after checking its CF attributes.

    Object (string) coordinates are written as variable-length strings; attributes that NetCDF
    cannot hold (dicts, booleans) are written as text / integers, units that count images or pixels as
    UDUNITS' ``count`` (the description says what is counted). The ``history`` is that of ``ds``,
    else of the campaign ``source`` it was derived from, with the export (``what``) as its last step.

    >>> import os, tempfile
    >>> from readlx.comparisons.breakdown import by_bit
    >>> from readlx.comparisons.examples import toy_dataset
    >>> campaign = toy_dataset()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with xr.open_dataset(write_derived(by_bit(campaign), os.path.join(d, "bits.nc"), source=campaign)) as f:
    ...         steps = [line.split(": ", 1)[1] for line in f.attrs["history"].splitlines()]
    >>> len(steps), steps[-1].startswith("outcome shares by bit derived by readlx"), steps[-1].endswith("to bits.nc")
    (2, True, True)
    """
    missing = missing_cf(ds)
    if missing:
        raise ReadlxError(f"variables {missing} lack one of {CF_KEYS}; annotate them before export")
    path = Path(path)
    out = ds.copy()
    history = ds.attrs.get("history") or (source.attrs.get("history") if source is not None else None)
    step = what or f"{_quantity(ds)} derived by readlx {__version__}, written to {path.name}"
    out.attrs = {"Conventions": CONVENTIONS, "title": f"readlx {_quantity(ds)}", "source": f"readlx {__version__}",
                 **{k: _netcdf_attr(v) for k, v in ds.attrs.items()},
                 "date_created": iso_time(), "history": appended_history(history, step)}
    for name in out.variables:
        out[name].attrs = _variable_attrs(str(name), out[name].variable, name in out.coords)
    encoded = cf_encoded(out)
    write_atomic(path, lambda tmp: encoded.to_netcdf(tmp, engine="netcdf4"))
    return path
