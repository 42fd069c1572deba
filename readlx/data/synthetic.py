"""An embedded 10-class image set, generated deterministically: the demo's and the tests' data.

Each class is an oriented colour grating (orientation, spatial frequency and hue fixed per class)
with a random phase, contrast and pixel noise, quantized to uint8 like a real image file and then
normalized like CIFAR. A small CNN learns it well within a minute, yet bit flips in its weights give
every outcome class, which is what a demo and the tests need.
"""
from __future__ import annotations

import numpy as np

from readlx._typing import Array
from readlx.data.imageset import ImageSet, Normalization

SYNTHETIC_CLASSES = tuple(f"grating-{k}" for k in range(10))
SYNTHETIC_NORMALIZATION = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
TEST_SEED = 20261129
TRAIN_SEED = 7


def synthetic_pixels(n: int, seed: int, size: int = 16) -> tuple[Array, Array]:
    """uint8 NCHW pixels and labels of ``n`` images drawn with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SYNTHETIC_CLASSES), size=n)
    k = labels.astype(np.float64)
    theta = k * np.pi / 10 + rng.normal(0, 0.08, n)
    freq = 1.5 + 0.35 * (k % 4) + rng.normal(0, 0.05, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    contrast = rng.uniform(0.5, 1.0, n)
    hue = np.stack([np.cos(k * 0.9), np.cos(k * 0.9 + 2.1), np.cos(k * 0.9 + 4.2)], 1) * 0.35
    yy, xx = np.mgrid[0:size, 0:size] / size
    proj = xx[None] * np.cos(theta)[:, None, None] + yy[None] * np.sin(theta)[:, None, None]
    wave = np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None])
    img = 0.5 + hue[:, :, None, None] + 0.3 * contrast[:, None, None, None] * wave[:, None]
    img = img + rng.normal(0, 0.08, img.shape)
    pixels = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return pixels, labels.astype(np.int64)


def synthetic(n: int = 512, seed: int = TEST_SEED, size: int = 16) -> ImageSet:
    """The embedded test set (or, with another seed, a training set).

    >>> s = synthetic(8)
    >>> s.images.shape, s.images.dtype.name
    ((8, 3, 16, 16), 'float32')
    >>> bool((synthetic(8).images == s.images).all())
    True
    """
    pixels, labels = synthetic_pixels(n, seed, size)
    return ImageSet(
        "synthetic10",
        SYNTHETIC_NORMALIZATION.apply(pixels),
        labels,
        SYNTHETIC_CLASSES,
        source=f"readlx.data.synthetic(n={n}, seed={seed}, size={size})",
    )
