"""readlx: the same faults on PyTorch, TensorFlow and ONNX Runtime, compared exactly.

Importing readlx registers the ``ds.readlx`` accessor of campaign Datasets. :func:`readlx.run` and the
pieces it is made of (:func:`readlx.subject`, :func:`readlx.image_data`, :func:`readlx.fault_list`) are
loaded on first use, so that ``import readlx`` does not start PyTorch, TensorFlow or ONNX Runtime.

Examples
--------
>>> import readlx
>>> readlx.run.__module__
'readlx.api'
"""
from __future__ import annotations

from typing import Any

import readlx.comparisons.accessor  # noqa: F401  # registers the ds.readlx accessor
from readlx._version import __version__
from readlx.errors import ReadlxError

_API = ("run", "subject", "image_data", "fault_list")
__all__ = ["ReadlxError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from readlx import api

        return getattr(api, name)
    raise AttributeError(f"module 'readlx' has no attribute {name!r}")
