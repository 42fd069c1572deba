"""A model that arrives as Keras: its canonical layer table, and the ONNX hub the other runtimes come from.

The Keras layers are the canonical layers, named as Keras names them: every ``Conv2D``,
``DepthwiseConv2D`` (depth multiplier 1) and ``Dense`` kernel, in canonical layout (conv
``(O, I/groups, kH, kW)``, linear ``(out, in)``) and bound to its Keras variable through the axis
permutation of :mod:`readlx.converters.namemaps`. The model takes one NHWC image input; canonical
images are NCHW, so its input shape ``(H, W, C)`` is ``(C, H, W)`` here.

PyTorch and ONNX Runtime reach the model through ONNX: tf2onnx exports it (BatchNorm unfolded, see
:mod:`readlx.converters.to_onnx`), :func:`nchw_input` puts an exact transpose in front so the graph
takes canonical NCHW images, and :func:`readlx.converters.onnx_torch.onnx_to_torch` builds the PyTorch
module, its layers found by their Keras weights bit for bit.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from readlx._typing import Array
from readlx.converters.namemaps import KERAS, keras_candidates, keras_layers
from readlx.errors import ArgumentError, ConversionError
from readlx.graph import Binding, Layer, LayerTable, inverse_permutation

if TYPE_CHECKING:  # pragma: no cover
    import onnx


def is_keras_model(model: object) -> bool:
    """True for a ``tf.keras.Model``, without importing TensorFlow for anything else."""
    import sys

    keras = sys.modules.get("tensorflow")
    return keras is not None and isinstance(model, keras.keras.Model)


def keras_input_shape(model: Any) -> tuple[int, int, int]:
    """``(C, H, W)`` of the model's one NHWC image input.

    Raises
    ------
    ArgumentError
        For a model with several inputs, or an input that is not ``(batch, H, W, C)`` with known sizes.
    """
    inputs = list(model.inputs or [])
    if len(inputs) != 1:
        raise ArgumentError(f"Keras model {model.name!r} has {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs)}); readlx runs models of one image input",
                            argument="model")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or any(s is None for s in shape[1:]):
        raise ArgumentError(f"Keras model {model.name!r} takes input of shape {shape}; readlx runs models of "
                            "one image input (batch, H, W, C) of known size", argument="model")
    _, h, w, c = (int(s) if s is not None else 0 for s in shape)
    return c, h, w


def keras_table(model: Any, name: str) -> LayerTable:
    """The canonical layer table of a Keras model, with ``"keras"`` bindings.

    Examples
    --------
    >>> import tensorflow as tf
    >>> x = tf.keras.Input((8, 8, 3))
    >>> y = tf.keras.layers.Conv2D(4, 3, name="stem")(x)
    >>> y = tf.keras.layers.DepthwiseConv2D(3, name="dw")(y)
    >>> y = tf.keras.layers.Dense(2, name="head")(tf.keras.layers.Flatten()(y))
    >>> table = keras_table(tf.keras.Model(x, y), "k")
    >>> [(layer.name, layer.kind, layer.shape, layer.groups) for layer in table]
    [('stem', 'conv', (4, 3, 3, 3), 1), ('dw', 'conv', (4, 1, 3, 3), 4), ('head', 'linear', (2, 64), 1)]
    """
    layers: list[Layer] = []
    bindings: dict[str, Binding] = {}
    by_name = {layer.name: layer for layer in keras_layers(model)}
    for candidate in keras_candidates(model):
        if candidate.name in bindings:
            raise ConversionError(f"Keras model {name!r} has two layers named {candidate.name!r} (in nested "
                                  "models); canonical layers need distinct names")
        shape = tuple(candidate.tensor.transpose(inverse_permutation(candidate.permutation)).shape)
        kind = "conv" if len(shape) == 4 else "linear"
        layers.append(Layer(candidate.name, kind, shape, _groups(by_name[candidate.name], shape)))
        bindings[candidate.name] = candidate.binding()
    if not layers:
        raise ArgumentError(f"Keras model {name!r} has no Conv2D, DepthwiseConv2D or Dense layer to inject into",
                            argument="model")
    return LayerTable(name, tuple(layers), {KERAS: bindings})


def keras_weights(model: Any, table: LayerTable) -> dict[str, Array]:
    """The canonical weights of ``table``'s layers, read from the Keras kernels."""
    by_name = {c.name: c for c in keras_candidates(model)}
    return {layer.name: np.ascontiguousarray(by_name[layer.name].tensor.transpose(
        inverse_permutation(by_name[layer.name].permutation))) for layer in table}


def _groups(layer: Any, shape: tuple[int, ...]) -> int:
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()

    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        return int(shape[0])
    return int(getattr(layer, "groups", 1) or 1)


def nchw_input(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of an ONNX graph of one NHWC input that takes NCHW input through an exact ``Transpose``.

    >>> import onnx.helper as h
    >>> from onnx import TensorProto
    >>> g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
    ...                  [h.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 8, 3])],
    ...                  [h.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    >>> m = nchw_input(h.make_model(g))
    >>> [d.dim_value or d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim], m.graph.node[0].op_type
    (['N', 3, 8, 8], 'Transpose')
    """
    from onnx import helper

    out = copy.deepcopy(proto)
    (old,) = [i for i in out.graph.input if i.name not in {t.name for t in out.graph.initializer}]
    dims = list(old.type.tensor_type.shape.dim)
    new = copy.deepcopy(old)
    new.name = old.name + "_nchw"
    del new.type.tensor_type.shape.dim[:]
    new.type.tensor_type.shape.dim.extend([dims[0], dims[3], dims[1], dims[2]])
    transpose = helper.make_node("Transpose", [new.name], [old.name], perm=[0, 2, 3, 1], name="nchw_to_nhwc")
    out.graph.node.insert(0, transpose)
    inputs = [new if i.name == old.name else i for i in out.graph.input]
    del out.graph.input[:]
    out.graph.input.extend(inputs)
    return out
