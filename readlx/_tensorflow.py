"""Importing TensorFlow without its CUDA plugin registration noise, keeping every other line it prints.

On a machine where PyTorch's CUDA libraries are installed, TensorFlow's XLA prints three lines at
import time (``E ... Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN
when one has already been registered``, and the same for cuFFT and cuBLAS). They come from C++ static
initialisers, before ``TF_CPP_MIN_LOG_LEVEL`` is read, look like errors and mean nothing: the
plugins are registered once, and a CPU machine uses none of them. :func:`import_tensorflow` sends the
process's native stderr to a temporary file for the duration of the import and writes back every line
but those (:data:`NOISE`), so a real error TensorFlow prints while loading still reaches the user.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow reads it, once

NOISE = re.compile(r"Unable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to register factory for plugin")


def without_noise(text: bytes) -> bytes:
    """``text`` without the lines :data:`NOISE` matches.

    >>> without_noise(b"E cuda_dnn.cc] Unable to register cuDNN factory: Attempting to register factory for "
    ...               b"plugin cuDNN when one has already been registered\\nF a real error\\n")
    b'F a real error\\n'
    """
    return b"".join(line for line in text.splitlines(keepends=True) if not NOISE.search(line.decode(errors="replace")))


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, with :data:`NOISE` dropped from what it prints on the native stderr.

    >>> import_tensorflow().__name__
    'tensorflow'
    """
    loaded: ModuleType | None = sys.modules.get("tensorflow")
    if loaded is not None:
        return loaded
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = without_noise(caught.read())
            if kept:
                os.write(2, kept)
    module: ModuleType = tensorflow
    return module


class LazyTensorFlow:
    """``tensorflow``, imported (by :func:`import_tensorflow`) on first use of an attribute, so that
    modules naming TensorFlow cost nothing until a TensorFlow runtime runs (``readlx run --help``,
    ``readlx zoo list``).

    >>> tf = LazyTensorFlow()
    >>> tf.float32.name
    'float32'
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(import_tensorflow(), name)
