"""Converted bundles shared by the converter tests: converted once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.converters import Bundle, convert_bundle, load_bundle

TWIN_INPUT = (3, 6, 6)


class TwinFlatNet(nn.Module):
    """Two convolutions holding identical weights, run in the reverse of their registration order,
    and a Linear layer right after a flatten (no pooling)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.twin_late = nn.Conv2d(4, 4, 3, padding=1, bias=True)
        self.twin_early = nn.Conv2d(4, 4, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 6 * 6, 5)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            self.twin_late.weight.copy_(self.twin_early.weight)
            self.bn.running_mean.copy_(torch.randn(4, generator=gen) * 0.1)
            self.bn.running_var.copy_(torch.rand(4, generator=gen) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu(self.twin_early(x))
        x = self.twin_late(x) + x
        return self.head(x.flatten(1))


def shared_bundle(factory: pytest.TempPathFactory, name: str, convert) -> Bundle:
    path = factory.getbasetemp() / name
    if (path / "bundle.json").is_file():
        return load_bundle(path)
    return convert(path)


@pytest.fixture(scope="session")
def twin_model() -> TwinFlatNet:
    return TwinFlatNet().eval()


@pytest.fixture(scope="session")
def twin_bundle(tmp_path_factory: pytest.TempPathFactory, twin_model: TwinFlatNet) -> Bundle:
    return shared_bundle(
        tmp_path_factory,
        "readlx-twin-bundle",
        lambda path: convert_bundle(twin_model, path, input_shape=TWIN_INPUT),
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data beside the repository; tests needing it skip when it is absent."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (root / "cifar-10-batches-py").is_dir() or not (root / "dnn-benchmarks").is_dir():
        pytest.skip(f"reference data (CIFAR-10 test set, published checkpoints) not found at {root}")
    return root
