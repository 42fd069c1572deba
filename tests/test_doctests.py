"""Every docstring example in the package runs and gives what it shows."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import readlx

# Modules whose import starts TensorFlow or patches PyTorch are exercised by their own tests.
HEAVY = ("readlx.converters", "readlx.engines.keras", "readlx.engines.onnxruntime")
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(readlx.__path__, "readlx.")
    if not m.name.startswith(HEAVY) and not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_fault_list_equality_with_published_counts() -> None:
    import numpy as np

    from readlx.fault_maps import Fault, FaultList

    a = FaultList.from_faults("m", (Fault("c", (0,), 1),), published=np.array([[1, 1, 0, 0]]))
    b = FaultList.from_faults("m", (Fault("c", (0,), 1),), published=np.array([[1, 1, 0, 0]]))
    assert a == b and hash(a) == hash(b)
    c = a.with_published(np.array([[1, 0, 1, 0]]))
    assert a != c
    assert a != FaultList.from_faults("m", a.faults)
