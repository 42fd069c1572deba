"""Child process of :func:`readlx.converters.to_keras.torch_to_keras`.

Run as ``python -m readlx.converters._nobuco_worker REQUEST.json``. It unpickles the model, converts
it with nobuco to a Keras model taking NHWC input, saves it as a SavedModel, exports that model to
ONNX and writes timings and versions to the request's result file. It imports nobuco, which patches
PyTorch for the whole process; that is why it is a process of its own. Keras numbers layer names with
per-process counters, so a fresh process also gives the names of the published Keras models
(``conv2d``, ``conv2d_1``, ..., ``dense``).
"""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_ALIAS_PREFIX = "_readlx_model_source_"


class _SourceUnpickler(pickle.Unpickler):
    """Finds classes in modules that were loaded from their source files."""

    def __init__(self, file: Any, modules: Mapping[str, ModuleType]) -> None:
        super().__init__(file)
        self._modules = modules

    def find_class(self, module: str, name: str) -> Any:
        if module in self._modules:
            target: Any = self._modules[module]
            for part in name.split("."):
                target = getattr(target, part)
            return target
        return super().find_class(module, name)


def load_pickled_model(path: str | Path, sources: Mapping[str, str]) -> Any:
    """Unpickle a model whose classes may live in files that are not importable by name."""
    modules = {
        name: _load_source(name, file, k)
        for k, (name, file) in enumerate(sorted(sources.items()))
        if not _importable_as(name, file)
    }
    with open(path, "rb") as f:
        return _SourceUnpickler(f, modules).load()


def _importable_as(name: str, file: str) -> bool:
    if name == "__main__":
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None and Path(spec.origin).resolve() == Path(file)


def _load_source(name: str, file: str, k: int) -> ModuleType:
    # A script's own name is __main__; loading it under another name keeps its main guard closed.
    alias = f"{_ALIAS_PREFIX}{k}" if name == "__main__" else name
    spec = importlib.util.spec_from_file_location(alias, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load module {name!r} from {file!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def register_missing_converters() -> None:
    """Converters for ops nobuco traces but does not convert: ``torch.relu`` and ``Tensor.relu``.

    nobuco converts ``F.relu`` and the in-place ``relu_`` only; GoogLeNet's blocks call ``torch.relu``.
    """
    import nobuco
    import tensorflow as tf
    import torch
    from nobuco import ChannelOrderingStrategy
    from nobuco.commons import CONVERTER_DICT
    from nobuco.trace.trace import Tracer

    ops = (torch.relu, torch.Tensor.relu)
    missing = [op for op in ops if Tracer.op_undecorate(op) not in CONVERTER_DICT]
    if not missing:
        return

    @nobuco.converter(  # type: ignore[untyped-decorator]  # nobuco is untyped
        *missing, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS)
    def converter_relu(input: Any) -> Any:
        return lambda input: tf.nn.relu(input)


def convert(model: Any, input_shape: tuple[int, ...], savedmodel: Path) -> Any:
    """nobuco conversion with NHWC input, a free batch axis and PyTorch-ordered outputs."""
    import nobuco
    import numpy as np
    import torch
    from nobuco import ChannelOrder

    register_missing_converters()
    rng = np.random.default_rng(0)
    example = torch.from_numpy(rng.standard_normal((2, *input_shape)).astype(np.float32))
    keras_model = nobuco.pytorch_to_keras(
        model.eval(),
        args=[example],
        input_shapes={example: (None, *input_shape)},
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.PYTORCH,
        full_validation=False,
    )
    keras_model.save(str(savedmodel), save_format="tf")
    return keras_model


def _versions() -> dict[str, str]:
    return {name: _version(name) for name in ("nobuco", "tensorflow", "tf2onnx")}


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:  # e.g. TensorFlow installed as tensorflow-cpu
        return "unknown"


def main(argv: list[str]) -> int:
    from readlx.converters.to_onnx import keras_to_onnx

    request = json.loads(Path(argv[0]).read_text())
    model = load_pickled_model(request["model"], request["sources"])
    shape = tuple(int(s) for s in request["input_shape"])
    start = time.perf_counter()
    keras_model = convert(model, shape, Path(request["savedmodel"]))
    middle = time.perf_counter()
    keras_to_onnx(keras_model, request["onnx"], (*shape[1:], shape[0]))
    seconds = {"keras": middle - start, "onnx_keras": time.perf_counter() - middle}
    Path(request["result"]).write_text(json.dumps({"seconds": seconds, "versions": _versions()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
