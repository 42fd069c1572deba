"""Adding a runtime is one module and one registration: a runtime defined and registered here, in a
test file, passes the engine contract and runs a campaign beside the built-in PyTorch engine."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pytest
import torch
from engines.contract import BATCH, N_IMAGES, EngineContract

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.spec import CampaignSpec
from readlx.data.synthetic import synthetic
from readlx.engines import RUNTIMES, Artifact, Engine, Runtime
from readlx.engines.base import batches
from readlx.engines.torch import TorchEngine
from readlx.fault_maps import generate
from readlx.fault_maps.fault import Fault
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
NAME = "torch-channels-last"


class ChannelsLastEngine:
    """PyTorch with the model and each batch in the channels-last memory format: other kernels, the
    same network."""

    framework = NAME

    def __init__(self, artifact: Artifact, batch_size: int) -> None:
        self._torch = TorchEngine(artifact.torch_module(), artifact.table, batch_size=batch_size)
        self._torch.model.to(memory_format=torch.channels_last)
        self.table, self.batch_size = artifact.table, batch_size

    def infer(self, images: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for sl in batches(len(images), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[sl])).contiguous(memory_format=torch.channels_last)
                out.append(self._torch.model(x).float().numpy())
        return np.concatenate(out)

    def weight(self, layer: str) -> np.ndarray:
        return np.ascontiguousarray(self._torch.weight(layer))

    def inject(self, fault: Fault) -> AbstractContextManager[None]:
        return self._torch.inject(fault)

    def layer_name(self, layer: str) -> str:
        return self._torch.layer_name(layer)

    def describe(self) -> dict[str, Any]:
        return {**self._torch.describe(), "framework": NAME, "memory_format": "channels_last"}


def build(artifact: Artifact, *, batch_size: int = 256) -> ChannelsLastEngine:
    return ChannelsLastEngine(artifact, batch_size)


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    RUNTIMES.register(Runtime(NAME, build, "PyTorch, channels-last memory format", needs=("torch",)))
    try:
        yield
    finally:
        RUNTIMES.unregister(NAME)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return CampaignSpec(model=MODEL, frameworks=("torch", NAME), images=N_IMAGES, batch_size=BATCH)


@pytest.fixture(scope="module")
def torch_engine(spec: CampaignSpec) -> Engine:
    return RUNTIMES.build("torch", spec.artifact(), batch_size=BATCH)


@pytest.fixture(scope="module")
def engine(spec: CampaignSpec) -> Engine:
    return RUNTIMES.build(NAME, spec.artifact(), batch_size=BATCH)


class TestAddedRuntimeContract(EngineContract):
    pass


def test_the_runtime_is_listed_and_built_by_name(spec: CampaignSpec) -> None:
    assert NAME in RUNTIMES and NAME in RUNTIMES.choices()
    assert [e.framework for e in spec.engines()] == ["torch", NAME]


@pytest.mark.parametrize("mode", ["reference", "fast"])
def test_a_campaign_runs_on_the_added_runtime(spec: CampaignSpec, mode: str) -> None:
    faults = generate(ZOO[MODEL].layer_table(), margin=0.2, seed=7, mode="network-wise")
    data = spec.dataset()
    ds = run_campaign(spec.engines(), faults, data, model=MODEL, options=CampaignOptions(mode=mode))
    assert list(ds.framework.values) == ["torch", NAME]
    total = ds.masked + ds.non_critical + ds.critical
    assert (total == len(data)).all()
    assert ds.attrs[f"mode_{NAME}"] == "reference"  # it registered no fast runner
    if mode == "fast":
        assert "no fast path" in ds.attrs[f"mode_{NAME}_detail"]
    # Same network: the two runtimes agree on which faults change the top-1 class of some image.
    critical = ds.critical.values[0]
    assert ((critical[:, 0] > 0) == (critical[:, 1] > 0)).mean() >= 0.9
