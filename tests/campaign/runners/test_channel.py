"""Channel-only faulty layers: checked per batch shape, refused where inexact, outcomes unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from readlx.campaign import run_fault
from readlx.campaign.runners import FastOptions, TorchFastRunner
from readlx.campaign.runners.channel import ChannelLayers, channel_output
from readlx.campaign.runners.compare import bits
from readlx.campaign.runners.floor import floors, layer_macs, network_macs
from readlx.data.synthetic import synthetic
from readlx.engines.fxgraph import CutGraph
from readlx.engines.torch import TorchEngine
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.sites import with_outputs
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


class _Mixed(nn.Module):
    """A stem, two branches (one a strided conv without bias) added, a padding mode, and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.left = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.right = nn.Conv2d(6, 6, 1)
        self.reflect = nn.Conv2d(6, 4, 3, padding=1, padding_mode="reflect")
        self.head = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = torch.relu(self.left(y) + self.right(y))
        y = nn.functional.max_pool2d(self.reflect(y), 2)
        return self.head(y.flatten(1))


def _mixed_engine(batch_size: int) -> TorchEngine:
    torch.manual_seed(0)
    model = _Mixed().eval()
    return TorchEngine(model, LayerTable.from_torch(model, "mixed"), batch_size=batch_size)


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, 16, 16)).astype(np.float32)


def _faults(table: LayerTable, seed: int = 3) -> list[Fault]:
    rng = np.random.default_rng(seed)
    out = []
    for layer in table:
        for bit, kind in ((30, FaultKind.BIT_FLIP), (31, FaultKind.BIT_FLIP), (22, FaultKind.BIT_FLIP),
                          (3, FaultKind.BIT_FLIP), (30, FaultKind.STUCK_AT_1)):
            out.append(Fault(layer.name, tuple(int(rng.integers(s)) for s in layer.shape), bit, kind))
    return out


def test_which_layers_compute_a_channel_alone() -> None:
    engine = _mixed_engine(8)
    layers = ChannelLayers.of(CutGraph(engine.model, engine.table.names))
    assert sorted(layers.node) == ["head", "left", "right", "stem"]
    assert layers.whole == {"reflect": "a convolution with padding mode 'reflect'"}
    assert layers.applies(Fault("stem", (0, 0, 0, 0), 3))
    assert not layers.applies(Fault("stem", (0, 0, 0), 3, site=Site.ACTIVATION))
    assert not layers.applies(Fault("reflect", (0, 0, 0, 0), 3))


@pytest.mark.parametrize("batch_size", [8, 20, 64])  # 20 = 2 x 8 + 4 and 20: a shorter last batch, or one
def test_fast_runner_matches_the_reference_loop(batch_size: int) -> None:
    images = _images(20)
    engine = _mixed_engine(batch_size)
    golden = engine.infer(images)
    faults = _faults(engine.table)
    runner = TorchFastRunner(engine, images, golden, FastOptions(block_faults=6))
    plain = TorchFastRunner(engine, images, golden, FastOptions(block_faults=6, channel_only=False))
    got = list(runner.run(faults))
    without = list(plain.run(faults))
    for fault, a, b in zip(faults, got, without, strict=True):
        want = run_fault(engine, fault, images, golden, engine.weight(fault.layer)[fault.index], True)
        assert np.array_equal(a.codes, want.codes) and np.array_equal(a.prediction, want.prediction), fault.describe()
        assert np.array_equal(b.codes, want.codes), fault.describe()
    # every batch shape of a layer was checked before its faults used it
    shapes = {rows.stop - rows.start for rows in runner.layout}
    checked = {(layer, n) for layer, (n, *_) in runner.channels.checked}
    convs = {(layer, n) for layer in ("stem", "left", "right") for n in shapes}
    assert checked - {("head", n) for n in shapes} == convs
    assert "head" in runner.channels.whole or {("head", n) for n in shapes} <= checked
    assert "reflect" in runner.channels.whole and plain.channels.node == {}


def test_a_linear_feature_alone_is_checked_and_refused_where_it_differs() -> None:
    """PyTorch computes one feature of a Linear as a matrix-vector product, summed in another order than
    the matrix product of the whole layer: the check must find that and the layer run whole."""
    torch.manual_seed(0)
    head = nn.Linear(512, 100)
    x = torch.randn(64, 512)
    with torch.inference_mode():
        full = head(x)
        differs = [o for o in range(100) if not torch.equal(bits(channel_output(head, x, o)), bits(full[:, o:o + 1]))]
    if not differs:
        pytest.skip("this build computes a Linear feature alone exactly as the whole layer")
    model = nn.Sequential(nn.Flatten(), head).eval()
    engine = TorchEngine(model, LayerTable.from_torch(model, "head"), batch_size=64)
    images = np.random.default_rng(2).standard_normal((64, 512, 1, 1)).astype(np.float32).reshape(64, 512)
    golden = engine.infer(images)
    runner = TorchFastRunner(engine, images, golden)
    fault = Fault("1", (differs[0], 7), 30)
    (got,) = runner.run([fault])
    want = run_fault(engine, fault, images, golden, engine.weight("1")[fault.index], True)
    assert np.array_equal(got.codes, want.codes)
    assert runner.channels.whole["1"].startswith("output channel 0 computed alone differs")
    assert not runner.channels.applies(fault)


def test_channel_alone_equal_to_golden_skips_the_rest() -> None:
    """A flip of the lowest mantissa bit of a weight times zero inputs leaves the channel golden."""
    engine = _mixed_engine(8)
    images = np.zeros((8, 3, 16, 16), np.float32)
    golden = engine.infer(images)
    runner = TorchFastRunner(engine, images, golden)
    (got,) = runner.run([Fault("stem", (2, 1, 1, 1), 0)])
    assert not got.codes.any() and np.array_equal(got.prediction, golden.argmax(1))


def test_floors_count_dependent_layers_only() -> None:
    engine = _mixed_engine(8)
    table = with_outputs(engine.table, engine.model, (3, 16, 16))
    macs = {layer: layer_macs(table, layer) for layer in table.names}
    assert macs["stem"] == 16 * 16 * 6 * 3 * 3 * 3 and macs["head"] == 5 * 256
    f = floors(CutGraph(engine.model, table.names), table)
    assert f["stem"].channel == macs["stem"] // 6
    assert f["stem"].after == macs["left"] + macs["right"] + macs["reflect"] + macs["head"]
    assert f["left"].after == macs["reflect"] + macs["head"]  # not the parallel branch
    assert f["head"].after == 0 and network_macs(table) == sum(macs.values())


def test_demo_model_layers() -> None:
    graph = CutGraph(load_model(MODEL), ZOO[MODEL].layer_table().names)
    layers = ChannelLayers.of(graph)
    assert layers.whole == {"dwconv": "a grouped convolution (groups=8)"}
    data = synthetic(8)
    engine = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)
    runner = TorchFastRunner(engine, data.images, engine.infer(data.images))
    assert runner.describe()["channel_only"] != "off"
