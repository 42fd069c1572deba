"""PyTorch -> ONNX and Keras -> ONNX exports that keep every weight injectable.

Both exports keep BatchNorm as a separate node (invariant 2 of docs/architecture.md) and one initializer per
weight: the PyTorch one uses the TorchScript exporter without constant folding and without its merging
of equal initializers, the Keras one runs tf2onnx without its Conv +
BatchNormalization fusion, without merging identical constants (two layers holding equal weights
must stay two initializers) and without any rewrite that multiplies a constant into a convolution's
weight (TensorFlow grappler's constant folding, tf2onnx's Transpose + Mul push-down): a weight in the
ONNX file must equal the Keras weight bit for bit.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
# tf2onnx's grappler optimizers for TensorFlow 2, without 'constfold'.
_GRAPPLER_OPTIMIZERS = ("function", "dependency")


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
            # onnx2torch's modules read constant axes as Python values (TracerWarning); they stay constant.
            warnings.filterwarnings("ignore", module="onnx2torch")
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
    """Export a Keras model taking NHWC input to ONNX, with BatchNorm left unfused and weights as stored.

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
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()
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
        with _weights_kept_as_stored():
            proto, _ = tf2onnx.convert.from_keras(
                model, input_signature=spec, opset=opset, optimizers=optimizers, output_path=str(path)
            )
    except Exception as e:  # tf2onnx raises many unrelated types
        raise ConversionError(f"Keras -> ONNX export of {model.name!r} failed: {e}") from e
    return path


@contextmanager
def _weights_kept_as_stored() -> Iterator[None]:
    """Every tf2onnx rewrite that would change a weight's values switched off for one export."""
    with ExitStack() as stack:
        stack.enter_context(_without_conv_bn_fusion())
        stack.enter_context(_grappler_without_constfold())
        stack.enter_context(_without_conv_mul_fusion())
        yield


@contextmanager
def _grappler_without_constfold() -> Iterator[None]:
    """Run tf2onnx's grappler pass without constant folding for the duration of one export.

    Grappler's constant folding multiplies a constant Mul or RealDiv next to a convolution into the
    convolution's weight (its MulConvPushDown rewrite), so that weight no longer equals the Keras
    variable. tf2onnx hard-codes the optimizer list; its function is restored in ``finally``.
    """
    from tf2onnx import tf_loader

    original = tf_loader.tf_optimize_grappler
    tf_loader.tf_optimize_grappler = _optimize_grappler_without_constfold
    try:
        yield
    finally:
        tf_loader.tf_optimize_grappler = original


def _optimize_grappler_without_constfold(input_names: list[str], output_names: list[str], graph_def: Any) -> Any:
    """tf2onnx's grappler pass for TensorFlow 2 (function inlining, dependency pruning), less 'constfold'."""
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    config = config_pb2.ConfigProto()
    config.graph_options.infer_shapes = True
    rewrite_options = config.graph_options.rewrite_options
    rewrite_options.optimizers[:] = list(_GRAPPLER_OPTIMIZERS)
    rewrite_options.experimental_disable_folding_quantization_emulation = True
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def)
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.extend(input_names + output_names)
    meta_graph.collection_def["train_op"].CopyFrom(fetch)
    return tf_optimizer.OptimizeGraph(config, meta_graph)


@contextmanager
def _without_conv_mul_fusion() -> Iterator[None]:
    """Keep tf2onnx's transpose optimizer from multiplying a constant Mul into a Conv's weight.

    Its Mul handler folds ``Mul(Transpose(Conv(x, W)), c)`` into ``Conv(x, W * c)`` when the Conv has
    no bias; there the wrapper leaves the Transpose in place instead. The class attribute is restored
    in ``finally`` (each export builds its optimizers, and so their handler tables, afresh).
    """
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    original = TransposeOptimizer.__dict__["_mul_handler"]

    def mul_handler(self: Any, trans: Any, node: Any) -> Any:
        conv = trans.inputs[0]
        if conv.type == "Conv" and len(conv.input) == 2 and any(i.is_const() for i in node.inputs if i is not trans):
            return False
        return original(self, trans, node)

    TransposeOptimizer._mul_handler = mul_handler
    try:
        yield
    finally:
        TransposeOptimizer._mul_handler = original


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
