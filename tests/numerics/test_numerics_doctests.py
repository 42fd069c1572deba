"""The examples in the numerics docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["accuracy", "arithmetic", "backends", "convolution", "engine", "executor", "explain", "golden",
           "masking", "rounding", "ulp", "variants"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"readlx.numerics.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
