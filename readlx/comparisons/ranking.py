"""Vulnerability rankings: the layers (or bit positions) of a result ordered by their SDC-1 share.

A ranking is a :func:`~readlx.comparisons.breakdown.breakdown` put in order. Each site of the result
(weights, activations) is ranked on its own, since a weight fault and an activation fault of one layer
are different faults. Within a site, the groups are ordered by the chosen outcome's share, averaged
over the runtimes, largest first; groups that tie keep network order (ascending bit position for bits).
Each share comes with the Wilson interval over the group's faults
(:func:`~readlx.comparisons.intervals.wilson_interval`, the interval of the per-layer figures): with the
few faults a layer usually gets, a normal-approximation margin would shrink to zero at a share of 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.breakdown import SHARE_VARS, TRANSIENT, breakdown, fault_sites, sites_present
from readlx.comparisons.cf import annotate
from readlx.comparisons.intervals import LEVEL, wilson_interval
from readlx.comparisons.text import table
from readlx.errors import ReadlxError

RANKINGS = ("layer", "bit")
"""What a ranking orders: canonical layers, or bit positions (a multi-bit fault's most significant bit)."""
OUTCOME_LABELS = {"masked": "masked", "non_critical": "non-critical", "critical": "SDC-1", "nan_or_inf": "NaN/Inf"}
"""The outcome shares as the report's tables name them."""

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def _site_ranking(ds: xr.Dataset, by: str, outcome: str, site: str, model: int, level: float) -> dict[str, Any]:
    """The groups of one site's faults, in ranking order, as columns."""
    sub = ds.isel(fault=np.flatnonzero(fault_sites(ds) == site))
    shares = breakdown(sub, by).isel(model=model)
    keys: list[Any] = (list(dict.fromkeys(str(k) for k in sub.layer.values)) if by == "layer"
                       else [int(b) for b in shares.bit.values])  # the breakdown's order: network, ascending
    share = shares[outcome].values  # framework, group
    order = np.argsort(-share.mean(axis=0), kind="stable")
    n = shares.n_faults.values[order]
    # A transient fault's images draw independently: its inferences are the trials (a sum of independent
    # Bernoulli trials varies no more than a binomial of their mean, so the interval stays conservative).
    trials = n * int(ds.attrs["n_images"]) if site.startswith(TRANSIENT) else n
    low, high = wilson_interval(share[:, order] / 100.0, trials[None, :], level)
    return {"site": [site] * len(order), by: [keys[g] for g in order], "rank_in_site": list(range(1, len(order) + 1)),
            "n_faults": n.tolist(), "share": share[:, order], "low": 100.0 * low, "high": 100.0 * high,
            "masked": shares.masked.values[:, order]}


def rank_layers(ds: xr.Dataset, by: str = "layer", outcome: str = "critical", *, model: int = 0,
                level: float = LEVEL) -> xr.Dataset:
    """The layers (or bit positions) of each fault site, ranked by the share of ``outcome``.

    Parameters
    ----------
    ds
        A campaign Dataset. Without a ``site`` coordinate (results written before activation
        faults), every fault is a weight fault.
    by
        ``"layer"`` or ``"bit"`` (:data:`RANKINGS`).
    outcome
        The share that orders the groups: ``"critical"`` (SDC-1), ``"masked"``, ``"non_critical"`` or
        ``"nan_or_inf"``; largest first, by its mean over the runtimes.
    model
        Position of the model in ``ds``.
    level
        Confidence level of the Wilson intervals.

    Returns
    -------
    xarray.Dataset
        Dimensions ``group`` (one row per site and layer or bit: the weight faults' rows first, each
        site's in ranking order) and ``framework``. Coordinates ``site``, ``by`` (the layer name or
        bit) and ``rank_in_site`` (from 1); variables ``n_faults``, ``mean_<outcome>`` (the
        ranking key), ``<outcome>`` with ``<outcome>_low`` / ``<outcome>_high`` and ``masked``, in percent.

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> rk = rank_layers(toy_dataset())
    >>> rk.layer.values.tolist(), rk.rank_in_site.values.tolist(), rk.site.values.tolist()
    (['conv1', 'fc'], [1, 2], ['weight', 'weight'])
    >>> rk.mean_critical.values.tolist(), rk.critical.sel(framework="a").values.tolist()
    ([25.0, 0.0], [50.0, 0.0])
    >>> np.round(rk.critical_high.sel(framework="a").values, 1).tolist()
    [94.5, 79.3]
    """
    if by not in RANKINGS:
        raise ReadlxError(f"cannot rank by {by!r}; valid: {', '.join(RANKINGS)}")
    if outcome not in SHARE_VARS:
        raise ReadlxError(f"cannot rank by the share of {outcome!r}; valid: {', '.join(SHARE_VARS)}")
    sites = [s for s in sites_present(ds) if not (by == "bit" and s.startswith(TRANSIENT))]  # no bit of their own
    parts = [_site_ranking(ds, by, outcome, site, model, level) for site in sites]
    out = _joined(parts, ds.framework.values, by, outcome)
    out.attrs.update(n_images=int(ds.attrs["n_images"]), model=str(ds.model.values[model]), ranked_by=by,
                     outcome=outcome, confidence_level=level, derived_from="readlx campaign",
                     quantity=f"vulnerability ranking by {by}")
    return _annotate(out, by, outcome, level)


def _joined(parts: list[dict[str, Any]], frameworks: Array, by: str, outcome: str) -> xr.Dataset:
    """The sites' rankings, one after the other along ``group``."""
    columns = {k: [v for p in parts for v in p[k]] for k in ("site", by, "rank_in_site", "n_faults")}
    joined = {k: np.concatenate([p[k] for p in parts], axis=1) if parts else np.zeros((len(frameworks), 0))
              for k in ("share", "low", "high", "masked")}
    data: dict[str, tuple[Any, ...]] = {
        "n_faults": (("group",), np.array(columns["n_faults"], np.int64)),
        f"mean_{outcome}": (("group",), joined["share"].mean(axis=0)),
        outcome: (("framework", "group"), joined["share"]),
        f"{outcome}_low": (("framework", "group"), joined["low"]),
        f"{outcome}_high": (("framework", "group"), joined["high"]),
        "masked": (("framework", "group"), joined["masked"]),
    }
    coords = {"group": np.arange(len(columns["rank_in_site"]), dtype=np.int64), "framework": frameworks,
              "site": ("group", np.array(columns["site"], dtype=object)),
              by: ("group", np.array(columns[by], dtype=np.int64 if by == "bit" else object)),
              "rank_in_site": ("group", np.array(columns["rank_in_site"], np.int64))}
    return xr.Dataset(data, coords=coords)


def _annotate(out: xr.Dataset, by: str, outcome: str, level: float) -> xr.Dataset:
    name = OUTCOME_LABELS[outcome]
    out["rank_in_site"].attrs.update(long_name=f"rank of the {by} within its site",
                                     comment=f"1 = the largest mean {name} share over the runtimes")
    out["group"].attrs.update(long_name=f"row of the ranking: one {by} of one fault site")
    return annotate(out, {
        "n_faults": ("faults", "1", f"faults of the site in the {by}"),
        f"mean_{outcome}": (f"mean {name} share", "percent", f"{name} share averaged over the runtimes: the "
                            "ranking key"),
        outcome: (f"{name} share", "percent", f"{name} inferences over all inferences of the group's faults"),
        f"{outcome}_low": (f"{name} share, lower bound", "percent",
                           f"{100 * level:g} % Wilson interval over the group's faults (transient faults: "
                           "inferences), lower bound"),
        f"{outcome}_high": (f"{name} share, upper bound", "percent",
                            f"{100 * level:g} % Wilson interval over the group's faults (transient faults: "
                            "inferences), upper bound"),
        "masked": ("masked share", "percent", "masked inferences over all inferences of the group's faults"),
    })


def ranking_tables(rk: xr.Dataset) -> list[tuple[str, Table]]:
    """One titled table per site of a :func:`rank_layers` ranking: rank, layer or bit, faults, and per
    runtime the ranking share with its interval and the masked share (percent).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> [(title, (head, rows))] = ranking_tables(rank_layers(toy_dataset()))
    >>> title
    'weight faults: layers ranked by SDC-1 share (mean over runtimes; 95 % Wilson interval over faults)'
    >>> head[:5]
    ('rank', 'layer', 'faults', 'a SDC-1 % [95 % CI]', 'a masked %')
    >>> rows[0][:5]
    ('1', 'conv1', '1', '50.00 [5.46, 94.54]', '50.00')
    """
    by, outcome = str(rk.attrs["ranked_by"]), str(rk.attrs["outcome"])
    name, level = OUTCOME_LABELS[outcome], f"{100 * float(rk.attrs['confidence_level']):g} %"
    frameworks = [str(f) for f in rk.framework.values]
    head: tuple[str, ...] = ("rank", by, "faults")
    for fw in frameworks:
        head += (f"{fw} {name} % [{level} CI]",) + (() if outcome == "masked" else (f"{fw} masked %",))
    out = []
    for site in dict.fromkeys(str(s) for s in rk.site.values):
        sel = rk.isel(group=np.flatnonzero(rk.site.values == site))
        rows = []
        for g in range(sel.sizes["group"]):
            cells: tuple[str, ...] = (str(int(sel.rank_in_site.values[g])), str(sel[by].values[g]),
                                      str(int(sel.n_faults.values[g])))
            for k in range(len(frameworks)):
                share, low, high = (float(sel[v].values[k, g]) for v in (outcome, f"{outcome}_low", f"{outcome}_high"))
                cells += (f"{share:.2f} [{low:.2f}, {high:.2f}]",)
                cells += () if outcome == "masked" else (f"{float(sel.masked.values[k, g]):.2f}",)
            rows.append(cells)
        over = "inferences" if site.startswith(TRANSIENT) else "faults"
        title = f"{site} faults: {by}s ranked by {name} share (mean over runtimes; {level} Wilson interval over {over})"
        out.append((title, (head, rows)))
    return out


def format_ranking(rk: xr.Dataset) -> str:
    """The tables of :func:`ranking_tables` as plain text, each under its title (or why there is none)."""
    tables = ranking_tables(rk)
    if not tables:
        return f"no faults to rank by {rk.attrs['ranked_by']} (transient faults draw their bit per image)"
    return "\n\n".join(f"{title}\n{table(head, rows)}" for title, (head, rows) in tables)
