"""The fast runner of an engine, or the reason it has none."""
from __future__ import annotations

import numpy as np

from readlx.engines.base import Engine
from readlx.engines.torch import TorchEngine
from readlx.campaign.runners.options import FastOptions, FastUnsupported
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.torch_fast import TorchFastRunner
from readlx.outcomes.tasks import CLASSIFICATION, Task


def fast_runner(engine: Engine, images: np.ndarray, golden: np.ndarray,
                options: FastOptions | None = None, task: Task = CLASSIFICATION) -> BlockRunner:
    """The fast runner for ``engine``, after its start-up self-checks.

    Raises
    ------
    FastUnsupported
        For engines without a fast path (PyTorch, ONNX Runtime and Keras have one) and models it
        cannot run; the message says why.

    Examples
    --------
    >>> class Other:
    ...     framework = "mxnet"
    >>> fast_runner(Other(), np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    readlx.campaign.runners.options.FastUnsupported: no fast path for framework 'mxnet'
    """
    if isinstance(engine, TorchEngine):
        return TorchFastRunner(engine, images, golden, options, task)
    from readlx.engines.onnxruntime import OnnxRuntimeEngine

    if isinstance(engine, OnnxRuntimeEngine):
        from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner

        return OrtFastRunner(engine, images, golden, options, task)
    from readlx.engines.keras import KerasEngine

    if isinstance(engine, KerasEngine):
        from readlx.campaign.runners.keras_fast import KerasFastRunner

        return KerasFastRunner(engine, images, golden, options, task)
    raise FastUnsupported(f"no fast path for framework {engine.framework!r}")
