"""ONNX -> PyTorch: canonical layers at their names, found by their weights, and the graph computed as given."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from readlx.converters.from_onnx import onnx_table
from readlx.converters.onnx_torch import OTHERS, onnx_to_torch
from readlx.converters.to_onnx import torch_to_onnx
from readlx.errors import ConversionError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.dw(self.stem(x))).mean((2, 3)))


def _net() -> Net:
    net = Net().eval()
    bn = net.stem[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return net


def test_an_unfolded_export_computes_the_module_bit_for_bit(tmp_path: Path) -> None:
    net = _net()
    proto = onnx.load(str(torch_to_onnx(net, tmp_path / "m.onnx", (3, 8, 8))))
    table = onnx_table(proto, "net")
    module = onnx_to_torch(proto, table)
    assert table.names == ["stem.0", "dw", "fc"]
    for name in table.names:
        assert torch.equal(module.get_submodule(name).weight, net.get_submodule(name).weight)
    owners = {name.rpartition(".")[0] for name, _ in module.named_parameters()}
    assert all(owner in table.names or owner.startswith(OTHERS) for owner in owners), owners
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(module(x), net(x))


def test_the_exporters_default_folding_names_layers_by_node(tmp_path: Path) -> None:
    net = _net()
    path = tmp_path / "default.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)  # BatchNorm folded into stem.0
    proto = onnx.load(str(path))
    assert any(t.name.startswith("onnx::") for t in proto.graph.initializer)
    table = onnx_table(proto, "net")
    assert table.names == ["stem.0", "dw", "fc"] and table["dw"].groups == 6
    module = onnx_to_torch(proto, table)
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(module(x), net(x), atol=1e-5)  # the folded weights are the model's now
    stored = numpy_helper.to_array(next(t for t in proto.graph.initializer
                                        if t.name == table.binding("onnxruntime", "stem.0").variable))
    assert np.array_equal(module.get_submodule("stem.0").weight.detach().numpy().view(np.uint32),
                          stored.view(np.uint32))


def _matmul_graph(weight: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
         helper.make_node("MatMul", ["f", "dense/kernel"], ["m"], name="dense/MatMul"),
         helper.make_node("Add", ["m", "dense/bias"], ["y"], name="dense/BiasAdd")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(weight, "dense/kernel"),
         numpy_helper.from_array(np.arange(4, dtype=np.float32), "dense/bias")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_matmul_by_a_stored_matrix_is_a_linear_layer() -> None:
    weight = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    proto = _matmul_graph(weight)
    table = onnx_table(proto, "m")
    assert table.names == ["dense.kernel"] and table["dense.kernel"].shape == (4, 6)
    module = onnx_to_torch(proto, table)
    linear = module.get_submodule("dense.kernel")
    assert isinstance(linear, nn.Linear) and linear.bias is None
    assert np.array_equal(linear.weight.detach().numpy().view(np.uint32), weight.T.view(np.uint32))
    x = np.random.default_rng(1).standard_normal((3, 2, 3, 1)).astype(np.float32)
    with torch.no_grad():
        out = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, x.reshape(3, 6) @ weight + np.arange(4), rtol=1e-5, atol=1e-5)


def test_an_operator_without_a_converter_is_named() -> None:
    proto = _matmul_graph(np.ones((6, 4), np.float32))
    proto.graph.node.append(helper.make_node("NoSuchOp", ["y"], ["z"], domain="com.example"))
    proto.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(ConversionError, match="NoSuchOp.*cannot run on the torch runtime"):
        onnx_to_torch(proto, onnx_table(proto, "m"))


def test_a_layer_no_module_holds_is_an_error() -> None:
    proto = _matmul_graph(np.ones((6, 4), np.float32))
    table = onnx_table(proto, "m")
    with pytest.raises(ConversionError, match="no tensor equals the weight of canonical layer 'dense.kernel'"):
        onnx_to_torch(proto, table, {"dense.kernel": np.zeros((4, 6), np.float32)})


def test_biases_the_exporter_shares_through_identities(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, bias=False),
                        nn.BatchNorm2d(4)).eval()
    path = tmp_path / "shared.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)  # two folded zero biases: one tensor
    proto = onnx.load(str(path))
    assert any(node.op_type == "Identity" for node in proto.graph.node)
    module = onnx_to_torch(proto, onnx_table(proto, "shared"))
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(module(x), net(x), atol=1e-5)
