from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from readlx.campaign import CampaignOptions, noop_control, run_campaign
from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.errors import CheckpointError, FaultListError, ReadlxError
from readlx.fault_maps import generate
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultEntry, FaultList
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
N_IMAGES = 48
BATCH = 16


@pytest.fixture(scope="module")
def data():
    return synthetic(N_IMAGES)


@pytest.fixture(scope="module")
def faults() -> FaultList:
    fl = generate(ZOO[MODEL].layer_table(), margin=0.2, seed=3, mode="network-wise")
    extra = (
        Fault("conv1", (0, 0, 0, 0), 30),  # huge weight: critical
        Fault("linear", (3, 5), 31),
        Fault("dwconv", (2, 0, 1, 1), 29, FaultKind.STUCK_AT_1),
        Fault("conv3", (1, 2, 0, 0), 3, FaultKind.STUCK_AT_0),
    )
    return FaultList.from_faults(MODEL, fl.faults + extra, sampling=fl.sampling)


def _engine() -> TorchEngine:
    return TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=BATCH)


def _slow_reference(fault_list: FaultList, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One deep copy of the model per fault, the weight changed through raw bits, plain loops."""
    base = load_model(MODEL)

    def forward(model: torch.nn.Module) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(
                [model(torch.from_numpy(images[i : i + BATCH])).numpy() for i in range(0, len(images), BATCH)]
            )

    golden = forward(base)
    rows = []
    for fault in fault_list.faults:
        model = copy.deepcopy(base)
        weight = dict(model.named_modules())[fault.layer].weight.data.numpy()
        bits = weight.view(np.uint32)
        mask = np.uint32(1) << np.uint32(fault.bit)
        if fault.kind is FaultKind.BIT_FLIP:
            bits[fault.index] ^= mask
        elif fault.kind is FaultKind.STUCK_AT_1:
            bits[fault.index] |= mask
        else:
            bits[fault.index] &= ~mask
        faulty = forward(model)
        m = nc = c = nf = ok = 0
        for g, f, label in zip(golden, faulty, labels, strict=True):
            if not np.isfinite(f).all():
                nf += 1
            if g.tobytes() == f.tobytes():
                m += 1
            elif int(np.argmax(g)) == int(np.argmax(f)):
                nc += 1
            else:
                c += 1
            ok += int(np.argmax(f)) == int(label)
        rows.append((m, nc, c, nf, ok))
    return np.array(rows)


def test_campaign_equals_slow_reference(data, faults) -> None:
    ds = run_campaign([_engine()], faults, data, model=MODEL)
    got = np.stack([ds[v].values[0, :, 0] for v in ("masked", "non_critical", "critical", "nan_or_inf",
                                                      "faulty_correct")], axis=1)
    np.testing.assert_array_equal(got, _slow_reference(faults, data.images, data.labels))
    assert set(np.unique(np.argmax(got[:, :3], axis=1))) >= {0, 1}


def test_model_weights_restored_after_campaign(data, faults) -> None:
    eng = _engine()
    before = {k: v.clone() for k, v in eng.model.state_dict().items()}
    run_campaign([eng], faults, data, model=MODEL)
    for k, v in eng.model.state_dict().items():
        assert torch.equal(v.view(torch.int32) if v.dtype == torch.float32 else v,
                           before[k].view(torch.int32) if v.dtype == torch.float32 else before[k])


def test_noop_control_forced_through_inference_is_fully_masked(data) -> None:
    eng = _engine()
    for layer in eng.table.names:
        control = noop_control(eng, layer)
        assert control.is_noop(eng.weight(layer)[control.index])
        fl = FaultList.from_faults(MODEL, (control,))
        forced = run_campaign([eng], fl, data, model=MODEL, options=CampaignOptions(skip_noop=False))
        skipped = run_campaign([eng], fl, data, model=MODEL)
        assert int(forced.masked) == N_IMAGES
        assert bool(forced.noop) and bool(skipped.noop)
        xr.testing.assert_identical(forced.drop_attrs(), skipped.drop_attrs())


def test_per_image_outcomes_agree_with_counts(data, faults) -> None:
    ds = run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    base = ds.outcome & ~np.int8(4)
    np.testing.assert_array_equal((base == 0).sum("image"), ds.masked)
    np.testing.assert_array_equal((base == 2).sum("image"), ds.critical)
    np.testing.assert_array_equal(((ds.outcome & 4) != 0).sum("image"), ds.nan_or_inf)


class _Killed(Exception):
    pass


def _killer(after: int):
    def progress(framework: str, done: int, total: int) -> None:
        if done == after:
            raise _Killed
    return progress


@pytest.mark.parametrize("kill_after", [1, 7, 13])
def test_kill_and_resume_gives_identical_dataset(tmp_path: Path, data, faults, kill_after: int) -> None:
    full = run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Killed):
        run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, checkpoint=ckpt, flush_seconds=0, progress=_killer(kill_after)))
    seen: list[int] = []
    resumed = run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, checkpoint=ckpt, resume=True, progress=lambda fw, d, t: seen.append(d)))
    assert seen[:2] == [kill_after, kill_after + 1]  # the start, then the first fault not run before
    xr.testing.assert_identical(full, resumed)


def test_an_interrupt_keeps_every_fault_done(tmp_path: Path, data, faults) -> None:
    def interrupt(framework: str, done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt  # Ctrl-C, or SIGTERM as the command line turns it into one

    full = run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, checkpoint=ckpt, flush_seconds=1e9, progress=interrupt))
    assert [p.name for p in ckpt.glob("torch.*.npz")] == ["torch.0000000-0000005.npz"]  # flushed on the way out
    resumed = run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, checkpoint=ckpt, resume=True))
    xr.testing.assert_identical(full, resumed)


def test_existing_checkpoint_needs_resume(tmp_path: Path, data, faults) -> None:
    opts = CampaignOptions(checkpoint=tmp_path / "c")
    run_campaign([_engine()], faults.subset([0, 1]), data, model=MODEL, options=opts)
    with pytest.raises(CheckpointError, match="--resume"):
        run_campaign([_engine()], faults.subset([0, 1]), data, model=MODEL, options=opts)


def test_resume_refuses_another_campaign(tmp_path: Path, data, faults) -> None:
    ckpt = tmp_path / "c"
    run_campaign([_engine()], faults.subset([0, 1]), data, model=MODEL,
                 options=CampaignOptions(checkpoint=ckpt))
    with pytest.raises(CheckpointError, match="faults"):
        run_campaign([_engine()], faults.subset([0, 2]), data, model=MODEL,
                     options=CampaignOptions(checkpoint=ckpt, resume=True))
    with pytest.raises(CheckpointError, match="inputs"):
        run_campaign([_engine()], faults.subset([0, 1]), synthetic(N_IMAGES, seed=1), model=MODEL,
                     options=CampaignOptions(checkpoint=ckpt, resume=True))


def test_resume_refuses_changed_golden(tmp_path: Path, data, faults) -> None:
    ckpt = tmp_path / "c"
    run_campaign([_engine()], faults.subset([0]), data, model=MODEL, options=CampaignOptions(checkpoint=ckpt))
    eng = _engine()
    with torch.no_grad():
        eng.model.linear.bias[0] += 1e-3
    with pytest.raises(CheckpointError, match="golden"):
        run_campaign([eng], faults.subset([0]), data, model=MODEL,
                     options=CampaignOptions(checkpoint=ckpt, resume=True))


def test_corrupt_chunk_is_reported_with_its_file(tmp_path: Path, data, faults) -> None:
    ckpt = tmp_path / "c"
    with pytest.raises(_Killed):
        run_campaign([_engine()], faults, data, model=MODEL, options=CampaignOptions(
            checkpoint=ckpt, flush_seconds=0, progress=_killer(3)))
    chunk = sorted(ckpt.glob("torch.*.npz"))[1]
    chunk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=chunk.name):
        run_campaign([_engine()], faults, data, model=MODEL,
                     options=CampaignOptions(checkpoint=ckpt, resume=True))


def test_bad_fault_is_rejected_before_any_work(data) -> None:
    fl = FaultList.from_faults(MODEL, (Fault("conv1", (9, 0, 0, 0), 1),))
    with pytest.raises(FaultListError, match="out of range"):
        run_campaign([_engine()], fl, data, model=MODEL)
    with pytest.raises(ReadlxError, match="at least one engine"):
        run_campaign([], fl, data, model=MODEL)


def test_attrs_record_sampling_and_engine(data, faults) -> None:
    ds = run_campaign([_engine()], faults.subset([0]), data, model=MODEL,
                      options=CampaignOptions(attrs=ZOO[MODEL].characterization()))
    assert ds.attrs["sampling_seed"] == 3
    assert ds.attrs["sampling_margin"] == 0.2
    assert ds.attrs["task"] == "image classification"
    assert '"framework": "torch"' in ds.attrs["engines"]
    assert ds.framework_layer.values.tolist() == [[faults.faults[0].layer]]


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[Fault]:
    from readlx.graph import LayerTable

    seen: list[Fault] = []
    original = LayerTable.check_fault

    def counting(self: LayerTable, fault: Fault) -> None:
        seen.append(fault)
        original(self, fault)

    monkeypatch.setattr(LayerTable, "check_fault", counting)
    return seen


def test_faults_checked_against_their_table_are_not_checked_again(
    tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    from readlx.fault_maps import load_fault_list, save_fault_list

    table = ZOO[MODEL].layer_table()
    drawn = generate(table, margin=0.3, seed=5, mode="network-wise")
    assert drawn.checked_against == table.digest()
    save_fault_list(drawn, tmp_path / "f.csv")
    seen = _count_checks(monkeypatch)
    loaded = load_fault_list(tmp_path / "f.csv", table)
    assert len(seen) == len(loaded) and loaded.checked_against == table.digest()
    seen.clear()
    engine = _engine()
    run_campaign([engine], loaded.subset([0, 1]), data, model=MODEL)
    assert len(seen) == 2  # each fault once, by the engine as it injects it: not again before the campaign
    seen.clear()
    run_campaign([engine], FaultList.from_faults(MODEL, loaded.faults[:2]), data, model=MODEL)
    assert len(seen) == 4  # a list from memory is checked before any work, then at injection


def test_a_list_checked_against_another_table_is_checked_again(data) -> None:
    forged = FaultList(MODEL, (FaultEntry(0, Fault("nope", (0,), 1)),), checked_against="0" * 64)
    with pytest.raises(FaultListError, match="unknown layer 'nope'"):
        run_campaign([_engine()], forged, data, model=MODEL)


@pytest.mark.parametrize("mode", ["reference", "fast"])
def test_progress_weights_come_before_the_first_fault(data, mode: str) -> None:
    engine = _engine()
    last = engine.table.names[-1]
    fl = FaultList.from_faults(MODEL, (Fault("conv1", (0, 0, 0, 0), 30), Fault(last, (3, 5), 31),
                                       noop_control(engine, last)))
    calls: list[tuple[str, object]] = []
    run_campaign([engine], fl, data, model=MODEL, options=CampaignOptions(
        mode=mode, progress=lambda fw, d, t: calls.append(("progress", d)),
        progress_weights=lambda fw, w: calls.append(("weights", w))))
    assert calls[:2] == [("weights", calls[0][1]), ("progress", 0)] and len(calls) == 5
    weights = calls[0][1]
    # a no-op costs nothing; in fast mode a fault of the first layer costs more than one of the last
    assert weights == ([1.0, 1.0, 0.0] if mode == "reference" else [1.0, 1 / len(engine.table.names), 0.0])
