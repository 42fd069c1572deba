"""Child process of :func:`readlx.converters.to_keras.torch_to_keras`.

Run as ``python -I -m readlx.converters._nobuco_worker REQUEST.json``. It unpickles the model (pickled by
:func:`readlx.converters.to_keras.pickle_by_value`: the caller's own classes travel by value), converts
it with nobuco to a Keras model taking NHWC input, saves it as a SavedModel, exports that model to
ONNX and writes timings and versions to the request's result file. It imports nobuco, which patches
PyTorch for the whole process; that is why it is a process of its own. Keras numbers layer names with
per-process counters, so a fresh process also gives the names of the published Keras models
(``conv2d``, ``conv2d_1``, ..., ``dense``).
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

def register_missing_converters() -> None:
    """Converters nobuco lacks or gets wrong: ``torch.relu``, ``Tensor.relu``, torchvision's StochasticDepth."""
    _register_relu()
    _register_stochastic_depth()


def _register_relu() -> None:
    """nobuco converts ``F.relu`` and the in-place ``relu_`` only; GoogLeNet's blocks call ``torch.relu``."""
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


def _register_stochastic_depth() -> None:
    """torchvision's StochasticDepth (EfficientNet, ConvNeXt) as the identity it is in eval mode.

    nobuco maps it to Keras' ConvNeXt ``StochasticDepth`` layer, whose training branch takes
    ``len(tf.shape(x))``; saving the SavedModel traces that branch with a free batch axis and fails
    ("len is not well defined for a symbolic Tensor"). :func:`convert` converts the model in eval
    mode, where ``torchvision.ops.stochastic_depth`` returns its input unchanged.
    """
    import nobuco
    import torchvision.ops
    from nobuco import ChannelOrderingStrategy

    @nobuco.converter(  # type: ignore[untyped-decorator]  # nobuco is untyped
        torchvision.ops.StochasticDepth, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS)
    def converter_stochastic_depth(self: Any, input: Any) -> Any:
        return lambda input: input


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
    with open(request["model"], "rb") as f:  # a cloudpickle written by readlx for this process
        model = pickle.load(f)
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
