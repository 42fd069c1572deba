"""The one classifier of faulty inferences (invariant 4 of docs/architecture.md).

Per image, on raw outputs:

* **masked** (0): the faulty output is bitwise equal to the golden output of the same engine;
* **non-critical** (1): not masked, but the top-1 class (first maximum, NumPy ``argmax``) is unchanged;
* **critical** (2, SDC-1): the top-1 class changed.

An output holding NaN or Inf is counted separately as well: its code gets :data:`NONFINITE` (4) added.
"""
from __future__ import annotations

from typing import cast

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError

MASKED, NON_CRITICAL, CRITICAL = 0, 1, 2
NONFINITE = 4
OUTCOME_NAMES = ("masked", "non_critical", "critical")


def _flat(x: Array) -> Array:
    return np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)


def top1(outputs: Array) -> Array:
    """First maximum per image; NaN counts as the maximum, as in ``numpy.argmax``."""
    return cast(Array, np.argmax(_flat(outputs), axis=1))


def classify(golden: Array, faulty: Array) -> Array:
    """Outcome code per image (int8): 0/1/2, plus 4 when the faulty output is not all finite.

    Examples
    --------
    >>> g = np.array([[1.0, 2.0], [3.0, 0.0], [1.0, 0.0]], np.float32)
    >>> f = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, np.inf]], np.float32)
    >>> classify(g, f).tolist()
    [0, 1, 6]
    """
    g, f = _flat(golden), _flat(faulty)
    if g.shape != f.shape:
        raise ReadlxError(f"golden output shape {golden.shape} != faulty output shape {faulty.shape}")
    masked = (g.view(np.uint32) == f.view(np.uint32)).all(axis=1)
    same_top1 = np.argmax(g, axis=1) == np.argmax(f, axis=1)
    code = np.where(masked, MASKED, np.where(same_top1, NON_CRITICAL, CRITICAL)).astype(np.int8)
    code[~np.isfinite(f).all(axis=1)] += NONFINITE
    return code


def class_counts(codes: Array) -> tuple[int, int, int, int]:
    """Images per outcome class (codes 0, 1, 2) and images with NaN/Inf outputs (flag 4).

    >>> class_counts(np.array([0, 1, 6, 2], np.int8))
    (1, 1, 2, 1)
    """
    base = codes & ~np.int8(NONFINITE)
    return (int((base == MASKED).sum()), int((base == NON_CRITICAL).sum()), int((base == CRITICAL).sum()),
            int(((codes & NONFINITE) != 0).sum()))

