"""The in-memory test set every engine receives: decoded and normalized once (invariant 6)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from readlx._typing import Array
from readlx.errors import InputError


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x / 255 - mean) / std`` in float32, the paper's test-time preprocessing."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, pixels_nchw_uint8: Array) -> Array:
        x = pixels_nchw_uint8.astype(np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        out: Array = ((x - mean) / std).astype(np.float32, copy=False)
        return out


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Normalized float32 NCHW images with integer labels.

    Examples
    --------
    >>> s = ImageSet("toy", np.zeros((2, 3, 4, 4), np.float32), np.array([0, 1]), ("a", "b"))
    >>> len(s), s.subset(1).labels.tolist()
    (2, [0])
    """

    name: str
    images: Array
    labels: Array
    classes: tuple[str, ...]
    source: str = "memory"

    def __post_init__(self) -> None:
        if self.images.dtype != np.float32 or self.images.ndim != 4:
            raise InputError(
                f"images must be float32 NCHW, got {self.images.dtype} with shape {self.images.shape}",
                path=self.source,
            )
        if self.labels.shape != (self.images.shape[0],):
            raise InputError(
                f"{self.labels.shape[0]} labels for {self.images.shape[0]} images", path=self.source
            )
        object.__setattr__(self, "labels", self.labels.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, n: int | None) -> ImageSet:
        """The first ``n`` images (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise InputError(f"number of images must be >= 1, got {n!r}")
        return ImageSet(self.name, self.images[:n], self.labels[:n], self.classes, self.source)

    def digest(self) -> str:
        """sha256 of the normalized image bytes and labels: identifies the exact inputs."""
        h = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        h.update(self.labels.tobytes())
        return h.hexdigest()
