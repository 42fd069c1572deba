"""Fixtures of the fault_maps tests: layer tables and the published ResNet files."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from readlx.graph import Layer, LayerTable

RESNET_DIR = "dnn-benchmarks/{fw}/gpu/image_classification/CIFAR10/fp32/resnet"
MATCH_DIR = "dnn-benchmarks-converter/ptxtf_utils/match/CIFAR10"


def _load_helper(name: str) -> ModuleType:
    # Test modules are imported without touching sys.path (importlib mode), so the helper is
    # loaded from its file.
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_fault_maps_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cifar_resnet_table() -> Callable[[str], LayerTable]:
    """``model name -> LayerTable`` for ResNet20/32/44, built from the known shapes."""
    return _load_helper("resnet_shapes").cifar_resnet_table


@pytest.fixture
def small_table() -> LayerTable:
    return LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))))


@pytest.fixture
def published(shared_data: Path) -> Callable[[str, str], Path]:
    """``(model, kind) -> path`` of a published ResNet file; kind is 'torch', 'tf' or 'match'."""

    def path(model: str, kind: str) -> Path:
        if kind == "torch":
            return shared_data / RESNET_DIR.format(fw="torch") / f"{model}_FL.csv"
        if kind == "tf":
            return shared_data / RESNET_DIR.format(fw="tensorflow") / f"{model}_TF_FL.csv"
        return shared_data / MATCH_DIR / f"{model}_match"

    return path
