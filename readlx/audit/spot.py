"""Spot faults: a few faults of a published list re-run here and compared with their counts.

The published counts were measured on a GPU, whose arithmetic (TF32 convolutions, other kernels)
differs from this machine's, so masking may differ on many images; SDC-1 moves by a few images at
most (:mod:`readlx.comparisons.numerics`). The spot check is suspicious only when the median
difference of the SDC-1 count exceeds :data:`SDC_LIMIT` of the images: a gap that no arithmetic
difference seen so far explains, and that rows whose counts belong to other faults would give.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from readlx.audit.findings import OK, SKIPPED, SUSPICIOUS, Finding
from readlx.fault_maps.faultlist import FaultList

SDC_LIMIT = 0.01
"""Median SDC-1 difference, as a share of the images, above which the spot check is suspicious."""


def spot_positions(fl: FaultList, k: int, rng: np.random.Generator) -> list[int]:
    """``k`` rows: half the most SDC-1 ones (where a wrong count shows most), half at random."""
    counts = fl.published
    assert counts is not None
    top = [int(i) for i in np.argsort(-counts[:, 3], kind="stable")[: (k + 1) // 2]]
    rest = np.setdiff1d(np.arange(len(fl)), top)
    return sorted(top + [int(i) for i in rng.choice(rest, min(k - len(top), len(rest)), replace=False)])


def spot_check(fl: FaultList, model: str, k: int, rng: np.random.Generator, data: str | None = None) -> Finding:
    """Re-run ``k`` faults of ``fl`` on PyTorch here (every image) and compare with their counts."""
    import readlx
    from readlx.campaign.inputs import image_data, subject
    from readlx.errors import ReadlxError

    counts = fl.published
    assert counts is not None
    n_images = int(counts[0, 0])
    try:
        images = image_data(data, subject(model))
    except ReadlxError as e:
        return Finding("spot faults", "spot", SKIPPED, f"no data to re-run on: {e}")
    if len(images) != n_images or len(np.unique(counts[:, 0])) > 1:
        return Finding("spot faults", "spot", SKIPPED,
                       f"the data hold {len(images):,} images, the counts are over {n_images:,}")
    positions = spot_positions(fl, k, rng)
    ds = readlx.run(model, images, fl.subset(positions), progress=False).isel(model=0, framework=0)
    rows: list[dict[str, Any]] = []
    for p, fault_id in zip(positions, ds.fault.values, strict=True):
        here = [int(ds[v].sel(fault=fault_id)) for v in ("masked", "non_critical", "critical")]
        rows.append({"id": fl.ids[p], "fault": fl.faults[p].describe(), "published": counts[p, 1:].tolist(),
                     "here": here})
    gaps = np.array([abs(r["here"][2] - r["published"][2]) for r in rows])
    median = float(np.median(gaps)) / n_images
    close = sum(g <= 2 for g in gaps)
    masked = sum(abs(r["here"][0] - r["published"][0]) <= 0.01 * n_images for r in rows)
    exact = sum(r["here"] == r["published"] for r in rows)
    text = (f"{len(rows)} faults re-run on PyTorch here: SDC-1 within +-2 images on {close}, masked within 1 % "
            f"on {masked}, every count equal on {exact}; median SDC-1 difference {median:.2%} of the images")
    return Finding("spot faults", "spot", SUSPICIOUS if median > SDC_LIMIT else OK, text,
                   {"faults": rows, "median_sdc1_gap": median, "limit": SDC_LIMIT})
