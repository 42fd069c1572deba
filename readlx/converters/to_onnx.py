"""PyTorch -> ONNX and Keras -> ONNX exports that keep every weight injectable.

Both exports keep BatchNorm as a separate node (invariant 2 of docs/architecture.md) and one initializer per
weight: the PyTorch one uses the TorchScript exporter without constant folding and without its merging
of equal initializers, the Keras one runs tf2onnx without its Conv +
BatchNormalization fusion and without merging identical constants (two layers holding equal weights
must stay two initializers).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readlx.errors import ConversionError

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch.nn as nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
# tf2onnx optimizers that would change which tensor holds a weight.
_KERAS_SKIPPED_OPTIMIZERS = ("merge_duplication",)
_CONV_BN_FUSION = ("Conv", "BatchNormalization")


def torch_to_onnx(
    model: nn.Module, path: str | Path, input_shape: tuple[int, ...], *, opset: int = OPSET
) -> Path:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch axis and unfolded BatchNorm.

    Parameters
    ----------
    model
        The network; the exporter restores its training flag afterwards.
    path
        Output ``.onnx`` file.
    input_shape
        One input without the batch axis, e.g. ``(3, 32, 32)``.
    opset
        ONNX opset.

    Examples
    --------
    >>> import torch.nn as nn, tempfile, os
    >>> p = torch_to_onnx(nn.Linear(3, 2), os.path.join(tempfile.mkdtemp(), "m.onnx"), (3,))
    >>> p.suffix
    '.onnx'
    """
    import torch

    path = Path(path)
    example = torch.zeros((2, *input_shape), dtype=torch.float32)
    try:
        with warnings.catch_warnings():
            # The legacy exporter announces its deprecation and notes skipped constant folding.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                do_constant_folding=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                # Without this the exporter merges initializers of equal value, so two layers
                # holding identical weights would share (and be injected through) one tensor.
                keep_initializers_as_inputs=True,
            )
    except Exception as e:  # the exporter raises many unrelated types
        raise ConversionError(f"PyTorch -> ONNX export of {type(model).__name__} failed: {e}") from e
    _initializers_not_inputs(path)
    return path


def _initializers_not_inputs(path: Path) -> None:
    """Make initializers constants again, as an export without ``keep_initializers_as_inputs``."""
    import onnx

    proto = onnx.load(str(path))
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    onnx.save(proto, str(path))


def keras_to_onnx(
    model: Any, path: str | Path, input_shape_nhwc: tuple[int, ...], *, opset: int = OPSET
) -> Path:
    """Export a Keras model taking NHWC input to ONNX, with BatchNorm left unfused.

    Parameters
    ----------
    model
        A ``tf.keras.Model``.
    path
        Output ``.onnx`` file.
    input_shape_nhwc
        One input without the batch axis, channels last, e.g. ``(32, 32, 3)``.
    opset
        ONNX opset.
    """
    import tensorflow as tf
    import tf2onnx.convert
    from tf2onnx import optimizer

    path = Path(path)
    spec = (tf.TensorSpec((None, *input_shape_nhwc), tf.float32, name=INPUT_NAME),)
    optimizers = {
        name: factory
        for name, factory in optimizer._optimizers.items()
        if name not in _KERAS_SKIPPED_OPTIMIZERS
    }
    try:
        with _without_conv_bn_fusion():
            proto, _ = tf2onnx.convert.from_keras(
                model, input_signature=spec, opset=opset, optimizers=optimizers, output_path=str(path)
            )
    except Exception as e:  # tf2onnx raises many unrelated types
        raise ConversionError(f"Keras -> ONNX export of {model.name!r} failed: {e}") from e
    return path


@contextmanager
def _without_conv_bn_fusion() -> Iterator[None]:
    """Disable tf2onnx's Conv + BatchNormalization folding for the duration of one export.

    tf2onnx offers no switch for this single rewrite of its back-to-back optimizer; the rewrite table
    is restored in ``finally``.
    """
    from tf2onnx.optimizer import back_to_back_optimizer as b2b

    handler = b2b._func_map.pop(_CONV_BN_FUSION, None)
    try:
        yield
    finally:
        if handler is not None:
            b2b._func_map[_CONV_BN_FUSION] = handler


def count_ops(model: onnx.ModelProto, op_type: str) -> int:
    """Number of ``op_type`` nodes in the main graph.

    >>> import onnx.helper as h
    >>> g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g", [], [])
    >>> count_ops(h.make_model(g), "Relu")
    1
    """
    return sum(1 for node in model.graph.node if node.op_type == op_type)
