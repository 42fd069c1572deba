"""The examples in the comparison docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["accessor", "breakdown", "cf", "divergence", "examples", "html", "plots", "stats", "text"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"readlx.comparisons.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
