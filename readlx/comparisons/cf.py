"""CF-style metadata of derived Datasets, and their NetCDF export.

Every data variable of a Dataset that readlx derives carries ``long_name``, ``units`` and
``description``, so the NetCDF file explains itself to any reader.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from readlx.errors import ReadlxError

CF_KEYS = ("long_name", "units", "description")


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


def write_derived(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a derived Dataset as NetCDF4 (temp file + rename) after checking its CF attributes.

    Object (string) coordinates are written as variable-length strings; attributes that NetCDF
    cannot hold (dicts, booleans) are written as text / integers.
    """
    missing = missing_cf(ds)
    if missing:
        raise ReadlxError(f"variables {missing} lack one of {CF_KEYS}; annotate them before export")
    path = Path(path)
    out = ds.copy()
    out.attrs = {k: _netcdf_attr(v) for k, v in ds.attrs.items()}
    for name in out.variables:
        out[name].attrs = {k: _netcdf_attr(v) for k, v in out[name].attrs.items()}
    tmp = path.with_name(path.name + ".tmp")
    out.to_netcdf(tmp, engine="netcdf4")
    tmp.replace(path)
    return path
