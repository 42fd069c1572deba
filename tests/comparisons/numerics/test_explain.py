from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.campaign import run_campaign
from readlx.cli.numerics import explain_command
from readlx.comparisons.numerics.explain import EMULATED, explain
from readlx.comparisons.numerics.masking import masking_evidence, rounding_masked
from readlx.comparisons.numerics.study import canonical_weights
from readlx.data.synthetic import synthetic
from readlx.engines.reference.engine import ReferenceEngine
from readlx.errors import ReadlxError
from readlx.fault_maps import write_paper_torch
from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.results import write_netcdf
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
N_IMAGES = 16


@pytest.fixture(scope="module")
def gpu_like() -> tuple[xr.Dataset, FaultList]:
    """Two variants of the demo model and a "published" list produced by TF32 on conv1 and conv3
    only (the float32 variant's counts elsewhere): a known answer for the explanation."""
    model, table = load_model(MODEL), ZOO[MODEL].layer_table()
    chosen = tuple(Fault(layer, (k % 2, 0, 0, 0) if layer != "linear" else (k % 2, 1), bit)
                   for layer in ("conv1", "conv3", "linear") for k, bit in enumerate((1, 4, 8, 11, 12, 20, 30))
                   if layer != "linear" or bit > 10)
    faults = FaultList.from_faults(MODEL, chosen, ids=range(100, 100 + len(chosen)))
    engines = [ReferenceEngine(model, table, algorithm="native", batch_size=8),
               ReferenceEngine(model, table, algorithm="native", arithmetic="tf32", batch_size=8),
               ReferenceEngine(model, table, algorithm="native", overrides={"conv[13]": "tf32"}, batch_size=8,
                               name="mixed")]
    ds = run_campaign(engines, faults, synthetic(N_IMAGES), model=MODEL)
    mixed = ds.sel(framework="mixed").isel(model=0)
    published = np.stack([np.full(len(faults), N_IMAGES), mixed.masked.values, mixed.non_critical.values,
                          mixed.critical.values], axis=1)
    reference = faults.with_published(published).with_source("published.csv")
    return ds.sel(framework=["reference-native-float32", "reference-native-tf32"]), reference


def test_explain_finds_the_per_layer_arithmetic(gpu_like: tuple[xr.Dataset, FaultList]) -> None:
    ds, reference = gpu_like
    e = explain(ds, reference)
    assert e.baseline == "reference-native-float32"
    assert [c.layer for c in e.layers] == ["conv1", "conv3", "linear"]
    assert e.plan()["conv1"] == e.plan()["conv3"] == "reference-native-tf32"
    assert e.after.framework == EMULATED
    assert e.after.sdc1_exact >= e.before.sdc1_exact
    assert e.after.triple_exact > e.before.triple_exact
    text = e.format()
    assert "before emulation (reference-native-float32)" in text and "per-layer best" in text


def test_explain_checks_its_arguments(gpu_like: tuple[xr.Dataset, FaultList]) -> None:
    ds, reference = gpu_like
    with pytest.raises(ReadlxError, match="baseline 'x' is not a framework of the result; valid: reference-native"):
        explain(ds, reference, baseline="x")
    short = reference.with_published(reference.published * [2, 1, 1, 1])
    with pytest.raises(ReadlxError, match="same images"):
        explain(ds, short)


def test_rounding_masked_is_exact_on_hand_made_weights() -> None:
    weights = {"fc": np.array([[1.0, 1 + 2.0**-10]], np.float32)}
    faults = FaultList.from_faults("m", (Fault("fc", (0, 0), 12), Fault("fc", (0, 0), 11), Fault("fc", (0, 1), 11),
                                         Fault("fc", (0, 0), 15), Fault("fc", (0, 0), 16)))
    # bit 12 of 1.0: a TF32 tie, rounds back to even 1.0; bit 11 on an odd TF32 value: still below
    # half; bit 15 is kept by TF32 but is the BF16 tie bit; bit 16 is kept by both
    assert rounding_masked(faults, weights, "tf32").tolist() == [True, True, True, False, False]
    assert rounding_masked(faults, weights, "bf16").tolist() == [True, True, True, True, False]
    assert rounding_masked(faults, weights, "float32").tolist() == [False] * 5


def test_masking_evidence_prefers_the_arithmetic_without_contradictions(
        gpu_like: tuple[xr.Dataset, FaultList]) -> None:
    _, reference = gpu_like
    weights = canonical_weights(load_model(MODEL), ZOO[MODEL].layer_table())
    rows = {r.layer: r for r in masking_evidence(reference, weights)}
    assert rows["conv1"].contradicted["tf32"] == 0 and rows["conv1"].explained["tf32"] > 0
    assert rows["conv1"].best == "tf32"
    assert rows["linear"].best == "float32"
    assert rows["all layers"].n_faults == len(reference)


def test_explain_command_reports_both_kinds_of_evidence(gpu_like: tuple[xr.Dataset, FaultList],
                                                       tmp_path: Path) -> None:
    ds, reference = gpu_like
    result = write_netcdf(ds, tmp_path / "variants.nc")
    published = tmp_path / "published.csv"
    write_paper_torch(reference, published)
    text = explain_command(str(result), str(published))
    assert "per-layer agreement with the published counts" in text
    assert f"weight-level evidence over all {len(reference)} published faults" in text
    fewer = write_netcdf(on_fewer_images(ds, 8), tmp_path / "fewer.nc")
    assert "campaign-level agreement skipped" in explain_command(str(fewer), str(published))


def on_fewer_images(ds: xr.Dataset, n: int) -> xr.Dataset:
    """``ds`` as a campaign on ``n`` images (every fault masked on all of them)."""
    zero = {v: ds[v] * 0 for v in ("non_critical", "critical", "nan_or_inf", "faulty_correct")}
    return ds.assign_attrs(n_images=n).assign(masked=ds.masked * 0 + n, **zero)
