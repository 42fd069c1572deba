from __future__ import annotations

from pathlib import Path

import xarray as xr

from readlx.cli.numerics import numerics_command
from readlx.comparisons.cf import missing_cf
from readlx.results import cf_decoded, read_netcdf


def test_numerics_command_on_the_demo_model(tmp_path: Path) -> None:
    text = numerics_command(
        "democnn-synthetic10", variants=["torch", "reference-winograd-float32", "reference-direct-bf16"],
        campaign_variants=["torch", "reference-im2col-tf32"], images=16, campaign_images=16, sample=5,
        batch_size=8, out=str(tmp_path),
    )
    assert "golden outputs versus float64 (16 images)" in text
    assert "reference-direct-bf16" in text and "5 faults per variant" in text
    assert "reference-im2col-tf32 vs torch, critical share per fault" in text
    golden = cf_decoded(xr.open_dataset(tmp_path / "golden.nc", engine="netcdf4").load())  # names as variant_label
    assert golden.variant.values.tolist() == ["torch", "reference-winograd-float32", "reference-direct-bf16"]
    assert missing_cf(golden) == []
    ds = read_netcdf(tmp_path / "campaign.nc")
    assert ds.framework.values.tolist() == ["torch", "reference-im2col-tf32"] and "outcome" in ds
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_numerics_command_without_campaign(tmp_path: Path) -> None:
    text = numerics_command("democnn-synthetic10", variants=["reference-fft-float32"], images=8, sample=0)
    assert "faults per variant" not in text and "reference-fft-float32" in text
