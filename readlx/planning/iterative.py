"""Iterative campaigns: random rounds of a fault list until every share is precise enough.

The list (a generated population, or a given one such as the published list) is put in one random
order drawn with a recorded seed; the rounds are the stretches between the looks of
:func:`readlx.planning.sequential.look_sizes`, each a campaign of its own on every runtime, so all
runtimes run the same faults. After each round the shares of every runtime are looked at
(:func:`readlx.planning.sequential.look`); the campaign stops at the first look where all are within
the target, or at the end of the list. Each finished round is kept as a NetCDF file in the
checkpoint directory and the running one checkpoints as any campaign does, so a killed run resumes
mid-round with the same order and the same rounds.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xarray as xr

from readlx.campaign.loop import CampaignOptions, run_campaign
from readlx.campaign.scaleout import concat_faults
from readlx.engines.base import Engine
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import ImageData
from readlx.planning.sequential import Estimate, Target, look, look_sizes
from readlx.results import read_netcdf, write_netcdf

METHOD = ("bounded-mean (Clopper-Pearson at the sum of the per-fault shares) interval at level 1 - alpha/K, "
          "Bonferroni over K pre-set looks")


class Rule(Protocol):
    """What stops an iterative campaign: a number of looks, and a look at the Dataset so far (met?,
    the attrs that record it)."""

    @property
    def looks(self) -> int: ...

    def look_dataset(self, ds: xr.Dataset, population: int | None) -> tuple[bool, dict[str, Any]]: ...


def run_until(engines: Sequence[Engine], faults: FaultList, data: ImageData, *, model: str, target: Target | Rule,
              seed: int = 0, options: CampaignOptions | None = None) -> xr.Dataset:
    """Run random rounds of ``faults`` on ``engines`` until ``target`` is met (a :class:`Target` on the
    shares, or another :class:`Rule` such as :class:`readlx.planning.paired.PairTarget`); the Dataset
    of the faults run, with the stopping record in its attrs (``until_*``).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> from readlx.fault_maps import generate
    >>> bench = ZOO["democnn-synthetic10"]
    >>> eng = TorchEngine(load_model(bench.name), bench.layer_table())
    >>> fl = generate(bench.layer_table(), margin=0.1, mode="network-wise")
    >>> ds = run_until([eng], fl, synthetic(8), model=bench.name, target=Target(0.2, outcomes=("critical",)))
    >>> ds.sizes["fault"] < len(fl), ds.attrs["until_stopped"]
    (True, 'target met')
    """
    opts = options or CampaignOptions()
    order = np.random.default_rng(seed).permutation(len(faults))
    sizes = look_sizes(len(faults), target.looks)
    population = faults.sampling.population if faults.sampling is not None else None
    rule: Rule = _ShareRule(target) if isinstance(target, Target) else target
    rounds: list[xr.Dataset] = []
    lo, met = 0, False
    record: dict[str, Any] = {}
    for k, hi in enumerate(sizes):
        rounds.append(_round(engines, faults.subset(order[lo:hi]), data, model, opts, k))
        lo = hi
        met, record = rule.look_dataset(concat_faults(rounds) if len(rounds) > 1 else rounds[0], population)
        if met:
            break
    ds = concat_faults(rounds) if len(rounds) > 1 else rounds[0]
    stopped = "target met" if met else "fault list exhausted"
    ds.attrs.update({"until_looks": json.dumps(sizes), "until_seed": seed, "until_faults_used": lo,
                     "until_faults_listed": len(faults), "until_stopped": stopped, **record})
    return ds


class _ShareRule:
    """:class:`Target` as a :class:`Rule`: every runtime's shares within the margin."""

    def __init__(self, target: Target) -> None:
        self.target, self.looks = target, target.looks

    def look_dataset(self, ds: xr.Dataset, population: int | None) -> tuple[bool, dict[str, Any]]:
        met, estimates = _look(ds, self.target, population)
        return met, _record(self.target, estimates)


def _round(engines: Sequence[Engine], part: FaultList, data: ImageData, model: str, opts: CampaignOptions,
           k: int) -> xr.Dataset:
    """Round ``k``: read back when an earlier run finished it, else run (resuming its checkpoint)."""
    if opts.checkpoint is None:
        return run_campaign(engines, part, data, model=model, options=opts)
    done = Path(opts.checkpoint) / f"round-{k:02d}.nc"
    if done.is_file():
        return read_netcdf(done)
    sub = Path(opts.checkpoint) / f"round-{k:02d}"
    ds = run_campaign(engines, part, data, model=model,
                      options=replace(opts, checkpoint=sub, resume=opts.resume or sub.is_dir()))
    write_netcdf(ds, done)
    return ds


def _look(ds: xr.Dataset, target: Target, population: int | None) -> tuple[bool, dict[str, list[Estimate]]]:
    n_images = int(ds.attrs["n_images"])
    out: dict[str, list[Estimate]] = {}
    met = True
    for fw in ds.framework.values:
        sel = ds.isel(model=0).sel(framework=fw)
        done, estimates = look({o: sel[o].values / n_images for o in target.outcomes}, target, population)
        met, out[str(fw)] = met and done, estimates
    return met, out


def _record(target: Target, estimates: dict[str, list[Estimate]]) -> dict[str, Any]:
    return {
        "until_margin": target.margin, "until_confidence": target.confidence,
        "until_outcomes": ",".join(target.outcomes), "until_method": METHOD,
        "until_intervals": json.dumps({fw: {e.outcome: [e.mean, e.low, e.high] for e in es}
                                       for fw, es in estimates.items()}),
    }


def format_verdict(ds: xr.Dataset) -> str:
    """The stopping record of an iterative campaign as text: faults used, why it stopped, intervals."""
    intervals = json.loads(ds.attrs["until_intervals"])
    lines = [f"iterative campaign: {ds.attrs['until_stopped']} after {ds.attrs['until_faults_used']:,} of "
             f"{ds.attrs['until_faults_listed']:,} faults (target: margin {ds.attrs['until_margin']:g} at "
             f"{ds.attrs['until_confidence']:g}, {ds.attrs['until_method']}; looks at {ds.attrs['until_looks']})"]
    for fw, shares in intervals.items():
        cells = [f"{o} {100 * m:.3f} % [{100 * lo:.3f}, {100 * hi:.3f}]" for o, (m, lo, hi) in shares.items()]
        lines.append(f"  {fw}: " + "; ".join(cells))
    return "\n".join(lines)
