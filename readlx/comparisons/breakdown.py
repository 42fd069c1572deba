"""Outcome shares per runtime, broken down by bit position or by layer.

A share is pooled over all inferences of the faults in a group: the count summed over those faults
divided by ``faults × images``, in percent.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.cf import annotate
from readlx.errors import ReadlxError

SHARE_VARS = ("masked", "non_critical", "critical", "nan_or_inf")
GROUPINGS = ("bit", "layer")


def _groups(ds: xr.Dataset, by: str) -> tuple[list[int] | list[str], Array]:
    if by not in GROUPINGS:
        raise ReadlxError(f"cannot break down by {by!r}; valid: {', '.join(GROUPINGS)}")
    keys = ds[by].values
    if by == "bit":
        return sorted(int(k) for k in set(keys.tolist())), keys.astype(int)
    return list(dict.fromkeys(str(k) for k in keys)), keys.astype(str)  # network order


def breakdown(ds: xr.Dataset, by: str) -> xr.Dataset:
    """Shares per (model, framework, ``by``) with the number of faults per group.

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> b = breakdown(toy_dataset(), "layer")
    >>> b.critical.sel(framework="a", layer="conv1").values.tolist(), b.n_faults.values.tolist()
    ([50.0], [1, 1])
    """
    labels, keys = _groups(ds, by)
    n_images = int(ds.attrs["n_images"])
    n_faults = np.array([(keys == label).sum() for label in labels], np.int64)
    data: dict[str, tuple[Any, ...]] = {"n_faults": ((by,), n_faults)}
    for var in SHARE_VARS:
        values = ds[var].values  # model, fault, framework
        sums = np.stack([values[:, keys == label].sum(axis=1) for label in labels], axis=-1)
        data[var] = (("model", "framework", by), 100.0 * sums / (n_faults * n_images))
    out = xr.Dataset(data, coords={"model": ds.model.values, "framework": ds.framework.values,
                                   by: np.array(labels, dtype=np.int64 if by == "bit" else object)})
    out.attrs.update(n_images=n_images, grouping=by, derived_from="readlx campaign")
    meta = {var: (f"{var.replace('_', ' ')} share", "percent",
                  f"{var.replace('_', ' ')} inferences over all inferences of the faults in the {by} group")
            for var in SHARE_VARS}
    meta["n_faults"] = ("faults", "1", f"faults in the {by} group")
    return annotate(out, meta)


def by_bit(ds: xr.Dataset) -> xr.Dataset:
    """:func:`breakdown` by bit position (0 = mantissa LSB, 31 = sign)."""
    return breakdown(ds, "bit")


def by_layer(ds: xr.Dataset) -> xr.Dataset:
    """:func:`breakdown` by canonical layer, in network order."""
    return breakdown(ds, "layer")
