from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from readlx.data.cifar import CIFAR10_NORMALIZATION, read_cifar, read_cifar_pixels
from readlx.data.loaders import load_dataset
from readlx.errors import InputError, RegistryError


def _write_cifar10(root: Path, n: int = 5, data=None, labels=None, meta=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    batch = {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8) if data is None else data,
        b"labels": list(rng.integers(0, 10, n)) if labels is None else labels,
    }
    with (root / "test_batch").open("wb") as f:
        pickle.dump(batch, f, protocol=2)
    names = [f"c{k}".encode() for k in range(10)]
    with (root / "batches.meta").open("wb") as f:
        pickle.dump(meta if meta is not None else {b"label_names": names}, f, protocol=2)
    return root


def test_reads_official_layout_and_normalizes(tmp_path: Path) -> None:
    root = _write_cifar10(tmp_path / "cifar-10-batches-py")
    pixels, labels, names = read_cifar_pixels(root)
    with (root / "test_batch").open("rb") as f:
        raw = pickle.load(f, encoding="bytes")
    # Channel-planar rows: the first 1024 bytes are the red plane, row by row.
    np.testing.assert_array_equal(pixels[2, 0].ravel(), raw[b"data"][2, :1024])
    np.testing.assert_array_equal(pixels[2, 2].ravel(), raw[b"data"][2, 2048:])
    s = read_cifar(root)
    assert s.images.dtype == np.float32 and s.images.shape == (5, 3, 32, 32)
    expected = (np.float32(pixels[1, 1, 3, 4]) / np.float32(255) - np.float32(0.4822)) / np.float32(0.1994)
    assert s.images[1, 1, 3, 4] == expected
    assert names[3] == "c3" and labels.dtype == np.int64


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    data = np.zeros((2, 3072), np.uint8)
    with (root / "test").open("wb") as f:
        pickle.dump({b"data": data, b"fine_labels": [99, 3], b"coarse_labels": [1, 2]}, f)
    with (root / "meta").open("wb") as f:
        pickle.dump({b"fine_label_names": [f"f{k}".encode() for k in range(100)]}, f)
    s = load_dataset("cifar100", root)
    assert s.labels.tolist() == [99, 3] and len(s.classes) == 100


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": np.zeros((2, 100), np.uint8)}, "3072"),
        ({"data": np.zeros((2, 3072), np.float32)}, "uint8"),
        ({"labels": [1]}, "labels"),
        ({"labels": [1, 12], "n": 2}, "10 classes"),
        ({"meta": {b"other": 1}}, "label_names"),
    ],
)
def test_malformed_files_name_file_and_field(tmp_path: Path, kwargs: dict, match: str) -> None:
    n = kwargs.pop("n", 2)
    if "data" not in kwargs:
        kwargs["data"] = np.zeros((n, 3072), np.uint8)
    root = _write_cifar10(tmp_path / "c", n=n, **kwargs)
    with pytest.raises(InputError, match=match) as info:
        read_cifar(root)
    assert str(root) in str(info.value)


def test_missing_directory_and_foreign_pickle(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_cifar(tmp_path / "absent")
    root = tmp_path / "evil"
    root.mkdir()
    (root / "test_batch").write_bytes(pickle.dumps(Path("/")))
    with pytest.raises(InputError, match="refusing"):
        read_cifar(root)
    with pytest.raises(RegistryError, match="available: cifar10, cifar100, gtsrb, synthetic10, voc2012"):
        load_dataset("imagenet")


@pytest.mark.data
def test_real_cifar10_test_set(shared_data: Path) -> None:
    pixels, labels, names = read_cifar_pixels(shared_data / "cifar-10-batches-py")
    digest = hashlib.sha256(np.ascontiguousarray(pixels.transpose(0, 2, 3, 1)).tobytes()).hexdigest()
    assert digest == "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"
    assert len(labels) == 10_000 and names[0] == "airplane"
    s = read_cifar(shared_data / "cifar-10-batches-py", normalization=CIFAR10_NORMALIZATION)
    assert s.images.shape == (10_000, 3, 32, 32)
