"""The fast runner of an engine, as its runtime registers it, or the reason it has none."""
from __future__ import annotations

from collections.abc import Callable

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine
from readlx.engines.registry import RUNTIMES
from readlx.errors import FastUnsupported, RegistryError
from readlx.outcomes.tasks import CLASSIFICATION, Task


def fast_factory(engine: Engine, images: Array, golden: Array, options: FastOptions | None = None,
                 task: Task = CLASSIFICATION) -> Callable[[], BlockRunner]:
    """What builds ``engine``'s fast runner for these images, found without building it (building
    runs the runner's start-up self-checks, which may still raise ``FastUnsupported``).

    Raises
    ------
    FastUnsupported
        For runtimes without a fast path and engines of another type than their runtime builds; the
        message says why.

    Examples
    --------
    >>> import numpy as np
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> images = np.zeros((8, 3, 16, 16), np.float32)
    >>> build = fast_factory(eng, images, eng.infer(images))
    >>> type(build()).__name__
    'TorchFastRunner'
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
    factory = runtime.fast

    def build() -> BlockRunner:
        runner: BlockRunner = factory(engine, images, golden, options, task)
        return runner

    return build


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
    return fast_factory(engine, images, golden, options, task)()
