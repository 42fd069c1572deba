"""Bodies of ``readlx numerics MODEL`` and ``readlx numerics explain RESULT``.

Each takes plain arguments, may write result files, and returns the text the command line prints.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch.nn as nn
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.comparisons.cf import write_derived
from readlx.comparisons.divergence import format_most_divergent, most_divergent
from readlx.comparisons.stats import paired_test
from readlx.comparisons.summary import format_summary, summarize
from readlx.data.imageset import ImageSet
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.engines.reference.engine import ReferenceEngine
from readlx.comparisons.numerics.explain import explain
from readlx.comparisons.numerics.golden import format_golden, golden_divergence, golden_outputs
from readlx.comparisons.numerics.masking import format_masking_evidence, masking_evidence
from readlx.engines.variants import CAMPAIGN_VARIANTS, GOLDEN_VARIANTS, make_engine
from readlx.zoo.registry import Benchmark

Progress = Callable[[str, int, int], None]


def canonical_weights(model: nn.Module, table: LayerTable) -> dict[str, np.ndarray]:
    """Layer -> float32 weight in canonical layout (copies)."""
    modules = dict(model.named_modules())
    return {layer.name: modules[layer.name].weight.detach().cpu().numpy().copy() for layer in table}


def golden_section(model: nn.Module, table: LayerTable, data: ImageSet, variants: Sequence[str],
                   batch_size: int) -> xr.Dataset:
    """Golden divergence of ``variants`` versus the float64 reference executor on ``data``."""
    truth = ReferenceEngine(model, table, arithmetic="float64", batch_size=batch_size).forward(data.images)
    engines = [make_engine(v, model, table, batch_size) for v in variants]
    return golden_divergence(golden_outputs(engines, data.images), truth, data.labels)


def _fault_list(bench: Benchmark, table: LayerTable, faults: str | None, sample: int, seed: int) -> FaultList:
    from readlx.fault_maps import generate, load_fault_list
    from readlx.fault_maps.select import stratified_subset

    if faults:
        fl = load_fault_list(faults, table)
    elif bench.fault_list:
        fl = load_fault_list(bench.resolve(bench.fault_list, "fault list"), table)
    else:
        fl = generate(table, margin=0.05, seed=seed, mode="network-wise")
    return stratified_subset(fl, sample, seed)


def campaign_text(ds: xr.Dataset) -> str:
    """Summary, paired tests of each variant against the first, and the most divergent faults."""
    names = [str(f) for f in ds.framework.values]
    parts = [format_summary(summarize(ds))]
    for other in names[1:]:
        for metric in ("critical", "masked"):
            parts.append(paired_test(ds, names[0], other, metric).format())
    if len(names) > 1:
        parts += ["most divergent faults:", format_most_divergent(most_divergent(ds, top=10))]
    return "\n\n".join(parts)


def numerics_command(
    model: str,
    *,
    variants: Sequence[str] = GOLDEN_VARIANTS,
    campaign_variants: Sequence[str] = CAMPAIGN_VARIANTS,
    images: int | None = 1000,
    campaign_images: int | None = 200,
    faults: str | None = None,
    sample: int = 50,
    seed: int = 0,
    data: str | None = None,
    weights: str | None = None,
    batch_size: int = 250,
    out: str | None = None,
    progress: Progress | None = None,
) -> str:
    """``readlx numerics MODEL``: golden divergence versus float64, then the same faults per variant.

    Parameters
    ----------
    variants
        Variants compared with the float64 ground truth on the first ``images`` test images.
    campaign_variants
        Variants of the fault campaign (``sample`` faults, stratified over layers and bits, on the
        first ``campaign_images`` images, per-image outcomes kept); no campaign when ``sample`` is 0.
    out
        Directory for ``golden.nc``, ``campaign.nc`` and ``report.html`` (nothing written when None).
    """
    from readlx.comparisons.html import report_html
    from readlx.results import write_netcdf
    from readlx.zoo import ZOO, load_model

    bench = ZOO[model]
    net, table = load_model(model, weights), bench.layer_table()
    test_set = bench.load_data(data)
    golden = golden_section(net, table, test_set.subset(images), variants, batch_size)
    parts = [f"golden outputs versus float64 ({golden.attrs['n_images']} images):", format_golden(golden)]
    outdir = Path(out) if out else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
        write_derived(golden, outdir / "golden.nc")
    if sample > 0 and campaign_variants:
        fl = _fault_list(bench, table, faults, sample, seed)
        engines = [make_engine(v, net, table, batch_size, reuse_golden=True) for v in campaign_variants]
        opts = CampaignOptions(per_image=True, progress=progress, attrs=bench.characterization())
        ds = run_campaign(engines, fl, test_set.subset(campaign_images), model=model, options=opts)
        parts += [f"{len(fl)} faults per variant:", campaign_text(ds)]
        if outdir is not None:
            write_netcdf(ds, outdir / "campaign.nc")
            report_html(ds, outdir / "report.html")
    if outdir is not None:
        parts.append(f"results written to {outdir}")
    return "\n\n".join(parts)


def explain_command(result: str, reference: str, *, baseline: str | None = None, weights: str | None = None) -> str:
    """``readlx numerics explain RESULT --reference FILE``: which variant reproduces the published counts.

    Two kinds of evidence: (1) per-fault agreement of each variant of the result with the published
    counts, per layer (:func:`readlx.comparisons.numerics.explain.explain`; needs a result over as many images
    as the published counts); (2) from the weights alone, over every published fault, which
    arithmetic's operand rounding masks exactly the published fully masked faults
    (:func:`readlx.comparisons.numerics.masking.masking_evidence`; needs the model in the zoo).
    """
    from readlx.fault_maps import load_fault_list
    from readlx.results import read_netcdf
    from readlx.zoo import ZOO, load_model

    ds = read_netcdf(result)
    model = str(ds.attrs.get("model_name", ds.model.values[0]))
    table = ZOO[model].layer_table() if model in ZOO else None
    ref = load_fault_list(reference, table)
    parts = []
    published_images = sorted(set(ref.published[:, 0].tolist())) if ref.published is not None else []
    known = np.isin(ds.fault.values, ref.ids)
    if not known.any():
        parts.append(f"campaign-level agreement skipped: no fault id of the result is in {reference}")
    elif published_images == [int(ds.attrs["n_images"])]:
        parts.append(explain(ds.isel(fault=np.flatnonzero(known)), ref, baseline).format())
        if not known.all():
            parts.append(f"{int((~known).sum())} faults of the result are not in the reference and were left out")
    else:
        parts.append(f"campaign-level agreement skipped: the result ran {ds.attrs['n_images']} images per fault, "
                     f"the published counts {published_images}; run the variants over the same images")
    if table is not None:
        evidence = masking_evidence(ref, canonical_weights(load_model(model, weights), table))
        parts.append(f"weight-level evidence over all {len(ref)} published faults (fully masked faults that each "
                     "arithmetic's operand rounding predicts: explained/contradicted by the published counts):\n"
                     + format_masking_evidence(evidence))
    return "\n\n".join(parts)
