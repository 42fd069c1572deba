"""Fixtures shared by the whole test suite."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from readlx.converters import Bundle

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TESTS = Path(__file__).resolve().parent
ONE_THREAD = ("engines/reference", "comparisons/numerics")
"""Test directories of the numerics, whose networks are tiny."""


@pytest.fixture(autouse=True, scope="session")
def fixed_clock() -> Iterator[None]:
    """Results are stamped with the time they were made (readlx.provenance); a fixed SOURCE_DATE_EPOCH,
    inherited by the subprocesses tests start, makes two runs of one campaign identical Datasets."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
        yield


@pytest.fixture(autouse=True, scope="module")
def one_thread_for_numerics(request: pytest.FixtureRequest) -> Iterator[None]:
    """The numerics tests run on one intra-op thread: their networks are tiny, and on a busy machine
    thread synchronisation costs far more than the arithmetic."""
    if Path(request.path).parent.relative_to(TESTS).as_posix() not in ONE_THREAD:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only reference data at ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The demo CNN converted to a bundle, once per test session (the converter, engine and fast tests
    share it)."""
    from readlx.converters import convert_bundle, load_bundle
    from readlx.data.synthetic import synthetic

    path = tmp_path_factory.getbasetemp() / "readlx-demo-bundle"
    if (path / "bundle.json").is_file():
        return load_bundle(path)
    images = synthetic(32)
    return convert_bundle("democnn-synthetic10", path, images=images.images, labels=images.labels)


@pytest.fixture(scope="session")
def resnet20_bundle(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The published ResNet20 converted with its equivalence check on the first 500 CIFAR-10 test
    images, once per test session (the conversion and fast-mode tests share it)."""
    from readlx.converters import convert_bundle, load_bundle
    from readlx.data.loaders import load_dataset
    from readlx.zoo import ZOO

    path = tmp_path_factory.getbasetemp() / "readlx-resnet20-bundle"
    if (path / "bundle.json").is_file():
        return load_bundle(path)
    bench = ZOO["resnet20-cifar10"]
    data = load_dataset("cifar10", shared_data / "cifar-10-batches-py", bench.normalization).subset(500)
    # The default bound is relative to the largest logit (tens here); the runtimes sit ~1e-5 apart.
    return convert_bundle("resnet20-cifar10", path, images=data.images, labels=data.labels)
