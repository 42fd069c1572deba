"""A numerics study of one zoo model, as data: golden divergence of arithmetic variants against the
float64 reference executor, the same faults through several variants, and the two kinds of evidence
that say which variant produced a published result."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn as nn
import xarray as xr

from readlx._typing import Array
from readlx.campaign import CampaignOptions, run_campaign
from readlx.comparisons.numerics.explain import Explanation, explain
from readlx.comparisons.numerics.golden import golden_divergence, golden_outputs
from readlx.comparisons.numerics.masking import MaskingEvidence, masking_evidence
from readlx.data.imageset import ImageSet
from readlx.engines.reference.engine import ReferenceEngine
from readlx.engines.variants import make_engine
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.zoo.registry import Benchmark

Progress = Callable[[str, int, int], None]


def canonical_weights(model: nn.Module, table: LayerTable) -> dict[str, Array]:
    """Layer -> float32 weight in canonical layout (copies).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> w = canonical_weights(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
    >>> w["conv1"].dtype, w["conv1"].ndim
    (dtype('float32'), 4)
    """
    modules = dict(model.named_modules())
    return {layer.name: modules[layer.name].weight.detach().cpu().numpy().copy() for layer in table}


def golden_section(model: nn.Module, table: LayerTable, data: ImageSet, variants: Sequence[str],
                   batch_size: int) -> xr.Dataset:
    """Golden divergence of ``variants`` versus the float64 reference executor on ``data``."""
    truth = ReferenceEngine(model, table, arithmetic="float64", batch_size=batch_size).forward(data.images)
    engines = [make_engine(v, model, table, batch_size) for v in variants]
    return golden_divergence(golden_outputs(engines, data.images), truth, data.labels)


@dataclass(frozen=True)
class Subject:
    """A zoo model loaded for a study: its card, network, canonical layer table and test set."""

    name: str
    bench: Benchmark
    net: nn.Module
    table: LayerTable
    data: ImageSet


def load_subject(model: str, data: str | None = None, weights: str | None = None) -> Subject:
    """The zoo model ``model`` with ``weights`` (default: its published or shipped ones) and its test
    set read from ``data`` (default: under the reference data)."""
    from readlx.zoo import ZOO, load_model

    bench = ZOO[model]
    net, table = load_model(model, weights), bench.layer_table()
    return Subject(model, bench, net, table, bench.load_data(data))


def campaign_faults(subject: Subject, faults: str | None, sample: int, seed: int) -> FaultList:
    """A stratified subset of ``sample`` faults of the list at ``faults`` (default: the model's
    published list, else a generated network-wise list)."""
    from readlx.fault_maps import generate, load_fault_list
    from readlx.fault_maps.select import stratified_subset

    bench, table = subject.bench, subject.table
    if faults:
        fl = load_fault_list(faults, table)
    elif bench.fault_list:
        fl = load_fault_list(bench.resolve(bench.fault_list, "fault list"), table)
    else:
        fl = generate(table, margin=0.05, seed=seed, mode="network-wise")
    return stratified_subset(fl, sample, seed)


def variant_campaign(subject: Subject, variants: Sequence[str], faults: FaultList, images: int | None,
                     batch_size: int, progress: Progress | None = None) -> xr.Dataset:
    """``faults`` through each of ``variants`` (one framework each) on the first ``images`` test
    images, per-image outcomes kept."""
    engines = [make_engine(v, subject.net, subject.table, batch_size, reuse_golden=True) for v in variants]
    opts = CampaignOptions(per_image=True, progress=progress, attrs=subject.bench.characterization())
    return run_campaign(engines, faults, subject.data.subset(images), model=subject.name, options=opts)


@dataclass(frozen=True)
class PublishedEvidence:
    """What a variant campaign and the weights say about a published fault list.

    ``explanation`` is None when the campaign-level agreement could not be measured: no fault of the
    result is in the reference (``n_known == 0``), or the result ran another number of images per
    fault than the published counts. ``masking`` is None when the model is not in the zoo.
    """

    n_known: int
    n_unknown: int
    n_images: int
    published_images: tuple[int, ...]
    n_reference: int
    explanation: Explanation | None
    masking: tuple[MaskingEvidence, ...] | None


def explain_published(result: str | Path, published: str | Path, *, baseline: str | None = None,
                      weights: str | None = None) -> PublishedEvidence:
    """Which variant of the campaign result at ``result`` reproduces the published counts at ``published``.

    Two kinds of evidence: (1) per-fault agreement of each variant of the result with the published
    counts, per layer (:func:`readlx.comparisons.numerics.explain.explain`; needs a result over as
    many images as the published counts); (2) from the weights alone, over every published fault,
    which arithmetic's operand rounding masks exactly the published fully masked faults
    (:func:`readlx.comparisons.numerics.masking.masking_evidence`; needs the model in the zoo).
    """
    from readlx.fault_maps import load_fault_list
    from readlx.results import read_netcdf
    from readlx.zoo import ZOO, load_model

    ds = read_netcdf(result)
    model = str(ds.attrs.get("model_name", ds.model.values[0]))
    table = ZOO[model].layer_table() if model in ZOO else None
    ref = load_fault_list(published, table)
    images = tuple(sorted(set(ref.published[:, 0].tolist()))) if ref.published is not None else ()
    known = np.isin(ds.fault.values, ref.ids)
    n_images = int(ds.attrs["n_images"])
    explanation = None
    if known.any() and images == (n_images,):
        explanation = explain(ds.isel(fault=np.flatnonzero(known)), ref, baseline)
    masking = None
    if table is not None:
        masking = tuple(masking_evidence(ref, canonical_weights(load_model(model, weights), table)))
    return PublishedEvidence(int(known.sum()), int((~known).sum()), n_images, images, len(ref),
                             explanation, masking)
