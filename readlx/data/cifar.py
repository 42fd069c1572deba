"""Reader for the official CIFAR-10/100 "python version" layout (test split)."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.data.imageset import ImageSet, Normalization
from readlx.errors import InputError

CIFAR10_NORMALIZATION = Normalization((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
CIFAR100_NORMALIZATION = Normalization(
    (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
    (0.2673342858792401, 0.2564384629170883, 0.27615047132568404),
)
_LAYOUTS = {
    # variant -> (test file, meta file, label key, class-names key)
    "cifar10": ("test_batch", "batches.meta", b"labels", b"label_names"),
    "cifar100": ("test", "meta", b"fine_labels", b"fine_label_names"),
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the plain dicts, lists, bytes and ints of the official files and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in (
            "_reconstruct",
            "scalar",
        ):
            return getattr(np.core.multiarray, name)
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles spell bytes
            import codecs

            return codecs.encode
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as f:
            data = _ArraysOnly(f, encoding="bytes").load()
    except FileNotFoundError as e:
        raise InputError("file not found (expected the official CIFAR python layout)", path=path) from e
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise InputError(f"not a CIFAR python-version pickle: {e}", path=path) from e
    if not isinstance(data, dict):
        raise InputError(f"expected a dict, got {type(data).__name__}", path=path)
    return data


def _field(data: dict[bytes, Any], key: bytes, path: Path) -> Any:
    if key not in data:
        present = ", ".join(sorted(k.decode(errors="replace") for k in data))
        raise InputError(f"missing key; present: {present}", path=path, field=key.decode())
    return data[key]


def read_cifar_pixels(root: str | Path, variant: str = "cifar10") -> tuple[Array, Array, tuple[str, ...]]:
    """uint8 NCHW pixels, int64 labels and class names of the test split."""
    if variant not in _LAYOUTS:
        raise InputError(f"unknown CIFAR variant {variant!r}; valid: {', '.join(_LAYOUTS)}")
    test_name, meta_name, label_key, names_key = _LAYOUTS[variant]
    root = Path(root)
    test_path = root / test_name
    batch = _unpickle(test_path)
    raw = np.asarray(_field(batch, b"data", test_path))
    labels = np.asarray(_field(batch, label_key, test_path), dtype=np.int64)
    if raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3 * 32 * 32:
        raise InputError(
            f"expected uint8 rows of 3072 pixels, got {raw.dtype} {raw.shape}", path=test_path, field="data"
        )
    if labels.shape != (raw.shape[0],):
        raise InputError(f"{labels.shape} labels for {raw.shape[0]} images", path=test_path, field=label_key.decode())
    meta_path = root / meta_name
    names = tuple(
        n.decode() if isinstance(n, bytes) else str(n)
        for n in _field(_unpickle(meta_path), names_key, meta_path)
    )
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise InputError(
            f"labels span {labels.min()}..{labels.max()} but there are {len(names)} classes",
            path=test_path,
            field=label_key.decode(),
        )
    return raw.reshape(-1, 3, 32, 32), labels, names


def read_cifar(
    root: str | Path, variant: str = "cifar10", normalization: Normalization | None = None
) -> ImageSet:
    """The CIFAR test set as normalized float32 NCHW.

    Parameters
    ----------
    root
        Directory in the official "python version" layout (``cifar-10-batches-py`` holding
        ``test_batch`` and ``batches.meta``, or ``cifar-100-python`` holding ``test`` and ``meta``).
    variant
        ``"cifar10"`` or ``"cifar100"`` (fine labels).
    normalization
        Defaults to the paper's mean/std of that variant.
    """
    pixels, labels, names = read_cifar_pixels(root, variant)
    norm = normalization or (CIFAR10_NORMALIZATION if variant == "cifar10" else CIFAR100_NORMALIZATION)
    return ImageSet(variant, norm.apply(pixels), labels, names, source=str(root))
