"""readlx: the same weight faults on PyTorch, TensorFlow and ONNX Runtime, compared exactly."""
from __future__ import annotations

from readlx.errors import ReadlxError

__version__ = "0.1.0"
__all__ = ["ReadlxError", "__version__"]
