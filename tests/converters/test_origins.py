"""Any model in: an ONNX file and a Keras model run on PyTorch, Keras and ONNX Runtime through ONNX as the
hub, named by the source model, converted once; their bad forms are named errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn

import readlx
from readlx.converters.bundle import load_bundle
from readlx.errors import ArgumentError, InputError
from readlx.fault_maps import Fault, FaultKind, FaultList

THREE = ("torch", "keras", "onnxruntime")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.dw(torch.relu(self.bn(self.conv(x)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def keras_cnn() -> Any:
    tf.keras.utils.set_random_seed(4)
    x = tf.keras.Input((8, 8, 3))
    y = tf.keras.layers.Conv2D(6, 3, strides=2, padding="same", name="stem")(x)  # padded asymmetrically
    y = tf.keras.layers.BatchNormalization(name="stem_bn")(y)
    y = tf.keras.layers.ReLU()(y)
    y = tf.keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = tf.keras.layers.BatchNormalization(name="dw_bn")(y)
    y = tf.keras.layers.ReLU()(y)
    y = tf.keras.layers.GlobalAveragePooling2D()(y)
    model = tf.keras.Model(x, tf.keras.layers.Dense(4, name="head")(y), name="kcnn")
    rng = np.random.default_rng(4)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.uniform(-1, 1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    return model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    return rng.standard_normal((12, 3, 8, 8)).astype(np.float32), rng.integers(0, 4, 12)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bundles"


def _noop_control(model: str, layer: str, weight: np.ndarray) -> FaultList:
    """Stuck-at faults equal to the stored bits of a weight: 100 % masked on every runtime."""
    word = int(np.ascontiguousarray(weight).reshape(-1)[:1].view(np.uint32)[0])
    index = (0,) * weight.ndim
    faults = tuple(Fault(layer, index, bit, FaultKind.STUCK_AT_1 if word >> bit & 1 else FaultKind.STUCK_AT_0)
                   for bit in (0, 23, 30, 31))
    return FaultList.from_faults(model, faults)


def _bundle(cache: Path) -> Any:
    (found,) = [p for p in cache.iterdir() if p.is_dir()]
    return load_bundle(found)


@pytest.mark.slow
def test_an_onnx_file_of_the_exporters_defaults_runs_on_three_runtimes(
        tmp_path: Path, cache: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)  # BatchNorm folded
    first = readlx.run(path, data, frameworks=THREE, sample=6, per_image=True, progress=False)
    bundle = _bundle(cache)
    assert bundle.origin == "onnx" and bundle.report is not None and bundle.report.ok
    assert bundle.table.names == ["conv", "dw", "fc"] and str(first.model.values[0]) == "net"
    assert (bundle.path / "model_torch.onnx").read_bytes() == path.read_bytes()  # ONNX Runtime runs the file given
    stamp = (bundle.path / "bundle.json").stat().st_mtime_ns
    again = readlx.run(path, data, frameworks=THREE, sample=6, per_image=True, progress=False)
    assert (bundle.path / "bundle.json").stat().st_mtime_ns == stamp  # converted once
    assert np.array_equal(first.outcome.values, again.outcome.values)
    weight = bundle.artifact().torch_module().get_submodule("conv").weight.detach().numpy()
    noop = readlx.run(path, data, _noop_control("net", "conv", weight), frameworks=THREE, force_noop=True,
                      progress=False)
    assert bool((noop.masked == 12).all())


@pytest.mark.slow
def test_a_keras_model_runs_on_three_runtimes_named_by_keras(
        tmp_path: Path, cache: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    model = keras_cnn()
    ds = readlx.run(model, data, frameworks=(*THREE, "onnxruntime-keras"), sample=6, progress=False)
    bundle = _bundle(cache)
    assert bundle.origin == "keras" and bundle.report is not None and bundle.report.ok
    assert bundle.table.names == ["stem", "dw", "head"] and bundle.table["dw"].groups == 6
    assert {bundle.table.binding("keras", n).name for n in bundle.table.names} == {"stem", "dw", "head"}
    assert str(ds.model.values[0]) == "kcnn" and ds.sizes["framework"] == 4
    kernel = model.get_layer("stem").kernel.numpy().transpose(3, 2, 0, 1)  # HWIO -> canonical OIHW
    noop = readlx.run(model, data, _noop_control("kcnn", "stem", kernel), frameworks=THREE, force_noop=True,
                      progress=False)
    assert bool((noop.masked == 12).all())
    model.save(tmp_path / "kcnn.keras")
    from_file = readlx.run(tmp_path / "kcnn.keras", data, frameworks=THREE, sample=6, progress=False)
    assert np.array_equal(from_file.masked.values, ds.masked.values[:, :, :3])


def test_keras_files_that_would_run_code_are_refused(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    x = tf.keras.Input((8, 8, 3))
    y = tf.keras.layers.Lambda(lambda t: t * 2.0)(x)
    model = tf.keras.Model(x, tf.keras.layers.Conv2D(2, 3)(y))
    model.save(tmp_path / "lambda_savedmodel", save_format="tf")
    with pytest.warns(UserWarning):
        model.save(tmp_path / "lambda.h5")
    model.save(tmp_path / "lambda.keras")
    for name in ("lambda_savedmodel", "lambda.h5", "lambda.keras"):
        with pytest.raises(InputError, match="holds Lambda layers"):
            readlx.run(tmp_path / name, data, frameworks=("keras",))


def test_bad_models_are_named_errors(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = tf.keras.Input((8, 8, 3)), tf.keras.Input((8, 8, 3))
    two = tf.keras.Model([a, b], tf.keras.layers.Conv2D(2, 3)(tf.keras.layers.Add()([a, b])), name="two")
    with pytest.raises(ArgumentError, match="Keras model 'two' has 2 inputs"):
        readlx.run(two, data)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable .keras archive"):
        readlx.run(tmp_path / "broken.keras", data)

    class Wrong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(10, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    with pytest.raises(ArgumentError, match=r"Wrong's forward pass fails on images of shape \(2, 3, 8, 8\)"):
        readlx.run(Wrong(), data)
    with pytest.raises(ArgumentError, match=r"the images are \(3, 8, 8\).*the model takes \(3, 9, 9\)"):
        readlx.run(Wrong(), data, input_shape=(3, 9, 9))


@pytest.mark.slow
def test_the_command_line_takes_onnx_and_keras_files(tmp_path: Path, cache: Path,
                                                     data: tuple[np.ndarray, np.ndarray]) -> None:
    from readlx.cli import main
    from readlx.results import read_netcdf

    np.savez(tmp_path / "d.npz", images=data[0], labels=data[1])
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, 8, 8),), str(onnx_path), dynamo=False)
    assert main(["convert", str(onnx_path), "--out", str(tmp_path / "b"), "--data", str(tmp_path / "d.npz")]) == 0
    assert load_bundle(tmp_path / "b").origin == "onnx"
    keras_cnn().save(tmp_path / "kcnn.keras")
    for model in (onnx_path, tmp_path / "kcnn.keras"):
        out = tmp_path / f"{model.stem}.nc"
        assert main(["run", str(model), "--data", str(tmp_path / "d.npz"), "--sample", "4",
                     "--frameworks", "torch,keras,onnxruntime", "-o", str(out)]) == 0
        ds = read_netcdf(out)
        assert list(ds.framework.values) == list(THREE) and str(ds.model.values[0]) == model.stem
    assert main(["faults", "generate", str(tmp_path / "kcnn.keras"), "-o", str(tmp_path / "f.csv"),
                 "--margin", "0.2", "--mode", "network-wise"]) == 0
