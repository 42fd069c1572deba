"""Dataset names -> readers, used by the zoo and the CLI."""
from __future__ import annotations

from pathlib import Path

from readlx.data.cifar import read_cifar
from readlx.data.entry import DatasetEntry
from readlx.data.imageset import ImageSet, Normalization
from readlx.data.suite_loaders import register_suite_datasets
from readlx.data.synthetic import synthetic
from readlx.errors import ReadlxError
from readlx.paths import data_root
from readlx.registry import Registry

DATASETS: Registry[DatasetEntry] = Registry("dataset")
DATASETS.register(
    "cifar10",
    DatasetEntry(
        "cifar10", lambda root, norm: read_cifar(_need(root, "cifar10"), "cifar10", norm), "cifar-10-batches-py"
    ),
)
DATASETS.register(
    "cifar100",
    DatasetEntry(
        "cifar100", lambda root, norm: read_cifar(_need(root, "cifar100"), "cifar100", norm), "cifar-100-python"
    ),
)
DATASETS.register("synthetic10", DatasetEntry("synthetic10", lambda root, norm: synthetic(), None))


def _need(root: Path | None, name: str) -> Path:
    if root is None:
        raise ReadlxError(
            f"dataset {name!r} needs its directory: pass --data DIR, set READLX_DATA, or place the "
            "reference data at ../shared/data"
        )
    return root


def load_dataset(
    name: str, root: str | Path | None = None, normalization: Normalization | None = None,
    limit: int | None = None,
) -> ImageSet:
    """Read dataset ``name`` (its first ``limit`` images) from ``root`` (default: its directory under
    the reference data).

    Examples
    --------
    >>> data = load_dataset("synthetic10", limit=4)
    >>> len(data), data.images.shape
    (4, (4, 3, 16, 16))
    """
    entry = DATASETS[name]
    path = Path(root) if root is not None else None
    if path is None and entry.default_dir is not None:
        base = data_root()
        path = None if base is None else base / entry.default_dir
    if limit is not None and entry.read_first is not None:
        return entry.read_first(path, normalization, limit)
    return entry.read(path, normalization).subset(limit)


register_suite_datasets(DATASETS)
