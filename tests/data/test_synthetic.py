from __future__ import annotations

import numpy as np
import pytest

from readlx.data.imageset import ImageSet
from readlx.data.synthetic import synthetic
from readlx.errors import InputError


def test_deterministic_and_balanced() -> None:
    a, b = synthetic(300), synthetic(300)
    assert a.digest() == b.digest()
    assert synthetic(300, seed=1).digest() != a.digest()
    counts = np.bincount(a.labels, minlength=10)
    assert counts.min() > 15
    assert a.images.dtype == np.float32 and a.images.shape == (300, 3, 16, 16)


def test_prefix_property_and_subset() -> None:
    assert np.array_equal(synthetic(20).subset(5).images, synthetic(20).images[:5])
    with pytest.raises(InputError, match=">= 1"):
        synthetic(4).subset(0)


def test_imageset_validation() -> None:
    with pytest.raises(InputError, match="float32 NCHW"):
        ImageSet("x", np.zeros((2, 3, 4), np.float32), np.zeros(2), ())
    with pytest.raises(InputError, match="labels"):
        ImageSet("x", np.zeros((2, 3, 4, 4), np.float32), np.zeros(3), ())
