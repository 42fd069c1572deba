"""A campaign plan: the faults a margin needs by the paper's formula and by stratified samples, and
what they cost in inferences.

Examples
--------
>>> from readlx.graph import Layer, LayerTable
>>> t = LayerTable("m", (Layer("conv1", "conv", (16, 3, 3, 3)), Layer("fc", "linear", (10, 64))))
>>> p = make_plan(t, margin=0.05)
>>> p.rows[0].n, p.row("stratified, neyman").n  # without a pilot every stratum has the worst variance
(659, 664)
>>> calm = {("conv1", "mantissa 0-22"): [{"masked": 1.0, "non_critical": 0.0, "critical": 0.0}] * 400}
>>> make_plan(t, margin=0.05, pilot=calm).row("stratified, neyman").n  # low bits: masked, always
351
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import xarray as xr

from readlx.errors import InputError
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.sampling import PAPER_KINDS, population, sample_size, t_value
from readlx.graph import LayerTable
from readlx.planning.allocation import ALLOCATIONS, Allocation, allocate
from readlx.planning.strata import Stratum, pilot_shares, population_strata

OUTCOMES = ("masked", "non_critical", "critical")
"""The shares a plan sizes, by the Dataset's names (SDC-1 is ``critical``)."""


@dataclass(frozen=True)
class PlanRow:
    """One way to reach the margin: ``n`` faults (for the share of ``outcome``; ``"all"``: every
    share), with the allocation over the strata where it is stratified."""

    method: str
    outcome: str
    n: int
    allocation: Allocation | None = None
    runtimes: int = 1
    """Runtimes each fault runs on: 2 for a paired difference."""

    def inferences(self, n_images: int) -> int:
        """Inferences of this row's campaign over ``n_images`` images."""
        return self.n * n_images * self.runtimes


@dataclass(frozen=True)
class Plan:
    """The plan of one model and site: its population, the strata, and the rows."""

    model: str
    population: int
    margin: float
    confidence: float
    strata: tuple[Stratum, ...]
    rows: tuple[PlanRow, ...]
    pilot: str = "none"
    notes: tuple[str, ...] = field(default=())

    def row(self, method: str, outcome: str = "all") -> PlanRow:
        """The row of ``method`` for ``outcome``."""
        for r in self.rows:
            if (r.method, r.outcome) == (method, outcome):
                return r
        valid = ", ".join(sorted({f"{r.method} / {r.outcome}" for r in self.rows}))
        raise InputError(f"the plan has no row {method!r} for {outcome!r}; rows: {valid}")


def make_plan(table: LayerTable, *, margin: float = 0.01, confidence: float = 0.99, kinds: int = PAPER_KINDS,
              pilot: Mapping[tuple[str, str], Sequence[Mapping[str, float]]] | None = None,
              pilot_name: str = "none", outcomes: Sequence[str] = OUTCOMES) -> Plan:
    """The plan for a margin on every share of ``outcomes``: the paper's formula (``p = 0.5``) and,
    per allocation, the stratified sample of layer × bit groups (the largest over the outcomes, and
    each outcome's own). ``table`` addresses the site (:func:`readlx.fault_maps.sites.site_table`);
    ``pilot`` holds per-stratum per-fault shares (:func:`pilot_from_dataset`, :func:`pilot_from_published`)."""
    t = t_value(confidence)
    n_pop = population(table, kinds=kinds)
    strata = tuple(population_strata(table, outcomes, kinds, pilot=pilot))
    rows = [PlanRow("paper formula (p = 0.5)", "all", sample_size(n_pop, margin, t=t))]
    for method in ALLOCATIONS:
        per = {o: allocate(strata, o, margin, t, method) for o in outcomes}
        sizes = tuple(max(a.sizes[k] for a in per.values()) for k in range(len(strata)))
        rows.append(PlanRow(f"stratified, {method}", "all", sum(sizes), Allocation(method, "all", sizes)))
        rows.extend(PlanRow(f"stratified, {method}", o, a.n, a) for o, a in per.items())
    return Plan(table.model, n_pop, margin, confidence, strata, tuple(rows), pilot_name)


def with_pair(plan: Plan, ds: xr.Dataset, a: str, b: str) -> Plan:
    """``plan`` with the faults a paired difference ``b − a`` of each share needs for its margin (one
    look at its confidence, :func:`readlx.planning.paired.paired_faults`), the differences spread like
    those of the pilot result ``ds``, which ran both runtimes on the same faults."""
    from readlx.planning.paired import DIFF_SHARES, paired_faults

    names = [str(f) for f in ds.framework.values]
    missing = [fw for fw in (a, b) if fw not in names]
    if missing or a == b:
        raise InputError(f"a paired plan needs a pilot of two runtimes; {missing[0] if missing else a!r} is not "
                         f"one of the pilot's: {', '.join(names)}", field="framework")
    sel, n_images = ds.isel(model=0), int(ds.attrs["n_images"])
    method = f"paired {b} - {a}"
    rows = [PlanRow(method, o, paired_faults((sel[o].sel(framework=b).values - sel[o].sel(framework=a).values)
                                             / n_images, plan.margin, plan.confidence, plan.population),
                    runtimes=2) for o in DIFF_SHARES]
    rows.insert(0, PlanRow(method, "all", max(r.n for r in rows), runtimes=2))
    note = (f"paired rows: both runtimes run each fault; the interval of each share's difference within "
            f"+-{plan.margin:g} (one look; `readlx diff` looks several times and may need more)")
    return replace(plan, rows=(*plan.rows, PlanRow("both full campaigns (formula)", "all", plan.rows[0].n,
                                                   runtimes=2), *rows), notes=(*plan.notes, note))


def pilot_from_dataset(ds: xr.Dataset, faults: FaultList, framework: str | None = None,
                       outcomes: Sequence[str] = OUTCOMES) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per-fault shares of a result file as a pilot (one framework: ``framework``, default the first)."""
    names = [str(f) for f in ds.framework.values]
    fw = names[0] if framework is None else framework
    if fw not in names:
        raise InputError(f"the pilot has no framework {fw!r}; frameworks: {', '.join(names)}", field="framework")
    n_images = int(ds.attrs["n_images"])
    sel = ds.isel(model=0).sel(framework=fw)
    shares = {o: sel[o].values / n_images for o in outcomes}
    by_id = {e.id: e.fault for e in faults}
    return pilot_shares([by_id[int(i)] for i in ds.fault.values], shares)


def pilot_from_published(faults: FaultList, outcomes: Sequence[str] = OUTCOMES
                         ) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per-fault shares of a published list's counts (``masked``, ``non_critical``, ``critical``
    over ``n_injections``) as a pilot."""
    counts = faults.published
    if counts is None:
        raise InputError(f"fault list {faults.source or 'in memory'} holds no published counts to plan from",
                         field="pilot")
    columns = {"masked": 1, "non_critical": 2, "critical": 3}
    unknown = [o for o in outcomes if o not in columns]
    if unknown:
        raise InputError(f"published counts hold no {unknown[0]!r}; they hold {', '.join(columns)}", field="outcome")
    n = np.maximum(counts[:, 0], 1).astype(np.float64)
    return pilot_shares(faults.faults, {o: counts[:, columns[o]] / n for o in outcomes})


def inferences(n_faults: int, n_images: int) -> int:
    """Inferences of a campaign of ``n_faults`` over ``n_images`` (one per fault and image)."""
    return n_faults * n_images
