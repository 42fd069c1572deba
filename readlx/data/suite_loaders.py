"""Dataset entries of the published suite beyond CIFAR: GTSRB and PASCAL VOC 2012.

:func:`register_suite_datasets` adds them to :data:`readlx.data.loaders.DATASETS`; their default
directories are relative to the reference data root, like CIFAR's.
"""
from __future__ import annotations

from pathlib import Path

from readlx.data.entry import DatasetEntry
from readlx.data.gtsrb import read_gtsrb
from readlx.data.imageset import ImageSet, Normalization
from readlx.data.voc import SegmentationSet, read_voc
from readlx.errors import ReadlxError
from readlx.registry import Registry

GTSRB_DIR = "GTSRB"
VOC_DIR = "VOCdevkit/VOC2012"


def _need(root: Path | None, name: str, layout: str) -> Path:
    if root is None:
        raise ReadlxError(
            f"dataset {name!r} needs its directory ({layout}): pass --data DIR, set READLX_DATA, or "
            "place it under the reference data at ../shared/data"
        )
    return root


def read_gtsrb_entry(root: Path | None, normalization: Normalization | None) -> ImageSet:
    """The ``gtsrb`` entry's reader: :func:`readlx.data.gtsrb.read_gtsrb` on ``root``."""
    return read_gtsrb(_need(root, "gtsrb", "GTSRB/Final_Test/Images + GT-final_test.csv"), normalization)


def read_voc_entry(root: Path | None, normalization: Normalization | None) -> SegmentationSet:
    """The ``voc2012`` entry's reader: :func:`readlx.data.voc.read_voc` on ``root``."""
    return read_voc(_need(root, "voc2012", "VOCdevkit/VOC2012"), normalization)


def read_voc_first(root: Path | None, normalization: Normalization | None, limit: int) -> SegmentationSet:
    """The first ``limit`` images of the validation list, the others not decoded."""
    return read_voc(_need(root, "voc2012", "VOCdevkit/VOC2012"), normalization, limit=limit)


def register_suite_datasets(datasets: Registry[DatasetEntry]) -> None:
    """Register ``gtsrb`` and ``voc2012`` in ``datasets`` (normally ``readlx.data.loaders.DATASETS``).

    Examples
    --------
    >>> from readlx.registry import Registry
    >>> reg = Registry("dataset")
    >>> register_suite_datasets(reg)
    >>> list(reg), reg["voc2012"].default_dir
    (['gtsrb', 'voc2012'], 'VOCdevkit/VOC2012')
    """
    datasets.register("gtsrb", DatasetEntry("gtsrb", read_gtsrb_entry, GTSRB_DIR))
    datasets.register("voc2012", DatasetEntry("voc2012", read_voc_entry, VOC_DIR, read_first=read_voc_first))  # type: ignore[arg-type]  # a SegmentationSet is read where an ImageSet is
