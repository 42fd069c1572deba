from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from readlx.engines.torch import TorchEngine
from readlx.errors import CheckpointError, ReadlxError, RegistryError
from readlx.zoo import ZOO, load_model
from readlx.zoo.resnet_cifar import resnet_cifar

PUBLISHED_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586}


@pytest.mark.parametrize("depth", sorted(PUBLISHED_PARAMS))
def test_resnet_parameter_counts_and_layers(depth: int) -> None:
    model = resnet_cifar(depth)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[depth]
    table = ZOO[f"resnet{depth}-cifar10"].layer_table()
    assert table.names[0] == "conv1" and table.names[-1] == "linear"
    assert len(table) == depth  # 6n + 1 convs and one linear
    assert table["layer2.0.conv1"].shape == (32, 16, 3, 3)


def test_bad_depth_and_unknown_model() -> None:
    with pytest.raises(ReadlxError, match="6n \\+ 2"):
        resnet_cifar(21)
    available = "deeplabv3-resnet50-voc, democnn-synthetic10, densenet121-cifar10"
    with pytest.raises(RegistryError, match=f"unknown model 'resnet18'; available: {available}"):
        ZOO["resnet18"]


def test_demo_model_loads_shipped_weights() -> None:
    model = load_model("democnn-synthetic10")
    assert not model.training
    characterization = ZOO["democnn-synthetic10"].characterization()
    assert characterization["published_dataset"] == "synthetic10"
    assert set(characterization) == {"published_framework", "published_hardware_platform", "task", "published_dataset",
                                     "training_process", "data_representation"}


def test_checkpoint_errors(tmp_path: Path) -> None:
    bench = ZOO["resnet20-cifar10"]
    with pytest.raises(CheckpointError, match="not found"):
        bench.load(tmp_path / "none.th")
    bad = tmp_path / "bad.th"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.th"):
        bench.load(bad)
    wrong = tmp_path / "wrong.th"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(16, 3, 3, 3)}}, wrong)
    with pytest.raises(CheckpointError, match="missing"):
        bench.load(wrong)
    shape = tmp_path / "shape.th"
    state = {f"module.{k}": v for k, v in resnet_cifar(20).state_dict().items()}
    state["module.linear.weight"] = torch.zeros(3, 64)
    torch.save({"state_dict": state}, shape)
    with pytest.raises(CheckpointError, match="linear.weight"):
        bench.load(shape)


def test_arbitrary_objects_are_not_unpickled(tmp_path: Path) -> None:
    evil = tmp_path / "evil.th"
    torch.save({"state_dict": {}, "x": Path("/")}, evil)
    with pytest.raises(CheckpointError, match="evil.th"):
        ZOO["resnet20-cifar10"].load(evil)


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize(("depth", "expected"), [(20, 9148)])
def test_published_resnet_golden_top1(shared_data: Path, depth: int, expected: int) -> None:
    bench = ZOO[f"resnet{depth}-cifar10"]
    engine = TorchEngine(bench.load(), bench.layer_table())
    data = bench.load_data()
    correct = int((np.argmax(engine.infer(data.images), axis=1) == data.labels).sum())
    assert correct == expected
