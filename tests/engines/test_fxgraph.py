"""The traced view of a model: cuts, live values, spans, and what the fast path refuses."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.campaign.runners import FastUnsupported, fast_runner
from readlx.campaign.runners.compare import bits, equal_whole
from readlx.campaign.runners.golden_batch import golden_batch
from readlx.data.synthetic import synthetic
from readlx.engines.fxgraph import CutGraph
from readlx.engines.torch import TorchEngine
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


@pytest.fixture(scope="module")
def demo() -> CutGraph:
    return CutGraph(load_model(MODEL), ZOO[MODEL].layer_table().names)


def test_demo_cuts_and_live_values(demo: CutGraph) -> None:
    names = {layer: demo.name(span.first) for layer, span in demo.spans.items()}
    assert names == {"conv1": "conv1", "dwconv": "dwconv", "conv2": "conv2", "conv3": "conv3", "linear": "linear"}
    assert all(span.first == span.last for span in demo.spans.values())
    live = {demo.name(c): [demo.name(i) for i in demo.live[c]] for c in demo.cuts}
    assert live == {"conv1": ["x"], "dwconv": ["relu"], "conv2": ["relu_1"], "conv3": ["relu_2"],
                    "linear": ["flatten"]}


def test_tracing_leaves_the_model_alone() -> None:
    model = load_model(MODEL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    CutGraph(model, ZOO[MODEL].layer_table().names)
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_traced_run_is_the_module_run_bit_for_bit(demo: CutGraph) -> None:
    x = torch.from_numpy(synthetic(12).images)
    with torch.inference_mode():
        traced = golden_batch(demo, x, 0).output
        direct = demo.model(x)
    assert torch.equal(bits(traced), bits(direct))


def test_restart_from_a_cut_gives_golden(demo: CutGraph) -> None:
    x = torch.from_numpy(synthetic(12).images)
    with torch.inference_mode():
        gb = golden_batch(demo, x, 0)
        for cut in demo.cuts:
            env = {i: gb.values[i] for i in demo.live[cut]}
            demo.run(env, cut, len(demo.nodes))
            assert equal_whole(env[demo.result], gb.output), demo.name(cut)


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.relu(self.conv(x)))
        return self.linear(y.mean((2, 3)))


def test_a_layer_called_twice_spans_both_calls() -> None:
    g = CutGraph(_Twice().eval(), ["conv", "linear"])
    span = g.spans["conv"]
    assert (g.name(span.first), g.name(span.last)) == ("conv", "conv_1")


class _WeightAsValue(nn.Module):
    """The weight is read as a value and scaled before use: checks must wait for its last use."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight * 0.5
        y = F.relu(self.conv(x))
        y = F.conv2d(y, w, padding=1)
        return self.linear(y.mean((2, 3)))


def test_values_derived_from_the_weight_extend_its_span() -> None:
    g = CutGraph(_WeightAsValue().eval(), ["conv", "linear"])
    span = g.spans["conv"]
    assert g.name(span.first) == "conv_weight" and g.name(span.last) == "conv2d"


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.linear(x + y)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.linear(x)
        return self.linear(-x)


class _InPlaceMethod(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).relu_()


class _InPlaceArgument(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(x), True)


@pytest.mark.parametrize(("model", "message"), [
    (_Twice().train(), "training mode"),
    (_TwoInputs(), "2 inputs"),
    (_Branchy(), "cannot trace"),
    (_InPlaceMethod(), "in place"),
    (_InPlaceArgument(), "in place"),
])
def test_models_the_fast_path_refuses(model: nn.Module, message: str) -> None:
    if message != "training mode":
        model.eval()
    with pytest.raises(FastUnsupported, match=message):
        CutGraph(model, ["linear"])


def test_layer_never_read_is_refused() -> None:
    model = _Twice()
    model.unused = nn.Linear(2, 2)
    model.eval()
    with pytest.raises(FastUnsupported, match="never reads the weight of 'unused'"):
        CutGraph(model, ["conv", "unused"])


def test_other_frameworks_have_no_fast_path() -> None:
    class Other:
        framework = "onnxruntime"

    with pytest.raises(FastUnsupported, match="'onnxruntime'"):
        fast_runner(Other(), np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 2), np.float32))


def test_golden_mismatch_is_refused_at_start_up() -> None:
    model = load_model(MODEL)
    eng = TorchEngine(model, LayerTable.from_torch(model, MODEL), batch_size=8)
    data = synthetic(10)
    golden = eng.infer(data.images)
    golden[9, 0] = np.nextafter(golden[9, 0], np.float32(np.inf))
    with pytest.raises(FastUnsupported, match=r"images 8\.\.9"):
        fast_runner(eng, data.images, golden)
