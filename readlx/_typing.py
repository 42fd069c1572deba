"""Type aliases shared by readlx's annotations.

``Array`` is any NumPy array: most readlx functions accept several dtypes (float32 tensors, integer
labels, raw bit patterns), and a bare ``np.ndarray`` leaves its type parameters implicit, which strict
type checking rejects.

Examples
--------
>>> import numpy as np
>>> from readlx._typing import Array
>>> def first(a: Array) -> float:
...     return float(a.flat[0])
>>> first(np.arange(3.0))
0.0
"""
from __future__ import annotations

from typing import Any, TypeAlias

import numpy.typing as npt

Array: TypeAlias = npt.NDArray[Any]
"""A NumPy array of any shape and dtype."""

__all__ = ["Array"]
