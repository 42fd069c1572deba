"""The fast runner of an engine, or the reason it has none."""
from __future__ import annotations

import numpy as np

from readlx.engines.base import Engine
from readlx.engines.torch import TorchEngine
from readlx.fast.options import FastOptions, FastUnsupported
from readlx.fast.torch_fast import TorchFastRunner
from readlx.tasks import CLASSIFICATION, Task


def fast_runner(engine: Engine, images: np.ndarray, golden: np.ndarray,
                options: FastOptions | None = None, task: Task = CLASSIFICATION) -> TorchFastRunner:
    """The fast runner for ``engine``, after its start-up self-checks.

    Raises
    ------
    FastUnsupported
        For engines without a fast path (only PyTorch has one) and models it cannot run; the message
        says why.

    Examples
    --------
    >>> class Other:
    ...     framework = "keras"
    >>> fast_runner(Other(), np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    readlx.fast.options.FastUnsupported: no fast path for framework 'keras'
    """
    if not isinstance(engine, TorchEngine):
        raise FastUnsupported(f"no fast path for framework {engine.framework!r}")
    return TorchFastRunner(engine, images, golden, options, task)
