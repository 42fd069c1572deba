"""Segmentation campaigns: masked / tolerable / critical per image, pixel accuracy and mIoU per fault."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import xarray as xr

from readlx.campaign import CampaignOptions, noop_control, run_campaign
from readlx.data.voc import SegmentationSet
from readlx.engines.torch import TorchEngine
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.outcomes import segmentation as seg
from readlx.outcomes.tasks import task_for
from readlx.results import read_netcdf, write_netcdf

MODEL = "tinyseg"
CLASSES = 4
SIZE = 12
N_IMAGES = 10
BATCH = 4


class TinySegNet(nn.Module):
    """Stride-2 stem, a dilated convolution, a 1x1 classifier and bilinear upsampling: DeepLabV3's
    operations in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.dilated = nn.Conv2d(6, 6, 3, padding=2, dilation=2)
        self.classifier = nn.Conv2d(6, CLASSES, 1)
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            self.bn.running_mean.copy_(torch.randn(6, generator=gen) * 0.1)
            self.bn.running_var.copy_(torch.rand(6, generator=gen) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.stem(x)))
        h = F.relu(self.dilated(h))
        return F.interpolate(self.classifier(h), size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def model() -> TinySegNet:
    return TinySegNet().eval()


@pytest.fixture(scope="module")
def data() -> SegmentationSet:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, (N_IMAGES, SIZE, SIZE)).astype(np.uint8)
    labels[:, 0, :3] = seg.IGNORE_LABEL
    images = rng.standard_normal((N_IMAGES, 3, SIZE, SIZE)).astype(np.float32)
    return SegmentationSet("tiny-seg", images, labels, tuple(f"c{i}" for i in range(CLASSES)))


@pytest.fixture(scope="module")
def faults(model: TinySegNet) -> FaultList:
    table = LayerTable.from_torch(model, MODEL)
    rng = np.random.default_rng(1)
    chosen = []
    for k in range(24):
        layer = table.layers[k % len(table.layers)]
        index = tuple(int(rng.integers(0, s)) for s in layer.shape)
        chosen.append(Fault(layer.name, index, int((30, 29, 26, 23, 22, 20, 12, 3)[k % 8])))
    return FaultList.from_faults(MODEL, tuple(chosen))


def _engine(model: nn.Module, batch: int = BATCH) -> TorchEngine:
    return TorchEngine(model, LayerTable.from_torch(model, MODEL), batch)


def _slow_reference(model: nn.Module, faults: FaultList, data: SegmentationSet) -> dict[str, np.ndarray]:
    """One deep copy per fault, the bits flipped by hand, the classifier and metrics called directly."""
    def run(m: nn.Module) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([m(torch.from_numpy(data.images[i : i + BATCH])).numpy()
                                   for i in range(0, N_IMAGES, BATCH)])

    golden = run(model)
    out: dict[str, list] = {"codes": [], "accuracy": [], "miou": []}
    for fault in faults.faults:
        faulty = copy.deepcopy(model)
        weight = dict(faulty.named_parameters())[f"{fault.layer}.weight"]
        with torch.no_grad():
            bits = weight.detach().numpy().view(np.uint32)
            bits[fault.index] ^= np.uint32(1 << fault.bit)
        scores = run(faulty)
        maps = seg.label_maps(scores)
        out["codes"].append(seg.classify_segmentation(golden, scores))
        out["accuracy"].append(seg.pixel_accuracy(maps, data.labels, CLASSES))
        out["miou"].append(seg.mean_iou(maps, data.labels, CLASSES))
    return {k: np.array(v) for k, v in out.items()} | {"golden": golden}


def test_segmentation_campaign_matches_slow_reference(model: TinySegNet, faults: FaultList,
                                                      data: SegmentationSet) -> None:
    ds = run_campaign([_engine(model)], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    ref = _slow_reference(model, faults, data)
    one = ds.isel(model=0, framework=0)
    np.testing.assert_array_equal(one.outcome.values, ref["codes"])
    np.testing.assert_array_equal(one.masked.values, (ref["codes"] & 3 == 0).sum(axis=1))
    np.testing.assert_array_equal(one.non_critical.values, (ref["codes"] & 3 == 1).sum(axis=1))
    np.testing.assert_array_equal(one.critical.values, (ref["codes"] & 3 == 2).sum(axis=1))
    np.testing.assert_array_equal(one.faulty_pixel_accuracy.values, ref["accuracy"])
    np.testing.assert_array_equal(one.faulty_miou.values, ref["miou"])
    golden_maps = seg.label_maps(ref["golden"])
    assert float(one.golden_miou) == seg.mean_iou(golden_maps, data.labels, CLASSES)
    assert float(one.golden_pixel_accuracy) == seg.pixel_accuracy(golden_maps, data.labels, CLASSES)
    labelled = int((data.labels != seg.IGNORE_LABEL).sum())
    assert int(one.golden_correct) == round(float(one.golden_pixel_accuracy) * labelled)
    assert ds.attrs["classifier"] == "segmentation"
    assert ds.attrs["outcome_names"] == "masked tolerable critical"
    assert "label" not in ds and "golden_top1" not in ds
    # the faults span every outcome class, or this test could not tell them apart
    assert {0, 1, 2} <= set(np.unique(ref["codes"] & 3).tolist())


def test_fast_mode_equals_reference(model: TinySegNet, faults: FaultList, data: SegmentationSet) -> None:
    opts = {"per_image": True}
    ref = run_campaign([_engine(model)], faults, data, model=MODEL, options=CampaignOptions(**opts))
    fast = run_campaign([_engine(model)], faults, data, model=MODEL,
                        options=CampaignOptions(**opts, mode="fast-always"))
    assert fast.attrs["mode_torch"] == "fast"
    for ds in (ref, fast):
        for key in [k for k in ds.attrs if k.startswith("mode")]:
            del ds.attrs[key]
    xr.testing.assert_identical(ref, fast)


def test_noop_control_is_masked(model: TinySegNet, data: SegmentationSet) -> None:
    engine = _engine(model)
    control = noop_control(engine, "dilated")
    ds = run_campaign([engine], FaultList.from_faults(MODEL, (control,)), data, model=MODEL,
                      options=CampaignOptions(skip_noop=False))
    assert int(ds.masked.sum()) == N_IMAGES and bool(ds.noop.all())  # forced through inference, still masked


def test_netcdf_round_trip_and_resume(tmp_path: Path, model: TinySegNet, faults: FaultList,
                                      data: SegmentationSet) -> None:
    full = run_campaign([_engine(model)], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    path = write_netcdf(full, tmp_path / "seg.nc")
    back = read_netcdf(path)
    xr.testing.assert_identical(full, back)
    assert back.faulty_miou.attrs["long_name"] == "faulty miou"
    assert "tolerable" in back.outcome.attrs["flag_meanings"]

    class Killed(Exception):
        pass

    def kill(framework: str, done: int, total: int) -> None:
        if done == 7:
            raise Killed

    ckpt = tmp_path / "ckpt"
    with pytest.raises(Killed):
        run_campaign([_engine(model)], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, checkpoint=ckpt, flush_seconds=0, progress=kill))
    resumed = run_campaign([_engine(model)], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, checkpoint=ckpt, resume=True))
    xr.testing.assert_identical(full, resumed)


def test_stuck_at_noop_is_skipped_with_golden_metrics(model: TinySegNet, data: SegmentationSet) -> None:
    engine = _engine(model)
    control = noop_control(engine)
    faults = FaultList.from_faults(MODEL, (control, Fault("stem", (0, 0, 0, 0), 30, FaultKind.BIT_FLIP)))
    ds = run_campaign([engine], faults, data, model=MODEL)
    one = ds.isel(model=0, framework=0)
    assert bool(one.noop[0]) and int(one.masked[0]) == N_IMAGES
    assert float(one.faulty_miou[0]) == float(one.golden_miou)
    assert int(one.faulty_correct[0]) == int(one.golden_correct)


def test_summary_and_report_name_segmentation_columns(tmp_path: Path, model: TinySegNet, faults: FaultList,
                                                      data: SegmentationSet) -> None:
    from readlx.comparisons.html import report_html
    from readlx.comparisons.summary import format_summary, summarize

    ds = run_campaign([_engine(model)], faults, data, model=MODEL)
    (row,) = summarize(ds)
    assert row.task == "segmentation"
    assert row.golden_top1.percent == pytest.approx(100 * float(ds.golden_pixel_accuracy))
    assert row.faulty_miou == pytest.approx(float(ds.faulty_miou.mean()))
    text = format_summary([row])
    assert "tolerable %" in text and "golden mIoU" in text and "SDC-1" not in text
    page = report_html(ds, tmp_path / "report.html").read_text()
    assert "tolerable %" in page and "faulty mIoU (mean)" in page


def test_shards_merge_to_the_whole_campaign(model: TinySegNet, faults: FaultList, data: SegmentationSet) -> None:
    from readlx.campaign.scaleout import merge, shard_positions

    whole = run_campaign([_engine(model)], faults, data, model=MODEL)
    parts = []
    for i in range(3):
        part = run_campaign([_engine(model)], faults.subset(list(shard_positions(len(faults), i, 3))), data,
                            model=MODEL)
        part.attrs.update(shard_index=i, shard_count=3)
        parts.append(part)
    xr.testing.assert_identical(whole, merge(parts))


def test_fast_blocks_are_bounded_by_the_prediction_memory(model: TinySegNet, faults: FaultList,
                                                          data: SegmentationSet) -> None:
    from readlx.campaign.runners import FastOptions, TorchFastRunner

    engine = _engine(model)
    golden = engine.infer(data.images)
    per_fault = N_IMAGES * SIZE * SIZE  # one uint8 label map per image
    runner = TorchFastRunner(engine, data.images, golden, FastOptions(cache_bytes=3 * per_fault + 1),
                             task_for(data))
    assert runner.block_size() == 3
    assert [len(b) for b in runner.blocks(faults.faults[:7])] == [3, 3, 1]
    ref = run_campaign([engine], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    small = run_campaign([engine], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast-always", fast=FastOptions(cache_bytes=3 * per_fault + 1)))
    np.testing.assert_array_equal(ref.outcome.values, small.outcome.values)
    np.testing.assert_array_equal(ref.faulty_miou.values, small.faulty_miou.values)
