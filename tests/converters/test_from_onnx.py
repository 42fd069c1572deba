"""A model that arrives as an ONNX file: its layers read from the graph, run on ONNX Runtime, fast =
reference, and its bad forms named errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
import xarray as xr

import readlx
from readlx.cli import main
from readlx.converters.from_onnx import load_onnx, onnx_table
from readlx.errors import ArgumentError, InputError
from readlx.results import read_netcdf


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 6, 3, padding=1, groups=3)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False,
                      input_names=["images"], output_names=["logits"])  # the exporter's defaults otherwise
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, images=rng.standard_normal((12, 3, 8, 8)).astype(np.float32), labels=rng.integers(0, 4, 12))
    return path


def test_the_stored_weights_are_the_layers(onnx_file: Path) -> None:
    proto = load_onnx(onnx_file)
    table = onnx_table(proto, "net")
    stored = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    assert all(layer.shape == stored[table.binding("onnxruntime", layer.name).variable] or layer.kind == "linear"
               for layer in table)
    assert [layer.kind for layer in table] == ["conv", "linear"]
    assert table[table.names[0]].groups == 3 and table[table.names[-1]].shape == (4, 6 * 8 * 8)


def test_an_onnx_model_runs_on_onnx_runtime_fast_equal_to_reference(onnx_file: Path, data_file: Path) -> None:
    runs = [readlx.run(onnx_file, data_file, frameworks=("onnxruntime",), sample=12, seed=2, mode=mode,
                       per_image=True, batch_size=4) for mode in ("fast-always", "reference")]
    assert runs[0].attrs["mode_onnxruntime"] == "fast"
    for name in ("masked", "non_critical", "critical", "outcome"):
        assert np.array_equal(runs[0][name].values, runs[1][name].values), name
    assert str(runs[0].model.values[0]) == "net" and runs[0].sizes["fault"] == 12
    total = runs[0].masked + runs[0].non_critical + runs[0].critical
    assert bool((total == 12).all())


def test_the_command_line_takes_an_onnx_file(onnx_file: Path, data_file: Path, tmp_path: Path) -> None:
    faults = tmp_path / "f.csv"
    assert main(["faults", "generate", str(onnx_file), "-o", str(faults), "--margin", "0.2",
                 "--mode", "network-wise"]) == 0
    out = tmp_path / "r.nc"
    assert main(["run", str(onnx_file), "--data", str(data_file), "--faults", str(faults), "--sample", "6",
                 "--frameworks", "onnxruntime", "-o", str(out)]) == 0
    ds = read_netcdf(out)
    assert isinstance(ds, xr.Dataset) and ds.sizes["fault"] == 6


def test_bad_onnx_input_is_named(onnx_file: Path, data_file: Path, tmp_path: Path) -> None:
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01 not protobuf")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        readlx.run(tmp_path / "garbage.onnx", data_file, frameworks=("onnxruntime",))
    with pytest.raises(ArgumentError, match=r"the images are \(3, 8, 8\).*the model takes \(3, 16, 16\)"):
        bigger = tmp_path / "bigger.onnx"
        torch.onnx.export(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()).eval(), (torch.zeros(1, 3, 16, 16),),
                          str(bigger), dynamo=False)
        readlx.run(bigger, data_file, frameworks=("onnxruntime",))
    proto = load_onnx(onnx_file)
    proto.graph.input.append(onnx.helper.make_tensor_value_info("second", onnx.TensorProto.FLOAT, [1, 3]))
    onnx.save(proto, str(tmp_path / "two_inputs.onnx"))
    with pytest.raises(InputError, match=r"has 2 inputs \('images', 'second'\); readlx runs models of one image"):
        readlx.run(tmp_path / "two_inputs.onnx", data_file, frameworks=("onnxruntime",))
    empty = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    onnx.save(empty, str(tmp_path / "empty.onnx"))
    with pytest.raises(InputError, match="has no Conv, Gemm or MatMul"):
        readlx.run(tmp_path / "empty.onnx", data_file, frameworks=("onnxruntime",))
