"""Bitwise comparison of activations with golden."""
from __future__ import annotations

from typing import Any

import torch

_SAME_SIZE_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t: torch.Tensor) -> torch.Tensor:
    """``t`` with floating elements reinterpreted as integers, so that ``==`` compares bit patterns.

    NaN then equals itself, and ``-0.0`` differs from ``0.0``: exactly what bitwise equality needs.

    >>> bits(torch.tensor([0.0, -0.0])).tolist()
    [0, -2147483648]
    """
    if t.is_floating_point() or t.is_complex():
        return t.view(_SAME_SIZE_INT[t.element_size()])
    return t


def equal_whole(value: Any, golden: Any) -> bool:
    """Is ``value`` bitwise (tensors) or ``==`` (anything else) equal to ``golden``?

    >>> equal_whole(torch.tensor([float("nan")]), torch.tensor([float("nan")])), equal_whole(3, 4)
    (True, False)
    """
    if value is golden:
        return True
    if isinstance(value, torch.Tensor) or isinstance(golden, torch.Tensor):
        return (isinstance(value, torch.Tensor) and isinstance(golden, torch.Tensor)
                and value.shape == golden.shape and value.dtype == golden.dtype
                and torch.equal(bits(value), bits(golden)))
    try:
        return bool(value == golden)
    except (TypeError, ValueError, RuntimeError):  # values without a truth value are not proven equal
        return False
