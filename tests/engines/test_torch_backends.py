from __future__ import annotations

import numpy as np
import pytest
import torch

from readlx.data.synthetic import synthetic
from readlx.engines.base import Engine
from readlx.engines.torch import TorchEngine
from readlx.engines.torch_backends import TorchBackendEngine, backend_name, backend_switches
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


def test_switches_are_restored() -> None:
    enabled, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    with backend_switches(mkldnn=False, threads=2):
        assert not torch.backends.mkldnn.enabled
        assert torch.get_num_threads() == 2
    assert (torch.backends.mkldnn.enabled, torch.get_num_threads()) == (enabled, threads)
    with pytest.raises(RuntimeError, match="inside"):
        with backend_switches(mkldnn=False):
            raise RuntimeError("inside")
    assert torch.backends.mkldnn.enabled == enabled
    with pytest.raises(ReadlxError, match="threads must be >= 1, got 0"):
        with backend_switches(threads=0):
            pass


def test_backend_engine_is_an_engine_close_to_torch() -> None:
    model, table = load_model(MODEL), ZOO[MODEL].layer_table()
    images = synthetic(16).images
    plain = TorchEngine(model, table, batch_size=8).infer(images)
    eng = TorchBackendEngine(model, table, mkldnn=False, batch_size=8)
    assert isinstance(eng, Engine)
    assert eng.framework == "torch-mkldnn-off" == backend_name(False)
    out = eng.infer(images)
    assert np.abs(out - plain).max() <= 1e-4
    assert eng.describe()["mkldnn"] is False
    fault = Fault("conv1", (0, 0, 0, 0), 30)
    stored = eng.weight("conv1").copy()
    with eng.inject(fault):
        assert not np.array_equal(eng.weight("conv1"), stored)
    assert np.array_equal(eng.weight("conv1").view(np.uint32), stored.view(np.uint32))
    assert backend_name(True, 1) == "torch-threads1"
