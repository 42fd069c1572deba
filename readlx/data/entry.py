"""How readlx reads one dataset: the entries of the dataset registry (:data:`readlx.data.loaders.DATASETS`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from readlx.data.imageset import ImageSet, Normalization


@dataclass(frozen=True)
class DatasetEntry:
    """How to read one dataset: its reader and its directory under the reference data root."""

    name: str
    read: Callable[[Path | None, Normalization | None], ImageSet]
    default_dir: str | None
    read_first: Callable[[Path | None, Normalization | None, int], ImageSet] | None = None
    """Reads only the first N images, for sets too large to decode whole (VOC at 520x520)."""
