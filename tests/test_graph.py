from __future__ import annotations

import pytest
import torch.nn as nn

from readlx.errors import FaultListError, InputError, RegistryError
from readlx.fault_maps.fault import Fault
from readlx.graph import Binding, Layer, LayerTable
from readlx.zoo import ZOO


def test_table_from_demo_model() -> None:
    t = ZOO["democnn-synthetic10"].layer_table()
    assert t.names == ["conv1", "dwconv", "conv2", "conv3", "linear"]
    assert t["dwconv"].groups == 8 and t["dwconv"].shape == (8, 1, 3, 3)
    assert t["linear"].kind == "linear"


def test_json_round_trip_with_bindings(tmp_path) -> None:
    t = ZOO["democnn-synthetic10"].layer_table()
    t.bindings["keras"] = {"conv1": Binding("conv2d", "conv2d/kernel:0", (2, 3, 1, 0))}
    t.save(tmp_path / "graph.json")
    assert LayerTable.load(tmp_path / "graph.json") == t


def test_binding_index_round_trip() -> None:
    b = Binding("conv2d", "kernel", (2, 3, 1, 0))
    assert b.to_framework_index((5, 1, 2, 0)) == (2, 0, 1, 5)
    assert b.to_canonical_index(b.to_framework_index((5, 1, 2, 0))) == (5, 1, 2, 0)


def test_check_fault_errors() -> None:
    t = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    t.check_fault(Fault("fc", (1, 2), 0))
    with pytest.raises(FaultListError, match="unknown layer 'fx'.*available: fc"):
        t.check_fault(Fault("fx", (0, 0), 0))
    with pytest.raises(FaultListError, match="rank"):
        t.check_fault(Fault("fc", (0, 0, 0), 0))
    with pytest.raises(FaultListError, match="out of range"):
        t.check_fault(Fault("fc", (2, 0), 0))
    with pytest.raises(RegistryError, match="available: fc"):
        t["nope"]


def test_invalid_json_and_models() -> None:
    with pytest.raises(InputError, match="graph.json, line 1"):
        LayerTable.from_json("{", path="graph.json")
    with pytest.raises(InputError, match="layer table"):
        LayerTable.from_json('{"model": "m"}')
    with pytest.raises(InputError, match="not the weight of a Conv2d or Linear"):
        LayerTable.from_torch(nn.Sequential(nn.Embedding(3, 4)), "emb")
