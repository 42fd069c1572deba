"""From a model's weights and a published list with counts alone: the per-layer arithmetic that
produced the counts, proposed and then verified by a campaign.

1. **Propose** (:func:`propose_plan`): each arithmetic that rounds operands (TF32, BF16, FP16)
   predicts, from the weights alone, which faults are masked on every image (a corrupted weight
   that rounds to the stored weight's operand changes nothing); one published fault unmasked where an
   arithmetic predicts it masked rules that arithmetic out for the layer, and of the others the one
   explaining the most published fully masked faults is the layer's
   (:func:`readlx.comparisons.numerics.masking.masking_evidence`); plain float32, which predicts
   nothing, where none explains any.
2. **Verify** (:func:`verify_plan`): a sample of published faults runs on the baseline runtime
   (``torch``) and on the plan as an emulated runtime (``reference-native-float32+LAYER=tf32...``)
   over as many images as the counts; per-fault agreement with the published counts before
   (baseline) and after (plan): SDC-1 within ±2 images, masked within 1 % of the images, and all
   three counts exact.

What the plan rests on is printed with it (:data:`GPU_FACTS`).

Examples
--------
>>> from readlx.fault_maps.fault import Fault
>>> fl = FaultList.from_faults("m", (Fault("fc", (0, 0), 3), Fault("fc", (0, 0), 20)),
...                            published=[[10, 10, 0, 0], [10, 4, 6, 0]])
>>> plan = propose_plan(fl, {"fc": np.full((1, 1), 1.5, np.float32)})
>>> plan.layers, plan.runtime()
({'fc': 'tf32'}, 'reference-native-float32+fc=tf32')
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.numerics.masking import MaskingEvidence, format_masking_evidence, masking_evidence
from readlx.comparisons.numerics.study import Progress, Subject, variant_campaign
from readlx.comparisons.published import published_by_fault
from readlx.comparisons.text import table
from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList

GPU_FACTS = (
    "PyTorch lets cuDNN convolutions use TF32 by default (torch.backends.cudnn.allow_tf32 is True) on GPUs "
    "with TF32 tensor cores (Ampere and later); its matrix multiplications, Linear layers included, default "
    "to full float32 (torch.backends.cuda.matmul.allow_tf32 is False).",
    "Which convolution kernel runs a layer, and so whether it computes in TF32, is the GPU library's choice "
    "per layer shape (its heuristics, or benchmark mode): the plan is inferred layer by layer, not assumed.",
    "TF32 keeps 10 of float32's 23 mantissa bits of each operand: a flip of a low mantissa bit that rounds "
    "back to the same operand changes nothing in that layer, which is how fully masked faults reveal the "
    "arithmetic from the weights alone.",
)
"""The GPU facts the proposed plan relies on, stated with it."""

FLOAT32 = "float32"


@dataclass(frozen=True)
class ProposedPlan:
    """Layer -> arithmetic where it is not float32, with the evidence of every layer."""

    layers: dict[str, str]
    evidence: tuple[MaskingEvidence, ...]

    def runtime(self, algorithm: str = "native") -> str:
        """The plan as an emulated runtime's name (``reference-ALGORITHM-float32+LAYER=ARITH...``)."""
        return f"reference-{algorithm}-{FLOAT32}" + "".join(f"+{layer}={a}" for layer, a in self.layers.items())


def propose_plan(published: FaultList, weights: Mapping[str, Array]) -> ProposedPlan:
    """The per-layer arithmetic the published fully masked faults reveal (see the module docstring)."""
    rows = masking_evidence(published, weights)
    layers = {r.layer: r.best for r in rows if r.layer != "all layers" and r.best != FLOAT32}
    return ProposedPlan(layers, tuple(rows))


@dataclass(frozen=True)
class Rates:
    """Per-fault agreement of one runtime with the published counts."""

    framework: str
    n_faults: int
    sdc1_within_2: float
    masked_within_1pct: float
    triple_exact: float


def rates(ds: xr.Dataset, published: FaultList, framework: str) -> Rates:
    """:class:`Rates` of ``framework`` in the single-model result ``ds``."""
    counts = published_by_fault(ds, published)
    sel = ds.isel(model=0).sel(framework=framework)
    ours = np.stack([sel.masked.values, sel.non_critical.values, sel.critical.values], axis=1)
    diff = np.abs(ours - counts)
    n_images = int(ds.attrs["n_images"])
    return Rates(framework, len(ours), float((diff[:, 2] <= 2).mean()),
                 float((diff[:, 0] <= 0.01 * n_images).mean()), float((diff == 0).all(axis=1).mean()))


@dataclass(frozen=True)
class Verification:
    """The plan's campaign: agreement before (baseline) and after (the plan), and the result."""

    plan: ProposedPlan
    before: Rates
    after: Rates
    result: xr.Dataset


def verify_plan(subject: Subject, plan: ProposedPlan, published: FaultList, *, baseline: str = "torch",
                batch_size: int = 256, progress: Progress | None = None) -> Verification:
    """Run ``published`` (a sample of the published list) on ``baseline`` and on the plan, over as many
    of ``subject``'s images as the counts, and measure the agreement of each."""
    if published.published is None:
        raise ReadlxError(f"{published.source or 'the list'} holds no published counts to verify against")
    images = sorted(set(published.published[:, 0].tolist()))
    if len(images) != 1 or images[0] > len(subject.data):
        raise ReadlxError(f"the published counts are over {images} images; the data hold {len(subject.data)}")
    runtime = plan.runtime()
    ds = variant_campaign(subject, [baseline, runtime], published, images[0], batch_size, progress)
    return Verification(plan, rates(ds, published, baseline), rates(ds, published, runtime), ds)


def format_verification(v: Verification, sample_note: str) -> str:
    """The plan, its evidence, the agreement before and after, and the GPU facts."""
    plan = ", ".join(f"{layer}={a}" for layer, a in v.plan.layers.items()) or "float32 in every layer"
    head = ("runtime", "faults", "SDC-1 within +-2 %", "masked within 1 % %", "triple exact %")
    body = [(r.framework, str(r.n_faults), f"{100 * r.sdc1_within_2:.1f}", f"{100 * r.masked_within_1pct:.1f}",
             f"{100 * r.triple_exact:.1f}") for r in (v.before, v.after)]
    return "\n".join([
        f"proposed plan, from the weights and the published counts alone: {plan}",
        format_masking_evidence(list(v.plan.evidence)), "",
        f"verified on {sample_note}: before ({v.before.framework}) and after ({v.after.framework})",
        table(head, body), "",
        "what this relies on:", *(f"- {fact}" for fact in GPU_FACTS),
    ])
