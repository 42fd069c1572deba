"""The public API: readlx.run on every form of model, data and faults it takes, and its errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import xarray as xr

import readlx
from readlx.campaign import CampaignOptions, run_campaign
from readlx.converters import Bundle
from readlx.data.arrays import from_arrays
from readlx.engines import RUNTIMES
from readlx.errors import ArgumentError, InputError, ReadlxError, RegistryError
from readlx.fault_maps import Fault, FaultKind, FaultList, generate, save_fault_list
from readlx.fault_maps.select import stratified_subset
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((12, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 12)


def _counts(ds: xr.Dataset) -> np.ndarray:
    return np.stack([ds[v].values for v in ("masked", "non_critical", "critical", "nan_or_inf", "faulty_correct")])


def test_run_equals_the_campaign_built_by_hand(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    ds = readlx.run(MODEL, arrays, sample=6, seed=3, frameworks=("torch", "reference-direct-float32"), batch_size=8)
    table = ZOO[MODEL].layer_table()
    faults = stratified_subset(generate(table, margin=0.05, seed=42, mode="network-wise"), 6, 3)
    artifact = readlx.subject(MODEL).artifact
    engines = [RUNTIMES.build(fw, artifact, batch_size=8) for fw in ("torch", "reference-direct-float32")]
    by_hand = run_campaign(engines, faults, from_arrays(*arrays), model=MODEL, options=CampaignOptions(mode="fast"))
    assert np.array_equal(_counts(ds), _counts(by_hand))
    assert list(ds.fault.values) == list(faults.ids) and ds.attrs["mode"] == "fast"
    assert ds.attrs["task"] == ZOO[MODEL].characterization()["task"]


def test_a_module_of_ones_own_with_an_npz_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", images=rng.standard_normal((10, 3, 8, 8)).astype(np.float32),
             labels=rng.integers(0, 5, 10))
    model = Small().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ds = readlx.run(model, tmp_path / "d.npz", frameworks=("torch", "torch-mkldnn-off"), sample=8, per_image=True,
                    progress=True)
    assert ds.sizes["fault"] == 8 and ds.outcome.shape == (1, 8, 2, 10)
    assert str(ds.model.values[0]) == "Small" and ds.attrs["dataset_source"] == str(tmp_path / "d.npz")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the caller's module untouched
    assert "torch-mkldnn-off" in capsys.readouterr().err  # one bar per framework


def test_faults_from_a_file_and_a_checkpoint_resumed(tmp_path: Path, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    faults = generate(ZOO[MODEL].layer_table(), margin=0.3, seed=1, mode="network-wise")
    save_fault_list(faults, tmp_path / "f.csv")
    first = readlx.run(MODEL, arrays, tmp_path / "f.csv", checkpoint=tmp_path / "ck")
    assert first.attrs["fault_list_source"] == str(tmp_path / "f.csv") and first.sizes["fault"] == len(faults)
    with pytest.raises(ReadlxError, match="--resume"):
        readlx.run(MODEL, arrays, tmp_path / "f.csv", checkpoint=tmp_path / "ck")
    again = readlx.run(MODEL, arrays, tmp_path / "f.csv", checkpoint=tmp_path / "ck", resume=True)
    xr.testing.assert_identical(first, again)


def test_a_bundle_runs_on_every_runtime(demo_bundle: Bundle, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    ds = readlx.run(demo_bundle.path, arrays, sample=3, frameworks=("torch", "keras", "onnxruntime"))
    assert list(ds.framework.values) == ["torch", "keras", "onnxruntime"] and str(ds.model.values[0]) == MODEL


def test_the_zoo_test_set_is_the_default(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    ds = readlx.run(MODEL, images=16, sample=2)
    assert ds.attrs["n_images"] == 16 and ds.attrs["dataset"] == "synthetic10"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda a: readlx.run("model.pt", a), ArgumentError, "argument 'model': 'model.pt' is no zoo model"),
    (lambda a: readlx.run("missing.onnx", a), InputError, "missing.onnx: no such ONNX file"),
    (lambda a: readlx.run(MODEL, "images.csv"), ArgumentError, "argument 'data': 'images.csv' is no dataset"),
    (lambda a: readlx.run(Small(), None), ArgumentError, "argument 'data': a model from outside the zoo"),
    (lambda a: readlx.run(MODEL, (a[0], a[1][:5])), InputError, "5 labels for 12 images"),
    (lambda a: readlx.run(MODEL, (a[0], a[1].astype(float))), InputError, "integer array"),
    (lambda a: readlx.run(MODEL, a, frameworks=("tensorrt",)), RegistryError, "unknown runtime 'tensorrt'"),
    (lambda a: readlx.run("missing.onnx", a, frameworks=("keras",)), InputError, "no such ONNX file"),
    (lambda a: readlx.run(MODEL, a, progress="yes"), ArgumentError, "argument 'progress'"),
])
def test_bad_arguments_are_named_errors(arrays: tuple[np.ndarray, np.ndarray], call, error, message) -> None:  # type: ignore[no-untyped-def]  # parametrized lambdas
    with pytest.raises(error, match=message):
        call(arrays)


def test_npz_files_are_checked(tmp_path: Path) -> None:
    np.savez(tmp_path / "no_images.npz", pixels=np.zeros((2, 3, 4, 4), np.float32), labels=np.zeros(2, int))
    with pytest.raises(InputError, match=r"field 'images'"):
        readlx.run(MODEL, tmp_path / "no_images.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError, match="not a readable .npz file"):
        readlx.run(MODEL, tmp_path / "broken.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    with pytest.raises(InputError, match="a single array"):
        readlx.run(MODEL, tmp_path / "one.npz")
    np.savez(tmp_path / "objects.npz", images=np.array([object()] * 2), labels=np.zeros(2, int))
    with pytest.raises(InputError, match="not a readable .npz file"):
        readlx.run(MODEL, tmp_path / "objects.npz")


def test_import_readlx_registers_the_accessor_and_starts_no_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, xarray as xr, readlx; assert hasattr(xr.Dataset(), 'readlx'); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_where_there_is_none_fails_before_any_work(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ReadlxError, match="device 'cuda' asked for, but PyTorch finds no usable CUDA device"):
        readlx.run(MODEL, arrays, device="cuda")
    with pytest.raises(ArgumentError, match="runs on cpu, not 'cuda'"):
        readlx.run(MODEL, arrays, frameworks=("reference-direct-float32",), device="cuda")


@pytest.mark.slow
def test_a_module_runs_on_three_runtimes_converted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(5)
    data = (rng.standard_normal((16, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 16))
    frameworks = ("torch", "keras", "onnxruntime")
    first = readlx.run(Small().eval(), data, frameworks=frameworks, sample=6, per_image=True)
    bundles = [p for p in (tmp_path / "cache" / "bundles").iterdir() if p.is_dir()]  # not the .lock files
    assert len(bundles) == 1 and (bundles[0] / "bundle.json").is_file()
    started = (bundles[0] / "bundle.json").stat().st_mtime_ns
    again = readlx.run(Small().eval(), data, frameworks=frameworks, sample=6, per_image=True)
    assert (bundles[0] / "bundle.json").stat().st_mtime_ns == started  # the same content: not converted again
    assert list(first.framework.values) == list(frameworks)
    for name in ("masked", "non_critical", "critical", "outcome"):
        assert np.array_equal(first[name].values, again[name].values), name
    noop = readlx.run(Small().eval(), data, _noop_control(Small().eval(), "Small"), frameworks=frameworks,
                      force_noop=True)
    assert bool((noop.masked == 16).all())  # forced through inference on every runtime


def _noop_control(model: nn.Module, name: str) -> FaultList:
    word = int(model.conv.weight.detach().numpy()[0, 0, 0, 0:1].view(np.uint32)[0])
    kind = FaultKind.STUCK_AT_1 if word >> 30 & 1 else FaultKind.STUCK_AT_0
    return FaultList.from_faults(name, (Fault("conv", (0, 0, 0, 0), 30, kind),))
