"""Fast mode gives the reference loop's Datasets bit for bit (invariant 7 of docs/architecture.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign, run_fault
from readlx.campaign.runners import FastOptions, TorchFastRunner
from readlx.data.imageset import ImageSet
from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
N_IMAGES = 45
BITS = (0, 3, 11, 17, 22, 23, 26, 29, 30, 31)
BLOCK = 8


def _engine(batch_size: int) -> TorchEngine:
    return TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=batch_size)


def _every_layer_every_kind(table: LayerTable, seed: int = 5) -> FaultList:
    """Bit flips of low, middle and high bits, and stuck-ats (some no-ops), in every layer."""
    rng = np.random.default_rng(seed)
    faults = []
    for layer in table:
        for bit in BITS:
            faults.append(Fault(layer.name, tuple(int(rng.integers(s)) for s in layer.shape), bit))
        for bit, kind in ((30, FaultKind.STUCK_AT_1), (29, FaultKind.STUCK_AT_1), (2, FaultKind.STUCK_AT_0),
                          (24, FaultKind.STUCK_AT_0)):
            faults.append(Fault(layer.name, tuple(int(rng.integers(s)) for s in layer.shape), bit, kind))
    return FaultList.from_faults(table.model, tuple(faults))


@pytest.fixture(scope="module")
def data() -> ImageSet:
    return synthetic(N_IMAGES)


@pytest.fixture(scope="module")
def faults() -> FaultList:
    return _every_layer_every_kind(ZOO[MODEL].layer_table())


def _modeless(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    return out


@pytest.mark.parametrize("batch_size", [8, 16, N_IMAGES])  # 45 = 5 x 8 + 5 and 2 x 16 + 13: partial last batches
def test_fast_dataset_is_identical_to_reference(data: ImageSet, faults: FaultList, batch_size: int) -> None:
    ref = run_campaign([_engine(batch_size)], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign([_engine(batch_size)], faults, data, model=MODEL,
                        options=CampaignOptions(per_image=True, mode="fast-always"))
    assert fast.attrs["mode"] == "fast-always" and fast.attrs["mode_torch"] == "fast"
    assert ref.attrs["mode"] == "reference" and ref.attrs["mode_torch"] == "reference"
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    # the list really exercises every outcome
    assert int(ref.masked.sum()) and int(ref.non_critical.sum()) and int(ref.critical.sum())
    assert int(ref.nan_or_inf.sum()) and bool(ref.noop.any())


@pytest.mark.parametrize("options", [
    FastOptions(),
    FastOptions(cache_bytes=1, block_faults=7),
    FastOptions(checks=1000),
], ids=["one-chunk", "one-batch-chunks", "check-every-cut"])
def test_runner_matches_run_fault(data: ImageSet, faults: FaultList, options: FastOptions) -> None:
    eng = _engine(16)
    golden = eng.infer(data.images)
    runner = TorchFastRunner(eng, data.images, golden, options)
    got = list(runner.run(faults.faults))
    assert len(got) == len(faults) == len(runner.stats.fault_seconds)
    for fault, (codes, top1, noop) in zip(faults.faults, got, strict=True):
        want = run_fault(eng, fault, data.images, golden, eng.weight(fault.layer)[fault.index], True)
        np.testing.assert_array_equal(codes, want[0], err_msg=fault.describe())
        np.testing.assert_array_equal(top1, want[1], err_msg=fault.describe())
        assert noop == want[2]


def test_chunks_hold_whole_batches(data: ImageSet) -> None:
    eng = _engine(16)
    runner = TorchFastRunner(eng, data.images, eng.infer(data.images), FastOptions(cache_bytes=1))
    assert runner.chunk_batches == 1 and runner.describe()["chunk_images"] == 16


def test_model_is_restored_after_a_fast_campaign(data: ImageSet, faults: FaultList) -> None:
    eng = _engine(16)
    before = {k: v.clone() for k, v in eng.model.state_dict().items()}
    run_campaign([eng], faults, data, model=MODEL, options=CampaignOptions(mode="fast"))
    for k, v in eng.model.state_dict().items():
        bits, bits_before = (t.view(torch.int32) if v.is_floating_point() else t for t in (v, before[k]))
        assert torch.equal(v, before[k]) and torch.equal(bits, bits_before), k


def test_forced_noop_goes_through_full_inference(data: ImageSet) -> None:
    eng = _engine(16)
    stored = eng.weight("conv3")[1, 2, 0, 0]
    bit = int(np.float32(stored).view(np.uint32)).bit_length() - 1
    fl = FaultList.from_faults(MODEL, (Fault("conv3", (1, 2, 0, 0), bit, FaultKind.STUCK_AT_1),))
    ds = run_campaign([eng], fl, data, model=MODEL, options=CampaignOptions(mode="fast", skip_noop=False))
    assert bool(ds.noop) and int(ds.masked) == N_IMAGES


def test_unknown_mode_is_rejected(data: ImageSet, faults: FaultList) -> None:
    with pytest.raises(ReadlxError, match="'turbo'"):
        run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(mode="turbo"))


class _Killed(Exception):
    pass


def _kill_after(n: int):
    def progress(framework: str, done: int, total: int) -> None:
        if done == n:
            raise _Killed
    return progress


@pytest.mark.parametrize("kill_after", [1, 9, 30])
def test_kill_and_resume_in_fast_mode(tmp_path: Path, data: ImageSet, faults: FaultList, kill_after: int) -> None:
    small = FastOptions(block_faults=BLOCK)
    full = run_campaign([_engine(16)], faults, data, model=MODEL,
                        options=CampaignOptions(per_image=True, mode="fast-always", fast=small))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Killed):
        run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, mode="fast-always", fast=small, checkpoint=ckpt, flush_seconds=0,
            progress=_kill_after(kill_after)))
    saved = max(int(p.name.split(".")[1].split("-")[1]) for p in ckpt.glob("torch.*.npz"))
    assert saved == min(len(faults), -(-kill_after // BLOCK) * BLOCK)  # the killed block was written whole
    seen: list[int] = []
    resumed = run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast-always", fast=small, checkpoint=ckpt, resume=True,
        progress=lambda fw, d, t: seen.append(d)))
    assert seen == [saved, *range(saved + 1, len(faults) + 1)]  # the start, then each fault still to run
    xr.testing.assert_identical(full, resumed)


def test_reference_checkpoint_resumes_in_fast_mode(tmp_path: Path, data: ImageSet, faults: FaultList) -> None:
    ref = run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Killed):
        run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, checkpoint=ckpt, flush_seconds=0, progress=_kill_after(12)))
    resumed = run_campaign([_engine(16)], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast", checkpoint=ckpt, resume=True))
    xr.testing.assert_identical(_modeless(ref), _modeless(resumed))


class _SharedConv(nn.Module):
    """One conv module called twice: its fault acts again after its first call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
        self.linear = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x))
        y = F.relu(self.head(F.relu(self.conv(y)) + x))
        return self.linear(y.mean((2, 3)))


class _AliasedWeight(nn.Module):
    """The conv weight is fetched first and used after another layer: it aliases the faulty tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.head = nn.Conv2d(3, 6, 3, padding=1)
        self.tail = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight
        y = F.relu(self.head(x))
        y = F.relu(F.conv2d(y, w, padding=1))
        y = F.relu(self.tail(y))
        return self.linear(y.mean((2, 3)))


class _InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU(inplace=True)
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.act(self.conv(x)).amax((2, 3)))


def _custom_engine(model: nn.Module, batch_size: int = 8) -> TorchEngine:
    torch.manual_seed(0)
    for p in model.parameters():
        nn.init.normal_(p, 0.0, 0.5)
    return TorchEngine(model, LayerTable.from_torch(model, type(model).__name__), batch_size=batch_size)


@pytest.mark.parametrize("model", [_SharedConv, _AliasedWeight])
def test_weights_read_again_later_are_honoured(data: ImageSet, model: type[nn.Module]) -> None:
    eng = _custom_engine(model())
    fl = _every_layer_every_kind(eng.table, seed=8)
    ref = run_campaign([eng], fl, data, model="custom", options=CampaignOptions(per_image=True))
    fast = run_campaign([eng], fl, data, model="custom", options=CampaignOptions(per_image=True, mode="fast-always"))
    assert fast.attrs["mode_torch"] == "fast"
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))


def test_model_working_in_place_falls_back_to_reference(data: ImageSet) -> None:
    eng = _custom_engine(_InPlace())
    fl = _every_layer_every_kind(eng.table, seed=9)
    ref = run_campaign([eng], fl, data, model="inplace")
    fast = run_campaign([eng], fl, data, model="inplace", options=CampaignOptions(mode="fast"))
    assert fast.attrs["mode"] == "fast" and fast.attrs["mode_torch"] == "reference"
    assert "in place" in fast.attrs["mode_torch_detail"]
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("channel_only", "yes", "channel_only must be True, False or None, got 'yes'"),
    ("checks", 0, "checks must be >= 1, got 0"),
    ("block_faults", 1.5, "block_faults must be >= 1, got 1.5"),
])
def test_fast_options_name_the_bad_value(field: str, value: object, message: str) -> None:
    with pytest.raises(ReadlxError, match=message):
        FastOptions(**{field: value})  # type: ignore[arg-type]


def test_channel_only_none_leaves_the_choice_to_the_runner() -> None:
    assert FastOptions().channel_only is None
    assert FastOptions().channel_only_or(True) and not FastOptions(channel_only=False).channel_only_or(True)
