from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.comparisons.numerics.study import (
    Subject,
    campaign_faults,
    canonical_weights,
    explain_published,
    golden_section,
    load_subject,
    variant_campaign,
)
from readlx.fault_maps import write_paper_torch
from readlx.results import write_netcdf

MODEL = "democnn-synthetic10"
VARIANTS = ["reference-im2col-float32", "reference-im2col-tf32"]


@pytest.fixture(scope="module")
def subject() -> Subject:
    return load_subject(MODEL)


def test_canonical_weights_are_copies(subject: Subject) -> None:
    weights = canonical_weights(subject.net, subject.table)
    assert list(weights) == [layer.name for layer in subject.table]
    weights["conv1"][...] = 0
    assert float(dict(subject.net.named_modules())["conv1"].weight.detach().abs().sum()) > 0


def test_golden_section_has_one_row_per_variant(subject: Subject) -> None:
    golden = golden_section(subject.net, subject.table, subject.data.subset(8), ["torch", *VARIANTS], 8)
    assert golden.variant.values.tolist() == ["torch", *VARIANTS]
    assert golden.attrs["n_images"] == 8


def test_variant_campaign_then_explain_published(subject: Subject, tmp_path: Path) -> None:
    faults = campaign_faults(subject, None, 6, seed=1)
    assert len(faults) == 6
    ds = variant_campaign(subject, VARIANTS, faults, 8, batch_size=8)
    assert ds.framework.values.tolist() == VARIANTS and "outcome" in ds
    # Published counts that are the first variant's own: it explains every fault.
    own = ds.sel(framework=VARIANTS[0]).isel(model=0)
    counts = np.stack([np.full(len(faults), 8), own.masked.values, own.non_critical.values,
                       own.critical.values], axis=1)
    reference = tmp_path / "published.csv"
    write_paper_torch(faults.with_published(counts), reference)
    evidence = explain_published(write_netcdf(ds, tmp_path / "variants.nc"), reference)
    assert (evidence.n_known, evidence.n_unknown, evidence.published_images) == (6, 0, (8,))
    assert evidence.explanation is not None and evidence.explanation.before.triple_exact == 1.0
    assert evidence.masking is not None and evidence.masking[-1].layer == "all layers"
    assert evidence.masking[-1].n_faults == 6
    fewer = explain_published(write_netcdf(on_fewer_images(ds, 4), tmp_path / "fewer.nc"), reference)
    assert fewer.explanation is None and fewer.n_known == 6 and fewer.n_images == 4


def on_fewer_images(ds: xr.Dataset, n: int) -> xr.Dataset:
    """``ds`` as a campaign on ``n`` images (every fault masked on all of them)."""
    zero = {v: ds[v] * 0 for v in ("non_critical", "critical", "nan_or_inf", "faulty_correct")}
    return ds.assign_attrs(n_images=n).assign(masked=ds.masked * 0 + n, **zero)
