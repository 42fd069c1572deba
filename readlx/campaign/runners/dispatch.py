"""The fast runner of an engine, as its runtime registers it, or the reason it has none."""
from __future__ import annotations

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine
from readlx.engines.registry import RUNTIMES
from readlx.errors import FastUnsupported, RegistryError
from readlx.outcomes.tasks import CLASSIFICATION, Task


def fast_runner(engine: Engine, images: Array, golden: Array,
                options: FastOptions | None = None, task: Task = CLASSIFICATION) -> BlockRunner:
    """The fast runner of ``engine``'s runtime, after its start-up self-checks.

    Raises
    ------
    FastUnsupported
        For runtimes without a fast path, engines of another type than their runtime builds, and
        models the fast runner cannot run; the message says why.

    Examples
    --------
    >>> import numpy as np
    >>> class Other:
    ...     framework = "mxnet"
    >>> fast_runner(Other(), np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    readlx.errors.FastUnsupported: no fast path for framework 'mxnet'
    """
    try:
        runtime = RUNTIMES[engine.framework]
    except RegistryError:
        runtime = None
    if runtime is None or runtime.fast is None:
        raise FastUnsupported(f"no fast path for framework {engine.framework!r}")
    if runtime.engine_type is not None and not isinstance(engine, runtime.engine_type):
        raise FastUnsupported(f"no fast path for a {type(engine).__name__} named {engine.framework!r}; "
                              f"the {runtime.name!r} fast path runs a {runtime.engine_type.__name__}")
    runner: BlockRunner = runtime.fast(engine, images, golden, options, task)
    return runner
