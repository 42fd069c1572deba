"""Outcome shares per runtime, broken down by bit position or by layer.

A share is pooled over all inferences of the faults in a group: the count summed over those faults
divided by ``faults × images``, in percent.

Weight and activation faults of one layer are different faults: a breakdown never pools them. By
layer, an activation fault's group is labelled with its site (``"conv1 (activation)"``) while a
weight fault's keeps the bare layer name, so a result of weight faults reads as it always did. By bit,
a result that mixes the two sites asks for one of them (``site=``). Results written before faults had
a site (no ``site`` coordinate) hold weight faults only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.cf import annotate
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Site, format_bit_set

SHARE_VARS = ("masked", "non_critical", "critical", "nan_or_inf")
GROUPINGS = ("bit", "layer")
TRANSIENT = "transient "
"""What begins the site label of transient faults (a ``seed`` set): they are kept apart from the
permanent faults of their site."""
SITES = (*(s.value for s in Site), *(TRANSIENT + s.value for s in Site if s is not Site.WEIGHT))
"""Fault sites in the order tables list them."""


def fault_sites(ds: xr.Dataset) -> Array:
    """The site of every fault of ``ds`` (``"weight"`` throughout where the Dataset records none),
    ``"transient <site>"`` for transient faults (:data:`TRANSIENT`).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> fault_sites(toy_dataset().drop_vars("site")).tolist()
    ['weight', 'weight']
    """
    if "site" not in ds.coords:
        return np.full(ds.sizes["fault"], Site.WEIGHT.value, dtype=object)
    sites = ds["site"].values.astype(str).astype(object)
    if "seed" in ds.coords:
        transient = ds["seed"].values >= 0
        sites[transient] = [TRANSIENT + s for s in sites[transient]]
    return sites


def sites_present(ds: xr.Dataset) -> list[str]:
    """The sites of the faults of ``ds``, in :data:`SITES` order.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> sites_present(toy_dataset())
    ['weight']
    """
    present = set(fault_sites(ds).tolist())
    return [s for s in SITES if s in present]


def fault_bits(ds: xr.Dataset) -> list[tuple[int, ...]]:
    """The corrupted bits of every fault, ascending, from ``bit_mask`` (from ``bit`` where it is absent).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> fault_bits(toy_dataset())
    [(30,), (3,)]
    """
    if "bit_mask" not in ds.coords:
        return [(int(b),) for b in ds["bit"].values]
    return [tuple(k for k in range(32) if (int(m) >> k) & 1) for m in ds["bit_mask"].values]


def bits_label(bits: tuple[int, ...]) -> str:
    """A bit set as the fault lists write it: ``"30"``, ``"29+30"``, ``"0-31"``.

    >>> bits_label((30,)), bits_label((29, 30)), bits_label(tuple(range(32)))
    ('30', '29+30', '0-31')
    """
    return format_bit_set(bits, "+")


def site_label(layer: str, site: str) -> str:
    """A layer as the tables name the faults in it: the bare name for weights, the site for others.

    >>> site_label("conv1", "weight"), site_label("conv1", "activation")
    ('conv1', 'conv1 (activation)')
    """
    return layer if site == Site.WEIGHT.value else f"{layer} ({site})"


def check_site(ds: xr.Dataset, site: str | None) -> None:
    """Raise unless ``site`` is None or a site of the faults of ``ds``."""
    present = sites_present(ds)
    if site is not None and site not in present:
        raise ReadlxError(f"the result has no {site!r} faults; sites present: {', '.join(present)}")


def _groups(ds: xr.Dataset, by: str) -> tuple[list[int] | list[str], Array]:
    if by not in GROUPINGS:
        raise ReadlxError(f"cannot break down by {by!r}; valid: {', '.join(GROUPINGS)}")
    sites = fault_sites(ds)
    if by == "bit":
        if any(s.startswith(TRANSIENT) for s in sites.tolist()):
            raise ReadlxError("transient faults draw their bit per image, so they have no bit to break down by; "
                              f"choose another site with site= (valid: {', '.join(sites_present(ds))})")
        if len(set(sites.tolist())) > 1:
            raise ReadlxError(f"the result mixes {' and '.join(sites_present(ds))} faults, which a breakdown by bit "
                              f"would pool; choose one with site= (valid: {', '.join(sites_present(ds))})")
        keys = ds[by].values
        return sorted(int(k) for k in set(keys.tolist())), keys.astype(int)
    keys = np.array([site_label(str(k), s) for k, s in zip(ds[by].values, sites, strict=True)])
    return list(dict.fromkeys(str(k) for k in keys)), keys.astype(str)  # network order


def breakdown(ds: xr.Dataset, by: str, site: str | None = None) -> xr.Dataset:
    """Shares per (model, framework, ``by``) with the number of faults per group.

    Parameters
    ----------
    ds
        A campaign Dataset.
    by
        ``"bit"`` (the most significant bit of a multi-bit fault) or ``"layer"`` (network order; an
        activation fault's group is ``"<layer> (activation)"``).
    site
        Only the faults of this site (``"weight"`` or ``"activation"``); needed by bit when the result
        holds both.

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> b = breakdown(toy_dataset(), "layer")
    >>> b.critical.sel(framework="a", layer="conv1").values.tolist(), b.n_faults.values.tolist()
    ([50.0], [1, 1])
    >>> breakdown(toy_dataset(), "bit", site="weight").bit.values.tolist()
    [3, 30]
    """
    check_site(ds, site)
    if site is not None:
        ds = ds.isel(fault=np.flatnonzero(fault_sites(ds) == site))
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
    if site is not None:
        out.attrs["site"] = site
    meta = {var: (f"{var.replace('_', ' ')} share", "percent",
                  f"{var.replace('_', ' ')} inferences over all inferences of the faults in the {by} group")
            for var in SHARE_VARS}
    meta["n_faults"] = ("faults", "1", f"faults in the {by} group")
    return annotate(out, meta)


def by_bit(ds: xr.Dataset, site: str | None = None) -> xr.Dataset:
    """:func:`breakdown` by bit position (0 = mantissa LSB, 31 = sign)."""
    return breakdown(ds, "bit", site)


def by_layer(ds: xr.Dataset, site: str | None = None) -> xr.Dataset:
    """:func:`breakdown` by canonical layer, in network order (weight and activation faults apart)."""
    return breakdown(ds, "layer", site)
