from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.campaign.runners.modes import without_modes
from readlx.cli import main
from readlx.fault_maps import load_fault_list, save_fault_list, write_paper_torch
from readlx.provenance import without_provenance
from readlx.results import read_netcdf

MODEL = "democnn-synthetic10"


def _generate(tmp_path: Path, margin: float = 0.1) -> Path:
    out = tmp_path / "faults.csv"
    assert main(["faults", "generate", MODEL, "-o", str(out), "--margin", str(margin),
                 "--mode", "network-wise", "--seed", "5"]) == 0
    return out


def test_zoo_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet20-cifar10" in out and "democnn-synthetic10" in out


def test_faults_generate_show_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _generate(tmp_path)
    assert main(["faults", "show", str(path), "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "faults per layer" in out and "conv1" in out
    paper = tmp_path / "paper.csv"
    write_paper_torch(load_fault_list(path), paper)
    assert main(["faults", "import", str(paper), "--model", MODEL, "-o", str(tmp_path / "imported.csv")]) == 0
    assert load_fault_list(tmp_path / "imported.csv").faults == load_fault_list(path).faults


def test_bad_fault_list_gives_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('Injection,Layer,TensorIndex,Bit\n0,conv1,"(0, 0, 0, 0)",3\n1,conv1,"(0, 0, 0, 0)",40\n')
    assert main(["faults", "show", str(bad), "--model", MODEL]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 3" in err and "Bit" in err
    assert "Traceback" not in err


def test_run_then_report_with_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = _generate(tmp_path, margin=0.3)
    out = tmp_path / "r.nc"
    assert main(["run", MODEL, "--faults", str(faults), "--images", "32", "-o", str(out), "--per-image"]) == 0
    ds = read_netcdf(out)
    assert not (tmp_path / "r.nc.partial").exists()
    assert ds.outcome.shape == (1, ds.sizes["fault"], 1, 32)
    # A reference whose published counts are this run's own: 100 % agreement.
    fl = load_fault_list(faults)
    counts = np.stack([np.full(len(fl), 32), ds.masked.values[0, :, 0], ds.non_critical.values[0, :, 0],
                       ds.critical.values[0, :, 0]], axis=1)
    fl = fl.with_published(counts)
    ref = tmp_path / "ref.csv"
    save_fault_list(fl, ref, format="paper-torch")
    capsys.readouterr()
    assert main(["report", str(out), "--published", str(ref)]) == 0
    text = capsys.readouterr().out
    assert "SDC-1 count exact match: 100.0 %" in text
    assert "masked %" in text and "±" in text


def _cli(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "readlx.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("mode", [["--mode", "reference"], ["--mode", "fast", "--block-faults", "2"]])
def test_sigkill_then_resume_gives_identical_result(tmp_path: Path, mode: list[str]) -> None:
    faults = _generate(tmp_path, margin=0.1)
    common = ["run", MODEL, "--faults", str(faults), "--images", "64", "--per-image", "--batch-size", "16", *mode]
    ref = tmp_path / "ref.nc"
    assert _cli(*common, "-o", str(ref)).wait() == 0
    out, ckpt = tmp_path / "k.nc", tmp_path / "k.nc.partial"
    proc = _cli(*common, "-o", str(out), "--flush-seconds", "0")
    deadline = time.monotonic() + 120
    while len(list(ckpt.glob("torch.*.npz"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    again = _cli(*common, "-o", str(out))
    assert again.wait() != 0  # a checkpoint exists: refuses to start over without --resume
    assert _cli(*common, "-o", str(out), "--resume").wait() == 0
    # when and where each ran, and what fast mode measured and chose, may differ; nothing else may
    xr.testing.assert_identical(*(without_modes(without_provenance(read_netcdf(p))) for p in (ref, out)))


@pytest.mark.parametrize(("switch", "rows"), [(["--refill"], 16), (["--stack", "3"], 48)])
def test_refill_switch_keeps_the_reference_outcomes(tmp_path: Path, switch: list[str], rows: int) -> None:
    faults = _generate(tmp_path, margin=0.2)
    common = ["run", MODEL, "--faults", str(faults), "--images", "64", "--per-image", "--batch-size", "16"]
    ref, out = tmp_path / "ref.nc", tmp_path / "refill.nc"
    assert main([*common, "--mode", "reference", "-o", str(ref)]) == 0
    assert main([*common, "--mode", "fast-always", *switch, "-o", str(out)]) == 0
    refill = json.loads(read_netcdf(out).attrs["mode_torch_detail"])["refill_ran"]
    assert refill["off"] is None and refill["rows_retired"] > 0 and refill["rows_run_pooled"] > 0
    assert refill["rows_per_batch"] == rows
    same = [without_modes(without_provenance(read_netcdf(p))) for p in (ref, out)]
    for ds in same:
        del ds.attrs["mode"]  # the mode asked for: reference, fast-always
    xr.testing.assert_identical(*same)


def test_demo_torch_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), "--images", "32", "--margin", "0.2",
                 "--frameworks", "torch"]) == 0
    text = capsys.readouterr().out
    assert "control" in text and "ok" in text
    ds = read_netcdf(tmp_path / "demo" / "result.nc")
    assert ds.sizes["fault"] > 10 and int(ds.critical.sum()) > 0


@pytest.mark.slow
def test_convert_then_three_runtime_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle"
    assert main(["convert", MODEL, "--out", str(bundle), "--images", "16"]) == 0
    assert "status: ok" in capsys.readouterr().out
    faults = _generate(tmp_path, margin=0.3)
    out = tmp_path / "r3.nc"
    assert main(["run", MODEL, "--faults", str(faults), "--images", "16", "--batch-size", "8", "-o", str(out),
                 "--frameworks", "torch,keras,onnxruntime", "--bundle", str(bundle)]) == 0
    ds = read_netcdf(out)
    assert ds.framework.values.tolist() == ["torch", "keras", "onnxruntime"]
    names = ds.framework_layer.sel(framework="keras").values.tolist()
    assert "conv2d" in names and "dense" in names
    other = tmp_path / "resnet_faults.csv"
    assert main(["faults", "generate", "resnet20-cifar10", "-o", str(other), "--margin", "0.3",
                 "--mode", "network-wise"]) == 0
    capsys.readouterr()
    assert main(["run", "resnet20-cifar10", "--faults", str(other), "--frameworks", "keras", "--bundle",
                 str(bundle), "-o", str(tmp_path / "x.nc")]) == 2
    assert "holds 'democnn-synthetic10', not 'resnet20-cifar10'" in capsys.readouterr().err
    # The bundle directory itself as the model, on images of one's own in an .npz file.
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "mine.npz", images=rng.standard_normal((10, 3, 16, 16)).astype(np.float32),
             labels=rng.integers(0, 10, 10))
    own = tmp_path / "own.nc"
    assert main(["run", str(bundle), "--data", str(tmp_path / "mine.npz"), "--sample", "4", "--frameworks",
                 "onnxruntime,torch", "-o", str(own)]) == 0
    ds = read_netcdf(own)
    assert ds.model.values.tolist() == [MODEL] and ds.attrs["n_images"] == 10
    assert ds.attrs["dataset_source"] == str(tmp_path / "mine.npz")


@pytest.mark.slow
def test_a_zoo_model_on_keras_without_a_bundle_is_converted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))
    args = ["run", MODEL, "--sample", "3", "--images", "16", "--frameworks", "torch,keras,onnxruntime"]
    assert main([*args, "-o", str(tmp_path / "a.nc")]) == 0
    assert main([*args, "-o", str(tmp_path / "b.nc")]) == 0
    bundles = [p for p in (tmp_path / "cache" / "bundles").iterdir() if p.is_dir()]  # beside each: its .lock
    assert len(bundles) == 1  # converted the first time only
    first, second = read_netcdf(tmp_path / "a.nc"), read_netcdf(tmp_path / "b.nc")
    assert first.framework.values.tolist() == ["torch", "keras", "onnxruntime"]
    assert np.array_equal(first.critical.values, second.critical.values)
    assert capsys.readouterr().err.count("converted model from") == 2
